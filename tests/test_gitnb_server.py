"""Revisions (open as new, restore), conflict resolution, and their HTTP endpoints in a real server."""

from __future__ import annotations

import copy
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from test_gitnb_support import (  # noqa: F401  (fixtures)
    Repo,
    by_id,
    cell,
    git_env,
    git_home_fixture,
    pipeline_notebook,
    repo_fixture,
)

from cellpipe.gitnb import revisions
from cellpipe.gitnb.cells import dumps_notebook
from cellpipe.gitnb.files import merge_files
from cellpipe.gitnb.gitio import GitError
from cellpipe.gitnb.resolve import ResolveError, resolve_cell, resolve_notebook_metadata


def two_versions(repo: Repo) -> tuple[dict, dict]:
    old = pipeline_notebook()
    repo.commit(old, "v1")
    new = copy.deepcopy(old)
    by_id(new)["train"]["source"] = "model = 2\n"
    repo.commit(new, "v2")
    return old, new


def test_open_copy_and_restore_keep_the_current_version(repo: Repo):
    old, new = two_versions(repo)
    nb = repo.path / "nb.ipynb"
    copy_path = revisions.open_copy(nb, "HEAD~1")
    assert copy_path.name.startswith("nb@") and json.loads(copy_path.read_text()) == json.loads(
        dumps_notebook(old))
    assert revisions.open_copy(nb, "HEAD~1") != copy_path  # never overwrites
    edited = copy.deepcopy(new)
    by_id(edited)["report"]["source"] = "print('unsaved work')\n"
    repo.write(edited)
    done = revisions.restore(nb, "HEAD~1")
    assert json.loads(nb.read_text()) == json.loads(dumps_notebook(old))
    assert done.backup is not None and "unsaved work" in done.backup.read_text()
    repo.git("checkout", "--", "nb.ipynb")
    again = revisions.restore(nb, "HEAD~1")
    assert again.backup is None  # the replaced version is the last commit: git keeps it
    with pytest.raises(revisions.RevisionNotFound):
        revisions.open_copy(nb, "HEAD~2")  # the setup commit, before the notebook
    with pytest.raises(GitError, match="unknown revision 'HEAD~3'"):
        revisions.open_copy(nb, "HEAD~3")


def test_commit_diff_of_the_first_commit_is_everything_added(repo: Repo):
    two_versions(repo)
    first = revisions.commit_diff(repo.path / "nb.ipynb", "HEAD~1").diff
    assert first is not None and {c.status for c in first.cells} == {"added"}
    second = revisions.commit_diff(repo.path / "nb.ipynb", "HEAD").diff
    assert [c.id for c in second.changed] == ["train"]


def conflicted_cells() -> dict:
    base = pipeline_notebook()
    ours, theirs = copy.deepcopy(base), copy.deepcopy(base)
    by_id(ours)["train"]["source"] = "score = 4\n"
    by_id(theirs)["train"]["source"] = "score = 5\n"
    by_id(ours)["report"]["source"] = "print('x')\n"
    theirs["cells"] = [c for c in theirs["cells"] if c["id"] != "report"]
    by_id(ours)["load"]["metadata"]["cellpipe"]["name"] = "read"
    by_id(theirs)["load"]["metadata"]["cellpipe"]["name"] = "fetch"
    result = merge_files(*(dumps_notebook(nb) for nb in (base, ours, theirs)))
    return by_id(json.loads(result.text))


def test_resolve_cell_choices():
    cells = conflicted_cells()
    train = cells["train"]
    assert "".join(resolve_cell(train, "ours")["source"]) == "score = 4\n"
    assert resolve_cell(train, "theirs")["source"] == "score = 5\n"
    assert resolve_cell(train, "both")["source"] == "score = 4\nscore = 5\n"
    assert "cellpipe_merge" not in resolve_cell(train, "ours")["metadata"]
    report = cells["report"]
    assert resolve_cell(report, "theirs")["deleted"] is True
    kept = resolve_cell(report, "ours")
    assert kept["deleted"] is False and kept["source"] == "print('x')\n"
    load = cells["load"]
    assert resolve_cell(load, "theirs")["metadata"]["cellpipe"]["name"] == "fetch"
    assert resolve_cell(load, "ours")["metadata"]["cellpipe"]["name"] == "read"
    with pytest.raises(ResolveError):
        resolve_cell(resolve_cell(train, "ours"), "ours")
    with pytest.raises(ResolveError):
        resolve_cell(train, "mine")


def test_resolve_notebook_metadata_conflicts():
    base = pipeline_notebook()
    base["metadata"]["cellpipe"]["parameters"] = {"lr": {"type": "float", "value": 0.1}}
    ours, theirs = copy.deepcopy(base), copy.deepcopy(base)
    ours["metadata"]["cellpipe"]["parameters"]["lr"]["value"] = 0.2
    theirs["metadata"]["cellpipe"]["parameters"]["lr"]["value"] = 0.3
    del theirs["metadata"]["cellpipe"]["version"]
    ours["metadata"]["cellpipe"]["version"] = 2
    merged = json.loads(merge_files(*(dumps_notebook(nb) for nb in (base, ours, theirs))).text)
    metadata = merged["metadata"]
    kept = resolve_notebook_metadata(metadata, "theirs")
    assert kept["cellpipe"] == {"parameters": {"lr": {"type": "float", "value": 0.3}}}
    assert "cellpipe_merge" not in kept
    assert resolve_notebook_metadata(metadata, "ours")["cellpipe"]["version"] == 2
    with pytest.raises(ResolveError):
        resolve_notebook_metadata(kept, "ours")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Repo]]:
    """A real Jupyter server (cellpipe's extension enabled) whose root is a git repository."""
    tmp = tmp_path_factory.mktemp("gitserver")
    home = tmp / "home"
    home.mkdir()
    env = {**os.environ, **git_env(home), "JUPYTER_RUNTIME_DIR": str(tmp / "runtime")}
    path = tmp / "repo"
    path.mkdir()
    repo = Repo(path)
    for args in (["init", "-q", "-b", "main"],):
        subprocess.run(["git", *args], cwd=path, env=env, check=True)
    old = pipeline_notebook()
    (path / "nb.ipynb").write_text(dumps_notebook(old))
    new = copy.deepcopy(old)
    new["cells"].append(cell("plot", "plot(score)\n", "plot", ["train"]))
    for nb, message in ((old, "v1"), (new, "v2")):
        (path / "nb.ipynb").write_text(dumps_notebook(nb))
        subprocess.run(["git", "add", "nb.ipynb"], cwd=path, env=env, check=True)
        subprocess.run(["git", "commit", "-q", "-m", message], cwd=path, env=env, check=True)
    port, token = free_port(), "cellpipe-test-token"
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", "--no-browser", "--ip=127.0.0.1",
         f"--port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={path}",
         "--allow-root"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except (urllib.error.URLError, ConnectionError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(proc.stderr.read().decode() if proc.stderr else "") \
                        from None
                time.sleep(0.2)
        yield f"{base}/cellpipe/git/%s?token={token}", repo
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()


def call(url: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_http_history_diff_checkout_resolve(server):
    url, repo = server
    status, history = call(url % "history" + "&path=nb.ipynb")
    assert status == 200
    assert [e["subject"] for e in history["entries"]] == ["v2", "v1"]
    head = history["entries"][0]["commit"]
    status, diff = call(url % "diff" + f"&path=nb.ipynb&rev={head}")
    assert status == 200 and diff["summary"].startswith("1 component(s) changed, edges +1/-0")
    assert diff["svg"].startswith("<svg") and 'data-id="plot"' in diff["svg"]
    assert ['+ component "plot" (id plot): added', "green bold"] in diff["lines"]
    status, copied = call(url % "checkout", {"path": "nb.ipynb", "rev": f"{head}~1",
                                             "mode": "copy"})
    assert status == 200 and copied["path"].startswith("nb@")
    assert (repo.path / copied["path"]).exists()
    status, error = call(url % "diff" + "&path=nb.ipynb&old=nope")
    assert status == 400 and error["kind"] == "GitError"
    status, error = call(url % "history" + "&path=../outside.ipynb")
    assert status == 400 and "outside" in error["message"]
    cells = conflicted_cells()
    status, resolved = call(url % "resolve", {"cell": cells["train"], "choice": "theirs"})
    assert status == 200 and resolved["cell"]["source"] == "score = 5\n"
    status, error = call(url % "resolve", {"cell": resolved["cell"], "choice": "ours"})
    assert status == 400 and error["kind"] == "ResolveError"
    status, restored = call(url % "checkout", {"path": "nb.ipynb", "rev": f"{head}~1",
                                               "mode": "restore"})
    assert status == 200 and restored["backup"] is None
    assert "plot" not in (repo.path / "nb.ipynb").read_text()
