"""Content-addressed result store: memory in front of an optional on-disk directory.

On disk (DESIGN 3.4): `entries/<key>/manifest.json` plus one file per variable, written
into `tmp/` and renamed into place, so an entry is either whole or absent. Writes happen
on a background thread so a run does not wait for the disk; `flush()` waits for them.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import platform
import queue
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from cellpipe.cache.entry import CacheEntry
from cellpipe.cache.values import StoredValue

MANIFEST_FORMAT = "cellpipe.cache-entry"
MANIFEST_VERSION = 1


def default_cache_dir() -> Path:
    """$CELLPIPE_CACHE_DIR, else the user cache dir (platformdirs)."""
    env = os.environ.get("CELLPIPE_CACHE_DIR")
    return Path(env) if env else Path(platformdirs.user_cache_dir("cellpipe")) / "results"


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


def disk_cache_enabled() -> bool:
    """False when CELLPIPE_CACHE=memory (global opt-out of the on-disk cache)."""
    return os.environ.get("CELLPIPE_CACHE", "disk").lower() != "memory"


@dataclass
class EntryInfo:
    """What `cellpipe cache ls` shows of an entry."""

    key: str
    component_id: str
    name: str
    nbytes: int
    created: float
    variables: list[str]


class CacheStore:
    """Cache entries by key, in memory and (when root is given) on disk."""

    def __init__(self, root: Path | None = None, memory_limit: int | None = None) -> None:
        self.root = root
        self.memory: dict[str, CacheEntry] = {}
        self.memory_limit = memory_limit if memory_limit is not None else default_memory_limit()
        self.pinned: set[str] = set()  # keys the current run still needs: never evicted
        self.last_key: dict[str, tuple[str, dict[str, Any]]] = {}
        # whose history previous() answers from: the notebook's path when known, since
        # copies of a notebook share cell ids
        self.scope = ""
        self.failed: dict[str, str] = {}  # component id -> key whose last run failed
        self._writes: queue.Queue[CacheEntry | None] = queue.Queue()
        self._writer: threading.Thread | None = None
        self._write_errors: list[str] = []
        self._index_cache: dict[str, tuple[str, dict[str, Any]]] = {}
        self._index_size = -1
        self._dirs_made = False
        self._pending: list[CacheEntry] = []
        self._memory_bytes = 0

    # --- lookup -------------------------------------------------------------
    def get(self, key: str) -> CacheEntry | None:
        """The entry for key (loaded from disk into memory if needed), or None."""
        entry = self.memory.get(key)
        if entry is None and self.root is not None:
            entry = self._read(key)
            if entry is not None:
                self._remember(entry)
        return entry

    def has(self, key: str) -> bool:
        """Whether a result for key exists, in memory or on disk."""
        return key in self.memory or self.has_on_disk(key)

    def previous(self, component_id: str) -> tuple[str, dict[str, Any]] | None:
        """(key, key inputs) of the last result recorded for a component, if any."""
        scoped = _scoped(self.scope, component_id)
        if scoped in self.last_key:
            return self.last_key[scoped]
        return self._index().get(scoped)

    def _index(self) -> dict[str, tuple[str, dict[str, Any]]]:
        """component id -> (key, inputs), from the append-only index (re-read when it grew)."""
        if self.root is None:
            return {}
        path = self.root / "index.jsonl"
        try:
            size = path.stat().st_size
        except OSError:
            return {}
        if self._index_size != size:
            index: dict[str, tuple[str, dict[str, Any]]] = {}
            with open(path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    try:
                        rec = json.loads(line)
                        scoped = _scoped(rec.get("scope", ""), rec["component_id"])
                        index[scoped] = (rec["key"], rec["inputs"])
                    except (ValueError, KeyError, TypeError):
                        continue  # a torn or foreign line: skip it, keep the rest
            self._index_cache, self._index_size = index, size
        return self._index_cache

    # --- updates ------------------------------------------------------------
    def put(self, entry: CacheEntry, persist: bool = True) -> None:
        """Keep entry in memory and, if persist and cacheable, write it to disk."""
        self._remember(entry)
        self.failed.pop(entry.component_id, None)
        entry.scope = self.scope
        self.last_key[_scoped(self.scope, entry.component_id)] = (entry.key, entry.inputs)
        if persist and self.root is not None and entry.cacheable:
            self._pending.append(entry)

    def start_writes(self) -> None:
        """Hand the entries kept since the last call to the background writer.

        The runner calls this when a run ends, so disk writes never slow the run itself."""
        if self._pending:
            self._start_writer()
            for entry in self._pending:
                self._writes.put(entry)
            self._pending = []

    def record_failure(self, component_id: str, key: str, inputs: dict[str, Any]) -> None:
        self.failed[component_id] = key
        self.last_key[_scoped(self.scope, component_id)] = (key, inputs)

    def flush(self) -> list[str]:
        """Wait for pending disk writes; return the errors they met (and forget them)."""
        self.start_writes()
        if self._writer is not None:
            self._writes.join()
        errors, self._write_errors = self._write_errors, []
        return errors

    def take_write_errors(self) -> list[str]:
        """Errors of background writes so far (and forget them), without waiting."""
        errors, self._write_errors = self._write_errors, []
        return errors

    def _remember(self, entry: CacheEntry) -> None:
        old = self.memory.pop(entry.key, None)
        if old is not None:
            self._memory_bytes -= old.nbytes
        self.memory[entry.key] = entry
        self._memory_bytes += entry.nbytes
        # a component's older results stay on disk; memory keeps its newest two
        mine = [k for k, e in self.memory.items() if e.component_id == entry.component_id]
        for key in mine[:-2]:
            self._evict(key)
        self.trim(keep=entry.key)

    def trim(self, keep: str | None = None) -> None:
        """Keep memory under the limit: drop the oldest entries, first those also on disk
        (an entry only in memory that is dropped is computed again when next needed)."""
        for only_on_disk in (True, False):
            for key in list(self.memory):
                if self._memory_bytes <= self.memory_limit:
                    return
                if key != keep and (not only_on_disk or self.has_on_disk(key)):
                    self._evict(key)

    def _evict(self, key: str) -> None:
        if key in self.pinned:
            return
        self._memory_bytes -= self.memory.pop(key).nbytes

    def has_on_disk(self, key: str) -> bool:
        return self.root is not None and (self._entry_dir(key) / "manifest.json").exists()

    # --- disk ---------------------------------------------------------------
    def _entry_dir(self, key: str) -> Path:
        assert self.root is not None
        return self.root / "entries" / _safe(key)

    def _start_writer(self) -> None:
        if self._writer is None or not self._writer.is_alive():
            self._writer = threading.Thread(target=self._write_loop, daemon=True,
                                            name="cellpipe-cache-writer")
            self._writer.start()
            atexit.register(self.flush)  # a kernel shutting down finishes its writes

    def _write_loop(self) -> None:
        while True:
            entry = self._writes.get()
            try:
                if entry is not None:
                    self.write(entry)
            except Exception as exc:  # disk full, permissions: report, keep running
                self._write_errors.append(f"cache entry for {entry.name!r} not written: {exc}")
            finally:
                self._writes.task_done()

    def write(self, entry: CacheEntry) -> Path:
        """Write entry to disk atomically (temp dir, then rename); return its directory."""
        assert self.root is not None
        final = self._entry_dir(entry.key)
        if (final / "manifest.json").exists():
            self._write_index(entry)
            return final
        if not self._dirs_made:
            (self.root / "tmp").mkdir(parents=True, exist_ok=True)
            (self.root / "entries").mkdir(parents=True, exist_ok=True)
            self._dirs_made = True
        tmp = os.path.join(self.root, "tmp", f"{_safe(entry.key)}.{uuid.uuid4().hex}")
        os.mkdir(tmp)
        try:
            variables = []
            for i, (name, value) in enumerate(entry.variables.items()):
                fname = f"var{i}.bin"
                h = hashlib.sha256()
                with open(os.path.join(tmp, fname), "wb") as f:
                    for part in (value.data, *value.buffers):
                        f.write(part)
                        h.update(part)
                variables.append({
                    "name": name, "serializer": value.kind, "file": fname,
                    "sizes": [len(value.data), *(len(b) for b in value.buffers)],
                    "sha256": h.hexdigest(), "fingerprint": value.fingerprint,
                    "type": value.type_name,
                })
            manifest = {
                "format": MANIFEST_FORMAT, "version": MANIFEST_VERSION,
                "key": entry.key, "component_id": entry.component_id, "name": entry.name,
                "inputs": entry.parent_keys, "key_inputs": entry.inputs,
                "variables": variables, "deleted": entry.deleted,
                "outputs": entry.outputs, "elapsed": entry.elapsed, "created": entry.created,
                "run_of": entry.run_of, "source_file": entry.source_file,
                "python": platform.python_version(), "packages": _package_versions(),
            }
            with open(os.path.join(tmp, "manifest.json"), "w", encoding="utf-8") as f:
                f.write(json.dumps(manifest, default=repr))
            try:
                os.rename(tmp, final)
            except OSError:
                if not (final / "manifest.json").exists():
                    raise
                shutil.rmtree(tmp, ignore_errors=True)  # written meanwhile by another kernel
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self._write_index(entry)
        return final

    def _write_index(self, entry: CacheEntry) -> None:
        """Append (component, key, inputs) to index.jsonl: one atomic O_APPEND write."""
        assert self.root is not None
        line = json.dumps({"component_id": entry.component_id, "scope": entry.scope,
                           "key": entry.key, "inputs": entry.inputs}, default=repr) + "\n"
        fd = os.open(self.root / "index.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    def _read(self, key: str) -> CacheEntry | None:
        folder = self._entry_dir(key)
        try:
            manifest = json.loads((folder / "manifest.json").read_text())
        except (OSError, ValueError):
            return None
        if manifest.get("format") != MANIFEST_FORMAT or manifest.get("version") != MANIFEST_VERSION:
            return None
        variables: dict[str, StoredValue] = {}
        for var in manifest["variables"]:
            raw = (folder / var["file"]).read_bytes()
            view = memoryview(raw)
            sizes = var["sizes"]
            parts, offset = [], 0
            for size in sizes:
                parts.append(view[offset:offset + size])
                offset += size
            variables[var["name"]] = StoredValue(
                kind=var["serializer"], fingerprint=var["fingerprint"],
                data=bytes(parts[0]), buffers=parts[1:],  # type: ignore[arg-type]
                type_name=var.get("type", ""),
            )
        return CacheEntry(
            key=manifest["key"], component_id=manifest["component_id"], name=manifest["name"],
            parent_keys=manifest["inputs"], variables=variables, deleted=manifest["deleted"],
            outputs=manifest["outputs"], elapsed=manifest["elapsed"],
            created=manifest["created"], run_of=manifest.get("run_of"),
            inputs=manifest.get("key_inputs", {}), source_file=manifest.get("source_file"),
        )

    # --- maintenance (cellpipe cache ls|clear|gc) ----------------------------
    def entries(self) -> Iterator[EntryInfo]:
        """Every entry on disk (or in memory when there is no disk)."""
        if self.root is None:
            for e in self.memory.values():
                yield EntryInfo(e.key, e.component_id, e.name, e.nbytes, e.created,
                                list(e.variables))
            return
        for folder in sorted((self.root / "entries").glob("*")):
            try:
                m = json.loads((folder / "manifest.json").read_text())
            except (OSError, ValueError):
                continue
            size = sum(p.stat().st_size for p in folder.iterdir())
            yield EntryInfo(m["key"], m["component_id"], m["name"], size, m["created"],
                            [v["name"] for v in m["variables"]])

    def clear(self) -> int:
        """Remove every entry; return how many were removed."""
        count = len(list(self.entries()))
        self.memory.clear()
        self._memory_bytes = 0
        self.last_key.clear()
        if self.root is not None:
            for sub in ("entries", "tmp"):
                shutil.rmtree(self.root / sub, ignore_errors=True)
            (self.root / "index.jsonl").unlink(missing_ok=True)
            self._index_size = -1
            self._dirs_made = False
        return count

    def gc(self, older_than_days: float | None = None) -> tuple[int, int]:
        """Remove entries no component points at any more (or older than N days) and
        leftovers of interrupted writes; return (entries removed, bytes freed)."""
        if self.root is None:
            return 0, 0
        shutil.rmtree(self.root / "tmp", ignore_errors=True)
        self._dirs_made = False
        index = self._index()
        live = {key for key, _ in index.values()}
        self._compact_index(index)
        removed = freed = 0
        cutoff = time.time() - older_than_days * 86400 if older_than_days is not None else None
        for info in list(self.entries()):
            stale = info.key not in live or (cutoff is not None and info.created < cutoff)
            if stale:
                shutil.rmtree(self._entry_dir(info.key), ignore_errors=True)
                self.memory.pop(info.key, None)
                removed += 1
                freed += info.nbytes
        return removed, freed


    def _compact_index(self, index: dict[str, tuple[str, dict[str, Any]]]) -> None:
        assert self.root is not None
        tmp = self.root / f".index.{uuid.uuid4().hex}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            for scoped, (key, inputs) in index.items():
                scope, cid = scoped.split("\x00", 1)
                f.write(json.dumps({"component_id": cid, "scope": scope, "key": key,
                                    "inputs": inputs}, default=repr) + "\n")
        os.replace(tmp, self.root / "index.jsonl")
        self._index_size = -1


def _scoped(scope: str, component_id: str) -> str:
    return f"{scope}\x00{component_id}"


def _safe(name: str) -> str:
    """A file name for a key or cell id (ids are [A-Za-z0-9-_]; anything else is hashed)."""
    if name and all(c.isalnum() or c in "-_" for c in name) and len(name) <= 128:
        return name
    return "h" + hashlib.sha256(name.encode()).hexdigest()[:32]


_PACKAGES: dict[str, str] | None = None


def _package_versions() -> dict[str, str]:
    global _PACKAGES
    if _PACKAGES is None:
        from importlib import metadata

        _PACKAGES = {}
        for name in ("cellpipe", "numpy", "pandas", "cloudpickle", "ipython"):
            try:
                _PACKAGES[name] = metadata.version(name)
            except metadata.PackageNotFoundError:
                continue
    return _PACKAGES
