"""Real git in temp repos, drivers set up by git-setup: branch, edit, merge, check the result."""

from __future__ import annotations

import copy
import json

import nbformat
from click.testing import CliRunner
from gitnbutil import (
    Repo,
    by_id,
    cell,
    ids,
    parents,
    pipeline_notebook,
    source,
)

from cellpipe.cli.git import git_group
from cellpipe.gitnb.cells import dumps_notebook


def assert_valid(nb_text: str) -> dict:
    nb = nbformat.reads(nb_text, as_version=4)
    nbformat.validate(nb)
    return json.loads(nb_text)


def conflicts_of(c: dict) -> list[dict]:
    return c["metadata"].get("cellpipe_merge", {}).get("conflicts", [])


def test_both_sides_add_a_different_parent_keeps_both_edges(repo: Repo):
    base = pipeline_notebook()
    ours, theirs = copy.deepcopy(base), copy.deepcopy(base)
    by_id(ours)["report"]["metadata"]["cellpipe"]["parents"] = ["clean", "train"]
    by_id(theirs)["report"]["metadata"]["cellpipe"]["parents"] = ["load", "train"]
    done = repo.branch_merge(base, ours, theirs)
    assert done.returncode == 0, done.stdout + done.stderr
    merged = repo.read()
    assert parents(merged, "report") == ["clean", "load", "train"]
    assert repo.git("status", "--porcelain").stdout == ""


def test_two_cells_inserted_at_the_same_place_stay_two_cells(repo: Repo):
    base = pipeline_notebook()
    ours, theirs = copy.deepcopy(base), copy.deepcopy(base)
    ours["cells"].insert(2, cell("plot", "plot(data)\n", "plot", ["load"]))
    theirs["cells"].insert(2, cell("stats", "stats = len(data)\n", "stats", ["load"]))
    done = repo.branch_merge(base, ours, theirs)
    assert done.returncode == 0, done.stdout + done.stderr
    merged = repo.read()
    assert ids(merged) == ["intro", "load", "plot", "stats", "clean", "train", "report"]
    assert source(by_id(merged)["plot"]) == "plot(data)\n"
    assert source(by_id(merged)["stats"]) == "stats = len(data)\n"
    assert not any("<<<<<<<" in source(c) for c in merged["cells"])


def test_moved_cell_is_moved_and_keeps_the_other_sides_edit(repo: Repo):
    base = pipeline_notebook()
    ours, theirs = copy.deepcopy(base), copy.deepcopy(base)
    report = ours["cells"].pop(4)
    ours["cells"].insert(1, report)  # ours moves report to the top
    by_id(theirs)["report"]["source"] = "print('score', score)\n"  # theirs edits it
    by_id(theirs)["train"]["source"] = "model = sum(data)\nscore = model / 3\n"
    done = repo.branch_merge(base, ours, theirs)
    assert done.returncode == 0, done.stdout + done.stderr
    merged = repo.read()
    assert ids(merged) == ["intro", "report", "load", "clean", "train"]
    assert source(by_id(merged)["report"]) == "print('score', score)\n"
    assert source(by_id(merged)["train"]).endswith("/ 3\n")


def test_edit_versus_delete_is_a_conflict_with_the_edit_kept_visible(repo: Repo):
    base = pipeline_notebook()
    ours, theirs = copy.deepcopy(base), copy.deepcopy(base)
    by_id(ours)["report"]["source"] = "print('final', score)\n"
    theirs["cells"] = [c for c in theirs["cells"] if c["id"] != "report"]
    done = repo.branch_merge(base, ours, theirs)
    assert done.returncode != 0
    assert "CONFLICT" in done.stdout
    assert "UU nb.ipynb" in repo.git("status", "--porcelain").stdout
    text = (repo.path / "nb.ipynb").read_text()
    merged = assert_valid(text)
    report = by_id(merged)["report"]
    assert source(report) == ("<<<<<<< ours\nprint('final', score)\n=======\n"
                              ">>>>>>> theirs (deleted this cell)\n")
    [record] = conflicts_of(report)
    assert record["kind"] == "delete-modify" and record["deleted_by"] == "theirs"
    assert record["ours"] == "print('final', score)\n"
    assert record["base"] == "print(score)\n"


def test_code_conflict_is_written_inside_the_cell_and_git_stops(repo: Repo):
    base = pipeline_notebook()
    ours, theirs = copy.deepcopy(base), copy.deepcopy(base)
    by_id(ours)["train"]["source"] = "model = sum(data)\nscore = model / 4\n"
    by_id(theirs)["train"]["source"] = "model = sum(data)\nscore = model / 5\n"
    by_id(theirs)["load"]["source"] = "import math\ndata = [1, 2, 3, 4]\n"  # clean change
    done = repo.branch_merge(base, ours, theirs)
    assert done.returncode != 0
    assert "cellpipe merge nb.ipynb: 1 conflict(s) (source)" in done.stderr
    merged = assert_valid((repo.path / "nb.ipynb").read_text())
    assert source(by_id(merged)["train"]) == (
        "model = sum(data)\n<<<<<<< ours\nscore = model / 4\n=======\nscore = model / 5\n"
        ">>>>>>> theirs\n")
    [record] = conflicts_of(by_id(merged)["train"])
    assert record["kind"] == "source"
    assert record["theirs"] == "model = sum(data)\nscore = model / 5\n"
    assert source(by_id(merged)["load"]).endswith("[1, 2, 3, 4]\n")
    assert conflicts_of(by_id(merged)["load"]) == []


def test_edges_that_make_a_cycle_are_a_conflict(repo: Repo):
    base = pipeline_notebook()
    base["cells"].append(cell("extra", "extra = 1\n", "extra"))
    ours, theirs = copy.deepcopy(base), copy.deepcopy(base)
    by_id(ours)["load"]["metadata"]["cellpipe"]["parents"] = ["extra"]  # extra -> load
    by_id(theirs)["extra"]["metadata"]["cellpipe"]["parents"] = ["report"]  # report -> extra
    # each side is a DAG; together: extra -> load -> clean -> train -> report -> extra
    done = repo.branch_merge(base, ours, theirs)
    assert done.returncode != 0
    assert "cycle" in done.stderr
    merged = assert_valid((repo.path / "nb.ipynb").read_text())
    cycle_cells = {c["id"] for c in merged["cells"]
                   if any(r["kind"] == "cycle" for r in conflicts_of(c))}
    assert cycle_cells == {"extra", "load", "clean", "train", "report"}
    assert parents(merged, "load") == ["extra"]  # both sides' edges kept for the user to choose
    assert parents(merged, "extra") == ["report"]


def test_edge_to_a_deleted_cell_is_a_dangling_parent_conflict(repo: Repo):
    base = pipeline_notebook()
    ours, theirs = copy.deepcopy(base), copy.deepcopy(base)
    by_id(ours)["report"]["metadata"]["cellpipe"]["parents"] = ["clean", "train"]
    theirs["cells"] = [c for c in theirs["cells"] if c["id"] != "clean"]
    by_id(theirs)["train"]["metadata"]["cellpipe"]["parents"] = ["load"]
    done = repo.branch_merge(base, ours, theirs)
    assert done.returncode != 0
    merged = assert_valid((repo.path / "nb.ipynb").read_text())
    assert "clean" not in ids(merged)
    assert parents(merged, "report") == ["train"]  # the pipeline stays loadable
    [record] = conflicts_of(by_id(merged)["report"])
    assert record == {"kind": "dangling-parent", "parent": "clean", "edge_from": ["ours"]}


def test_merge_strategy_env_resolves_conflicts_to_one_side(repo: Repo, monkeypatch):
    base = pipeline_notebook()
    ours, theirs = copy.deepcopy(base), copy.deepcopy(base)
    by_id(ours)["train"]["source"] = "score = 4\n"
    by_id(theirs)["train"]["source"] = "score = 5\n"
    by_id(ours)["train"]["metadata"]["cellpipe"]["name"] = "fit"
    by_id(theirs)["train"]["metadata"]["cellpipe"]["name"] = "learn"
    monkeypatch.setenv("CELLPIPE_MERGE_STRATEGY", "theirs")
    done = repo.branch_merge(base, ours, theirs)
    assert done.returncode == 0, done.stderr
    train = by_id(repo.read())["train"]
    assert source(train) == "score = 5\n"
    assert train["metadata"] == {"cellpipe": {"name": "learn", "parents": ["clean"]}}


def test_git_diff_and_log_show_cellpipes_diff(repo: Repo):
    base = pipeline_notebook()
    repo.commit(base, "base")
    new = copy.deepcopy(base)
    by_id(new)["train"]["source"] = "model = max(data)\nscore = model / 2\n"
    by_id(new)["report"]["metadata"]["cellpipe"]["name"] = "summary"
    by_id(new)["report"]["metadata"]["cellpipe"]["parents"] = ["clean", "train"]
    repo.write(new)
    diff = repo.git("diff").stdout
    assert "cellpipe diff a/nb.ipynb b/nb.ipynb" in diff
    assert '~ component "train" (id train): code changed' in diff
    assert "-model = sum(data)" in diff and "+model = max(data)" in diff
    assert 'renamed "report" -> "summary"' in diff
    assert "+ clean -> summary" in diff
    assert "caches invalidated: train, summary" in diff
    repo.commit(None, "faster model")
    log = repo.git("log", "-p", "-n1").stdout
    assert '-## code [report] component "report" <- ["train"]' in log
    assert '+## code [report] component "summary" <- ["clean", "train"]' in log
    assert "+model = max(data)" in log
    assert '"source"' not in log  # no raw JSON
    show = repo.git("show", "HEAD").stdout
    assert "+model = max(data)" in show


def test_invalid_json_side_keeps_both_sides_and_stops_git(repo: Repo):
    base = pipeline_notebook()
    ours = copy.deepcopy(base)
    by_id(ours)["train"]["source"] = "score = 4\n"
    repo.commit(base, "base")
    repo.git("checkout", "-q", "-b", "theirs")
    broken = dumps_notebook(base).replace('"cells": [', '"cells": [ {oops', 1)
    (repo.path / "nb.ipynb").write_text(broken)
    repo.commit(None, "broken")
    repo.git("checkout", "-q", "main")
    repo.commit(ours, "ours")
    done = repo.git("merge", "--no-edit", "theirs", check=False)
    assert done.returncode != 0
    assert "the theirs version of nb.ipynb is not valid JSON" in done.stderr
    text = (repo.path / "nb.ipynb").read_text()
    assert "{oops" in text and "score = 4" in text  # nothing lost
    assert "UU nb.ipynb" in repo.git("status", "--porcelain").stdout


def test_notebook_with_unresolved_markers_is_refused(repo: Repo):
    base = pipeline_notebook()
    ours, theirs = copy.deepcopy(base), copy.deepcopy(base)
    by_id(ours)["train"]["source"] = "<<<<<<< ours\na = 1\n=======\na = 2\n>>>>>>> theirs\n"
    by_id(theirs)["load"]["source"] = "data = []\n"
    done = repo.branch_merge(base, ours, theirs)
    assert done.returncode != 0
    assert "still holds unresolved merge conflicts (in train)" in done.stderr
    text = (repo.path / "nb.ipynb").read_text()
    assert "a = 2" in text and "data = []" in text


def test_old_nbformat_without_ids_matches_cells_by_content(repo: Repo):
    def old(*sources: str) -> dict:
        nb = nbformat.v4.new_notebook()
        nb.nbformat_minor = 4
        nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
        raw = json.loads(json.dumps(nb))
        for c in raw["cells"]:
            c.pop("id", None)
        return raw

    base = old("a = 1\n", "b = 2\nc = 3\n", "d = 4\n")
    ours = old("a = 1\n", "b = 20\nc = 3\n", "d = 4\n")  # edits cell 2
    theirs = old("a = 1\n", "b = 2\nc = 3\n", "e = 5\n", "d = 4\n")  # inserts a cell
    done = repo.branch_merge(base, ours, theirs)
    assert done.returncode == 0, done.stderr
    merged = assert_valid((repo.path / "nb.ipynb").read_text())
    assert [source(c) for c in merged["cells"]] == ["a = 1\n", "b = 20\nc = 3\n", "e = 5\n",
                                                    "d = 4\n"]
    assert merged["nbformat_minor"] == 4  # git commits the format the file had
    assert not any("id" in c for c in merged["cells"])


def test_cellpipe_merge_command_writes_output_and_exit_status(tmp_path):
    base = pipeline_notebook()
    ours, theirs = copy.deepcopy(base), copy.deepcopy(base)
    by_id(ours)["train"]["source"] = "score = 4\n"
    by_id(theirs)["train"]["source"] = "score = 5\n"
    paths = []
    for name, nb in (("base", base), ("ours", ours), ("theirs", theirs)):
        p = tmp_path / f"{name}.ipynb"
        p.write_text(dumps_notebook(nb))
        paths.append(str(p))
    out = tmp_path / "out.ipynb"
    done = CliRunner().invoke(git_group, ["merge", *paths, "-o", str(out)])
    assert done.exit_code == 1
    assert "1 conflict(s) (source)" in done.stderr
    assert "<<<<<<< ours\nscore = 4\n=======\nscore = 5\n>>>>>>> theirs\n" in source(
        by_id(json.loads(out.read_text()))["train"])
    assert json.loads((tmp_path / "ours.ipynb").read_text()) == json.loads(
        dumps_notebook(ours))  # untouched when -o is given


def test_a_side_that_is_not_utf8_is_refused_and_kept(repo: Repo):
    base = pipeline_notebook()
    ours = copy.deepcopy(base)
    by_id(ours)["train"]["source"] = "score = 4\n"
    repo.commit(base, "base")
    repo.git("checkout", "-q", "-b", "theirs")
    latin1 = dumps_notebook(base).replace("print(score)", "print('café')").encode("utf-8")
    latin1 = latin1.replace("café".encode(), "café".encode("latin-1"))  # bytes 63 61 66 e9
    (repo.path / "nb.ipynb").write_bytes(latin1)
    repo.commit(None, "saved as latin-1")
    repo.git("checkout", "-q", "main")
    repo.commit(ours, "ours")
    done = repo.git("merge", "--no-edit", "theirs", check=False)
    assert done.returncode != 0
    assert "the theirs version of nb.ipynb is not valid UTF-8 (byte 0xe9 at offset" in done.stderr
    assert "not merged cell by cell" in done.stderr
    data = (repo.path / "nb.ipynb").read_bytes()
    assert b"caf\xe9" in data and b"score = 4" in data  # both sides' bytes, line-merged
    assert "UU nb.ipynb" in repo.git("status", "--porcelain").stdout


def test_a_side_that_is_not_a_notebook_is_refused_naming_it(repo: Repo):
    base = pipeline_notebook()
    ours, theirs = copy.deepcopy(base), copy.deepcopy(base)
    by_id(ours)["train"]["source"] = "score = 4\n"
    by_id(theirs)["report"]["source"] = 5  # valid JSON, but no notebook has a number here
    done = repo.branch_merge(base, ours, theirs)
    assert done.returncode != 0
    assert ("the theirs version of nb.ipynb is not a notebook cellpipe can read: cell 5 has a "
            "'source' that is not text") in done.stderr
    text = (repo.path / "nb.ipynb").read_text()
    assert "score = 4" in text and '"source": 5' in text  # both sides' changes, line-merged
    assert "UU nb.ipynb" in repo.git("status", "--porcelain").stdout


def test_cellpipe_merge_names_each_file_in_its_messages(tmp_path):
    base = pipeline_notebook()
    paths = {}
    for name, text in (("base", "{ not json"), ("ours", dumps_notebook(base)),
                       ("theirs", dumps_notebook(base))):
        paths[name] = tmp_path / f"{name}.ipynb"
        paths[name].write_text(text)
    done = CliRunner().invoke(git_group, ["merge", *map(str, paths.values()), "-o",
                                          str(tmp_path / "out.ipynb")])
    assert done.exit_code == 2
    assert f"{paths['base']} (base) is not valid JSON" in done.stderr
    paths["base"].write_text(dumps_notebook(base))
    paths["theirs"].write_bytes(b"\xff" + dumps_notebook(base).encode())
    done = CliRunner().invoke(git_group, ["merge", *map(str, paths.values()), "-o",
                                          str(tmp_path / "out.ipynb")])
    assert done.exit_code == 2
    assert f"{paths['theirs']} (theirs) is not valid UTF-8 (byte 0xff at offset 0)" in done.stderr
    assert str(paths["ours"]) not in done.stderr.split("not merged cell by cell")[1]
