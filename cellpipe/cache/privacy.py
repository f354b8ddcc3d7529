"""The cache is private: results are pickles, and loading a pickle runs code.

Cache directories are created 0700 and files 0600. Before anything is loaded, the
directories it comes through must belong to this user and be writable by no one else;
otherwise another user could have put a pickle there (a shared $CELLPIPE_CACHE_DIR under
/tmp, say), and cellpipe refuses with UnsafeCacheError.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cellpipe.model.errors import PipelineError

DIR_MODE = 0o700
FILE_MODE = 0o600


class UnsafeCacheError(PipelineError):
    """A cache directory or file that another user could have written."""


def make_private_dir(path: Path) -> None:
    """Create path (and missing parents) with mode 0700 for the new directories."""
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    for new in reversed(missing):
        try:
            os.mkdir(new, DIR_MODE)
        except FileExistsError:
            continue


def secret_problem(st: os.stat_result) -> str | None:
    """Why a file holding a secret (the archive key) is not private, or None: it must be
    this user's and neither readable nor writable by anyone else."""
    if st.st_uid != os.geteuid():
        return f"belongs to another user (uid {st.st_uid})"
    if st.st_mode & 0o077:
        return f"can be read or written by other users (mode {stat.S_IMODE(st.st_mode):o})"
    return None


def check_private(path: Path, what: str = "cache directory") -> None:
    """Raise UnsafeCacheError unless path is this user's and writable by no one else."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        st = os.stat(path)  # a symlinked cache dir is fine if what it points at is safe
    problem = None
    if st.st_uid != os.geteuid():
        problem = f"belongs to another user (uid {st.st_uid})"
    elif st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        problem = f"can be written by other users (mode {stat.S_IMODE(st.st_mode):o})"
    if problem is not None:
        chmod = "chmod 700" if stat.S_ISDIR(st.st_mode) else "chmod 600"
        raise UnsafeCacheError(
            f"refusing to load results from {what} {path}: it {problem}, so its pickles may "
            "not be yours. Use a private directory (unset CELLPIPE_CACHE_DIR, or point it at "
            f"a directory only you can write), or `{chmod}` it after checking its contents."
        )
