"""Run history: each component's latest key (and why it had it), and which runs failed.

In memory for this process, and on disk as `index.jsonl` next to the entries: one JSON
line per written entry, appended with one O_APPEND write, so kernels sharing a cache
directory never tear each other's lines. History is kept per notebook (its scope),
since copies of a notebook share cell ids.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

from cellpipe.cache.entry import CacheEntry
from cellpipe.cache.results import KeyInputs


class RunHistory:
    """What ran last per (notebook, component); backed by root/index.jsonl when root is set."""

    def __init__(self, root: Path | None = None, scope: str = "") -> None:
        self.root = root
        self.scope = scope  # the notebook whose history previous() answers from
        self._last: dict[str, tuple[str, KeyInputs]] = {}
        self._failed: dict[str, str] = {}  # component id -> key whose last run failed
        self._index_cache: dict[str, tuple[str, KeyInputs]] = {}
        self._index_size = -1

    @property
    def _path(self) -> Path | None:
        return self.root / "index.jsonl" if self.root is not None else None

    def previous(self, component_id: str) -> tuple[str, KeyInputs] | None:
        """(key, key inputs) of the last result recorded for a component, if any."""
        scoped = _scoped(self.scope, component_id)
        if scoped in self._last:
            return self._last[scoped]
        return self._index().get(scoped)

    def last_failed_key(self, component_id: str) -> str | None:
        return self._failed.get(component_id)

    def record(self, component_id: str, key: str, inputs: KeyInputs) -> None:
        """A component produced the result for key (clears its failure)."""
        self._failed.pop(component_id, None)
        self._last[_scoped(self.scope, component_id)] = (key, inputs)

    def record_failure(self, component_id: str, key: str, inputs: KeyInputs) -> None:
        self._failed[component_id] = key
        self._last[_scoped(self.scope, component_id)] = (key, inputs)

    def append(self, entry: CacheEntry) -> None:
        """Append (scope, component, key, inputs) of a written entry to the on-disk index."""
        if self._path is None:
            return
        line = json.dumps({"component_id": entry.component_id, "scope": entry.scope,
                           "key": entry.key, "inputs": entry.inputs}, default=repr) + "\n"
        fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    def live_keys(self) -> set[str]:
        """The keys some component's latest recorded result points at (on disk)."""
        return {key for key, _ in self._index().values()}

    def compact(self) -> None:
        """Rewrite the index with one line per (notebook, component): its latest key."""
        if self._path is None:
            return
        index = self._index()
        tmp = self._path.with_name(f".index.{uuid.uuid4().hex}.tmp")
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w",
                  encoding="utf-8") as f:
            for scoped, (key, inputs) in index.items():
                scope, cid = scoped.split("\x00", 1)
                f.write(json.dumps({"component_id": cid, "scope": scope, "key": key,
                                    "inputs": inputs}, default=repr) + "\n")
        os.replace(tmp, self._path)
        self._index_size = -1

    def clear(self) -> None:
        """Forget every recorded result (in memory and on disk)."""
        self._last.clear()
        if self._path is not None:
            self._path.unlink(missing_ok=True)
            self._index_size = -1

    def _index(self) -> dict[str, tuple[str, KeyInputs]]:
        """scoped id -> (key, inputs), from the append-only index (re-read when it grew)."""
        if self._path is None:
            return {}
        try:
            size = self._path.stat().st_size
        except OSError:
            return {}
        if self._index_size != size:
            index: dict[str, tuple[str, KeyInputs]] = {}
            with open(self._path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    try:
                        rec = json.loads(line)
                        scoped = _scoped(rec.get("scope", ""), rec["component_id"])
                        index[scoped] = (rec["key"], rec["inputs"])
                    except (ValueError, KeyError, TypeError):
                        continue  # a torn or foreign line: skip it, keep the rest
            self._index_cache, self._index_size = index, size
        return self._index_cache


def _scoped(scope: str, component_id: str) -> str:
    return f"{scope}\x00{component_id}"
