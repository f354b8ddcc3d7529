"""Notebooks without cell ids (nbformat < 4.5) diff, log and merge like notebooks with them.

Every fixture is written by hand from the nbformat 4.4 description: cells carry cell_type,
metadata, source (a list of lines) and, for code, outputs and execution_count; no `id`.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from typing import Any

import nbformat
from click.testing import CliRunner
from gitnbutil import (
    Repo,
    source,
)

from cellpipe.cli.git import git_group


def code(text: str) -> dict[str, Any]:
    return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
            "source": text.splitlines(keepends=True)}


def markdown(text: str) -> dict[str, Any]:
    return {"cell_type": "markdown", "metadata": {}, "source": text.splitlines(keepends=True)}


def old_notebook(*cells: dict[str, Any], minor: int = 4) -> dict[str, Any]:
    return {
        "cells": [copy.deepcopy(c) for c in cells],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                    "name": "python3"},
                     "language_info": {"name": "python"}},
        "nbformat": 4,
        "nbformat_minor": minor,
    }


def analysis() -> list[dict[str, Any]]:
    """90 cells as real notebooks have them: many repeated (df.head(), empty, plt.show())."""
    cells = []
    for k in range(15):
        cells += [markdown(f"## Step {k}"), code("df.head()"), code(f"df = step_{k}(df)"),
                  code("df.head()"), code(""), code("plt.show()")]
    return cells


def write(path, nb: dict[str, Any]) -> str:
    path.write_text(json.dumps(nb, indent=1) + "\n")
    return str(path)


def diff_json(*args: str) -> dict[str, Any]:
    done = CliRunner().invoke(git_group, ["diff", "--json", *args])
    assert done.exit_code == 0, done.output
    return json.loads(done.output)


def sources(nb: dict[str, Any]) -> list[str]:
    return [source(c) for c in nb["cells"]]


def test_diff_of_a_file_with_itself_reports_nothing(tmp_path):
    a = write(tmp_path / "a.ipynb", old_notebook(*analysis()))
    b = write(tmp_path / "b.ipynb", old_notebook(*analysis()))
    for args in ((a, a), (a, b)):
        result = diff_json(*args)
        assert result["cells"] == [], result["summary"]
        assert result["summary"] == "0 component(s) changed, edges +0/-0"
        text = CliRunner().invoke(git_group, ["diff", "--no-color", *args])
        assert text.exit_code == 0 and text.output.rstrip().endswith("no changes")


def test_a_one_cell_edit_is_one_changed_cell(tmp_path):
    cells = analysis()
    a = write(tmp_path / "a.ipynb", old_notebook(*cells))
    edited = copy.deepcopy(cells)
    edited[39] = code("df.tail()")  # one of thirty identical df.head() cells
    b = write(tmp_path / "b.ipynb", old_notebook(*edited))
    result = diff_json(a, b)
    assert [(c["status"], c["old_source"], c["new_source"]) for c in result["cells"]] == [
        ("changed", "df.head()", "df.tail()")]
    assert result["summary"] == "0 component(s) changed, edges +0/-0, 1 other cell(s) changed"
    rewritten = copy.deepcopy(cells)
    rewritten[44] = code("import seaborn as sns\nsns.histplot(df)")  # nothing like before
    result = diff_json(a, write(tmp_path / "c.ipynb", old_notebook(*rewritten)))
    assert [(c["status"], c["old_source"] or c["new_source"]) for c in result["cells"]] == [
        ("removed", "df = step_7(df)"), ("added", "import seaborn as sns\nsns.histplot(df)")]
    inserted = copy.deepcopy(cells)
    inserted.insert(20, code("df.head()"))
    result = diff_json(a, write(tmp_path / "d.ipynb", old_notebook(*inserted)))
    assert [(c["status"], c["new_source"]) for c in result["cells"]] == [("added", "df.head()")]


def test_log_counts_only_the_cells_each_commit_changed(repo: Repo):
    cells = analysis()
    nb = repo.path / "nb.ipynb"
    write(nb, old_notebook(*cells))
    repo.commit(None, "ninety cells")
    cells[50] = code("df = step_8(df, fast=True)")  # was df = step_8(df)
    write(nb, old_notebook(*cells))
    repo.commit(None, "one edit")
    cells.insert(11, code("df = df.dropna()"))
    del cells[70]
    write(nb, old_notebook(*cells))
    repo.commit(None, "one insert, one delete")
    done = CliRunner().invoke(git_group, ["log", "--json", "nb.ipynb"])
    assert done.exit_code == 0, done.output
    entries = json.loads(done.output)
    assert [(e["subject"], e["cells_changed"]) for e in entries] == [
        ("one insert, one delete", 2), ("one edit", 1), ("ninety cells", 90)]
    assert entries[1]["summary"] == ("0 component(s) changed, edges +0/-0, "
                                     "1 other cell(s) changed")


def test_json_and_textconv_are_the_same_run_after_run(tmp_path):
    cells = analysis()
    a = write(tmp_path / "a.ipynb", old_notebook(*cells))
    cells[3] = code("df.sample(5)")
    cells.insert(30, markdown("A note"))
    b = write(tmp_path / "b.ipynb", old_notebook(*cells))
    runs = [subprocess.run([sys.executable, "-m", "cellpipe.cli", "diff", "--json", a, b],
                           capture_output=True, text=True, check=True).stdout for _ in range(2)]
    assert runs[0] == runs[1]
    assert len(json.loads(runs[0])["cells"]) == 2
    views = [subprocess.run([sys.executable, "-m", "cellpipe.gitnb.driver", "textconv", a],
                            capture_output=True, text=True, check=True).stdout for _ in range(2)]
    assert views[0] == views[1] and "\n## markdown\n## Step 0\n" in views[0]  # no made-up ids


def merged_by_git(repo: Repo, base: dict, ours: dict, theirs: dict) -> dict[str, Any]:
    done = repo.branch_merge(base, ours, theirs)
    assert done.returncode == 0, done.stdout + done.stderr
    text = (repo.path / "nb.ipynb").read_text()
    nbformat.validate(nbformat.reads(text, as_version=nbformat.NO_CONVERT))
    merged = json.loads(text)
    assert (merged["nbformat"], merged["nbformat_minor"]) == (4, base["nbformat_minor"])
    assert not any("id" in c for c in merged["cells"])  # the format has no ids: none added
    return merged


def test_repeated_cells_each_side_editing_a_different_copy_merge_cleanly(repo: Repo):
    base = old_notebook(code("x = 3"), code("f(x)"), code("x = 3"), code("f(x)"))
    ours = old_notebook(code("x = 4"), code("f(x)"), code("x = 3"), code("f(x)"))
    theirs = old_notebook(code("x = 3"), code("f(x)"), code("x = 5"), code("f(x)"))
    merged = merged_by_git(repo, base, ours, theirs)
    assert sources(merged) == ["x = 4", "f(x)", "x = 5", "f(x)"]


def test_cell_inserted_beside_a_heading_does_not_conflict_with_it(repo: Repo):
    base = old_notebook(markdown("# Reslts"), code("import numpy as np"))
    ours = old_notebook(markdown("# Results"), code("import numpy as np"))
    theirs = old_notebook(code("x = 3"), markdown("# Results"), code("import numpy as np"))
    merged = merged_by_git(repo, base, ours, theirs)
    assert sources(merged) == ["x = 3", "# Results", "import numpy as np"]


def test_a_cell_ours_kept_and_theirs_rewrote_comes_out_once(repo: Repo):
    base = old_notebook(code("df = load()"), code("df.head()"), code("df = clean(df)"),
                        code("df.head()"))
    ours = old_notebook(code("df = load()"), code("df.head()"), code("df = clean(df)"))
    theirs = old_notebook(code("df = load()"), code("df.describe()"), code("df = clean(df)"),
                          code("df.head()"))
    merged = merged_by_git(repo, base, ours, theirs)
    assert sources(merged) == ["df = load()", "df.describe()", "df = clean(df)"]


def test_older_minor_versions_are_kept(repo: Repo):
    base = old_notebook(code("a = 1"), code("b = 2"), minor=2)
    ours = old_notebook(code("a = 10"), code("b = 2"), minor=2)
    theirs = old_notebook(code("a = 1"), code("b = 2"), code("c = 3"), minor=2)
    merged = merged_by_git(repo, base, ours, theirs)
    assert sources(merged) == ["a = 10", "b = 2", "c = 3"]


def with_random_ids(nb: dict[str, Any], prefix: str) -> dict[str, Any]:
    """What a newer Jupyter writes when it saves a 4.4 notebook: 4.5, a fresh id per cell."""
    nb = copy.deepcopy(nb)
    nb["nbformat_minor"] = 5
    for k, c in enumerate(nb["cells"]):
        c["id"] = f"{prefix}{k:04x}"
    return nb


def test_sides_upgraded_to_4_5_on_their_own_still_line_up(repo: Repo):
    base = old_notebook(code("x = 3"), code("f(x)"), code("x = 3"), code("f(x)"))
    ours = with_random_ids(old_notebook(code("x = 4"), code("f(x)"), code("x = 3"),
                                        code("f(x)")), "aa")
    theirs = with_random_ids(old_notebook(code("x = 3"), code("f(x)"), code("x = 5"),
                                          code("f(x)"), code("g(x)")), "bb")
    done = repo.branch_merge(base, ours, theirs)
    assert done.returncode == 0, done.stdout + done.stderr
    merged = repo.read()
    assert sources(merged) == ["x = 4", "f(x)", "x = 5", "f(x)", "g(x)"]
    assert merged["nbformat_minor"] == 5  # a side upgraded the file; the merge keeps that
    assert [c["id"] for c in merged["cells"]][:4] == ["aa0000", "aa0001", "aa0002", "aa0003"]
    assert merged["cells"][4]["id"] == "bb0004"
    # the commit that upgraded the file shows no cell as changed
    upgrade = diff_json("HEAD~2", "HEAD~1", "nb.ipynb")  # base -> ours on main
    assert [c["new_source"] for c in upgrade["cells"]] == ["x = 4"]


def source_ops() -> Any:
    from hypothesis import strategies as st

    return st.lists(st.tuples(st.sampled_from(("insert", "delete", "edit")),
                              st.integers(0, 40), st.booleans()), max_size=4)


def _edit(cells: list[dict[str, Any]], ops: list[tuple[str, int, bool]], side: str) -> list:
    cells = copy.deepcopy(cells)
    for n, (kind, at, markdown_cell) in enumerate(ops):
        if kind == "insert":
            text = f"{side} wrote cell {n}\nwith two lines\n"
            cells.insert(at % (len(cells) + 1), markdown(text) if markdown_cell else code(text))
        elif cells and kind == "delete":
            cells.pop(at % len(cells))
        elif cells:
            target = cells[at % len(cells)]
            target["source"] = [*target["source"], f"\n# {side} edit {n}"]
    return cells


def test_without_ids_a_merge_of_distinct_cells_equals_the_merge_with_ids():
    """Where content tells cells apart, aligning it must find what ids would have said."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from cellpipe.gitnb.files import merge_files

    @settings(max_examples=150, deadline=None)
    @given(st.integers(0, 8), source_ops(), source_ops())
    def check(n: int, ours_ops: list, theirs_ops: list) -> None:
        base = [code(f"step_{i} = run({i})\nprint(step_{i})\nsave(step_{i})") for i in range(n)]
        for i, c in enumerate(base):
            c["id"] = f"cell{i}"
        ours, theirs = _edit(base, ours_ops, "ours"), _edit(base, theirs_ops, "theirs")
        for side in (ours, theirs):
            for k, c in enumerate(side):
                c.setdefault("id", f"new{id(side)}-{k}")
        with_ids = [json.dumps(old_notebook(*cells, minor=5)) for cells in (base, ours, theirs)]
        stripped = []
        for cells in (base, ours, theirs):
            bare = [{k: v for k, v in c.items() if k != "id"} for c in cells]
            stripped.append(json.dumps(old_notebook(*bare)))
        expected, got = merge_files(*with_ids), merge_files(*stripped)
        assert got.status == expected.status, (got.message, expected.message)
        assert sources(json.loads(got.text)) == sources(json.loads(expected.text))

    check()
