"""Results held in memory: newest two per component, under a byte limit, pinned keys kept."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from cellpipe.cache.entry import CacheEntry


def default_memory_limit() -> int:
    """$CELLPIPE_MEMORY_LIMIT (bytes, or with a K/M/G suffix), else a quarter of the RAM."""
    raw = os.environ.get("CELLPIPE_MEMORY_LIMIT", "").strip().upper()
    if raw:
        scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(raw[-1], 1)
        try:
            return int(float(raw.rstrip("KMGB")) * scale)
        except ValueError:
            pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4
    except (ValueError, OSError, AttributeError):
        return 4 << 30


class MemoryStore:
    """Entries by key, oldest first; evicts when over the limit, never a pinned key.

    backed(key) tells whether an entry can be read again from elsewhere (disk): those go
    first, since dropping one that is only in memory means computing it again."""

    def __init__(self, limit: int | None = None,
                 backed: Callable[[str], bool] = lambda key: False) -> None:
        self.limit = limit if limit is not None else default_memory_limit()
        self.backed = backed
        self._entries: dict[str, CacheEntry] = {}
        self._pinned: set[str] = set()
        self._bytes = 0

    @property
    def nbytes(self) -> int:
        """Bytes held (as the entries count them)."""
        return self._bytes

    def get(self, key: str) -> CacheEntry | None:
        return self._entries.get(key)

    def has(self, key: str) -> bool:
        return key in self._entries

    def put(self, entry: CacheEntry) -> None:
        """Hold entry; a component's older results beyond its newest two are dropped."""
        self._drop(entry.key)
        self._entries[entry.key] = entry
        self._bytes += entry.nbytes
        mine = [k for k, e in self._entries.items() if e.component_id == entry.component_id]
        for key in mine[:-2]:
            self.evict(key)
        self.trim(keep=entry.key)

    def pin(self, keys: Iterable[str]) -> None:
        self._pinned = set(keys)

    def entries(self) -> list[CacheEntry]:
        """The entries held, oldest first."""
        return list(self._entries.values())

    def trim(self, keep: str | None = None) -> None:
        """Keep memory under the limit: drop the oldest entries, first those also backed
        elsewhere (an entry only in memory that is dropped is computed again when needed)."""
        for only_backed in (True, False):
            for key in list(self._entries):
                if self._bytes <= self.limit:
                    return
                if key != keep and (not only_backed or self.backed(key)):
                    self.evict(key)

    def evict(self, key: str) -> None:
        """Drop key unless it is pinned."""
        if key not in self._pinned:
            self._drop(key)

    def remove(self, key: str) -> None:
        """Drop key even if pinned (its result is gone for good)."""
        self._drop(key)

    def clear(self) -> None:
        self._entries.clear()
        self._bytes = 0

    def _drop(self, key: str) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= old.nbytes
