"""The small interface every backend offers the engine: submit, follow, cancel (DESIGN 5)."""

from __future__ import annotations

from typing import Protocol

from cellpipe.engine.task import OnOutput, Task, TaskResult
from cellpipe.remote.datastore import DataStore
from cellpipe.remote.registry import LOCAL, WorkerRegistry, WorkerSpec


class TaskHandle(Protocol):
    """A submitted task."""

    task_id: str
    status: str  # where the task is, in words ("waiting for a free worker", ...)

    def wait(self, timeout: float, on_output: OnOutput | None = None) -> TaskResult | None:
        """Follow the task for up to timeout seconds: the result when it ended, else None.
        Raises WorkerUnavailable when the transport goes away."""
        ...

    def cancel(self) -> None:
        """Stop the task (queued: removed; running: its process is killed)."""
        ...


class Backend(Protocol):
    """One worker alias as the engine sees it."""

    spec: WorkerSpec
    store: DataStore
    capacity: int | None  # tasks this client may have in flight at once (None: no limit)

    def check(self) -> None:
        """Raise WorkerUnavailable (within seconds) unless tasks can run now."""
        ...

    def submit(self, task: Task) -> TaskHandle:
        ...

    def close(self) -> None:
        ...


def open_backend(alias: str, *, jobs: int = 1, registry: WorkerRegistry | None = None,
                 component: str | None = None) -> Backend:
    """The backend for alias (raises UnknownWorker / WorkerUnavailable / RegistryError)."""
    spec = (registry or WorkerRegistry()).get(alias, component)
    if spec.kind == LOCAL:
        from cellpipe.remote.local import LocalBackend

        return LocalBackend(spec, jobs=jobs)
    if spec.kind == "rq":
        from cellpipe.remote.rqueue import RQBackend

        return RQBackend(spec)
    if spec.kind == "ray":
        from cellpipe.remote.raybackend import RayBackend

        return RayBackend(spec)
    from cellpipe.remote.errors import WorkerUnavailable

    raise WorkerUnavailable(alias, f"{spec.kind} workers are not supported in this version "
                                   "(use a redis:// or ray:// queue)")


def ping(alias: str, registry: WorkerRegistry | None = None,
         timeout: float = 5.0) -> dict[str, object]:
    """A round trip to alias (for RQ: a no-op job through a worker), timed.

    Returns {alias, ok, elapsed_ms, workers, message}; raises UnknownWorker."""
    import time

    from cellpipe.remote.errors import RemoteError

    spec = (registry or WorkerRegistry()).get(alias)
    started = time.perf_counter()
    workers = 0
    try:
        backend = open_backend(alias, registry=registry)
        try:
            backend.check()
            workers, message = backend.round_trip(timeout)
            ok = True
        finally:
            backend.close()
    except RemoteError as exc:
        ok, message = False, str(exc)
    except OSError as exc:
        ok, message = False, f"worker {spec.alias!r}: {exc}"
    return {"alias": alias, "ok": ok, "elapsed_ms": round((time.perf_counter() - started) * 1000, 1),
            "workers": workers, "message": message}
