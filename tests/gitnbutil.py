"""Helpers for the git tests: notebooks in temp repos driven by real git (fixtures: conftest.py)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import nbformat

from cellpipe.gitnb.cells import dumps_notebook


def cell(cid: str, code: str, name: str | None = None, parents: list[str] | None = None,
         worker: str | None = None) -> dict[str, Any]:
    """A code cell with id cid; a component when name is given."""
    c: dict[str, Any] = {"cell_type": "code", "id": cid, "source": code, "metadata": {},
                         "outputs": [], "execution_count": None}
    if name is not None:
        c["metadata"]["cellpipe"] = {"name": name, "parents": sorted(parents or [])}
        if worker:
            c["metadata"]["cellpipe"]["worker"] = worker
    return c


def notebook(*cells: dict[str, Any], parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    nb.metadata["cellpipe"] = {"version": 1, "parameters": parameters or {}}
    return json.loads(json.dumps(nb))


def pipeline_notebook() -> dict[str, Any]:
    """load -> clean -> train -> report, and a markdown cell."""
    md = nbformat.v4.new_markdown_cell("# Pipeline")
    md.id = "intro"
    return notebook(
        md,
        cell("load", "import math\ndata = [1, 2, 3]\n", "load"),
        cell("clean", "data = [x * 2 for x in data]\nprint(len(data))\n", "clean", ["load"]),
        cell("train", "model = sum(data)\nscore = model / 2\n", "train", ["clean"]),
        cell("report", "print(score)\n", "report", ["train"]),
    )


def by_id(nb: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in nb["cells"]}


def ids(nb: dict[str, Any]) -> list[str]:
    return [c["id"] for c in nb["cells"]]


def source(c: dict[str, Any]) -> str:
    return "".join(c["source"]) if isinstance(c["source"], list) else c["source"]


def parents(nb: dict[str, Any], cid: str) -> list[str]:
    return by_id(nb)[cid]["metadata"]["cellpipe"]["parents"]


class Repo:
    """A temporary git repository with cellpipe's drivers set up."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(["git", *args], cwd=self.path, capture_output=True, text=True)
        if check and done.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done

    def write(self, nb: dict[str, Any], name: str = "nb.ipynb") -> None:
        (self.path / name).write_text(dumps_notebook(nb))

    def read(self, name: str = "nb.ipynb") -> dict[str, Any]:
        return json.loads((self.path / name).read_text())

    def commit(self, nb: dict[str, Any] | None, message: str, name: str = "nb.ipynb") -> None:
        if nb is not None:
            self.write(nb, name)
        self.git("add", name)
        self.git("commit", "-q", "-m", message)

    def branch_merge(self, base: dict[str, Any], ours: dict[str, Any],
                     theirs: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        """Commit base on main, theirs on a branch, ours on main, then merge the branch."""
        self.commit(base, "base")
        self.git("checkout", "-q", "-b", "theirs")
        self.commit(theirs, "theirs")
        self.git("checkout", "-q", "main")
        self.commit(ours, "ours")
        return self.git("merge", "--no-edit", "theirs", check=False)


def git_env(home: Path) -> dict[str, str]:
    """Environment for git in tests: temp HOME, fixed identity, no system config."""
    return {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Ada",
        "GIT_AUTHOR_EMAIL": "ada@example.org",
        "GIT_COMMITTER_NAME": "Ada",
        "GIT_COMMITTER_EMAIL": "ada@example.org",
        "GIT_PAGER": "cat",
        "PAGER": "cat",
    }


def env_without(*names: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in names}
