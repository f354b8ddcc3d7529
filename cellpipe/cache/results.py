"""The results-store interface: what every store of results implements, and what planning asks.

`ResultsStore` is implemented by the memory store, the disk store and any other place that
keeps results by cache key (a remote data store). `ResultLookup` is the read-only view the
planner needs; the composed `CacheStore` implements both.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from cellpipe.cache.entry import CacheEntry

KeyInputs = dict[str, Any]  # what a key was made of: code hash, parents' keys, parameters read


class ResultsStore(Protocol):
    """Results by cache key: content-addressed, so a key's entry never changes."""

    def get(self, key: str) -> CacheEntry | None:
        """The entry for key, or None."""
        ...

    def has(self, key: str) -> bool:
        """Whether an entry for key exists (without loading it)."""
        ...

    def put(self, entry: CacheEntry) -> None:
        """Keep entry under entry.key (idempotent: a second put of a key changes nothing)."""
        ...

    def pin(self, keys: Iterable[str]) -> None:
        """Keep these keys at hand until the next pin() (a store that never evicts ignores it)."""
        ...


class ResultLookup(Protocol):
    """What planning asks of stored results: is one at hand, and what ran before."""

    def has(self, key: str) -> bool:
        """Whether a result for key exists."""
        ...

    def not_cacheable_reason(self, key: str) -> str | None:
        """Why the result held for key could not be cached (it must run again), else None."""
        ...

    def previous(self, component_id: str) -> tuple[str, KeyInputs] | None:
        """(key, key inputs) of the component's latest recorded result or failure."""
        ...

    def last_failed_key(self, component_id: str) -> str | None:
        """The key whose latest run of this component failed, if it did."""
        ...
