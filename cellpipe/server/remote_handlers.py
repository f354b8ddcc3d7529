"""HTTP endpoints for the Workers panel (docs/rest-api.md); thin over `cellpipe.remote`."""

from __future__ import annotations

import json
from typing import Any

import tornado
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from cellpipe.remote import RemoteError, UnknownWorker, WorkerRegistry, WorkerSpec
from cellpipe.remote.backend import ping
from cellpipe.server.bodies import SHAPES, RequestError, parse


class WorkersBase(APIHandler):
    """Answers JSON; remote errors become 400/404 with kind and message."""

    def fail(self, status: int, exc: Exception) -> None:
        self.set_status(status)
        self.finish(json.dumps({"op": "error", "kind": type(exc).__name__, "message": str(exc)}))

    def status_for(self, exc: Exception) -> int:
        return 404 if isinstance(exc, UnknownWorker) else 400


class WorkersHandler(WorkersBase):
    """GET: every alias; POST {alias, queue, store, options?}: add or replace one."""

    @tornado.web.authenticated
    def get(self) -> None:
        try:
            specs = [s.as_json() for s in WorkerRegistry().all()]
        except RemoteError as exc:
            return self.fail(400, exc)
        self.finish(json.dumps({"workers": specs}))

    @tornado.web.authenticated
    def post(self) -> None:
        try:
            body = parse(SHAPES["workers"], self.request.body)
            spec = WorkerSpec(body["alias"], body["queue"], body["store"], body.get("options") or {})
            spec = WorkerRegistry().add(spec)
        except RequestError as exc:
            return self.fail(400, exc)
        except RemoteError as exc:
            return self.fail(self.status_for(exc), exc)
        self.finish(json.dumps({"worker": spec.as_json()}))


class WorkerHandler(WorkersBase):
    """DELETE /workers/<alias>: forget it."""

    @tornado.web.authenticated
    def delete(self, alias: str) -> None:
        try:
            WorkerRegistry().remove(alias)
        except RemoteError as exc:
            return self.fail(self.status_for(exc), exc)
        self.finish(json.dumps({"removed": alias}))


class PingHandler(WorkersBase):
    """POST /workers/<alias>/ping: a timed round trip (runs off the server's event loop)."""

    @tornado.web.authenticated
    async def post(self, alias: str) -> None:
        try:
            WorkerRegistry().get(alias)
            loop = tornado.ioloop.IOLoop.current()
            reply = await loop.run_in_executor(None, ping, alias)
        except RemoteError as exc:
            return self.fail(self.status_for(exc), exc)
        self.finish(json.dumps(reply))


def setup_handlers(web_app: Any) -> None:
    """Mount the endpoints under <base_url>/cellpipe/workers."""
    base = url_path_join(web_app.settings["base_url"], "cellpipe", "workers")
    alias = r"/(?P<alias>[^/]+)"
    web_app.add_handlers(".*$", [
        (base, WorkersHandler),
        (base + alias, WorkerHandler),
        (base + alias + "/ping", PingHandler),
    ])
