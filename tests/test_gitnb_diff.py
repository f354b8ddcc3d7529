"""Notebook diff: cells, moves, renames, edges, parameters, stale caches; terminal, JSON, SVG."""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET

import nbformat
from click.testing import CliRunner
from gitnbutil import by_id, cell, pipeline_notebook

from cellpipe.cli.git import git_group
from cellpipe.gitnb.cells import dumps_notebook
from cellpipe.gitnb.diff import diff_notebooks
from cellpipe.gitnb.render import diff_lines, text_view
from cellpipe.gitnb.svg import dag_diff_svg


def changed_pair() -> tuple[dict, dict]:
    old = pipeline_notebook()
    old["metadata"]["cellpipe"]["parameters"] = {"lr": {"type": "float", "value": 0.1}}
    new = copy.deepcopy(old)
    new["metadata"]["cellpipe"]["parameters"]["lr"]["value"] = 0.01
    by_id(new)["load"]["source"] = "import math\n\n# comment only\ndata = [1, 2, 3]\n"
    by_id(new)["train"]["source"] = "model = sum(data) * lr\nscore = model / 2\n"
    by_id(new)["report"]["metadata"]["cellpipe"].update(name="summary", worker="gpu")
    new["cells"] = [c for c in new["cells"] if c["id"] != "clean"]
    by_id(new)["train"]["metadata"]["cellpipe"]["parents"] = ["load"]
    new["cells"].insert(1, cell("plot", "plot(data)\n", "plot", ["load"]))
    intro = new["cells"].pop(0)
    new["cells"].append(intro)  # markdown moved to the end
    by_id(new)["plot"]["outputs"] = [nbformat.v4.new_output("stream", text="drawn\n")]
    return old, new


def test_diff_reports_every_kind_of_change():
    old, new = changed_pair()
    d = diff_notebooks(old, new)
    status = {c.id: c.status for c in d.cells}
    assert status == {"plot": "added", "load": "changed", "clean": "removed",
                      "train": "changed", "report": "changed", "intro": "same"}
    change = {c.id: c for c in d.cells}
    assert change["intro"].moved and not change["train"].moved
    assert change["report"].renamed and change["report"].worker == (None, "gpu")
    assert change["train"].parents_added == ["load"]
    assert change["train"].parents_removed == ["clean"]
    assert set(d.edges_added) == {("load", "plot"), ("load", "train")}
    assert set(d.edges_removed) == {("load", "clean"), ("clean", "train")}
    assert [(p.name, p.old["value"], p.new["value"]) for p in d.parameters] == [("lr", 0.1, 0.01)]
    # load only gained a comment and a blank line: its cache stays; train re-keys (code,
    # parents, reads lr) and so does report, its child; plot is new
    assert d.invalidated == ["train", "report"]
    assert d.summary() == ("5 component(s) changed, edges +2/-2, 1 other cell(s) changed, "
                           "1 parameter(s) changed, 2 cache(s) invalidated")


def test_parameter_change_invalidates_only_readers_and_their_descendants():
    old = pipeline_notebook()
    old["metadata"]["cellpipe"]["parameters"] = {"n": {"type": "int", "value": 1}}
    new = copy.deepcopy(old)
    new["metadata"]["cellpipe"]["parameters"]["n"]["value"] = 2
    by_id(old)["clean"]["source"] = by_id(new)["clean"]["source"] = "data = data[:n]\n"
    assert diff_notebooks(old, new).invalidated == ["clean", "train", "report"]


def test_terminal_view_hides_outputs_unless_asked():
    old, new = changed_pair()
    text = "\n".join(t for t, _ in diff_lines(diff_notebooks(old, new)))
    assert '+ component "plot" (id plot): added' in text
    assert '- component "clean" (id clean): removed' in text
    assert '~ component "summary" (id report): renamed "report" -> "summary", worker local -> gpu' \
        in text
    assert "    -model = sum(data)" in text and "    +model = sum(data) * lr" in text
    assert "  ~ lr: 0.1 (float) -> 0.01 (float)" in text
    assert "  + load -> plot" in text and "  - clean -> train" in text
    assert "> markdown cell (id intro): moved" in text
    assert "drawn" not in text
    with_outputs = "\n".join(t for t, _ in diff_lines(diff_notebooks(old, new), outputs=True))
    assert "+drawn" in with_outputs


def test_unchanged_notebooks_say_so():
    nb = pipeline_notebook()
    assert [t for t, _ in diff_lines(diff_notebooks(nb, nb))][-1] == "no changes"


def test_svg_colours_added_removed_and_changed_nodes_and_edges():
    old, new = changed_pair()
    svg = dag_diff_svg(diff_notebooks(old, new), "old -> new")
    root = ET.fromstring(svg)
    ns = {"s": "http://www.w3.org/2000/svg"}
    nodes = {g.get("data-id"): g.get("class") for g in root.iterfind(".//s:g", ns)}
    assert nodes == {"plot": "node node-added", "load": "node node-changed",
                     "clean": "node node-removed", "train": "node node-changed",
                     "report": "node node-changed"}
    edge_classes = sorted(p.get("class") for p in root.iterfind(".//s:path", ns)
                          if "edge" in (p.get("class") or ""))
    assert edge_classes == ["edge edge-added"] * 2 + ["edge edge-removed"] * 2 + [
        "edge edge-same"]
    rects = {g.get("data-id"): g.find("s:rect", ns) for g in root.iterfind(".//s:g", ns)}
    assert float(rects["load"].get("y")) < float(rects["train"].get("y")) < float(
        rects["report"].get("y"))  # parents above children


def test_text_view_for_textconv():
    nb = pipeline_notebook()
    by_id(nb)["train"]["metadata"]["cellpipe"]["worker"] = "gpu"
    view = text_view(nb)
    assert '## code [train] component "train" <- ["clean"] @ gpu\nmodel = sum(data)\n' in view
    assert "## markdown [intro]\n# Pipeline\n" in view


def test_cli_diff_of_two_files_json_and_svg(tmp_path):
    old, new = changed_pair()
    a, b, svg = tmp_path / "a.ipynb", tmp_path / "b.ipynb", tmp_path / "dag.svg"
    a.write_text(dumps_notebook(old))
    b.write_text(dumps_notebook(new))
    runner = CliRunner()
    done = runner.invoke(git_group, ["diff", str(a), str(b), "--json", "--svg", str(svg)])
    assert done.exit_code == 0, done.output
    data = json.loads(done.output)
    assert data["invalidated"] == ["train", "report"]
    assert {c["id"] for c in data["cells"]} == {"plot", "load", "clean", "train", "report",
                                                "intro"}
    assert "old_outputs" not in data["cells"][0]
    assert ["load", "plot"] in data["edges_added"]
    assert svg.read_text().startswith("<svg")
    plain = runner.invoke(git_group, ["diff", str(a), str(b), "--no-color"])
    assert "caches invalidated: train, summary" in plain.output
    assert "\x1b[" not in plain.output
    coloured = runner.invoke(git_group, ["diff", str(a), str(b), "--color"])
    assert "\x1b[32m" in coloured.output  # green for additions


def test_cli_diff_of_a_non_notebook_is_a_clear_error(tmp_path):
    a, b = tmp_path / "a.ipynb", tmp_path / "b.ipynb"
    a.write_text("{not json")
    b.write_text(dumps_notebook(pipeline_notebook()))
    done = CliRunner().invoke(git_group, ["diff", str(a), str(b)])
    assert done.exit_code == 1
    assert "is not valid JSON" in done.output


def test_diff_of_ten_thousand_cells_is_fast():
    import time

    old = {"cells": [cell(f"c{i}", f"x{i} = {i}\n", f"s{i}", [f"c{i - 1}"] if i else [])
                     for i in range(10000)], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    new = copy.deepcopy(old)
    new["cells"][5000]["source"] = "x = 'changed'\n"
    new["cells"].insert(0, new["cells"].pop(9000))
    start = time.perf_counter()
    d = diff_notebooks(old, new)
    assert time.perf_counter() - start < 5
    assert len(d.invalidated) == 5000 and [c.id for c in d.changed] == ["c9000", "c5000"]
