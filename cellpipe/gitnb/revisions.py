"""A notebook at a git revision: read it, diff it, open it as a new notebook, restore it.

Restoring never loses the current version: if it differs from the last commit, it is first
copied next to the notebook (`name.before-restore-<time>.ipynb`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from cellpipe.gitnb.files import FileDiff, diff_files
from cellpipe.gitnb.gitio import (
    GitError,
    blob_spec,
    read_blobs,
    repo_path,
    resolve_commit,
    run_git,
)


class RevisionNotFound(GitError):
    """The notebook does not exist in that revision."""


def notebook_at(path: str | Path, rev: str) -> bytes:
    """The notebook file's bytes at rev (path is a work-tree path; rev must name a commit).

    Only this notebook's own history is read: rev is resolved to a commit id first and the
    object name is built here, so no rev can name another file.
    """
    root, rel = repo_path(path)
    commit = resolve_commit(root, rev)
    (blob,) = read_blobs(root, [blob_spec(commit, rel)])
    if blob is None:
        raise RevisionNotFound(f"{rel} does not exist in revision {rev!r}")
    return blob


def parent_of(path: str | Path, rev: str) -> str | None:
    """The first parent of rev, or None for a root commit."""
    root, _ = repo_path(path)
    commit = resolve_commit(root, rev)
    try:
        return run_git(["rev-parse", "--verify", "--quiet", f"{commit}^"], root).decode().strip()
    except GitError:
        return None


def diff_revisions(path: str | Path, old: str | None, new: str | None) -> FileDiff:
    """Diff of the notebook between two revisions (None: empty for old, work tree for new)."""
    def version(rev: str | None, missing_ok: bool) -> bytes | None:
        if rev is None:
            return Path(path).read_bytes() if Path(path).exists() else None
        try:
            return notebook_at(path, rev)
        except RevisionNotFound:
            if missing_ok:
                return None
            raise

    return diff_files(version(old, True) if old else None, version(new, False),
                      (f"{old or 'empty'}:{path}", f"{new or 'working tree'}:{path}"))


def commit_diff(path: str | Path, rev: str) -> FileDiff:
    """What commit rev changed in the notebook (against its first parent)."""
    return diff_revisions(path, parent_of(path, rev), rev)


def _short(path: str | Path, rev: str) -> str:
    root, _ = repo_path(path)
    commit = resolve_commit(root, rev)
    return run_git(["rev-parse", "--short=8", commit], root).decode().strip()


def _free_name(path: Path, suffix: str) -> Path:
    candidate = path.with_name(f"{path.stem}{suffix}{path.suffix}")
    n = 2
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}{suffix}-{n}{path.suffix}")
        n += 1
    return candidate


def open_copy(path: str | Path, rev: str) -> Path:
    """Write the notebook as it was at rev to a new file next to it; returns its path."""
    path = Path(path)
    data = notebook_at(path, rev)
    target = _free_name(path, f"@{_short(path, rev)}")
    target.write_bytes(data)
    return target


@dataclass
class Restored:
    """The restored notebook and where the version it replaced was kept (None: in git)."""

    path: Path
    backup: Path | None


def restore(path: str | Path, rev: str) -> Restored:
    """Replace the notebook by its version at rev, keeping the current one recoverable."""
    path = Path(path)
    data = notebook_at(path, rev)
    backup = None
    if path.exists():
        current = path.read_bytes()
        try:
            committed = notebook_at(path, "HEAD")
        except RevisionNotFound:
            committed = None
        if current != committed and current != data:
            backup = _free_name(path, f".before-restore-{time.strftime('%Y%m%d-%H%M%S')}")
            backup.write_bytes(current)
    path.write_bytes(data)
    return Restored(path, backup)
