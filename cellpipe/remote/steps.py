"""Components bound to a worker alias: ship inputs, submit, follow, import (DESIGN 5).

`WorkerSteps` implements the engine's `RemoteSteps`: the runner hands a step here and gets
events back on one queue: stream text while the task runs, then its result. Following
happens on a thread per task, so several tasks (on one alias or several) are in flight
while the runner goes on with other work. Whoever builds a runner (the kernel session, a
script) hands it one: `PipelineRunner(store, executor, remote=WorkerSteps(jobs))`.
"""

from __future__ import annotations

import queue
import threading
import uuid
from typing import Any

from cellpipe.cache import CacheEntry, CacheStore
from cellpipe.engine.errors import ComponentError
from cellpipe.engine.task import RemoteEvent, Task, TaskResult
from cellpipe.model import Component
from cellpipe.remote.backend import open_backend
from cellpipe.remote.errors import RemoteError
from cellpipe.remote.registry import WorkerRegistry


def remote_error(component: Component, exc: Exception) -> ComponentError:
    """A transport failure as the component's error (one clear line naming the alias)."""
    return ComponentError.one_line(component.id, component.name, type(exc).__name__, str(exc))


class WorkerSteps:
    """The backends of one runner (kept across runs) and the tasks in flight."""

    def __init__(self, jobs: int = 1) -> None:
        self._jobs = max(1, int(jobs))
        self.backends: dict[str, Any] = {}
        self.events: queue.Queue[RemoteEvent] = queue.Queue()
        self.inflight: dict[str, tuple[Any, Any, str]] = {}  # step -> (handle, backend, alias)
        self._caches: dict[str, CacheStore] = {}  # step -> the cache its result goes to

    @property
    def jobs(self) -> int:
        """How many tasks the `local` alias runs at once."""
        return self._jobs

    @jobs.setter
    def jobs(self, value: int) -> None:
        self._jobs = max(1, int(value))
        local = self.backends.get("local")
        if local is not None:
            local.capacity = self._jobs

    def backend(self, alias: str, component: Component) -> Any:
        """The backend of alias, checked now (raises a ComponentError naming the alias)."""
        try:
            registry = WorkerRegistry()
            spec = registry.get(alias, component.name)  # re-read: it may have changed
            backend = self.backends.get(alias)
            if backend is None or backend.spec != spec:
                if backend is not None:
                    backend.close()
                backend = open_backend(alias, jobs=self.jobs, registry=registry,
                                       component=component.name)
                self.backends[alias] = backend
            backend.check()
        except RemoteError as exc:
            raise remote_error(component, exc) from None
        return backend

    def has_room(self, alias: str) -> bool:
        capacity = self.backends[alias].capacity
        busy = sum(1 for _h, _b, a in self.inflight.values() if a == alias)
        return capacity is None or busy < capacity

    def submit(self, component: Component, key: str, inputs: list[str], store: CacheStore,
               parameters: dict[str, Any], sources: dict[str, str],
               traceback_style: dict[str, Any] | None = None,
               source_files: dict[str, str] | None = None) -> None:
        """Upload the inputs the store lacks, enqueue the task, follow it on a thread."""
        alias = component.worker or ""
        backend = self.backends[alias]
        try:
            for input_key in inputs:
                if not backend.store.has(input_key):
                    # a file:// store takes a disk cache's files by hard link (no copy)
                    entry = (backend.store.local and store.on_disk(input_key, write=True)) or \
                        store.get(input_key)
                    if entry is None:
                        raise RuntimeError(f"the result {input_key[:12]} needed by "
                                           f"{component.name!r} is no longer in the cache")
                    backend.store.put(entry)
            task = Task(uuid.uuid4().hex, component.id, component.name, component.code, key,
                        list(inputs), dict(parameters),
                        float(backend.spec.option("timeout", 86400)), sources,
                        source_files=dict(source_files or {}),
                        traceback_style=dict(traceback_style or {}))
            handle = backend.submit(task)
        except (RemoteError, OSError) as exc:
            raise remote_error(component, exc) from None
        self.inflight[component.id] = (handle, backend, alias)
        self._caches[component.id] = store
        threading.Thread(target=self._follow, args=(component.id, handle), daemon=True,
                         name=f"cellpipe follow {component.name}").start()

    def _follow(self, step_id: str, handle: Any) -> None:
        task_id = handle.task_id

        def on_output(name: str, text: str) -> None:
            self.events.put(RemoteEvent(step_id, task_id, "output", (name, text)))

        said = ""
        try:
            while self._current(step_id, task_id):
                status = getattr(handle, "status", "")
                if status != said:  # queued, running, or silent: the UI tells slow from dead
                    said = status
                    self.events.put(RemoteEvent(step_id, task_id, "status", status))
                result = handle.wait(0.5, on_output)
                if result is not None:
                    self.events.put(RemoteEvent(step_id, task_id, "result", result))
                    return
        except Exception as exc:  # the transport went away: the runner reports it
            self.events.put(RemoteEvent(step_id, task_id, "failed", exc))

    def _current(self, step_id: str, task_id: str) -> bool:
        held = self.inflight.get(step_id)
        return held is not None and held[0].task_id == task_id

    def next_event(self, timeout: float) -> RemoteEvent | None:
        """The next event of a task still in flight (those of cancelled tasks are dropped)."""
        try:
            event = self.events.get(timeout=timeout)
        except queue.Empty:
            return None
        return event if self._current(event.step_id, event.task_id) else None

    def import_result(self, component: Component, result: TaskResult) -> CacheEntry:
        """The task's stored entry, read back from the alias's data store (into the cache's
        import directory when it has one: see DataStore.fetch)."""
        _handle, backend, _alias = self.inflight.pop(component.id)
        cache = self._caches.pop(component.id, None)
        into = cache.import_store() if cache is not None else None
        try:
            if into is not None:
                return backend.store.fetch(result.output_key, into)
            return backend.store.get(result.output_key)
        except (RemoteError, OSError) as exc:
            raise remote_error(component, exc) from None

    def finish(self, step_id: str) -> None:
        self.inflight.pop(step_id, None)
        self._caches.pop(step_id, None)

    def cancel_all(self) -> None:
        """Stop every task in flight (an error elsewhere, or an interrupt)."""
        for handle, _backend, _alias in list(self.inflight.values()):
            try:
                handle.cancel()
            except Exception:
                pass
        self.inflight.clear()
        self._caches.clear()
