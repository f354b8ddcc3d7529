"""The server extension's pipeline endpoints, over HTTP against the real server."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

pytestmark = pytest.mark.browser

NOTEBOOK = {
    "metadata": {},
    "cells": [
        {"id": "a", "cell_type": "code", "source": "x = 1",
         "metadata": {"cellpipe": {"name": "A", "parents": []}}},
        {"id": "b", "cell_type": "code", "source": "y = x",
         "metadata": {"cellpipe": {"name": "B", "parents": ["a"]}}},
        {"id": "c", "cell_type": "code", "source": "print(y)", "metadata": {}},
    ],
}


def post(lab, path: str, body, token: str | None = None) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{lab.url}/cellpipe/pipeline/{path}",
        data=data,
        method="POST",
        headers={"Authorization": f"token {token or lab.token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        text = error.read()
        return error.code, json.loads(text) if text.startswith(b"{") else {}


def test_check_edge_accepts_and_refuses_cycles(lab):
    assert post(lab, "check-edge", {"notebook": NOTEBOOK, "parent": "a", "child": "b"}) == (
        200, {"op": "edge_ok"},
    )
    status, reply = post(lab, "check-edge", {"notebook": NOTEBOOK, "parent": "b", "child": "a"})
    assert status == 400
    assert reply["kind"] == "CycleError"
    assert "A -> B -> A" in reply["message"] or "B -> A -> B" in reply["message"]


def test_check_edge_names_unknown_components(lab):
    status, reply = post(lab, "check-edge", {"notebook": NOTEBOOK, "parent": "a", "child": "c"})
    assert status == 400
    assert reply["kind"] == "UnknownComponentError"


def test_lineage_is_a_component_with_its_ancestors_and_descendants(lab):
    cells = [
        {"id": cid, "cell_type": "code", "source": "", "metadata": {
            "cellpipe": {"name": cid.upper(), "parents": parents}}}
        for cid, parents in [("a", []), ("b", ["a"]), ("c", ["b"]), ("d", ["a"]), ("e", [])]
    ]
    status, reply = post(lab, "lineage", {"notebook": {"metadata": {}, "cells": cells}, "id": "b"})
    assert (status, reply) == (200, {"op": "lineage", "id": "b", "ids": ["a", "b", "c"]})
    status, reply = post(lab, "lineage", {"notebook": NOTEBOOK, "id": "zzz"})
    assert status == 400 and reply["kind"] == "UnknownComponentError"


def test_bad_requests_are_a_clear_400(lab):
    status, reply = post(lab, "check-edge", b"not json")
    assert status == 400 and reply["kind"] == "RequestError" and "not valid JSON" in reply["message"]
    status, reply = post(lab, "check-edge", {"no": "notebook", "parent": "a", "child": "b"})
    assert status == 400 and "notebook" in reply["message"]


def test_endpoints_need_the_token(lab):
    status, _ = post(lab, "check-edge", {"notebook": NOTEBOOK, "parent": "a", "child": "b"},
                     token="wrong")
    assert status == 403


def link_cell(cid: str, kid: str, name: str, parents: list[str]) -> dict:
    return {"id": cid, "cell_type": "code", "source": f"{name} = 1",
            "metadata": {"canvas": {"id": kid, "name": name, "isComponent": True,
                                    "parents": [{"id": p} for p in parents]}}}


def test_convert_maps_link_canvas_ids_and_keeps_parameters(lab):
    notebook = {
        "metadata": {"canvas": {"parameters": [{"name": "n", "type": "int", "value": "3"}]}},
        "cells": [link_cell("c1", "k1", "first", []), link_cell("c2", "k2", "second", ["k1"])],
    }
    status, reply = post(lab, "convert", {"notebook": notebook})
    assert status == 200, reply
    assert reply["summary"] == "2 components, 1 edges, 1 parameters"
    assert reply["metadata"] == {"cellpipe": {"version": 1,
                                              "parameters": {"n": {"type": "int", "value": 3}}}}
    assert reply["cells"][1] == {"id": "c2",
                                 "metadata": {"cellpipe": {"name": "second", "parents": ["c1"]}}}


def test_convert_refuses_what_would_not_read_back(lab):
    cyclic = {"metadata": {}, "cells": [link_cell("c1", "k1", "first", ["k2"]),
                                        link_cell("c2", "k2", "second", ["k1"])]}
    status, reply = post(lab, "convert", {"notebook": cyclic})
    assert status == 400 and reply["kind"] == "ConversionError"
    assert "cycle" in reply["message"]
    status, reply = post(lab, "convert", {"notebook": "nope"})
    assert status == 400 and "notebook" in reply["message"]
