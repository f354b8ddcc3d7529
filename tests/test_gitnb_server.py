"""Revisions (open as new, restore), conflict resolution, and their HTTP endpoints in a real server."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest
from gitnbutil import (
    Repo,
    by_id,
    cell,
    git_env,
    notebook,
    pipeline_notebook,
)
from processes import JupyterServer

from cellpipe.gitnb import revisions
from cellpipe.gitnb.cells import dumps_notebook
from cellpipe.gitnb.files import merge_files
from cellpipe.gitnb.gitio import GitError
from cellpipe.gitnb.resolve import ResolveError, resolve_cell, resolve_notebook_metadata


def two_versions(repo: Repo) -> tuple[dict, dict]:
    old = pipeline_notebook()
    repo.commit(old, "v1")
    new = copy.deepcopy(old)
    by_id(new)["train"]["source"] = "model = 2\n"
    repo.commit(new, "v2")
    return old, new


def test_open_copy_and_restore_keep_the_current_version(repo: Repo):
    old, new = two_versions(repo)
    nb = repo.path / "nb.ipynb"
    copy_path = revisions.open_copy(nb, "HEAD~1")
    assert copy_path.name.startswith("nb@") and json.loads(copy_path.read_text()) == json.loads(
        dumps_notebook(old))
    assert revisions.open_copy(nb, "HEAD~1") != copy_path  # never overwrites
    edited = copy.deepcopy(new)
    by_id(edited)["report"]["source"] = "print('unsaved work')\n"
    repo.write(edited)
    done = revisions.restore(nb, "HEAD~1")
    assert json.loads(nb.read_text()) == json.loads(dumps_notebook(old))
    assert done.backup is not None and "unsaved work" in done.backup.read_text()
    repo.git("checkout", "--", "nb.ipynb")
    again = revisions.restore(nb, "HEAD~1")
    assert again.backup is None  # the replaced version is the last commit: git keeps it
    with pytest.raises(revisions.RevisionNotFound):
        revisions.open_copy(nb, "HEAD~2")  # the setup commit, before the notebook
    with pytest.raises(GitError, match="unknown revision 'HEAD~3'"):
        revisions.open_copy(nb, "HEAD~3")


def test_commit_diff_of_the_first_commit_is_everything_added(repo: Repo):
    two_versions(repo)
    first = revisions.commit_diff(repo.path / "nb.ipynb", "HEAD~1").diff
    assert first is not None and {c.status for c in first.cells} == {"added"}
    second = revisions.commit_diff(repo.path / "nb.ipynb", "HEAD").diff
    assert [c.id for c in second.changed] == ["train"]


def conflicted_cells() -> dict:
    base = pipeline_notebook()
    ours, theirs = copy.deepcopy(base), copy.deepcopy(base)
    by_id(ours)["train"]["source"] = "score = 4\n"
    by_id(theirs)["train"]["source"] = "score = 5\n"
    by_id(ours)["report"]["source"] = "print('x')\n"
    theirs["cells"] = [c for c in theirs["cells"] if c["id"] != "report"]
    by_id(ours)["load"]["metadata"]["cellpipe"]["name"] = "read"
    by_id(theirs)["load"]["metadata"]["cellpipe"]["name"] = "fetch"
    result = merge_files(*(dumps_notebook(nb) for nb in (base, ours, theirs)))
    return by_id(json.loads(result.text))


def test_resolve_cell_choices():
    cells = conflicted_cells()
    train = cells["train"]
    assert "".join(resolve_cell(train, "ours")["source"]) == "score = 4\n"
    assert resolve_cell(train, "theirs")["source"] == "score = 5\n"
    assert resolve_cell(train, "both")["source"] == "score = 4\nscore = 5\n"
    assert "cellpipe_merge" not in resolve_cell(train, "ours")["metadata"]
    report = cells["report"]
    assert resolve_cell(report, "theirs")["deleted"] is True
    kept = resolve_cell(report, "ours")
    assert kept["deleted"] is False and kept["source"] == "print('x')\n"
    load = cells["load"]
    assert resolve_cell(load, "theirs")["metadata"]["cellpipe"]["name"] == "fetch"
    assert resolve_cell(load, "ours")["metadata"]["cellpipe"]["name"] == "read"
    with pytest.raises(ResolveError):
        resolve_cell(resolve_cell(train, "ours"), "ours")
    with pytest.raises(ResolveError):
        resolve_cell(train, "mine")


def test_resolve_notebook_metadata_conflicts():
    base = pipeline_notebook()
    base["metadata"]["cellpipe"]["parameters"] = {"lr": {"type": "float", "value": 0.1}}
    ours, theirs = copy.deepcopy(base), copy.deepcopy(base)
    ours["metadata"]["cellpipe"]["parameters"]["lr"]["value"] = 0.2
    theirs["metadata"]["cellpipe"]["parameters"]["lr"]["value"] = 0.3
    del theirs["metadata"]["cellpipe"]["version"]
    ours["metadata"]["cellpipe"]["version"] = 2
    merged = json.loads(merge_files(*(dumps_notebook(nb) for nb in (base, ours, theirs))).text)
    metadata = merged["metadata"]
    kept = resolve_notebook_metadata(metadata, "theirs")
    assert kept["cellpipe"] == {"parameters": {"lr": {"type": "float", "value": 0.3}}}
    assert "cellpipe_merge" not in kept
    assert resolve_notebook_metadata(metadata, "ours")["cellpipe"]["version"] == 2
    with pytest.raises(ResolveError):
        resolve_notebook_metadata(kept, "ours")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Repo]]:
    """A real Jupyter server (cellpipe's extension enabled) whose root is a git repository."""
    tmp = tmp_path_factory.mktemp("gitserver")
    home = tmp / "home"
    home.mkdir()
    env = {**os.environ, **git_env(home), "JUPYTER_RUNTIME_DIR": str(tmp / "runtime")}
    path = tmp / "repo"
    path.mkdir()
    repo = Repo(path)
    for args in (["init", "-q", "-b", "main"],):
        subprocess.run(["git", *args], cwd=path, env=env, check=True)
    old = pipeline_notebook()
    (path / "nb.ipynb").write_text(dumps_notebook(old))
    (path / "other.ipynb").write_text(dumps_notebook(notebook(cell("s", "SECRET = 1\n"))))
    subprocess.run(["git", "add", "other.ipynb"], cwd=path, env=env, check=True)
    new = copy.deepcopy(old)
    new["cells"].append(cell("plot", "plot(score)\n", "plot", ["train"]))
    for nb, message in ((old, "v1"), (new, "v2")):
        (path / "nb.ipynb").write_text(dumps_notebook(nb))
        subprocess.run(["git", "add", "nb.ipynb"], cwd=path, env=env, check=True)
        subprocess.run(["git", "commit", "-q", "-m", message], cwd=path, env=env, check=True)
    log = tmp / "server.log"
    repo.server_log = log  # type: ignore[attr-defined]
    with JupyterServer(path, env, log) as server:
        yield f"{server.url}/cellpipe/git/%s?token={server.token}", repo


def call(url: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_http_history_diff_checkout_resolve(server):
    url, repo = server
    status, history = call(url % "history" + "&path=nb.ipynb")
    assert status == 200
    assert [e["subject"] for e in history["entries"]] == ["v2", "v1"]
    head = history["entries"][0]["commit"]
    status, diff = call(url % "diff" + f"&path=nb.ipynb&rev={head}")
    assert status == 200 and diff["summary"].startswith("1 component(s) changed, edges +1/-0")
    assert diff["svg"].startswith("<svg") and 'data-id="plot"' in diff["svg"]
    assert ['+ component "plot" (id plot): added', "green bold"] in diff["lines"]
    status, copied = call(url % "checkout", {"path": "nb.ipynb", "rev": f"{head}~1",
                                             "mode": "copy"})
    assert status == 200 and copied["path"].startswith("nb@")
    assert (repo.path / copied["path"]).exists()
    status, error = call(url % "diff" + "&path=nb.ipynb&old=nope")
    assert status == 400 and error["kind"] == "UnknownRevision"
    assert error["message"] == "unknown revision 'nope'"
    status, error = call(url % "history" + "&path=../outside.ipynb")
    assert status == 400 and "outside" in error["message"]
    cells = conflicted_cells()
    status, resolved = call(url % "resolve", {"cell": cells["train"], "choice": "theirs"})
    assert status == 200 and resolved["cell"]["source"] == "score = 5\n"
    status, error = call(url % "resolve", {"cell": resolved["cell"], "choice": "ours"})
    assert status == 400 and error["kind"] == "ResolveError"
    status, restored = call(url % "checkout", {"path": "nb.ipynb", "rev": f"{head}~1",
                                               "mode": "restore"})
    assert status == 200 and restored["backup"] is None
    assert "plot" not in (repo.path / "nb.ipynb").read_text()


def call_raw(url: str, data: bytes) -> tuple[int, dict]:
    """POST raw bytes (not necessarily JSON) and decode the JSON reply."""
    request = urllib.request.Request(url, data=data, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


SMUGGLED = ["HEAD:other.ipynb\nx", "HEAD\nHEAD:other.ipynb", "HEAD:other.ipynb",
            "HEAD~1 ", " HEAD", "HEAD\tx", "HEAD\r"]


def test_a_revision_never_names_another_file(repo: Repo):
    """rev is resolved to a commit first: no ':', whitespace or newline reaches cat-file."""
    two_versions(repo)
    repo.commit(notebook(cell("s", "SECRET = 1\n")), "other", name="other.ipynb")
    nb = repo.path / "nb.ipynb"
    before = nb.read_bytes()
    for rev in SMUGGLED:
        for action in (revisions.notebook_at, revisions.open_copy, revisions.restore,
                       revisions.commit_diff):
            with pytest.raises(GitError, match="is not a revision: name a commit"):
                action(nb, rev)
        with pytest.raises(GitError, match="is not a revision"):
            revisions.diff_revisions(nb, rev, None)
    assert nb.read_bytes() == before
    assert sorted(p.name for p in repo.path.iterdir()) == [".git", ".gitattributes",
                                                           "nb.ipynb", "other.ipynb"]
    with pytest.raises(GitError, match="unknown revision '--output=x'"):
        revisions.notebook_at(nb, "--output=x")  # an option is never taken as one
    assert b"SECRET" not in revisions.notebook_at(nb, "HEAD")


def test_cli_diff_refuses_a_revision_naming_another_file(repo: Repo):
    from click.testing import CliRunner

    from cellpipe.cli.git import git_group

    two_versions(repo)
    repo.commit(notebook(cell("s", "SECRET = 1\n")), "other", name="other.ipynb")
    for args in (["HEAD:other.ipynb", "nb.ipynb"], ["HEAD\nHEAD:other.ipynb", "HEAD", "nb.ipynb"]):
        done = CliRunner().invoke(git_group, ["diff", "--json", *args])
        assert done.exit_code == 1, done.output
        assert "is not a revision: name a commit" in done.output
        assert "SECRET" not in done.output
    done = CliRunner().invoke(git_group, ["log", "-n", "0", "nb.ipynb"])
    assert done.exit_code == 2 and "0 is not in the range" in done.output


def test_http_revisions_stay_inside_the_notebook(server):
    url, repo = server
    nb = repo.path / "nb.ipynb"
    before, files = nb.read_bytes(), sorted(p.name for p in repo.path.iterdir())
    for rev in SMUGGLED:
        quoted = urllib.parse.quote(rev)
        for query in (f"&rev={quoted}", f"&old={quoted}", f"&old=HEAD&new={quoted}"):
            status, error = call(url % "diff" + "&path=nb.ipynb" + query)
            assert status == 400, (rev, query, error)
            assert error["kind"] == "BadRevision" and "is not a revision" in error["message"]
        for mode in ("restore", "copy"):
            status, error = call(url % "checkout", {"path": "nb.ipynb", "rev": rev, "mode": mode})
            assert (status, error["kind"]) == (400, "BadRevision")
    assert nb.read_bytes() == before  # restore never wrote another file over the notebook
    assert sorted(p.name for p in repo.path.iterdir()) == files


MALFORMED_GIT = [
    ("history", "GET", "&path=nb.ipynb&limit=abc", "limit must be a whole number"),
    ("history", "GET", "&path=nb.ipynb&limit=-1", "limit must be a whole number"),
    ("history", "GET", "&path=nb.ipynb&limit=0", "limit must be a whole number"),
    ("history", "GET", "&path=nb.ipynb&limit=1.5", "limit must be a whole number"),
    ("history", "GET", "", "needs 'path'"),
    ("diff", "GET", "&path=nb.ipynb", "give 'rev'"),
    ("diff", "GET", "&path=.git&old=HEAD", "is a directory, not a notebook"),
    ("checkout", "POST", {"path": ".", "rev": "HEAD", "mode": "restore"}, "is a directory"),
    ("checkout", "POST", b"not json", "not valid JSON"),
    ("checkout", "POST", b"\xff\xfe{}", "not valid JSON"),
    ("checkout", "POST", b"[1, 2]", "must be a JSON object"),
    ("checkout", "POST", {"path": 5}, "'path' must be a string, not a number"),
    ("checkout", "POST", {"path": "a\u0000b", "rev": "HEAD", "mode": "copy"}, "NUL character"),
    ("checkout", "POST", {"path": "nb.ipynb", "rev": 5, "mode": "copy"}, "'rev' must be"),
    ("checkout", "POST", {"path": "nb.ipynb", "rev": "HEAD", "mode": "x"}, "'mode' must be one of"),
    ("checkout", "POST", {"path": "nb.ipynb", "mode": "copy"}, "needs 'rev'"),
    ("resolve", "POST", b"{", "not valid JSON"),
    ("resolve", "POST", {"cell": [], "choice": "ours"}, "'cell' must be a JSON object"),
    ("resolve", "POST", {"cell": {"metadata": []}, "choice": "ours"}, "must be an object"),
    ("resolve", "POST", {"cell": {"metadata": {"cellpipe_merge": "x"}}, "choice": "ours"},
     "not a list of conflict records"),
    ("resolve", "POST", {"cell": {"metadata": {"cellpipe_merge": {"conflicts": [{"kind": 1}]}}},
                         "choice": "ours"}, "not a list of conflict records"),
    ("resolve", "POST", {"cell": {"metadata": {"cellpipe_merge": {"conflicts": [
        {"kind": "source", "ours": 1, "theirs": "a"}]}}}, "choice": "ours"}, "malformed 'source'"),
    ("resolve", "POST", {"cell": {"metadata": {"cellpipe_merge": {"conflicts": [
        {"kind": "delete-modify", "deleted_by": "ours", "theirs": None}]}}}, "choice": "ours"},
     "malformed 'delete-modify'"),
    ("resolve", "POST", {"metadata": {"cellpipe_merge": {"conflicts": [
        {"kind": "metadata", "path": "abc"}]}}, "choice": "ours"}, "malformed 'metadata'"),
    ("resolve", "POST", {"metadata": {"a": 1, "cellpipe_merge": {"conflicts": [
        {"kind": "metadata", "path": ["a", "b"], "ours": 2}]}}, "choice": "ours"},
     "a is not an object"),
    ("resolve", "POST", {"metadata": {"cellpipe_merge": {"conflicts": []}}, "choice": 3},
     "'choice' must be a string"),
]


@pytest.mark.parametrize(("endpoint", "method", "payload", "message"), MALFORMED_GIT)
def test_http_git_malformed_requests_are_a_clear_400(server, endpoint, method, payload, message):
    url, _ = server
    if method == "GET":
        status, error = call(url % endpoint + payload)
    else:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        status, error = call_raw(url % endpoint, data)
    assert status == 400, error
    assert message in error["message"] and "\n" not in error["message"]


MALFORMED_PIPELINE = [
    ("check-edge", b"\xff\xfe", "not valid JSON"),
    ("check-edge", b"[]", "must be a JSON object"),
    ("check-edge", {"parent": "a", "child": "b", "notebook": {"cells": "x"}}, ""),
    ("check-edge", {"parent": "a", "child": "b", "notebook": {"cells": [1, "x"]}}, ""),
    ("check-edge", {"parent": "a", "child": "b", "notebook": {"metadata": [], "cells": []}}, ""),
    ("check-edge", {"parent": "a", "child": "b", "notebook": {"nbformat": "4", "cells": []}}, ""),
    ("check-edge", {"parent": "a", "child": "b", "notebook": {"cells": [{"cell_type": "code", "source": 5, "metadata": {
        "cellpipe": {"name": "a", "parents": "b"}}}]}}, ""),
    ("check-edge", {"parent": "a", "child": "b", "notebook": {"cells": [{"cell_type": "code", "source": "", "metadata": {
        "cellpipe": {"name": ["a"], "parents": [1, None]}}}]}}, ""),
    ("check-edge", {"parent": "a", "child": "b", "notebook": {"cells": [{"cell_type": "code", "source": "", "metadata": {
        "cellpipe": "x"}}], "metadata": {"cellpipe": {"parameters": "lr"}}}}, ""),
    ("check-edge", {"notebook": {"cells": []}, "parent": {"a": 1}, "child": None}, ""),
    ("check-edge", b"\"x\"", "must be a JSON object"),
]


@pytest.mark.parametrize(("endpoint", "payload", "message"), MALFORMED_PIPELINE)
def test_http_pipeline_malformed_requests_are_a_400_not_a_500(server, endpoint, payload,
                                                                message):
    url, _ = server
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    status, reply = call_raw((url % endpoint).replace("/cellpipe/git/", "/cellpipe/pipeline/"),
                             data)
    assert status == 400, reply
    assert reply["op"] == "error" and reply["message"] and message in reply["message"]
    if "not valid JSON" in reply["message"]:
        assert reply["kind"] == "RequestError"


def test_the_server_logged_no_traceback(server):
    """Runs last in this module: no request above made the extension fail (a 500)."""
    _, repo = server
    text = repo.server_log.read_text(errors="replace")
    assert "Traceback" not in text and " 500 " not in text, text[-3000:]
    assert " 400 " in text  # the malformed requests above were answered, and logged
