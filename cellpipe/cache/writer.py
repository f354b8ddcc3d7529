"""Disk writes on a background thread, so a run never waits for the disk."""

from __future__ import annotations

import atexit
import queue
import threading
import time
from collections.abc import Callable, Iterable

from cellpipe.cache.entry import CacheEntry


class BackgroundWriter:
    """Writes entries one by one with write(entry); errors are kept for the caller to show."""

    def __init__(self, write: Callable[[CacheEntry], object]) -> None:
        self._write = write
        self._queue: queue.Queue[CacheEntry] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._errors: list[str] = []
        self._submitted = 0.0
        self._waited_for = threading.Event()  # someone waits for the writes: no delay

    def submit(self, entries: Iterable[CacheEntry]) -> None:
        """Queue entries for writing (starts the thread on first use)."""
        entries = list(entries)
        if not entries:
            return
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, daemon=True,
                                            name="cellpipe-cache-writer")
            self._thread.start()
            atexit.register(self.flush)  # a kernel shutting down finishes its writes
        self._submitted = time.monotonic()
        for entry in entries:
            self._queue.put(entry)

    def flush(self) -> list[str]:
        """Wait for queued writes; return the errors they met (and forget them)."""
        self.wait()
        return self.take_errors()

    def wait(self) -> None:
        """Wait for queued writes (their errors stay for take_errors)."""
        if self._thread is not None:
            self._waited_for.set()
            try:
                self._queue.join()
            finally:
                self._waited_for.clear()

    def report(self, error: str) -> None:
        """Keep an error met outside the thread, to show with the others."""
        self._errors.append(error)

    def take_errors(self) -> list[str]:
        """Errors of writes so far (and forget them), without waiting."""
        errors, self._errors = self._errors, []
        return errors

    # a kernel answers its client right after a run: start writing a little later, so the
    # writer (which holds the GIL while it pickles Python objects) does not delay that answer
    # (unless someone already waits for the writes: flush, wait)
    delay = 0.2

    def _loop(self) -> None:
        while True:
            entry = self._queue.get()
            wait = self._submitted + self.delay - time.monotonic()
            if wait > 0:
                self._waited_for.wait(wait)
            try:
                self._write(entry)
            except Exception as exc:  # disk full, permissions: report, keep running
                self._errors.append(f"cache entry for {entry.name!r} not written: {exc}")
            finally:
                self._queue.task_done()
