"""Notebook merge decisions, without git: metadata, parameters, outputs, ids, strategies."""

from __future__ import annotations

import copy
import json

import nbformat
from gitnbutil import by_id, cell, notebook, parents, pipeline_notebook, source

from cellpipe.gitnb.cells import dumps_notebook
from cellpipe.gitnb.files import merge_files, strategy_from_env
from cellpipe.gitnb.merge import merge_notebooks


def records(c: dict) -> list[dict]:
    return c["metadata"].get("cellpipe_merge", {}).get("conflicts", [])


def sides() -> tuple[dict, dict, dict]:
    base = pipeline_notebook()
    return base, copy.deepcopy(base), copy.deepcopy(base)


def test_metadata_conflict_keeps_both_values_in_the_record():
    base, ours, theirs = sides()
    by_id(ours)["train"]["metadata"]["tags"] = ["slow"]
    by_id(theirs)["train"]["metadata"]["tags"] = ["gpu"]
    result = merge_notebooks(base, ours, theirs)
    train = by_id(result.notebook)["train"]
    assert train["metadata"]["tags"] == ["slow"]
    assert records(train) == [{"kind": "metadata", "path": ["tags"], "ours": ["slow"],
                               "theirs": ["gpu"]}]


def test_rename_and_worker_conflicts_are_named():
    base, ours, theirs = sides()
    by_id(ours)["train"]["metadata"]["cellpipe"].update(name="fit", worker="gpu-a")
    by_id(theirs)["train"]["metadata"]["cellpipe"].update(name="learn", worker="gpu-b")
    result = merge_notebooks(base, ours, theirs)
    kinds = sorted(r["kind"] for r in records(by_id(result.notebook)["train"]))
    assert kinds == ["name", "worker"]
    assert "renamed on both sides ('fit' / 'learn')" in result.conflicts[0].message


def test_one_side_renames_the_other_rewires_and_changes_worker():
    base, ours, theirs = sides()
    by_id(ours)["train"]["metadata"]["cellpipe"]["name"] = "fit"
    by_id(theirs)["train"]["metadata"]["cellpipe"].update(parents=["clean", "load"],
                                                          worker="gpu")
    result = merge_notebooks(base, ours, theirs)
    assert result.conflicts == []
    assert by_id(result.notebook)["train"]["metadata"]["cellpipe"] == {
        "name": "fit", "parents": ["clean", "load"], "worker": "gpu"}


def test_outputs_and_execution_counts_never_conflict():
    base, ours, theirs = sides()
    for nb, text, count in ((ours, "ours\n", 3), (theirs, "theirs\n", 7)):
        by_id(nb)["train"]["outputs"] = [nbformat.v4.new_output("stream", text=text)]
        by_id(nb)["train"]["execution_count"] = count
    by_id(theirs)["train"]["source"] = "model = 1\n"
    result = merge_notebooks(base, ours, theirs)
    assert result.conflicts == []
    train = by_id(result.notebook)["train"]
    assert train["outputs"][0]["text"] == "ours\n" and train["execution_count"] == 3
    assert source(train) == "model = 1\n"


def test_parameters_merge_per_name_and_conflict_per_value():
    base, ours, theirs = sides()
    base["metadata"]["cellpipe"]["parameters"] = {"lr": {"type": "float", "value": 0.1}}
    ours["metadata"]["cellpipe"]["parameters"] = {"lr": {"type": "float", "value": 0.2},
                                                  "epochs": {"type": "int", "value": 3}}
    theirs["metadata"]["cellpipe"]["parameters"] = {"lr": {"type": "float", "value": 0.3},
                                                    "seed": {"type": "int", "value": 1}}
    result = merge_notebooks(base, ours, theirs)
    params = result.notebook["metadata"]["cellpipe"]["parameters"]
    assert set(params) == {"lr", "epochs", "seed"}
    [conflict] = result.conflicts
    assert conflict.kind == "notebook-metadata"
    assert conflict.record["path"] == ["cellpipe", "parameters", "lr", "value"]
    assert result.notebook["metadata"]["cellpipe_merge"]["conflicts"][0]["theirs"] == 0.3
    strategy = merge_notebooks(base, ours, theirs, prefer="theirs")
    assert strategy.conflicts == []
    assert strategy.notebook["metadata"]["cellpipe"]["parameters"]["lr"]["value"] == 0.3


def test_same_cell_added_on_both_sides_is_merged_against_an_empty_base():
    base, ours, theirs = sides()
    ours["cells"].append(cell("new", "x = 1\n", "new"))
    theirs["cells"].append(cell("new", "x = 1\n", "new"))
    result = merge_notebooks(base, ours, theirs)
    assert result.conflicts == [] and [c["id"] for c in result.notebook["cells"]].count("new") == 1
    theirs["cells"][-1]["source"] = "x = 2\n"
    result = merge_notebooks(base, ours, theirs)
    assert [c.kind for c in result.conflicts] == ["source"]


def test_component_removed_on_one_side_and_rewired_on_the_other_conflicts():
    base, ours, theirs = sides()
    del by_id(ours)["report"]["metadata"]["cellpipe"]
    by_id(theirs)["report"]["metadata"]["cellpipe"]["parents"] = ["clean", "train"]
    result = merge_notebooks(base, ours, theirs)
    assert [c.kind for c in result.conflicts] == ["component"]
    assert parents(result.notebook, "report") == ["clean", "train"]  # kept visible


def test_both_sides_add_components_with_one_name():
    base, ours, theirs = sides()
    ours["cells"].append(cell("a1", "a = 1\n", "plot"))
    theirs["cells"].append(cell("b1", "b = 1\n", "plot"))
    result = merge_notebooks(base, ours, theirs)
    assert [c.kind for c in result.conflicts] == ["duplicate-name"]
    assert all(records(by_id(result.notebook)[cid]) for cid in ("a1", "b1"))


def test_delete_modify_with_strategy_follows_the_chosen_side():
    base, ours, theirs = sides()
    by_id(ours)["report"]["source"] = "print('x')\n"
    theirs["cells"] = [c for c in theirs["cells"] if c["id"] != "report"]
    assert "report" not in by_id(merge_notebooks(base, ours, theirs, "theirs").notebook)
    kept = merge_notebooks(base, ours, theirs, "ours").notebook
    assert source(by_id(kept)["report"]) == "print('x')\n" and not records(by_id(kept)["report"])
    # theirs deleting an unedited cell is no conflict at all
    clean = merge_notebooks(base, base, theirs)
    assert clean.conflicts == [] and "report" not in by_id(clean.notebook)


def test_cycle_with_strategy_drops_the_other_sides_edges():
    base = notebook(cell("a", "a\n", "a"), cell("b", "b\n", "b"))
    ours, theirs = copy.deepcopy(base), copy.deepcopy(base)
    by_id(ours)["b"]["metadata"]["cellpipe"]["parents"] = ["a"]
    by_id(theirs)["a"]["metadata"]["cellpipe"]["parents"] = ["b"]
    assert [c.kind for c in merge_notebooks(base, ours, theirs).conflicts] == ["cycle"]
    result = merge_notebooks(base, ours, theirs, prefer="ours")
    assert result.conflicts == []
    assert parents(result.notebook, "a") == [] and parents(result.notebook, "b") == ["a"]


def test_merge_files_of_an_added_notebook_with_empty_base():
    nb = pipeline_notebook()
    other = copy.deepcopy(nb)
    other["cells"].append(cell("x", "x = 1\n"))
    result = merge_files("", dumps_notebook(nb), dumps_notebook(other))
    assert result.status == 0
    assert [c["id"] for c in json.loads(result.text)["cells"]][-1] == "x"


def test_output_is_written_like_jupyter_writes():
    nb = pipeline_notebook()
    result = merge_files(*(dumps_notebook(nb),) * 3)
    assert result.text == nbformat.writes(nbformat.from_dict(nb)) + "\n"


def test_strategy_from_env():
    assert strategy_from_env({"CELLPIPE_MERGE_STRATEGY": "Theirs"}) == ("theirs", None)
    assert strategy_from_env({}) == (None, None)
    strategy, warning = strategy_from_env({"CELLPIPE_MERGE_STRATEGY": "union"})
    assert strategy is None and "ignored" in warning


def test_cells_without_ids_on_one_side_match_the_other_sides_ids():
    base, ours, theirs = sides()
    raw = json.loads(dumps_notebook(theirs))
    raw["nbformat_minor"] = 4
    for c in raw["cells"]:
        c.pop("id")
    raw["cells"][3]["source"] = "model = sum(data)\nscore = model / 9\n"  # theirs edits train
    by_id(ours)["load"]["source"] = "data = [5]\n"
    result = merge_files(dumps_notebook(base), dumps_notebook(ours), json.dumps(raw))
    assert result.status == 0, result.message
    merged = json.loads(result.text)
    assert [c["id"] for c in merged["cells"]] == ["intro", "load", "clean", "train", "report"]
    assert source(by_id(merged)["train"]).endswith("/ 9\n")
    assert source(by_id(merged)["load"]) == "data = [5]\n"


def test_nbformat_3_notebooks_merge_by_content_and_come_out_as_4_5():
    def v3(*sources: str) -> str:
        cells = [{"cell_type": "code", "input": s, "language": "python", "metadata": {},
                  "outputs": [], "collapsed": False} for s in sources]
        return json.dumps({"nbformat": 3, "nbformat_minor": 0, "metadata": {"name": "old"},
                           "worksheets": [{"cells": cells, "metadata": {}}]})

    result = merge_files(v3("a = 1", "b = 2", "c = 3"), v3("a = 1", "b = 20", "c = 3"),
                         v3("a = 1", "b = 2", "c = 3", "d = 4"))
    assert result.status == 0, result.message
    merged = json.loads(result.text)
    assert (merged["nbformat"], merged["nbformat_minor"]) == (4, 5)
    assert [source(c) for c in merged["cells"]] == ["a = 1", "b = 20", "c = 3", "d = 4"]
    nbformat.validate(nbformat.reads(result.text, as_version=4))


def test_a_bug_in_the_merge_costs_a_manual_merge_not_a_side(monkeypatch):
    import cellpipe.gitnb.files as files

    def broken(*args, **kwargs):
        raise KeyError("oops")

    monkeypatch.setattr(files, "merge_notebooks", broken)
    base, ours, theirs = sides()
    by_id(ours)["train"]["source"] = "score = 4\n"
    by_id(theirs)["load"]["source"] = "data = []\n"
    result = merge_files(*(dumps_notebook(nb) for nb in (base, ours, theirs)), path="nb.ipynb")
    assert result.status == 2
    assert "cellpipe failed (KeyError: 'oops'); please report this" in result.message
    assert "score = 4" in result.text and "data = []" in result.text


def test_merge_never_changes_its_inputs():
    base, ours, theirs = sides()
    base["cells"].append(cell("extra", "e = 1\n", "extra"))
    ours, theirs = copy.deepcopy(base), copy.deepcopy(base)
    by_id(ours)["load"]["metadata"]["cellpipe"]["parents"] = ["extra"]
    by_id(theirs)["extra"]["metadata"]["cellpipe"]["parents"] = ["report"]  # a cycle
    by_id(ours)["report"]["metadata"]["cellpipe"]["parents"] = ["clean", "train"]
    theirs["cells"] = [c for c in theirs["cells"] if c["id"] != "clean"]  # dangling
    by_id(theirs)["train"]["metadata"]["cellpipe"]["parents"] = ["load"]
    snapshot = copy.deepcopy((base, ours, theirs))
    for prefer in (None, "ours", "theirs"):
        result = merge_notebooks(base, ours, theirs, prefer)
        assert (base, ours, theirs) == snapshot
    assert result.conflicts == []
    first = merge_notebooks(base, ours, theirs)
    assert {c.kind for c in first.conflicts} == {"cycle", "dangling-parent"}
    assert merge_notebooks(base, ours, theirs).notebook == first.notebook  # repeatable
