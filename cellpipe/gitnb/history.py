"""A notebook's history: the commits that touched it, each with its pipeline-level summary."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cellpipe.gitnb.files import diff_files
from cellpipe.gitnb.gitio import (
    UnknownRevision,
    blob_spec,
    read_blobs,
    repo_path,
    resolve_commit,
    run_git,
)


@dataclass
class HistoryEntry:
    """One commit that changed the notebook, and what changed in its pipeline."""

    commit: str
    parent: str | None
    author: str
    date: str
    subject: str
    path: str
    status: str  # added | modified | deleted | renamed | copied | merge
    summary: str
    components_changed: int
    edges_added: int
    edges_removed: int
    cells_changed: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


_FORMAT = "--format=%x1e%H%x1f%P%x1f%an%x1f%aI%x1f%ct%x1f%s"


@dataclass
class _Commit:
    sha: str
    parent: str | None
    author: str
    date: str
    time: int
    subject: str
    path: str
    old_path: str
    status: str


_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}


def _unquote(name: str) -> str:
    """A path as git prints it in `--name-status`: C-quoted ("...", backslash escapes, octal
    bytes) when it holds a tab, a quote, a backslash or a control character."""
    if len(name) < 2 or not (name.startswith('"') and name.endswith('"')):
        return name
    out = bytearray()
    text, i = name[1:-1], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            digits = text[i + 1:i + 4]
            if len(digits) == 3 and all(c in "01234567" for c in digits):
                out.append(int(text[i + 1:i + 4], 8))
                i += 4
                continue
            if text[i + 1] in _ESCAPES:
                out.append(_ESCAPES[text[i + 1]])
                i += 2
                continue
        out += ch.encode()
        i += 1
    return out.decode(errors="replace")


def _parse_log(raw: str, rel: str) -> list[_Commit]:
    """Commits from `git log _FORMAT --name-status`, newest first, following renames of rel."""
    commits = []
    for record in raw.split("\x1e")[1:]:
        head, _, changes = record.partition("\n")
        sha, parents, author, date, time, subject = head.split("\x1f", 5)
        path, old_path, status = rel, rel, "modified"
        for line in changes.strip().splitlines():
            fields = [_unquote(f) for f in line.split("\t")]
            if fields[0].startswith(("R", "C")) and len(fields) == 3:  # --follow takes copies too
                old_path, path = fields[1], fields[2]
                status = "renamed" if fields[0].startswith("R") else "copied"
            elif fields[0] in ("A", "D", "M") and len(fields) == 2:
                path = old_path = fields[1]
                status = {"A": "added", "D": "deleted", "M": "modified"}[fields[0]]
        parent = parents.split()[0] if parents.strip() else None
        commits.append(_Commit(sha, parent, author, date, int(time), subject, path, old_path,
                               status))
        rel = old_path  # older commits know the file by its old name
    return commits


def _merges(root: Path, rev: str, names: list[str], seen: set[str],
            limit: int | None) -> list[_Commit]:
    """Merge commits that changed the notebook (`git log --follow` leaves them out)."""
    args = ["log", "--merges", _FORMAT, *([f"-n{limit}"] if limit else []), rev, "--", *names]
    found = [c for c in _parse_log(run_git(args, root).decode(errors="replace"), names[0])
             if c.sha not in seen]
    for merge in found:
        blobs = read_blobs(root, [blob_spec(merge.sha, name) for name in names])
        name = next((n for n, blob in zip(names, blobs, strict=True) if blob is not None),
                    names[0])
        merge.path = merge.old_path = name
        merge.status = "merge"
    return found


def notebook_history(notebook: str | Path, limit: int | None = None,
                     rev: str = "HEAD") -> list[HistoryEntry]:
    """Newest first: commits reachable from rev that changed the notebook (renames followed,
    merges included, each diffed against its first parent)."""
    root, rel = repo_path(notebook)
    try:
        rev = resolve_commit(root, rev)
    except UnknownRevision:
        if rev == "HEAD":  # a repository without commits yet: no history
            return []
        raise
    # paths as they are (git quotes non-ASCII names with octal escapes by default)
    args = ["-c", "core.quotePath=false", "log", "--follow", _FORMAT, "--name-status",
            *([f"-n{limit}"] if limit else [])]
    commits = _parse_log(run_git([*args, rev, "--", rel], root).decode(errors="replace"), rel)
    names = list(dict.fromkeys([rel, *(n for c in commits for n in (c.path, c.old_path))]))
    commits += _merges(root, rev, names, {c.sha for c in commits}, limit)
    if len(commits) > 1:  # git's own order over every name the notebook had
        listed = run_git(["log", "--format=%H", rev, "--", *names], root).decode().split()
        position = {sha: i for i, sha in enumerate(listed)}
        commits.sort(key=lambda c: (position.get(c.sha, len(position)), -c.time))
    commits = commits[:limit] if limit else commits
    specs = []
    for c in commits:
        specs += [blob_spec(c.parent, c.old_path) if c.parent else "", blob_spec(c.sha, c.path)]
    blobs = iter(read_blobs(root, [s for s in specs if s]))
    entries = []
    for c in commits:
        before = next(blobs) if c.parent else None
        after = next(blobs)
        result = diff_files(before, after, (f"{c.path}@{(c.parent or '')[:8]}",
                                            f"{c.path}@{c.sha[:8]}"))
        d = result.diff
        if d is None:
            summary, counts = f"not a readable notebook here: {result.problem}", (0, 0, 0, 0)
        else:
            summary = d.summary()
            counts = (d.components_changed, len(d.edges_added), len(d.edges_removed),
                      len(d.changed))
        entries.append(HistoryEntry(c.sha, c.parent, c.author, c.date, c.subject, c.path,
                                    c.status, summary, *counts))
    return entries
