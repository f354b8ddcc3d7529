"""The few git commands cellpipe needs, run as subprocesses (the only place git is called)."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path


class GitError(RuntimeError):
    """A git command failed; the message is git's own."""


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
    root = repo_root(path.parent if path.parent.exists() else ".")
    return root, path.resolve().relative_to(root.resolve()).as_posix()


def read_blobs(root: str | Path, specs: Sequence[str]) -> list[bytes | None]:
    """Contents of `rev:path` specs through one `git cat-file --batch` (None if missing)."""
    if not specs:
        return []
    out = run_git(["cat-file", "--batch"], root, input="".join(s + "\n" for s in specs).encode())
    blobs: list[bytes | None] = []
    pos = 0
    for _ in specs:
        end = out.index(b"\n", pos)
        header = out[pos:end].split()
        pos = end + 1
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
