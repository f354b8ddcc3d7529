"""HTTP endpoints for sharing (docs/rest-api.md): thin over `model.exchange` and `cache.archive`.

POST <base>/cellpipe/share/pipeline/export   {path | notebook, components?, with_ancestors?,
                                              format?, store?, image?}
POST <base>/cellpipe/share/pipeline/import   {text | pipeline, notebook | into | new_path, ...}
GET  <base>/cellpipe/share/cache/export?path=NB[&components=A,B][&param=N=V][&dry_run=1]
POST <base>/cellpipe/share/cache/upload      raw .tar.gz body, streamed to a temporary file
POST <base>/cellpipe/share/cache/import      {upload, path?, dry_run?, trust?}
DELETE <base>/cellpipe/share/cache/upload?upload=ID
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import tornado
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado.ioloop import IOLoop

from cellpipe.cache import archive
from cellpipe.engine import sharing
from cellpipe.model import (
    exchange,
    notebook_from_dict,
    parse_assignments,
    pipeline_from_notebook,
    read_notebook,
    write_notebook,
)
from cellpipe.model.errors import PipelineError
from cellpipe.server.bodies import SHAPES, RequestError, parse, query


class NotFound(RequestError):
    """An unknown upload or notebook (404)."""


class ConfirmationRequired(Exception):
    """The archive is not signed with the user's key and the request did not say trust (409)."""

    def __init__(self, summary: archive.ImportSummary) -> None:
        super().__init__(
            "Cache entries are pickles: loading them runs code written by the archive's "
            "author. This archive is not signed with your key; import it only if you trust "
            "where it came from (resend with trust: true)."
        )
        self.summary = summary


_UPLOADS: Path | None = None


def uploads_dir() -> Path:
    """This server's directory of uploaded archives (mode 0700, removed when it exits)."""
    global _UPLOADS
    if _UPLOADS is None or not _UPLOADS.exists():
        _UPLOADS = Path(tempfile.mkdtemp(prefix="cellpipe-uploads-"))
        atexit.register(shutil.rmtree, _UPLOADS, True)
    return _UPLOADS


def upload_path(upload: Any) -> Path:
    if not isinstance(upload, str) or not re.fullmatch(r"[0-9a-f]{32}", upload):
        raise NotFound(f"no upload {upload!r}; upload the archive first (cache/upload)")
    path = uploads_dir() / f"{upload}.tar.gz"
    if not path.exists():
        raise NotFound(f"no upload {upload!r} (imported already, or the server restarted); "
                       "upload the archive again")
    return path


class ShareHandler(APIHandler):
    """Base: paths inside the server root, errors as {"op": "error", "kind", "message"}."""

    def root(self) -> Path:
        return Path(self.contents_manager.root_dir).resolve()

    def notebook_path(self, rel: Any, must_exist: bool = True) -> Path:
        if not isinstance(rel, str) or not rel:
            raise RequestError("the request needs a notebook 'path'")
        path = (self.root() / rel.lstrip("/")).resolve()
        if not path.is_relative_to(self.root()):
            raise RequestError(f"{rel} is outside the server's root directory")
        if must_exist and not path.is_file():
            raise NotFound(f"{rel}: no such notebook")
        return path

    def relative(self, path: Path) -> str:
        return path.resolve().relative_to(self.root()).as_posix()

    shape = ""  # the endpoint's name in bodies.SHAPES

    def json_body(self) -> dict[str, Any]:
        """The request's JSON body, checked against the endpoint's shape."""
        return parse(SHAPES[self.shape], self.request.body)

    def query_args(self) -> dict[str, Any]:
        """The request's query arguments, checked against the endpoint's shape."""
        return query(SHAPES[self.shape], self.request.query_arguments)

    async def reply(self, answer: Callable[[], dict[str, Any]]) -> None:
        """Run answer in a thread (archives can be big) and send its result or error."""
        try:
            result = await IOLoop.current().run_in_executor(None, answer)
        except (ConfirmationRequired, RequestError, PipelineError, archive.ArchiveError) as exc:
            self.send_error_reply(exc)
            return
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(result))

    def send_error_reply(self, exc: Exception) -> None:
        """{"op": "error", "kind", "message"} with 409, 404 or 400."""
        result: dict[str, Any] = {"op": "error", "kind": type(exc).__name__, "message": str(exc)}
        if isinstance(exc, ConfirmationRequired):
            self.set_status(409)
            result["summary"] = exc.summary.as_json()
        else:
            self.set_status(404 if isinstance(exc, NotFound) else 400)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(result))


def _refs(value: Any) -> list[str] | None:
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise RequestError("'components' must be a list of component names or ids")


def _notebook_content(content: Any) -> nbformat.NotebookNode:
    if not isinstance(content, dict):
        raise RequestError("'notebook' must be the notebook's content (a JSON object)")
    nb, _ = notebook_from_dict({"nbformat": 4, "nbformat_minor": 5, **content},
                               source="the open notebook")
    return nb


class PipelineExportHandler(ShareHandler):
    shape = "share/pipeline/export"

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        if "notebook" in body:
            nb, name = _notebook_content(body["notebook"]), str(body.get("path") or "notebook")
        else:
            path = self.notebook_path(body.get("path"))
            nb, name = read_notebook(path)[0], path.name
        if body.get("format", "json") != "json":
            return _production(nb, name, body)
        document = exchange.export_pipeline(pipeline_from_notebook(nb), _refs(body.get("components")),
                                            body.get("with_ancestors") is True)
        stem = Path(name).stem or "pipeline"
        return {"filename": f"{stem}.pipeline.json", "text": exchange.dumps(document),
                "pipeline": document, "components": len(document["components"])}

    @tornado.web.authenticated
    async def post(self) -> None:
        await self.reply(lambda: self.answer(self.json_body()))


def _production(nb: nbformat.NotebookNode, name: str, body: dict[str, Any]) -> dict[str, Any]:
    """A pipeline export as a Python program (py) or for Kubeflow (kfp), as `cellpipe export`
    writes them: the text to download, and for kfp the DSL beside the compiled YAML."""
    from cellpipe.model.program import python_program, with_ancestors

    pipeline = pipeline_from_notebook(nb)
    refs = _refs(body.get("components"))
    if refs:
        pipeline = with_ancestors(pipeline, refs)
    stem = Path(name).stem or "pipeline"
    if body["format"] == "py":
        text = python_program(pipeline, Path(name).name, program=f"{stem}.py")
        return {"filename": f"{stem}.py", "text": text, "components": len(pipeline.components)}
    if body["format"] != "kfp":
        raise RequestError(f"unknown format {body['format']!r}: use json, py or kfp")
    if not body.get("store"):
        raise RequestError("a Kubeflow export needs 'store': the data store URL every step "
                           "reads and writes (s3://bucket/prefix, gs://..., file:///...)")
    from cellpipe.remote.kubeflow import export_kubeflow

    exported = export_kubeflow(pipeline, Path(name).name, body["store"], body.get("image"))
    return {"filename": f"{stem}.kfp.yaml", "text": exported.yaml,
            "dsl_filename": f"{stem}.kfp.py", "dsl": exported.dsl, "notes": exported.notes,
            "components": len(pipeline.components)}


class PipelineImportHandler(ShareHandler):
    shape = "share/pipeline/import"

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        source = str(body.get("source") or "pipeline JSON")
        if isinstance(body.get("text"), str):
            document = exchange.loads(body["text"], source)
        elif "pipeline" in body:
            document = exchange.check(body["pipeline"], source)
        else:
            raise RequestError("the request needs the pipeline JSON as 'text' (or 'pipeline')")
        overwrite = body.get("overwrite_params") is True
        target: Path | None = None
        if "notebook" in body:
            nb = _notebook_content(body["notebook"])
        elif body.get("into"):
            target = self.notebook_path(body["into"])
            nb = read_notebook(target)[0]
        elif "new_path" in body:
            target = self._new_path(body["new_path"], source)
            nb = None
        else:
            raise RequestError("say where to import: 'notebook' (the open one), 'into' (a path) "
                               "or 'new_path' (a new notebook)")
        result = exchange.import_pipeline(document, nb, overwrite_params=overwrite, source=source)
        reply: dict[str, Any] = {
            "cells": [dict(c) for c in result.cells], "metadata": result.metadata,
            "id_map": result.id_map, "renamed": result.renamed, "messages": result.messages,
        }
        if target is not None:
            write_notebook(result.notebook, target)
            reply["path"] = self.relative(target)
        return reply

    def _new_path(self, requested: Any, source: str) -> Path:
        if isinstance(requested, str) and requested:
            path = self.notebook_path(requested, must_exist=False)
            if path.exists():
                raise RequestError(f"{requested} exists; choose another name or import into it")
            if not path.parent.is_dir():
                raise NotFound(f"{self.relative(path.parent)}: no such directory")
            return path
        stem = re.sub(r"[^A-Za-z0-9._ -]+", "_", Path(source).stem).strip(" .") or "pipeline"
        stem = stem.removesuffix(".pipeline") or "pipeline"
        candidate, n = self.root() / f"{stem}.ipynb", 1
        while candidate.exists():
            candidate, n = self.root() / f"{stem}-{n}.ipynb", n + 1
        return candidate

    @tornado.web.authenticated
    async def post(self) -> None:
        await self.reply(lambda: self.answer(self.json_body()))


def _parameters(raw: list[str]) -> dict[str, str]:
    try:
        return parse_assignments(raw)
    except PipelineError as exc:
        raise RequestError(str(exc)) from None


class CacheExportHandler(ShareHandler):
    shape = "share/cache/export"

    def select(self) -> tuple[Path, archive.Selection]:
        args = self.query_args()
        path = self.notebook_path(args.get("path"))
        pipeline = pipeline_from_notebook(read_notebook(path)[0])
        values = pipeline.parameter_values(_parameters(args.get("param", [])))
        chosen = sharing.current_entries(pipeline, sharing.open_store(path), values,
                                         _refs(args.get("components")))
        return path, chosen

    def plan(self) -> dict[str, Any]:
        path, chosen = self.select()
        return {
            "filename": f"{path.stem}.cache.tar.gz",
            "entries": [{"key": e.key, "component_id": e.component_id, "name": e.name,
                         "size": e.size} for e in chosen.entries],
            "missing": [vars(m) for m in chosen.missing], "total_size": chosen.total_size,
        }

    def build(self) -> tuple[Path, str]:
        path, chosen = self.select()
        if not chosen.entries:
            raise RequestError(f"{path.name}: no component has a current result in the cache; "
                               "run the pipeline first")
        out = uploads_dir() / f"export-{uuid.uuid4().hex}.tar.gz"
        archive.export_archive(chosen, out, sign_key=archive.configured_key(),
                               notebook_name=path.name)
        return out, f"{path.stem}.cache.tar.gz"

    @tornado.web.authenticated
    async def get(self) -> None:
        try:
            dry_run = self.query_args().get("dry_run", "") not in ("", "0", "false")
        except RequestError as exc:
            self.send_error_reply(exc)
            return
        if dry_run:
            await self.reply(self.plan)
            return
        try:
            out, filename = await IOLoop.current().run_in_executor(None, self.build)
        except (RequestError, PipelineError, archive.ArchiveError) as exc:
            self.send_error_reply(exc)
            return
        try:
            self.set_header("Content-Type", "application/gzip")
            self.set_header("Content-Disposition", f'attachment; filename="{filename}"')
            self.set_header("Content-Length", str(out.stat().st_size))
            with open(out, "rb") as f:
                while chunk := f.read(1 << 20):
                    self.write(chunk)
                    await self.flush()
            self.finish()
        finally:
            out.unlink(missing_ok=True)


@tornado.web.stream_request_body
class CacheUploadHandler(ShareHandler):
    """The raw archive, written to a temporary file as it arrives."""

    shape = "share/cache/upload"

    _file: Any = None
    _id = ""
    _size = 0

    async def prepare(self) -> None:  # type: ignore[override]
        await super().prepare()  # type: ignore[misc]
        if self.request.method != "POST":
            return
        if self.current_user is None:
            raise tornado.web.HTTPError(403)
        self.request.connection.set_max_body_size(  # type: ignore[attr-defined]
            archive.Limits.default().max_total_size + (1 << 30))
        self._id = uuid.uuid4().hex
        self._file = open(uploads_dir() / f"{self._id}.part", "wb")  # noqa: SIM115

    def data_received(self, chunk: bytes) -> None:
        self._file.write(chunk)
        self._size += len(chunk)

    def on_connection_close(self) -> None:
        if self._file is not None and not self._file.closed:
            self._file.close()
            (uploads_dir() / f"{self._id}.part").unlink(missing_ok=True)

    @tornado.web.authenticated
    def post(self) -> None:
        self._file.close()
        os.replace(uploads_dir() / f"{self._id}.part", uploads_dir() / f"{self._id}.tar.gz")
        self.finish(json.dumps({"upload": self._id, "size": self._size}))

    @tornado.web.authenticated
    def delete(self) -> None:
        try:
            upload_path(self.query_args()["upload"]).unlink(missing_ok=True)
        except RequestError as exc:
            self.send_error_reply(exc)
            return
        self.finish(json.dumps({"deleted": True}))


class CacheImportHandler(ShareHandler):
    shape = "share/cache/import"

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        source = upload_path(body.get("upload"))
        notebook = self.notebook_path(body["path"]) if body.get("path") is not None else None
        store = sharing.open_store(notebook)  # refused when others can write it
        usage = None
        if notebook is not None:
            pipeline = pipeline_from_notebook(read_notebook(notebook)[0])
            usage = sharing.planned_keys(pipeline, store, pipeline.parameter_values())
        # only JSON true trusts: the shape refused "false", 1 and [0] before we got here
        trust, dry_run = body.get("trust") is True, body.get("dry_run") is True

        def confirm(summary: archive.ImportSummary) -> bool:
            if not trust:
                raise ConfirmationRequired(summary)
            return True

        summary = archive.import_archive(
            source, store, dry_run=dry_run, confirm=confirm, usage=usage,
            verify_key=archive.configured_key(), scope=archive.notebook_scope(notebook),
        )
        if not dry_run:
            source.unlink(missing_ok=True)
        return summary.as_json()

    @tornado.web.authenticated
    async def post(self) -> None:
        await self.reply(lambda: self.answer(self.json_body()))


def setup_handlers(web_app: Any) -> None:
    """Mount the endpoints under <base_url>/cellpipe/share/."""
    base = url_path_join(web_app.settings["base_url"], "cellpipe", "share")
    web_app.add_handlers(".*$", [
        (url_path_join(base, "pipeline", "export"), PipelineExportHandler),
        (url_path_join(base, "pipeline", "import"), PipelineImportHandler),
        (url_path_join(base, "cache", "export"), CacheExportHandler),
        (url_path_join(base, "cache", "upload"), CacheUploadHandler),
        (url_path_join(base, "cache", "import"), CacheImportHandler),
    ])
