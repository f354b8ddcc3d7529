"""A cache entry: what one component run produced (DESIGN 3.4)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cellpipe.cache.values import StoredValue


@dataclass
class CacheEntry:
    """The result of running one component with one cache key."""

    key: str
    component_id: str
    name: str
    parent_keys: list[str]
    variables: dict[str, StoredValue]
    deleted: list[str] = field(default_factory=list)
    outputs: list[dict[str, Any]] = field(default_factory=list)
    elapsed: float = 0.0
    created: float = 0.0
    run_of: str | None = None  # name of the target whose run produced this entry
    inputs: dict[str, Any] = field(default_factory=dict)  # what the key was made of
    source_file: str | None = None  # where its code was compiled (for tracebacks)
    scope: str = ""  # the notebook it came from (cell ids are unique only within one)

    @property
    def not_cacheable_reasons(self) -> list[str]:
        return [v.reason for v in self.variables.values() if not v.persistable]

    @property
    def cacheable(self) -> bool:
        return not self.not_cacheable_reasons

    @property
    def nbytes(self) -> int:
        return sum(v.nbytes for v in self.variables.values()) + 256
