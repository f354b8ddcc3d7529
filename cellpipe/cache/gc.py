"""Cleaning the on-disk cache: entries no component points at any more, old entries, leftovers."""

from __future__ import annotations

import time

from cellpipe.cache.disk import DiskStore
from cellpipe.cache.history import RunHistory


def collect_garbage(disk: DiskStore, history: RunHistory,
                    older_than_days: float | None = None) -> tuple[list[str], int]:
    """Remove superseded and damaged entries (and those older than N days) and unfinished writes;
    compact the history index. Return (keys removed, bytes freed)."""
    disk.remove_unfinished()
    live = history.live_keys()
    history.compact()
    cutoff = time.time() - older_than_days * 86400 if older_than_days is not None else None
    removed: list[str] = []
    freed = 0
    for broken in list(disk.broken()):  # a damaged manifest: the entry cannot be used
        disk.remove_dir(broken.path)
        removed.append(broken.path.name)
        freed += broken.nbytes
    for info in list(disk.entries()):
        if info.key not in live or (cutoff is not None and info.created < cutoff):
            disk.remove(info.key)
            removed.append(info.key)
            freed += info.nbytes
    return removed, freed
