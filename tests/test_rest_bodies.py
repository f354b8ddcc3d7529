"""Every REST endpoint refuses a body of the wrong shape with a 400 naming the field.

Written from docs/rest-api.md, not from the server's own table of shapes: for every field of
every endpoint, values of each wrong JSON type; unknown keys; NUL bytes in paths; hostile JSON.
The first test is the attack that made this module: `"trust": "false"` used to import an
unsigned archive, whose pickles the next run would load.
"""

from __future__ import annotations

import json
import shutil

import pytest
import test_share_server
from test_share_server import Server, run_into_cache

server = test_share_server.server  # the same module-scoped jupyter_server, started for this module

NOT_BOOLEANS = ["false", "true", 0, 1, [0], {}, None]
NOT_STRINGS = [5, 1.5, True, [0], {"a": 1}]
NOT_OBJECTS = ["x", 5, True, [1]]


def post(server: Server, endpoint: str, body: object) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return server.call("POST", endpoint, data, under="")  # type: ignore[return-value]


def entries(server: Server) -> list[str]:
    root = server.cache / "entries"
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


@pytest.mark.parametrize("trust", NOT_BOOLEANS)
def test_a_trust_that_is_not_true_never_imports_an_unsigned_archive(server, trust):
    run_into_cache(server, "trusty.ipynb")
    status, data = server.call("GET", "cache/export?path=trusty.ipynb", raw=True)
    assert status == 200
    shutil.rmtree(server.cache / "entries")
    _, up = server.call("POST", "cache/upload", data)
    status, reply = post(server, "share/cache/import",
                         {"upload": up["upload"], "path": "trusty.ipynb", "trust": trust})
    assert status == 400, reply
    assert reply["kind"] == "RequestError" and "'trust' must be true or false" in reply["message"]
    assert entries(server) == []  # nothing imported, nothing staged
    status, _ = post(server, "share/cache/import", {"upload": up["upload"], "path": "trusty.ipynb"})
    assert status == 409  # absent trust still asks; the upload was kept for that
    assert entries(server) == []


NB = {"cells": [], "metadata": {}}
# endpoint -> (a valid body, {field: wrong values}) as docs/rest-api.md describes them
POSTS: dict[str, tuple[dict, dict[str, list]]] = {
    "share/pipeline/export": ({"notebook": NB}, {
        "path": NOT_STRINGS, "notebook": NOT_OBJECTS, "components": [5, True, [1, "a"], {}],
        "with_ancestors": NOT_BOOLEANS, "format": NOT_STRINGS, "store": NOT_STRINGS,
        "image": NOT_STRINGS}),
    "share/pipeline/import": ({"text": "{}", "notebook": NB}, {
        "text": NOT_STRINGS, "pipeline": NOT_OBJECTS, "source": NOT_STRINGS,
        "notebook": NOT_OBJECTS, "into": NOT_STRINGS, "new_path": NOT_STRINGS,
        "overwrite_params": NOT_BOOLEANS}),
    "share/cache/import": ({"upload": "0" * 32}, {
        "upload": NOT_STRINGS + [None], "path": NOT_STRINGS, "dry_run": NOT_BOOLEANS,
        "trust": NOT_BOOLEANS}),
    "git/checkout": ({"path": "nb.ipynb", "rev": "HEAD", "mode": "copy"}, {
        "path": NOT_STRINGS + [None], "rev": NOT_STRINGS + [None],
        "mode": NOT_STRINGS + [None]}),
    "git/resolve": ({"cell": {}, "choice": "ours"}, {
        "cell": NOT_OBJECTS, "metadata": NOT_OBJECTS, "choice": NOT_STRINGS + [None]}),
    "pipeline/check-edge": ({"notebook": NB, "parent": "a", "child": "b"}, {
        "notebook": NOT_OBJECTS + [None], "parent": NOT_STRINGS + [None],
        "child": NOT_STRINGS + [None]}),
    "pipeline/convert": ({"notebook": NB}, {"notebook": NOT_OBJECTS + [None]}),
    "pipeline/infer": ({"notebook": NB}, {"notebook": NOT_OBJECTS + [None],
                                          "only": NOT_STRINGS}),
    "pipeline/check": ({"notebook": NB}, {"notebook": NOT_OBJECTS + [None]}),
    "pipeline/lineage": ({"notebook": NB, "id": "a"}, {"notebook": NOT_OBJECTS + [None],
                                                      "id": NOT_STRINGS + [None]}),
    "sweeps": ({"notebook": NB, "target": "t", "params": {"lr": [0.1, 0.2]}}, {
        "notebook": NOT_OBJECTS + [None], "path": NOT_STRINGS, "target": NOT_STRINGS + [None],
        "params": NOT_OBJECTS + [None], "jobs": ["2", 2.5, True, [2], None],
        "trials": ["10", 1.5, False, [1]], "objective": NOT_STRINGS,
        "maximize": NOT_BOOLEANS}),
    "workers": ({"alias": "box", "queue": "redis://127.0.0.1:1", "store": "file:///tmp/x"}, {
        "alias": NOT_STRINGS + [None], "queue": NOT_STRINGS + [None],
        "store": NOT_STRINGS + [None], "options": ["x", 5, True, [1]]}),
}
CASES = [(endpoint, key, value) for endpoint, (_, fields) in POSTS.items()
         for key, values in fields.items() for value in values]


@pytest.mark.parametrize(("endpoint", "key", "value"), CASES,
                         ids=[f"{e}-{k}-{json.dumps(v)}" for e, k, v in CASES])
def test_every_field_of_every_endpoint_refuses_a_wrong_type(server, endpoint, key, value):
    valid, _ = POSTS[endpoint]
    status, reply = post(server, endpoint, {**valid, key: value})
    assert status == 400, reply
    assert reply["kind"] == "RequestError"
    assert f"'{key}'" in reply["message"] and "\n" not in reply["message"]


@pytest.mark.parametrize("endpoint", sorted(POSTS))
def test_unknown_keys_and_non_objects_are_refused(server, endpoint):
    valid, _ = POSTS[endpoint]
    status, reply = post(server, endpoint, {**valid, "trusted": True})
    assert status == 400 and "unknown field 'trusted'" in reply["message"], reply
    for body in ([valid], "x", 5, None):
        status, reply = post(server, endpoint, body)
        assert status == 400 and "must be a JSON object" in reply["message"], reply


@pytest.mark.parametrize("body", [b"[" * 100_000, b'{"a": ' + b"9" * 5000 + b"}",
                                  b"\xff{}", b"{"], ids=["deep", "huge-int", "not-utf8", "cut"])
@pytest.mark.parametrize("endpoint", ["share/cache/import", "pipeline/convert", "git/resolve",
                                      "workers"])
def test_hostile_json_is_a_one_line_400(server, endpoint, body):
    status, reply = post(server, endpoint, body)
    assert status == 400 and reply["kind"] == "RequestError", reply
    assert "\n" not in reply["message"]


@pytest.mark.parametrize(("endpoint", "body", "message"), [
    ("share/pipeline/import", {"text": "{}", "new_path": "a\u0000b.ipynb"}, "NUL character"),
    ("share/pipeline/import", {"text": "{}", "new_path": "evil.py"}, "ending in .ipynb"),
    ("share/pipeline/import", {"text": "{}", "into": "x.json"}, "ending in .ipynb"),
    ("share/pipeline/export", {"path": "nb\u0000.ipynb"}, "NUL character"),
    ("share/cache/import", {"upload": "0" * 32, "path": "x\u0000.ipynb"}, "NUL character"),
    ("git/checkout", {"path": "a\u0000b", "rev": "HEAD", "mode": "copy"}, "NUL character"),
    ("share/pipeline/export", {}, "needs one of 'path', 'notebook'"),
    ("share/cache/import", {}, "needs 'upload'"),
])
def test_paths_are_checked_before_use(server, endpoint, body, message):
    status, reply = post(server, endpoint, body)
    assert status == 400 and message in reply["message"], reply


@pytest.mark.parametrize(("query", "message"), [
    ("cache/export?path=a.ipynb&dry_run=yes", "'dry_run' must be one of"),
    ("cache/export?path=a.ipynb&path=b.ipynb", "given 2 times"),
    ("cache/export?path=a%00.ipynb&dry_run=1", "NUL character"),
    ("cache/export?dry_run=1", "needs 'path'"),
    ("cache/export?path=a.ipynb&trust=1", "unknown argument 'trust'"),
])
def test_query_arguments_are_checked_too(server, query, message):
    status, reply = server.call("GET", query)
    assert status == 400 and message in reply["message"], reply


def test_a_cache_busting_timestamp_argument_is_tolerated(server):
    """JupyterLab's ServerConnection appends `&<milliseconds>` to GETs unless told not to."""
    status, reply = server.call("GET", "cache/export?path=nope.ipynb&dry_run=1&1733580000000")
    assert status == 404 and "no such notebook" in reply["message"], reply
    status, reply = server.call("GET", "cache/export?path=nope.ipynb&dry_run=1&1733=x")
    assert status == 400 and "unknown argument '1733'" in reply["message"], reply
