"""The cache an archive is written from or read into: the user's, scoped to a notebook."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cellpipe.cache.archive.format import ArchiveError
from cellpipe.cache.disk import default_cache_dir
from cellpipe.cache.store import CacheStore


def open_store(notebook: str | Path | None = None) -> CacheStore:
    """The user's cache ($CELLPIPE_CACHE_DIR or the platform cache dir), scoped to notebook."""
    return CacheStore(default_cache_dir(), notebook=notebook_scope(notebook))


def notebook_scope(notebook: str | Path | None) -> str:
    """The run-history scope of a notebook: its resolved path ('' for none)."""
    return str(Path(notebook).resolve()) if notebook is not None else ""


def disk_of(store: CacheStore) -> Any:
    """store's disk store (ArchiveError when the cache is in memory only)."""
    disk = getattr(store, "disk", None)
    if disk is None:
        raise ArchiveError("the cache is in memory only (CELLPIPE_CACHE=memory or no cache "
                           "directory); set CELLPIPE_CACHE_DIR to a directory")
    return disk
