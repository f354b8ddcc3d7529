"""POST pipeline/infer and pipeline/check (docs/rest-api.md, /work contract with the panel)."""

from __future__ import annotations

import json

import nbformat
import test_share_server
from nbutil import make_notebook

server = test_share_server.server  # one module-scoped jupyter_server, as test_rest_bodies


def post(server, endpoint, body):
    return server.call("POST", endpoint, json.dumps(body).encode(), under="")


def plain():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("## Split"),
                nbformat.v4.new_code_cell("X_train = list(range(8))"),
                nbformat.v4.new_code_cell("# train\nmodel = sum(X_train)"),
                nbformat.v4.new_code_cell("# seed\nimport random\nrandom.seed(1)"),
                nbformat.v4.new_code_cell("# draw\nprint(random.random())")]
    for i, cell in enumerate(nb.cells):
        cell.id = f"c{i}"
    return json.loads(nbformat.writes(nb))


def test_infer_replies_metadata_edges_and_notes_for_every_code_cell(server):
    status, reply = post(server, "pipeline/infer", {"notebook": plain()})
    assert status == 200, reply
    assert reply["op"] == "inferred"
    assert reply["metadata"] == {"cellpipe": {"version": 1}}
    assert [c["id"] for c in reply["cells"]] == ["c1", "c2", "c3", "c4"]
    meta = {c["id"]: c["metadata"]["cellpipe"] for c in reply["cells"]}
    assert meta["c1"] == {"name": "Split", "parents": []}
    assert meta["c2"] == {"name": "train", "parents": ["c1"]}
    assert meta["c4"]["parents"] == ["c3"]
    edges = {(e["parent"], e["child"]): e for e in reply["edges"]}
    assert edges[("c1", "c2")]["names"] == ["X_train"]
    assert edges[("c1", "c2")]["reason"] == "reads X_train"
    assert "random generator" in edges[("c3", "c4")]["reason"]
    assert reply["summary"] == "4 components, 2 edges"
    assert isinstance(reply["notes"], list)


def test_infer_only_suggests_the_parents_of_one_cell_keeping_its_name(server):
    nb = plain()
    nb["cells"][2]["metadata"]["cellpipe"] = {"name": "fit it", "parents": []}
    status, reply = post(server, "pipeline/infer", {"notebook": nb, "only": "c2"})
    assert status == 200, reply
    assert reply["cells"] == [{"id": "c2", "metadata": {"cellpipe": {"name": "fit it",
                                                                      "parents": ["c1"]}}}]
    assert [(e["parent"], e["child"]) for e in reply["edges"]] == [("c1", "c2")]
    status, reply = post(server, "pipeline/infer", {"notebook": nb, "only": "nope"})
    assert status == 400 and reply["op"] == "error"
    assert reply["kind"] == "UnknownComponentError"


def test_check_warns_with_a_fix_and_names_each_edge(server):
    nb = json.loads(nbformat.writes(make_notebook([
        ("raw = list(range(10))", "load", []),
        ("X_train = raw[:8]", "split", ["load"]),
        ("model = sum(X_train)", "train", ["load"]),
    ])))
    status, reply = post(server, "pipeline/check", {"notebook": nb})
    assert status == 200, reply
    [warning] = reply["warnings"]
    assert warning == {
        "component": "train", "name": "train", "reads": "X_train", "bound_by": ["split"],
        "message": "'train' reads X_train, bound by 'split', which is not an ancestor of "
                   "'train' (add it as a parent?)",
        "fix": {"child": "train", "add_parents": ["split"]}}
    edges = {(e["parent"], e["child"]): e["names"] for e in reply["edges"]}
    assert edges == {("load", "split"): ["raw"], ("load", "train"): []}


def test_check_is_quiet_when_edges_are_right_and_errors_are_400s(server):
    nb = json.loads(nbformat.writes(make_notebook([
        ("raw = 1", "load", []), ("print(raw, len([raw]))", "use", ["load"])])))
    status, reply = post(server, "pipeline/check", {"notebook": nb})
    assert (status, reply["warnings"]) == (200, [])
    status, reply = post(server, "pipeline/check", {"notebook": {"cells": "x"}})
    assert status == 400 and reply["op"] == "error"
