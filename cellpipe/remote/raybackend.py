"""Workers on a Ray cluster (`ray://head:10001`, the optional `cellpipe[ray]` extra).

Each task is a Ray remote function with `max_calls=1`: Ray starts a fresh worker process
for it and retires that process when the task ends, so memory and GPU memory go back.
`num_gpus` comes from the alias's options. Only small messages go through Ray (the task
JSON in, the result JSON out); values go through the alias's data store, exactly as with
RQ. The task's stdout/stderr are captured on the worker and replayed to the client when
the task ends (Ray Client offers no per-task stream). An interrupt cancels the task with
`ray.cancel(ref, force=True)`, which kills its process.

One process holds one Ray Client connection (Ray's own limit): a second alias on another
cluster is refused while the first has tasks in flight.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from cellpipe.remote.backend import OnOutput
from cellpipe.remote.datastore import DataStore
from cellpipe.remote.errors import WorkerUnavailable
from cellpipe.remote.registry import WorkerSpec, expand, redact
from cellpipe.remote.task import Task, TaskResult

CONNECT_TIMEOUT = 3.0  # seconds to reach the Ray Client server before giving up

_lock = threading.Lock()
_connected: str | None = None  # the ray:// address this process is connected to
_inflight = 0  # tasks submitted through that connection and not yet ended


def _import_ray(alias: str) -> Any:
    try:
        import ray
    except ImportError:
        raise WorkerUnavailable(alias, "its queue is a Ray cluster, and Ray is not installed "
                                       "here: pip install 'cellpipe[ray]'") from None
    return ray


# --- worker side (runs in the Ray worker process) --------------------------------------

def execute(task_json: str, store_url: str, alias: str) -> str:
    """The Ray task: run one task against the alias's store; the result JSON, with what it
    wrote to stdout/stderr (replayed by the client)."""
    import json

    from cellpipe.engine.taskrun import run_task

    writes: list[tuple[str, str]] = []

    def emit(name: str, text: str) -> None:
        if writes and writes[-1][0] == name:
            writes[-1] = (name, writes[-1][1] + text)
        else:
            writes.append((name, text))

    task = Task.from_json(task_json)
    try:
        store = DataStore(expand(store_url, alias))  # ${VAR}: the worker's environment
    except Exception as exc:
        result = TaskResult(task.task_id, "error", ename=type(exc).__name__, internal=True,
                            evalue=f"cannot open the data store on the Ray worker: {exc}",
                            host=socket.gethostname(), pid=os.getpid())
        result.traceback = [f"{result.ename}: {result.evalue}"]
    else:
        result = run_task(task, store, emit)
    return json.dumps({"result": result.to_json(), "writes": writes})


def pong() -> int:
    """The no-op task of `cellpipe workers ping`: its process id."""
    return os.getpid()


# --- client side ------------------------------------------------------------------------

def _reachable(alias: str, url: str) -> None:
    """Raise WorkerUnavailable unless the Ray Client port accepts a connection now."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 10001
    try:
        socket.create_connection((host, port), CONNECT_TIMEOUT).close()
    except OSError as exc:
        raise WorkerUnavailable(alias, f"cannot reach the Ray cluster at {redact(url)} "
                                       f"within {CONNECT_TIMEOUT:.0f} s: {exc}; is its head "
                                       "running with the Ray Client server on that port?"
                                ) from None


def _connect(alias: str, url: str) -> Any:
    """ray, connected to url (once per process)."""
    global _connected
    ray = _import_ray(alias)
    with _lock:
        if _connected == url and ray.is_initialized():
            return ray
        if _connected is not None and _inflight:
            raise WorkerUnavailable(alias, f"this process is connected to another Ray cluster "
                                           f"({redact(_connected)}) with tasks in flight; "
                                           "one Ray cluster at a time")
        _reachable(alias, url)
        if ray.is_initialized():
            ray.shutdown()
        for attempt in range(3):
            try:
                ray.init(url, logging_level="ERROR", log_to_driver=False)
                break
            except Exception as exc:  # version mismatch, refused handshake, ...
                if ray.is_initialized():
                    ray.shutdown()
                # the head's proxy starts a server process per client; on a busy head that
                # start sometimes fails at once ("Initialization failure from server"), and
                # the next attempt gets a new one
                if attempt < 2 and "Initialization failure" in str(exc):
                    time.sleep(0.5)
                    continue
                first = str(exc).strip().splitlines()
                raise WorkerUnavailable(alias, f"cannot connect to the Ray cluster at "
                                               f"{redact(url)}: "
                                               f"{first[0] if first else type(exc).__name__}"
                                        ) from None
        _connected = url
    return ray


class RayHandle:
    """A task submitted to a Ray cluster."""

    def __init__(self, backend: RayBackend, task: Task, ref: Any, timeout: float) -> None:
        self.backend = backend
        self.task_id = task.task_id
        self.component = task.component_name
        self.ref = ref
        self.status = f"submitted to the Ray cluster {redact(backend.spec.queue)}"
        self._started = time.monotonic()
        self._timeout = timeout
        self._result: TaskResult | None = None

    def _end(self, result: TaskResult) -> TaskResult:
        global _inflight
        if self._result is None:
            with _lock:
                _inflight -= 1
        self._result = result
        return result

    def _lost(self, why: str) -> TaskResult:
        return self._end(TaskResult(self.task_id, "lost", ename="TaskLost", evalue=why))

    def wait(self, timeout: float, on_output: OnOutput | None = None) -> TaskResult | None:
        import json

        ray = self.backend.ray
        if self._result is not None:
            return self._result
        try:
            ready, _ = ray.wait([self.ref], timeout=max(0.0, timeout))
        except Exception as exc:  # the client lost its server
            raise WorkerUnavailable(self.backend.spec.alias,
                                    f"lost the Ray cluster {redact(self.backend.spec.queue)} "
                                    f"while running component {self.component!r}: {exc}"
                                    ) from None
        if not ready:
            if time.monotonic() - self._started > self._timeout:
                self.cancel()
                return self._lost(f"the task ran longer than its timeout of "
                                  f"{self._timeout:.0f} s and was cancelled")
            return None
        try:
            raw = json.loads(ray.get(self.ref))
        except ray.exceptions.TaskCancelledError:
            return self._lost("the task was cancelled")
        except ray.exceptions.RayError as exc:
            first = str(exc).strip().splitlines()
            return self._lost(f"the Ray task failed: {first[0] if first else type(exc).__name__}")
        if on_output is not None:
            for name, text in raw["writes"]:
                on_output(name, text)
        return self._end(TaskResult.from_json(raw["result"]))

    def cancel(self) -> None:
        if self._result is not None:
            return
        try:
            self.backend.ray.cancel(self.ref, force=True)
        except Exception:
            pass


class RayBackend:
    """An alias whose queue is a Ray cluster reached through Ray Client."""

    capacity: int | None = None

    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        self.url = expand(spec.queue, spec.alias)
        self.store = DataStore(expand(spec.store, spec.alias))
        self.ray: Any = None
        self._remote: Any = None

    def _ensure(self) -> Any:
        self.ray = _connect(self.spec.alias, self.url)
        if self._remote is None:
            self._remote = self.ray.remote(
                max_calls=1, num_cpus=1, num_gpus=float(self.spec.option("num_gpus", 0)),
                max_retries=int(self.spec.option("retries", 1)), retry_exceptions=False,
            )(execute).options(name=f"cellpipe.{self.spec.alias}")
        return self.ray

    def check(self) -> None:
        self._ensure()
        try:
            self.store.check()
        except OSError as exc:
            raise WorkerUnavailable(self.spec.alias, f"cannot write its data store "
                                                     f"{redact(self.spec.store)}: {exc}"
                                    ) from None

    def round_trip(self, timeout: float) -> tuple[int, str]:
        """A no-op task in a fresh worker process: (alive nodes, message)."""
        ray = self._ensure()
        nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
        ref = ray.remote(max_calls=1, num_cpus=0)(pong).remote()
        ready, _ = ray.wait([ref], timeout=timeout)
        if not ready:
            ray.cancel(ref, force=True)
            raise WorkerUnavailable(self.spec.alias, f"the Ray cluster did not run a task "
                                                     f"within {timeout:.0f} s")
        ray.get(ref)
        return nodes, f"Ray cluster, {nodes} node{'s' if nodes != 1 else ''}"

    def submit(self, task: Task) -> RayHandle:
        global _inflight
        self._ensure()
        try:
            ref = self._remote.remote(task.to_json(), self.spec.store, self.spec.alias)
        except Exception as exc:
            raise WorkerUnavailable(self.spec.alias, f"cannot submit to the Ray cluster "
                                                     f"{redact(self.spec.queue)}: {exc}"
                                    ) from None
        with _lock:
            _inflight += 1
        return RayHandle(self, task, ref, float(self.spec.option("timeout", task.deadline)))

    def close(self) -> None:
        pass  # the connection is shared by the process (Ray Client allows one)
