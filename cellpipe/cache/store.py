"""The cache the engine uses: memory in front of an optional disk store, with run history.

Reads try memory, then disk (and keep what they read in memory). New results go to
memory at once and to disk on a background thread after the run (`start_writes`);
`flush()` waits for those writes.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from cellpipe.cache.disk import (
    CorruptEntry,
    DiskStore,
    EntryInfo,
    default_cache_dir,
    disk_cache_enabled,
)
from cellpipe.cache.entry import CacheEntry
from cellpipe.cache.gc import SPILL_PREFIX, Collected, collect_garbage
from cellpipe.cache.history import RunHistory
from cellpipe.cache.memory import MemoryStore, default_memory_limit
from cellpipe.cache.results import KeyInputs
from cellpipe.cache.writer import BackgroundWriter

# also importable from here, as before the split
__all__ = ["CacheStore", "EntryInfo", "default_cache_dir", "default_memory_limit",
           "disk_cache_enabled"]


# a write refused for want of room (no space, quota, file size limit), not for a bug
_NO_ROOM = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


@dataclass
class Unwritten:
    """Results of this process that are not on disk because the disk had no room."""

    results: int
    nbytes: int
    root: str

    @property
    def message(self) -> str:
        return (f"the cache disk is full: {self.results} result(s), {self.nbytes:,} bytes, did "
                f"not fit in {self.root} (they are computed again next time); free space "
                "(`cellpipe cache gc`, `cellpipe cache clear`) or point CELLPIPE_CACHE_DIR at "
                "a bigger disk")


class CacheStore:
    """Results by key in memory and (when root is given) on disk; implements ResultsStore
    and ResultLookup."""

    def __init__(self, root: Path | None = None, memory_limit: int | None = None,
                 notebook: str = "") -> None:
        self.disk = DiskStore(root) if root is not None else None
        self._memory = MemoryStore(memory_limit, backed=self.has_on_disk)
        self._history = RunHistory(root, scope=notebook)
        self._writer = BackgroundWriter(self._persist)
        self._pending: list[CacheEntry] = []
        self._spill: DiskStore | None = None  # for results not meant for the disk cache
        self._spilled: list[int] = []  # bytes of each result the limit sent to disk
        self._spill_queued: dict[str, CacheEntry] = {}  # being written to leave memory
        self._spill_written: set[str] = set()  # written: to drop from memory
        self._notices: list[CorruptEntry] = []  # damaged entries met since take_notices()
        # key -> (bytes, directory) of results a full disk refused (the writer thread adds;
        # a later successful write of the same key takes it out)
        self._unwritten: dict[str, tuple[int, str]] = {}
        self._lock = threading.Lock()

    @property
    def memory_limit(self) -> int:
        return self._memory.limit

    @property
    def root(self) -> Path | None:
        """The cache directory, or None for a memory-only cache."""
        return self.disk.root if self.disk is not None else None

    def set_notebook(self, path: str) -> None:
        """Answer previous() from this notebook's history (copies of a notebook share ids)."""
        self._history.scope = path

    # --- lookup -------------------------------------------------------------
    def get(self, key: str) -> CacheEntry | None:
        """The entry for key (loaded from disk into memory if needed), or None."""
        entry = self._memory.get(key)
        if entry is None:
            for disk in (self.disk, self._spill):
                try:
                    entry = disk.get(key) if disk is not None else None
                except CorruptEntry as exc:  # never served: removed, so it is computed again
                    assert disk is not None
                    disk.remove(key)
                    self._notices.append(exc)
                    return None
                if entry is not None:  # buffers stay in the file (mapped when used)
                    self._memory.put(entry)
                    break
        return entry

    def on_disk(self, key: str, write: bool = False) -> CacheEntry | None:
        """The disk cache's entry for key (its files, mapped when used; not kept in memory),
        or None: a result to share as files (a data store on the same disk links them).

        write: a result of this run still waiting for its disk write is written now (it
        would be after the run): shared as files, it is then written once, not twice."""
        if self.disk is None:
            return None
        waiting = [e for e in self._pending if e.key == key] if write else []
        if waiting:
            self._pending = [e for e in self._pending if e.key != key]
            try:
                self._persist(waiting[0])
            except Exception as exc:  # as the writer would: reported, the run goes on
                self._writer.report(f"cache entry for {waiting[0].name!r} not written: {exc}")
                return None
        try:
            return self.disk.get(key)
        except CorruptEntry as exc:  # never served: removed, so it is computed again
            self.disk.remove(key)
            self._notices.append(exc)
            return None

    def discard(self, key: str) -> None:
        """Forget the result for key everywhere (it could not be used)."""
        self._memory.remove(key)
        if self.disk is not None:
            self.disk.remove(key)

    def take_notices(self, names: Mapping[str, str] | None = None) -> list[str]:
        """What reading the cache met (damaged entries, dropped) since the last call;
        names (key -> component name) names the component a damaged manifest lost."""
        notices, self._notices = self._notices, []
        named = [CorruptEntry(n.key, n.name or (names or {}).get(n.key), n.reason)
                 for n in notices]
        return list(dict.fromkeys(str(n) for n in named))

    def has(self, key: str) -> bool:
        """Whether a result for key exists, in memory or on disk."""
        if self._memory.has(key) or self.has_on_disk(key):
            return True
        if self.disk is not None and key in self.disk.damaged:
            self._notices.append(self.disk.damaged.pop(key))
        return False

    def has_on_disk(self, key: str) -> bool:
        return any(d is not None and d.has(key) for d in (self.disk, self._spill))

    def not_cacheable_reason(self, key: str) -> str | None:
        entry = self._memory.get(key)
        if entry is None or entry.cacheable:
            return None
        return entry.not_cacheable_reasons[0]

    def previous(self, component_id: str) -> tuple[str, KeyInputs] | None:
        """(key, key inputs) of the last result recorded for a component, if any."""
        return self._history.previous(component_id)

    def last_failed_key(self, component_id: str) -> str | None:
        return self._history.last_failed_key(component_id)

    # --- updates ------------------------------------------------------------
    def put(self, entry: CacheEntry, persist: bool = True) -> None:
        """Keep entry in memory and, if persist and cacheable, write it to disk after the run."""
        entry.scope = self._history.scope
        keep = persist and self.disk is not None and entry.cacheable
        if keep:
            self._pending.append(entry)
        self._memory.put(entry)
        self._history.record(entry.component_id, entry.key, entry.inputs)
        self._respect_limit()

    def _respect_limit(self) -> None:
        """Over the memory limit, results the run still needs (pinned) go to disk, oldest
        first, and are read back (mapped) from there when needed: memory stays under the
        limit plus what is being written. Results meant for the disk cache are written by the
        background writer (the run goes on) and leave memory once written; others go to a
        private spill directory at once."""
        self._drop_written()
        in_flight = sum(e.nbytes for e in list(self._spill_queued.values()))  # writer pops
        if self._memory.nbytes - in_flight <= self._memory.limit:
            return
        for entry in self._memory.entries():
            if self._memory.nbytes - in_flight <= self._memory.limit:
                return
            if not entry.cacheable or entry.key in self._spill_queued:
                continue  # holds an object that cannot be pickled: it stays
            if self.has_on_disk(entry.key):
                self._memory.remove(entry.key)
                continue
            pending = [i for i, e in enumerate(self._pending) if e is entry]
            if pending:  # its disk write, started now instead of after the run
                del self._pending[pending[0]]
                self._spill_queued[entry.key] = entry
                in_flight += entry.nbytes
                self._writer.submit([entry])  # counted as spilled once written (_persist)
                continue
            try:
                self._spill_store().write(entry)
            except OSError as exc:  # it stays in memory: the notice must not claim a spill
                if exc.errno in _NO_ROOM:
                    self._did_not_fit(entry, self._spill_store().root)
                else:
                    self._writer.report(f"cache entry for {entry.name!r} could not be "
                                        f"spilled to disk under the memory limit: {exc}")
                continue
            with self._lock:
                self._spilled.append(entry.nbytes)
            self._memory.remove(entry.key)

    def _drop_written(self) -> None:
        """Results the limit sent to disk that are written by now leave memory."""
        for key in list(self._spill_written):
            self._spill_written.discard(key)
            self._memory.remove(key)

    def _spill_store(self) -> DiskStore:
        if self._spill is None:
            import atexit
            import shutil
            import tempfile

            root = tempfile.mkdtemp(prefix=f"{SPILL_PREFIX}{os.getpid()}-")
            atexit.register(shutil.rmtree, root, True)
            self._spill = DiskStore(Path(root))
        return self._spill

    def import_store(self) -> DiskStore | None:
        """Where results made elsewhere (a worker's, from a data store) are kept on arrival:
        this process's private spill directory, from which the disk cache takes them by
        hard link. None for a memory-only cache, or when the spill directory is on another
        file system than the disk cache (a tmpfs /tmp would hold them in memory, unseen by
        the memory limit): they are read into memory then, and written to disk after."""
        if self.disk is None:
            return None
        import tempfile

        if _device(Path(tempfile.gettempdir())) != _device(self.disk.root):
            return None
        return self._spill_store()

    def take_spill_notice(self) -> str | None:
        """What the memory limit forced to disk since the last call, for the user: only
        results that reached the disk (a spill a full disk refused kept them in memory)."""
        if self._spill_queued:  # spill writes of this run still under way: they decide
            self._writer.wait()
        with self._lock:
            spilled, self._spilled = self._spilled, []
        if not spilled:
            return None
        count, total = len(spilled), sum(spilled)
        return (f"the memory limit ({self._memory.limit / 2**20:.0f} MB, CELLPIPE_MEMORY_LIMIT) "
                f"sent {count} result(s) ({total / 2**20:.0f} MB) to disk during the run; "
                "they are read back from there when needed")

    def record_failure(self, component_id: str, key: str, inputs: KeyInputs) -> None:
        """A component's run for key failed (planning says so until it succeeds)."""
        self._history.record_failure(component_id, key, inputs)

    def pin(self, keys: Iterable[str]) -> None:
        """Keep these keys in memory until the next pin(); pin(()) lets them go and trims."""
        keys = set(keys)
        self._memory.pin(keys)
        if not keys:
            self._drop_written()
            self._memory.trim()

    def start_writes(self) -> None:
        """Hand the entries kept since the last call to the background writer.

        The runner calls this when a run ends, so disk writes never slow the run itself."""
        pending, self._pending = self._pending, []
        self._writer.submit(pending)

    def flush(self) -> list[str]:
        """Wait for pending disk writes; return the errors they met (and forget them)."""
        self.start_writes()
        errors = self._writer.flush()
        self._drop_written()
        return errors

    def take_write_errors(self) -> list[str]:
        """Errors of background writes so far (and forget them), without waiting."""
        return self._writer.take_errors()

    def _persist(self, entry: CacheEntry) -> None:
        assert self.disk is not None
        try:
            self.disk.write(entry)
            self._history.append(entry)
        except OSError as exc:
            if exc.errno not in _NO_ROOM:
                raise
            if not self.disk.has(entry.key):  # said once, with the others (unwritten())
                self._did_not_fit(entry, self.disk.root)
        else:
            with self._lock:
                self._unwritten.pop(entry.key, None)
        finally:
            if self._spill_queued.pop(entry.key, None) is not None and self.disk.has(entry.key):
                with self._lock:
                    self._spilled.append(entry.nbytes)
                self._spill_written.add(entry.key)  # main thread drops it from memory

    def _did_not_fit(self, entry: CacheEntry, root: Path) -> None:
        with self._lock:
            self._unwritten[entry.key] = (entry.nbytes, str(root))

    def unwritten(self, wait: bool = False) -> Unwritten | None:
        """Results of this process a full disk refused and that are still not on disk (None:
        all fit); wait for the pending writes first if asked (the CLI, before it stops the
        kernel)."""
        if wait:
            self.start_writes()
            self._writer.wait()
        with self._lock:
            refused = list(self._unwritten.values())
        if not refused:
            return None
        return Unwritten(len(refused), sum(n for n, _ in refused), refused[0][1])

    # --- memory -------------------------------------------------------------
    @property
    def memory_bytes(self) -> int:
        """Bytes of results held in memory."""
        self._drop_written()
        return self._memory.nbytes

    def memory_entries(self) -> list[CacheEntry]:
        """The entries held in memory, oldest first."""
        return self._memory.entries()

    # --- maintenance (cellpipe cache ls|clear|gc) ----------------------------
    def entries(self) -> Iterator[EntryInfo]:
        """Every entry on disk (or in memory when there is no disk)."""
        if self.disk is None:
            for e in self._memory.entries():
                yield EntryInfo(e.key, e.component_id, e.name, e.nbytes, e.created,
                                list(e.variables))
            return
        yield from self.disk.entries()

    def clear(self) -> int:
        """Remove every entry; return how many were removed."""
        count = len(list(self.entries()))
        self._memory.clear()
        self._history.clear()
        if self.disk is not None:
            self.disk.clear()
        return count

    def gc(self, older_than_days: float | None = None) -> Collected:
        """Remove entries no component points at any more (or older than N days) and
        leftovers of interrupted writes; say what was removed and the bytes freed."""
        if self.disk is None:
            return Collected()
        done = collect_garbage(self.disk, self._history, older_than_days)
        for key in done.keys:
            self._memory.remove(key)
        return done


def _device(path: Path) -> int | None:
    """The file system (st_dev) of path, or of its nearest existing parent."""
    for folder in (path, *path.parents):
        try:
            return os.stat(folder).st_dev
        except OSError:
            continue
    return None
