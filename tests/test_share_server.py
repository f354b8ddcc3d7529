"""The sharing endpoints (docs/rest-api.md) in a real Jupyter server."""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbutil import make_notebook
from processes import JupyterServer

from cellpipe.cache import CacheStore
from cellpipe.engine import PipelineRunner, PythonExecutor
from cellpipe.model import exchange, pipeline_from_notebook

TOKEN = "cellpipe-share-token"


class Server:
    def __init__(self, base: str, root: Path, cache: Path) -> None:
        self.base, self.root, self.cache = base, root, cache

    def call(self, method: str, path: str, body: dict | bytes | None = None,
             raw: bool = False, under: str = "share/") -> tuple[int, object]:
        sep = "&" if "?" in path else "?"
        url = f"{self.base}/cellpipe/{under}{path}{sep}token={TOKEN}"
        data = body if isinstance(body, bytes) else (
            json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(url, data=data, method=method)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                payload = response.read()
                return response.status, payload if raw else json.loads(payload)
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("shareserver")
    root, cache = tmp / "root", tmp / "cache"
    root.mkdir()
    env = {**os.environ, "CELLPIPE_CACHE_DIR": str(cache), "JUPYTER_RUNTIME_DIR": str(tmp / "rt"),
           "HOME": str(tmp)}
    env.pop("CELLPIPE_ARCHIVE_KEY", None)
    with JupyterServer(root, env, tmp / "server.log", token=TOKEN) as server:
        yield Server(server.url, root, cache)


def sample():
    return make_notebook([
        ("rows = [1, 2, 3]\nprint('loaded')", "load", []),
        ("scaled = [r * factor for r in rows]", "scale", ["load"]),
        ("print(sum(scaled))", "report", ["scale"]),
    ], parameters={"factor": {"type": "int", "value": 2}})


def test_pipeline_export_by_path_and_from_unsaved_content(server):
    nbformat.write(sample(), server.root / "nb.ipynb")
    status, reply = server.call("POST", "pipeline/export", {"path": "nb.ipynb"})
    assert status == 200, reply
    assert reply["filename"] == "nb.pipeline.json" and reply["components"] == 3
    expected = exchange.dumps(exchange.export_pipeline(pipeline_from_notebook(sample())))
    assert reply["text"] == expected
    edited = json.loads(nbformat.writes(sample()))
    edited["cells"][2]["source"] = "print('unsaved')"
    status, reply = server.call("POST", "pipeline/export", {
        "notebook": edited, "path": "nb.ipynb", "components": ["report"]})
    assert status == 200, reply
    assert [(c["name"], c["code"], c["parents"]) for c in reply["pipeline"]["components"]] == [
        ("report", "print('unsaved')", [])]
    status, reply = server.call("POST", "pipeline/export", {"path": "../etc/passwd"})
    assert status == 400 and "outside the server's root" in reply["message"]
    status, reply = server.call("POST", "pipeline/export", {"path": "nope.ipynb"})
    assert status == 404 and reply["kind"] == "NotFound"


def test_pipeline_import_into_open_notebook_on_disk_and_as_new(server):
    text = exchange.dumps(exchange.export_pipeline(pipeline_from_notebook(sample())))
    open_nb = json.loads(nbformat.writes(sample()))
    status, reply = server.call("POST", "pipeline/import", {
        "text": text, "source": "p.json", "notebook": open_nb})
    assert status == 200, reply
    assert [c["metadata"]["cellpipe"]["name"] for c in reply["cells"]] == [
        "load (2)", "scale (2)", "report (2)"]
    assert reply["cells"][1]["metadata"]["cellpipe"]["parents"] == [reply["id_map"]["load"]]
    assert reply["renamed"] == {"load": "load (2)", "scale": "scale (2)", "report": "report (2)"}
    assert reply["metadata"]["parameters"] == {"factor": {"type": "int", "value": 2}}
    assert "path" not in reply  # nothing written for the open notebook
    # into a notebook on disk
    nbformat.write(make_notebook([("x = 1", "other", [])]), server.root / "into.ipynb")
    status, reply = server.call("POST", "pipeline/import", {"text": text, "into": "into.ipynb"})
    assert status == 200 and reply["path"] == "into.ipynb"
    names = [c.metadata.get("cellpipe", {}).get("name")
             for c in nbformat.read(server.root / "into.ipynb", 4).cells]
    assert names == ["other", "load", "scale", "report"]
    # as a new notebook: a free name is picked, an existing one is refused
    status, reply = server.call("POST", "pipeline/import", {
        "text": text, "source": "team.pipeline.json", "new_path": ""})
    assert status == 200 and reply["path"] == "team.ipynb"
    status, again = server.call("POST", "pipeline/import", {
        "text": text, "source": "team.pipeline.json", "new_path": ""})
    assert again["path"] == "team-1.ipynb"
    status, reply = server.call("POST", "pipeline/import", {"text": text, "new_path": "team.ipynb"})
    assert status == 400 and "team.ipynb exists" in reply["message"]
    round_trip = exchange.dumps(exchange.export_pipeline(
        pipeline_from_notebook(nbformat.read(server.root / "team.ipynb", 4))))
    assert round_trip == text


def test_pipeline_import_errors_are_one_line_400s(server):
    doc = exchange.export_pipeline(pipeline_from_notebook(sample()))
    doc["components"][1]["parents"] = "load"
    status, reply = server.call("POST", "pipeline/import", {
        "pipeline": doc, "source": "bad.json", "new_path": ""})
    assert status == 400 and reply["kind"] == "PipelineFormatError"
    assert reply["message"].startswith("bad.json: components[1].parents: ")
    assert "\n" not in reply["message"]
    status, reply = server.call("POST", "pipeline/import", {
        "text": nbformat.writes(sample()), "source": "nb.ipynb", "new_path": ""})
    assert status == 400 and "is a Jupyter notebook, not a pipeline JSON" in reply["message"]
    clash = json.loads(nbformat.writes(make_notebook(
        [("y = 2", "y", [])], parameters={"factor": {"type": "int", "value": 9}})))
    doc = exchange.export_pipeline(pipeline_from_notebook(sample()))
    status, reply = server.call("POST", "pipeline/import", {"pipeline": doc, "notebook": clash})
    assert status == 400 and reply["kind"] == "ParameterError"
    status, reply = server.call("POST", "pipeline/import", {
        "pipeline": doc, "notebook": clash, "overwrite_params": True})
    assert status == 200 and reply["metadata"]["parameters"]["factor"]["value"] == 2


def run_into_cache(server, name):
    nb = sample()
    path = server.root / name
    nbformat.write(nb, path)
    store = CacheStore(server.cache, notebook=str(path.resolve()))
    result = PipelineRunner(store, PythonExecutor()).run(pipeline_from_notebook(nb), "report")
    assert store.flush() == []
    return result.plan.keys


def test_cache_export_upload_dry_run_confirm_and_import(server):
    keys = run_into_cache(server, "cached.ipynb")
    status, plan = server.call("GET", "cache/export?path=cached.ipynb&dry_run=1")
    assert status == 200, plan
    assert [e["name"] for e in plan["entries"]] == ["load", "scale", "report"]
    assert plan["missing"] == [] and plan["filename"] == "cached.cache.tar.gz"
    status, other = server.call("GET", "cache/export?path=cached.ipynb&dry_run=1&param=factor=5")
    assert [m["name"] for m in other["missing"]] == ["scale", "report"]  # other values: no results
    status, data = server.call("GET", "cache/export?path=cached.ipynb", raw=True)
    assert status == 200 and data[:2] == b"\x1f\x8b"
    shutil.rmtree(server.cache / "entries")  # an empty cache receives the archive
    status, up = server.call("POST", "cache/upload", data)
    assert status == 200 and up["size"] == len(data)
    status, dry = server.call("POST", "cache/import", {
        "upload": up["upload"], "path": "cached.ipynb", "dry_run": True})
    assert status == 200, dry
    assert dry["hits"] == ["load", "scale", "report"] and dry["misses"] == []
    assert dry["imported"] == 0 and not (server.cache / "entries").exists()
    assert [e["used_by"] for e in dry["entries"]] == ["load", "scale", "report"]
    status, ask = server.call("POST", "cache/import", {"upload": up["upload"],
                                                       "path": "cached.ipynb"})
    assert status == 409 and ask["kind"] == "ConfirmationRequired"
    assert "runs code" in ask["message"] and len(ask["summary"]["entries"]) == 3
    assert not (server.cache / "entries").exists()
    status, done = server.call("POST", "cache/import", {"upload": up["upload"],
                                                        "path": "cached.ipynb", "trust": True})
    assert status == 200 and done["imported"] == 3, done
    store = CacheStore(server.cache)
    assert all(store.has(k) for k in keys.values())
    status, gone = server.call("POST", "cache/import", {"upload": up["upload"], "trust": True})
    assert status == 404  # the upload is deleted after a successful import


def test_hostile_upload_is_refused_and_uploads_can_be_discarded(server, tmp_path):
    bad = tmp_path / "bad.tar.gz"
    manifest = json.dumps({"format": "cellpipe.cache-archive", "version": 1}).encode()
    with tarfile.open(bad, "w:gz") as tar:
        info = tarfile.TarInfo("manifest.json")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
    status, up = server.call("POST", "cache/upload", bad.read_bytes())
    status, reply = server.call("POST", "cache/import", {"upload": up["upload"], "trust": True})
    assert status == 400 and reply["kind"] == "UnsafeArchive"
    assert "manifest.json" in reply["message"] and "malformed" in reply["message"]
    status, reply = server.call("DELETE", f"cache/upload?upload={up['upload']}")
    assert status == 200 and reply == {"deleted": True}
    status, reply = server.call("POST", "cache/import", {"upload": up["upload"]})
    assert status == 404
    status, reply = server.call("POST", "cache/import", {"upload": "../../etc/passwd"})
    assert status == 404


def test_import_into_a_cache_others_can_write_is_refused_as_the_cli_does(server):
    """The endpoint and `cellpipe cache import` open the cache the same way
    (engine.sharing.open_store): one that others can write is refused first."""
    status, up = server.call("POST", "cache/upload", b"not read: the cache is refused first")
    assert status == 200
    server.cache.mkdir(exist_ok=True)
    mode = server.cache.stat().st_mode & 0o777
    server.cache.chmod(0o777)
    try:
        status, reply = server.call("POST", "cache/import", {"upload": up["upload"],
                                                             "trust": True})
    finally:
        server.cache.chmod(mode)
    assert status == 400 and "can be written by other users" in reply["message"], reply


def test_pipeline_export_as_a_program_and_for_kubeflow(server):
    """The panel's Export menu: the same program and KFP files as `cellpipe export`."""
    nbformat.write(sample(), server.root / "nb.ipynb")
    status, reply = server.call("POST", "pipeline/export", {"path": "nb.ipynb", "format": "py"})
    assert status == 200, reply
    assert reply["filename"] == "nb.py" and reply["components"] == 3
    assert "def report():" in reply["text"] and "import cellpipe" not in reply["text"]
    status, reply = server.call("POST", "pipeline/export", {"path": "nb.ipynb", "format": "kfp"})
    assert status == 400 and "needs 'store'" in reply["message"]
    pytest.importorskip("kfp")
    status, reply = server.call("POST", "pipeline/export", {
        "path": "nb.ipynb", "format": "kfp", "store": "s3://bucket/cp", "image": "team/ml:1",
        "components": ["scale"]})
    assert status == 200, reply
    assert reply["filename"] == "nb.kfp.yaml" and reply["dsl_filename"] == "nb.kfp.py"
    assert reply["components"] == 2 and "image: team/ml:1" in reply["text"]
    assert "STORE = 's3://bucket/cp'" in reply["dsl"]
    status, reply = server.call("POST", "pipeline/export", {"path": "nb.ipynb", "format": "zip"})
    assert status == 400 and "unknown format 'zip'" in reply["message"]
