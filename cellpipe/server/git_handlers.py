"""HTTP endpoints for the History and conflict views; thin over `cellpipe.gitnb`.

GET  <base>/cellpipe/git/history?path=NB[&limit=N]      commits that touched NB, with summaries
GET  <base>/cellpipe/git/diff?path=NB&rev=R             what commit R changed (against its parent)
GET  <base>/cellpipe/git/diff?path=NB&old=R1[&new=R2]   R1 against R2 (default: the file on disk)
POST <base>/cellpipe/git/checkout {path, rev, mode}     mode "copy": open R as a new notebook;
                                                        "restore": replace NB (current kept)
POST <base>/cellpipe/git/resolve {cell, choice}         a conflicted cell resolved (ours/theirs/both)
POST <base>/cellpipe/git/resolve {metadata, choice}     the notebook metadata resolved (ours/theirs)
Paths are relative to the server's root directory, as in the contents API.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import tornado
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from cellpipe.gitnb import revisions
from cellpipe.gitnb.gitio import GitError
from cellpipe.gitnb.history import notebook_history
from cellpipe.gitnb.render import diff_lines
from cellpipe.gitnb.resolve import ResolveError, resolve_cell, resolve_notebook_metadata
from cellpipe.gitnb.svg import dag_diff_svg
from cellpipe.server.bodies import SHAPES, RequestError, parse, query


class GitHandler(APIHandler):
    """Base: resolve paths inside the root, run `answer`, turn errors into JSON replies."""

    def root(self) -> Path:
        return Path(self.contents_manager.root_dir).resolve()

    def notebook_path(self, rel: Any) -> Path:
        if not isinstance(rel, str) or not rel:
            raise RequestError("the request needs a notebook 'path'")
        if "\0" in rel:
            raise RequestError(f"{rel!r} is not a file name (it holds a NUL character)")
        path = (self.root() / rel.lstrip("/")).resolve()
        if not path.is_relative_to(self.root()):
            raise RequestError(f"{rel} is outside the server's root directory")
        if path.is_dir():
            raise RequestError(f"{rel} is a directory, not a notebook")
        return path

    def relative(self, path: Path) -> str:
        return path.resolve().relative_to(self.root()).as_posix()

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    shape = ""  # the endpoint's name in bodies.SHAPES

    def reply(self) -> None:
        """Check the request (query for GET, JSON body for POST), answer it, send the result."""
        try:
            if self.request.method == "GET":
                # arguments exactly as sent (not stripped: ' HEAD' is refused, not guessed)
                body = query(SHAPES[self.shape], self.request.query_arguments)
            else:
                body = parse(SHAPES[self.shape], self.request.body)
            result = self.answer(body)
        except revisions.RevisionNotFound as exc:
            self.set_status(404)
            result = {"kind": "RevisionNotFound", "message": str(exc)}
        except (GitError, RequestError, ResolveError) as exc:
            self.set_status(400)
            result = {"kind": type(exc).__name__, "message": str(exc)}
        except OSError as exc:  # the server's files, not the request: still a reply to read
            self.set_status(500)
            result = {"kind": type(exc).__name__,
                      "message": f"cannot access {exc.filename or 'a file'}: {exc.strerror}"}
        self.finish(json.dumps(result))


def _limit(raw: str | None) -> int | None:
    """The history's `limit` argument: absent/empty for all, else a whole number >= 1."""
    if raw is None or raw == "":
        return None
    if not raw.isdecimal() or int(raw) < 1:
        raise RequestError(f"limit must be a whole number of commits (1 or more), not {raw!r}")
    return int(raw)


def _revision(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise RequestError(f"'{key}' must be a revision string, not {type(value).__name__}")
    return value


class HistoryHandler(GitHandler):
    shape = "git/history"

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        entries = notebook_history(self.notebook_path(body.get("path")), _limit(body.get("limit")))
        return {"entries": [e.to_json() for e in entries]}

    @tornado.web.authenticated
    def get(self) -> None:
        self.reply()


class DiffHandler(GitHandler):
    shape = "git/diff"

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        path = self.notebook_path(body.get("path"))
        rev, old, new = (_revision(body, k) for k in ("rev", "old", "new"))
        if rev:
            result = revisions.commit_diff(path, rev)
        elif old:
            result = revisions.diff_revisions(path, old, new)
        else:
            raise RequestError("give 'rev' (a commit) or 'old' (and optionally 'new')")
        if result.diff is None:
            raise RequestError(str(result.problem))
        d = result.diff
        return {"summary": d.summary(), "diff": d.to_json(),
                "lines": [list(line) for line in diff_lines(d)], "svg": dag_diff_svg(d)}

    @tornado.web.authenticated
    def get(self) -> None:
        self.reply()


class CheckoutHandler(GitHandler):
    shape = "git/checkout"

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        path, rev = self.notebook_path(body.get("path")), _revision(body, "rev")
        mode = body.get("mode")
        if rev is None:
            raise RequestError("the request needs a revision 'rev'")
        if mode == "copy":
            return {"path": self.relative(revisions.open_copy(path, rev)), "backup": None}
        if mode == "restore":
            done = revisions.restore(path, rev)
            backup = self.relative(done.backup) if done.backup else None
            return {"path": self.relative(done.path), "backup": backup}
        raise RequestError("mode must be 'copy' or 'restore'")

    @tornado.web.authenticated
    def post(self) -> None:
        self.reply()


class ResolveHandler(GitHandler):
    shape = "git/resolve"

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        if isinstance(body.get("metadata"), dict):
            return {"metadata": resolve_notebook_metadata(body["metadata"], body["choice"])}
        cell = body.get("cell")
        if not isinstance(cell, dict):
            raise RequestError("the request needs the conflicted 'cell' or notebook 'metadata'")
        return {"cell": resolve_cell(cell, body["choice"])}

    @tornado.web.authenticated
    def post(self) -> None:
        self.reply()


def setup_handlers(web_app: Any) -> None:
    """Mount the endpoints under <base_url>/cellpipe/git/."""
    base = url_path_join(web_app.settings["base_url"], "cellpipe", "git")
    web_app.add_handlers(".*$", [
        (url_path_join(base, "history"), HistoryHandler),
        (url_path_join(base, "diff"), DiffHandler),
        (url_path_join(base, "checkout"), CheckoutHandler),
        (url_path_join(base, "resolve"), ResolveHandler),
    ])
