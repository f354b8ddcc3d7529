"""Workers on a Ray cluster (`ray://head:10001`, the optional `cellpipe[ray]` extra).

Each task is a Ray remote function with `max_calls=1`: Ray starts a fresh worker process
for it and retires that process when the task ends, so memory and GPU memory go back.
`num_gpus` comes from the alias's options. Only small messages go through Ray (the task
JSON in, the result JSON out); values go through the alias's data store, exactly as with
RQ. The task's stdout/stderr stream back while it runs: the task sends its writes every
0.2 s to a small mailbox actor (no CPU, one per connection) that the client polls. An
interrupt cancels the task with `ray.cancel(ref, force=True)`, which kills its process.

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

from cellpipe.engine.task import OnOutput, Task, TaskResult
from cellpipe.remote.datastore import DataStore
from cellpipe.remote.errors import WorkerUnavailable
from cellpipe.remote.reaper import task_processes
from cellpipe.remote.registry import WorkerSpec, expand, redact, store_mismatch

CONNECT_TIMEOUT = 3.0  # seconds to reach the Ray Client server before giving up

_lock = threading.Lock()
_connected: str | None = None  # the ray:// address this process is connected to
_inflight = 0  # tasks submitted through that connection and not yet ended
_generation = 0  # counts connections: functions and actors belong to one


def _import_ray(alias: str) -> Any:
    try:
        import ray
    except ImportError:
        raise WorkerUnavailable(alias, "its queue is a Ray cluster, and Ray is not installed "
                                       "here: pip install 'cellpipe[ray]'") from None
    return ray


# --- worker side (runs in the Ray worker process) --------------------------------------

class Mailbox:
    """A Ray actor (no CPU) holding the stream writes of running tasks until the client
    takes them: small messages only, a few per second per task."""

    def __init__(self) -> None:
        self.boxes: dict[str, list[tuple[str, str]]] = {}

    def put(self, task_id: str, items: list[tuple[str, str]]) -> None:
        self.boxes.setdefault(task_id, []).extend(items)

    def take(self, task_id: str) -> list[tuple[str, str]]:
        return self.boxes.pop(task_id, [])


class _Writes:
    """A task's stdout/stderr writes, merged, sent to the mailbox every 0.2 s (and kept for
    the result when there is no mailbox)."""

    def __init__(self, task_id: str, mailbox: Any) -> None:
        self.task_id = task_id
        self.mailbox = mailbox
        self.pending: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.thread: threading.Thread | None = None
        if mailbox is not None:
            self.thread = threading.Thread(target=self._loop, daemon=True)
            self.thread.start()

    def emit(self, name: str, text: str) -> None:
        with self.lock:
            if self.pending and self.pending[-1][0] == name:
                self.pending[-1] = (name, self.pending[-1][1] + text)
            else:
                self.pending.append((name, text))

    def _send(self, wait: bool) -> None:
        with self.lock:
            items, self.pending = self.pending, []
        if items:
            ref = self.mailbox.put.remote(self.task_id, items)
            if wait:
                import ray

                ray.get(ref)

    def _loop(self) -> None:
        while not self.done.wait(0.2):
            try:
                self._send(False)
            except Exception:
                pass

    def close(self) -> list[tuple[str, str]]:
        """What is left for the result (everything when there is no mailbox)."""
        if self.thread is None:
            return self.pending
        self.done.set()
        self.thread.join()
        try:
            self._send(True)  # in the mailbox before the result is
        except Exception:
            pass
        return []


def execute(task_json: str, store_url: str, alias: str, mailbox: Any = None) -> str:
    """The Ray task: run one task against the alias's store; the result JSON, and the
    stream writes the mailbox did not take (replayed by the client)."""
    import json

    from cellpipe.remote.taskrun import run_task

    task = Task.from_json(task_json)
    writes = _Writes(task.task_id, mailbox)
    try:
        try:
            store = DataStore(expand(store_url, alias))  # ${VAR}: the worker's environment
        except Exception as exc:
            result = TaskResult(task.task_id, "error", ename=type(exc).__name__,
                                internal=True, host=socket.gethostname(), pid=os.getpid(),
                                evalue=f"cannot open the data store on the Ray worker: {exc}")
            result.traceback = [f"{result.ename}: {result.evalue}"]
        else:
            with task_processes():  # what the task started ends with it
                result = run_task(task, store, writes.emit)
    finally:
        left = writes.close()
    return json.dumps({"result": result.to_json(), "writes": left})


def pong(store_url: str = "", alias: str = "", probe: str = "", token: str = "") -> str:
    """The task of `cellpipe workers ping`: whether the worker's store (the alias's URL as
    the worker reads it) holds the client's probe with its token (JSON)."""
    import json

    url = ""
    try:
        url = expand(store_url, alias)
        sees = bool(probe) and DataStore(url).read_probe(probe) == token
    except Exception:  # noqa: BLE001 - an unreachable store is an answer too
        sees = False
    return json.dumps({"sees_store": sees, "store": redact(url) if url else None,
                       "worker": f"{socket.gethostname()}:{os.getpid()}"})


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
    global _connected, _generation
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
        _generation += 1
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
        self._take: Any = None  # a mailbox take not answered yet

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
        ray = self.backend.ray
        deadline = time.monotonic() + timeout
        while self._result is None:
            remaining = deadline - time.monotonic()
            try:
                if not ray.is_initialized():  # else Ray would start a local cluster
                    raise ConnectionError("the Ray Client connection is closed")
                ready, _ = ray.wait([self.ref], timeout=max(0.0, min(remaining, 0.3)))
            except Exception as exc:  # the client lost its server
                raise WorkerUnavailable(
                    self.backend.spec.alias, f"lost the Ray cluster "
                    f"{redact(self.backend.spec.queue)} while running component "
                    f"{self.component!r}: {exc}") from None
            if ready:
                return self._finish(on_output)
            self._relay(on_output)
            if time.monotonic() - self._started > self._timeout:
                self.cancel()
                return self._lost(f"the task ran longer than its timeout of "
                                  f"{self._timeout:.0f} s and was cancelled")
            if remaining <= 0:
                return None
        return self._result

    def _finish(self, on_output: OnOutput | None) -> TaskResult:
        import json

        ray = self.backend.ray
        try:
            raw = json.loads(ray.get(self.ref))
        except ray.exceptions.TaskCancelledError:
            return self._lost("the task was cancelled")
        except ray.exceptions.RayError as exc:
            first = str(exc).strip().splitlines()
            return self._lost(f"the Ray task failed: {first[0] if first else type(exc).__name__}")
        self._relay(on_output, final=True)
        if on_output is not None:
            for name, text in raw["writes"]:
                on_output(name, text)
        return self._end(TaskResult.from_json(raw["result"]))

    def _relay(self, on_output: OnOutput | None, final: bool = False) -> None:
        """Hand on what the task wrote since the last call (taken from the mailbox; the
        final call waits for the mailbox, which has everything before the result)."""
        mailbox = self.backend.mailbox
        ray = self.backend.ray
        if mailbox is None or not ray.is_initialized():
            return
        for _ in range(2 if final else 1):
            if self._take is None:
                self._take = mailbox.take.remote(self.task_id)
            try:
                ready, _ = ray.wait([self._take], timeout=10 if final else 0)
                if not ready:
                    return  # the mailbox is busy or still starting: the next poll takes it
                items = ray.get(self._take)
            except Exception:
                return
            self._take = None
            if on_output is not None:
                for name, text in items:
                    on_output(name, text)

    def cancel(self) -> None:
        if self._result is not None:
            return
        try:
            if self.backend.ray.is_initialized():
                self.backend.ray.cancel(self.ref, force=True)
        except Exception:
            pass
        self._lost("the task was cancelled")


_mailboxes: dict[int, Any] = {}  # connection generation -> its one mailbox actor


def _mailbox(ray: Any) -> Any:
    """The mailbox of this connection: one actor, held as long as the connection (an actor
    whose last handle goes is killed, and the tasks writing to it lose their output)."""
    with _lock:
        box = _mailboxes.get(_generation)
        if box is None:
            _mailboxes.clear()
            box = _mailboxes[_generation] = ray.remote(num_cpus=0)(Mailbox).remote()
        return box


class RayBackend:
    """An alias whose queue is a Ray cluster reached through Ray Client."""

    capacity: int | None = None

    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        self.url = expand(spec.queue, spec.alias)
        self.store = DataStore(expand(spec.store, spec.alias))
        self.ray: Any = None
        self._remote: Any = None
        self.mailbox: Any = None
        self._generation = 0

    def _ensure(self) -> Any:
        self.ray = _connect(self.spec.alias, self.url)
        if self._generation != _generation:  # a new connection: new function and mailbox
            self._remote = self.mailbox = None
            self._generation = _generation
        if self._remote is None:
            self._remote = self.ray.remote(
                max_calls=1, num_cpus=1, num_gpus=float(self.spec.option("num_gpus", 0)),
                max_retries=int(self.spec.option("retries", 1)), retry_exceptions=False,
            )(execute).options(name=f"cellpipe.{self.spec.alias}")
        if self.mailbox is None:
            self.mailbox = _mailbox(self.ray)
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
        import json

        nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
        probe, token = self.store.write_probe()
        try:
            ref = ray.remote(max_calls=1, num_cpus=0)(pong).remote(
                self.spec.store, self.spec.alias, probe, token)
            ready, _ = ray.wait([ref], timeout=timeout)
            if not ready:
                ray.cancel(ref, force=True)
                raise WorkerUnavailable(self.spec.alias, f"the Ray cluster did not run a "
                                                         f"task within {timeout:.0f} s")
            reply = json.loads(ray.get(ref))
        finally:
            self.store.remove_probe(probe)
        if not reply.get("sees_store"):
            raise WorkerUnavailable(self.spec.alias, store_mismatch(
                reply.get("worker") or "?", self.spec.store, reply.get("store")))
        return nodes, f"Ray cluster, {nodes} node{'s' if nodes != 1 else ''}, same data store"

    def submit(self, task: Task) -> RayHandle:
        global _inflight
        self._ensure()
        try:
            ref = self._remote.remote(task.to_json(), self.spec.store, self.spec.alias,
                                      self.mailbox)
        except Exception as exc:
            raise WorkerUnavailable(self.spec.alias, f"cannot submit to the Ray cluster "
                                                     f"{redact(self.spec.queue)}: {exc}"
                                    ) from None
        with _lock:
            _inflight += 1
        return RayHandle(self, task, ref, float(self.spec.option("timeout", task.deadline)))

    def close(self) -> None:
        pass  # the connection is shared by the process (Ray Client allows one)
