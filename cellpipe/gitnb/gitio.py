"""The few git commands cellpipe needs, run as subprocesses (the only place git is called)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from pathlib import Path


class GitError(RuntimeError):
    """A git command failed; the message is git's own."""


class BadRevision(GitError):
    """A revision that is not a commit name (a space, ':' or control character in it)."""


class UnknownRevision(GitError):
    """A well-formed revision that names no commit of the repository."""


def run_git(args: Sequence[str], cwd: str | Path = ".", input: bytes | None = None) -> bytes:
    """stdout of `git args` in cwd; raises GitError with git's stderr on failure."""
    try:
        done = subprocess.run(["git", *args], cwd=cwd, input=input, capture_output=True)
    except FileNotFoundError:
        raise GitError("git is not installed (no 'git' on PATH)") from None
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip() or f"git {args[0]} failed"
        raise GitError(message)
    return done.stdout


def repo_root(cwd: str | Path = ".") -> Path:
    """The top of the work tree containing cwd."""
    return Path(run_git(["rev-parse", "--show-toplevel"], cwd).decode().strip())


def repo_path(path: str | Path) -> tuple[Path, str]:
    """(repo root, path relative to it in git's / form) for a file inside a work tree."""
    path = Path(path).absolute()
    try:
        root = repo_root(path.parent if path.parent.exists() else ".")
    except GitError as exc:
        if "not a git repository" not in str(exc):
            raise
        raise GitError(f"{path} is not in a git repository (its history is what this reads; "
                       "to compare two files: cellpipe diff A.ipynb B.ipynb)") from None
    return root, path.resolve().relative_to(root.resolve()).as_posix()


_NOT_IN_A_REVISION = re.compile(r"[\s:\x00-\x1f\x7f]")


def resolve_commit(root: str | Path, rev: str) -> str:
    """The full commit id that rev names; raises BadRevision or UnknownRevision.

    A revision names a commit, never a blob: ':' (`HEAD:other.ipynb`), whitespace and
    control characters (a newline would start a second `cat-file --batch` request) are
    refused before git sees them, and `--end-of-options` keeps a leading '-' an argument.
    """
    if not isinstance(rev, str) or not rev or _NOT_IN_A_REVISION.search(rev):
        raise BadRevision(f"{rev!r} is not a revision: name a commit (a hash, branch, tag or "
                          "HEAD~N) without spaces, ':' or control characters")
    try:
        out = run_git(["rev-parse", "--verify", "--quiet", "--end-of-options",
                       f"{rev}^{{commit}}"], root)
    except GitError:
        raise UnknownRevision(f"unknown revision {rev!r}") from None
    return out.decode().strip()


def blob_spec(commit: str, path: str) -> str:
    """The `commit:path` object name for cat-file, built from a resolved commit id."""
    if not re.fullmatch(r"[0-9a-f]{40}([0-9a-f]{24})?", commit):
        raise BadRevision(f"{commit!r} is not a resolved commit id")
    if "\n" in path or "\0" in path:
        raise GitError(f"cannot read {path!r} from git: its name holds a newline")
    return f"{commit}:{path}"


def read_blobs(root: str | Path, specs: Sequence[str]) -> list[bytes | None]:
    """Contents of `commit:path` specs through one `git cat-file --batch` (None if missing)."""
    if not specs:
        return []
    for spec in specs:  # one request per line: a newline would smuggle in a second one
        if "\n" in spec or "\0" in spec:
            raise GitError(f"refusing to read {spec!r}: an object name holds a newline")
    out = run_git(["cat-file", "--batch"], root, input="".join(s + "\n" for s in specs).encode())
    blobs: list[bytes | None] = []
    pos = 0
    for _ in specs:
        end = out.index(b"\n", pos)
        line = out[pos:end]
        pos = end + 1
        if line.endswith((b" missing", b" ambiguous")):  # "<spec> missing": spec may hold spaces
            blobs.append(None)
            continue
        header = line.split()  # "<object id> <type> <size>"
        if len(header) == 3 and header[1] == b"blob":
            size = int(header[2])
            blobs.append(out[pos : pos + size])
            pos += size + 1
        elif len(header) == 3:  # a tree or commit: skip its body
            pos += int(header[2]) + 1
            blobs.append(None)
        else:
            blobs.append(None)
    return blobs
