"""Workers on RQ (python-rq on Redis): the client side, the job function and the worker.

Only small messages go through Redis: the task JSON, the result JSON, and the task's
stdout/stderr as a Redis stream `cellpipe:out:<task id>`. Values go through the alias's
data store. Each job runs in a fresh work horse process (RQ forks one per job) that dies
with its worker, so memory and GPU go back and a killed worker leaves no orphan running.
Workers heartbeat every second and the client runs RQ's started-job cleanup while it
waits, so the job of a worker killed with -9 is retried (or failed) within seconds.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import threading
import time
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry, Worker
from rq.command import send_stop_job_command
from rq.exceptions import DeserializationError, InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer

from cellpipe.engine.task import OnOutput, Task, TaskResult
from cellpipe.remote.datastore import DataStore
from cellpipe.remote.errors import WorkerUnavailable
from cellpipe.remote.reaper import become_subreaper, end_descendants, task_processes
from cellpipe.remote.registry import WorkerSpec, expand, redact, store_mismatch

HEARTBEAT = 1  # seconds between a busy worker's heartbeats
WORKER_TTL = 17  # RQ: an idle worker heartbeats every WORKER_TTL - 15 seconds
IDLE_BEAT = max(1, WORKER_TTL - 15)
ALIVE_WITHIN = 3 * IDLE_BEAT + 4  # a worker silent for longer is taken for dead
NO_WORKER_GRACE = 5.0  # seconds a task may wait with no live worker before it is given up
STREAM_TTL = 3600  # seconds a task's output stream is kept
STORE_ENV = "CELLPIPE_WORKER_STORE"
ALIAS_ENV = "CELLPIPE_WORKER_ALIAS"
PARENT_ENV = "CELLPIPE_WORKER_PID"
# the only functions a worker runs: its task, and the no-op of `workers ping`
TASK_FUNCTIONS = frozenset({f"{__name__}.execute", f"{__name__}.pong"})


def queue_name(alias: str) -> str:
    return f"cellpipe.{alias}"


def stream_key(task_id: str) -> str:
    return f"cellpipe:out:{task_id}"


def connect(url: str, alias: str) -> Redis:
    """A Redis client that fails within seconds when the server is away."""
    return Redis.from_url(expand(url, alias), socket_connect_timeout=3, socket_timeout=10,
                          health_check_interval=0)


# --- worker side ------------------------------------------------------------------------

class CellpipeJob(Job):
    """An RQ job that never calls a callback: cellpipe sets none, and a name stored in
    Redis by someone else would be imported and called by whoever handles the job."""

    def execute_success_callback(self, *args: Any, **kwargs: Any) -> None:
        pass

    def execute_failure_callback(self, *args: Any, **kwargs: Any) -> None:
        pass

    def execute_stopped_callback(self, *args: Any, **kwargs: Any) -> None:
        pass


def task_queue(alias: str, redis: Redis) -> Queue:
    """The alias's RQ queue; jobs are JSON (RQ's default, pickle, runs code when read)."""
    return Queue(queue_name(alias), connection=redis, serializer=JSONSerializer,
                 job_class=CellpipeJob)


def refusal(job: Job) -> str | None:
    """Why a worker must not run job (None: it is one of cellpipe's tasks)."""
    try:
        func = job.func_name
    except DeserializationError:
        return "its data is not JSON (a job enqueued by a client other than cellpipe)"
    if func not in TASK_FUNCTIONS:
        return f"{func!r} is not a cellpipe task function"
    if job.instance is not None:
        return "it calls a method of an object, not a cellpipe task function"
    return None


class CellpipeWorker(Worker):
    """RQ's forking worker that runs cellpipe's task functions and nothing else, with a
    one-second heartbeat and a short abandonment window."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("job_monitoring_interval", HEARTBEAT)
        kwargs.setdefault("worker_ttl", WORKER_TTL)
        kwargs["serializer"] = JSONSerializer
        kwargs["job_class"] = CellpipeJob
        super().__init__(*args, **kwargs)

    def dequeue_job_and_maintain_ttl(self, timeout: int | None,
                                     max_idle_time: int | None = None) -> Any:
        while True:
            try:
                return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
            except (DeserializationError, ValueError, UnicodeDecodeError) as exc:
                job_id = getattr(exc, "job_id", None)
                if job_id is None:
                    raise
                # a job RQ cannot even read (not ours): logged, dropped, the worker goes on
                self.log.warning("Worker %s: refused job %s: it cannot be read as JSON (%s)",
                                 self.name, job_id, type(exc).__name__)

    def execute_job(self, job: Job, queue: Queue) -> None:
        why = refusal(job)
        if why is not None:
            self.log.warning("Worker %s: refused job %s on %s: %s", self.name, job.id,
                             queue.name, why)
            job.retries_left = 0
            self.handle_job_failure(job, queue, exc_string=f"refused by the cellpipe worker: "
                                                          f"{why}")
            return
        # the horse's orphans (a task's daemons) come back to this process, which ends
        # them once the horse is gone, however it ended (done, stopped, timed out, killed)
        become_subreaper()
        try:
            super().execute_job(job, queue)
        finally:
            end_descendants()

    def fork_work_horse(self, job: Job, queue: Queue) -> None:
        os.environ[PARENT_ENV] = str(os.getpid())  # the horse checks it still has us
        super().fork_work_horse(job, queue)

    def get_heartbeat_ttl(self, job: Job) -> int:
        # RQ adds 60 s of grace; a dead worker's job should be noticed within seconds
        return HEARTBEAT * 3 + 1


def _die_with_parent() -> None:
    """The work horse ends when its worker does (RQ puts it in its own process group)."""
    parent = int(os.environ.get(PARENT_ENV, os.getppid()))
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        return
    if os.getppid() != parent:
        os._exit(1)


class _StreamWriter:
    """Buffers a task's writes and appends them to its Redis stream every 0.1 s."""

    def __init__(self, redis: Redis, task_id: str) -> None:
        self.redis = redis
        self.key = stream_key(task_id)
        self.pending: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def emit(self, name: str, text: str) -> None:
        with self.lock:
            self.pending.append((name, text))

    def _flush(self) -> None:
        with self.lock:
            items, self.pending = self.pending, []
        merged: list[tuple[str, str]] = []
        for name, text in items:
            if merged and merged[-1][0] == name:
                merged[-1] = (name, merged[-1][1] + text)
            else:
                merged.append((name, text))
        if merged:
            pipe = self.redis.pipeline()
            for name, text in merged:
                pipe.xadd(self.key, {"name": name, "text": text})
            pipe.expire(self.key, STREAM_TTL)
            pipe.execute()

    def _loop(self) -> None:
        while not self.done.wait(0.1):
            try:
                self._flush()
            except RedisError:
                pass

    def close(self) -> None:
        self.done.set()
        self.thread.join()
        try:
            self._flush()
            self.redis.xadd(self.key, {"name": "end", "text": ""})
            self.redis.expire(self.key, STREAM_TTL)
        except RedisError:
            pass


def execute(task_json: str) -> str:
    """The RQ job: run one task with the worker's store; return the result JSON."""
    from rq import get_current_job

    from cellpipe.remote.taskrun import run_task

    _die_with_parent()
    task = Task.from_json(task_json)
    job = get_current_job()
    writer = _StreamWriter(job.connection, task.task_id) if job is not None else None
    try:
        with task_processes():
            result = run_task(task, DataStore(os.environ[STORE_ENV]),
                              writer.emit if writer else None)
    finally:
        if writer is not None:
            writer.close()
    return result.to_json()


def pong(probe: str = "", token: str = "") -> str:
    """The job of `cellpipe workers ping`: whether this worker's store holds the client's
    probe with its token, and which store it is (JSON)."""
    from rq import get_current_job

    url = os.environ.get(STORE_ENV, "")
    try:
        sees = bool(probe) and DataStore(url).read_probe(probe) == token
    except Exception:  # noqa: BLE001 - an unreachable store is an answer too
        sees = False
    job = get_current_job()
    return json.dumps({"sees_store": sees, "store": redact(url),
                       "worker": job.worker_name if job is not None else ""})


def run_worker(alias: str, queue_url: str, store_url: str, concurrency: int = 1,
               burst: bool = False) -> None:
    """`cellpipe worker`: serve alias's queue until SIGTERM/SIGINT (then finish the task)."""
    from rq.worker_pool import WorkerPool

    redis = connect(queue_url, alias)
    try:
        redis.ping()
    except RedisError as exc:
        raise WorkerUnavailable(alias, f"cannot reach {redact(queue_url)}: {exc}") from None
    store = DataStore(store_url)
    store.check()
    # imported once here, not in every work horse
    import IPython.core.inputtransformer2  # noqa: F401
    import IPython.core.interactiveshell  # noqa: F401  (an error renders as in the kernel)

    import cellpipe.remote.taskrun  # noqa: F401

    try:
        import numpy  # noqa: F401  (most tasks unpickle arrays)
    except ImportError:
        pass

    os.environ[STORE_ENV] = store_url
    os.environ[ALIAS_ENV] = alias
    queue = task_queue(alias, redis)
    if concurrency <= 1:
        worker = CellpipeWorker([queue], connection=redis)
        worker.work(burst=burst, with_scheduler=False, logging_level="INFO")
    else:
        pool = WorkerPool([queue], connection=redis, num_workers=concurrency,
                          worker_class=CellpipeWorker, serializer=JSONSerializer,
                          job_class=CellpipeJob)
        pool.start(burst=burst, logging_level="INFO")


def live_workers(redis: Redis, alias: str, within: float = ALIVE_WITHIN) -> list[Worker]:
    """Workers on alias's queue whose last heartbeat is recent."""
    queue = task_queue(alias, redis)
    now = time.time()
    alive = []
    for worker in Worker.all(queue=queue):
        beat = worker.last_heartbeat
        if beat is not None and now - beat.timestamp() <= within:
            alive.append(worker)
    return alive


# --- client side ------------------------------------------------------------------------

class RQHandle:
    """A task enqueued on an alias's RQ queue."""

    def __init__(self, backend: RQBackend, task: Task, job: Job) -> None:
        self.backend = backend
        self.task_id = task.task_id
        self.component = task.component_name
        self.job = job
        self._last_id = "0-0"
        self._next_cleanup = 0.0
        self._ended = False
        self._ended_at = 0.0
        self.status = "queued"
        self._result: TaskResult | None = None
        self._worker = ""  # the worker that last started the task
        self._dead: set[str] = set()  # workers that died running it
        self._retries_left = job.retries_left or 0
        self._notes: list[str] = []
        self._orphaned_since: float | None = None  # since when no live worker can take it

    def _unavailable(self, exc: Exception) -> WorkerUnavailable:
        return WorkerUnavailable(self.backend.spec.alias,
                                 f"lost {redact(self.backend.spec.queue)} while running "
                                 f"component {self.component!r}: {exc}")

    def _read_stream(self, block_ms: int, on_output: OnOutput | None) -> None:
        if self._ended:  # the task wrote its last line: its result is moments away
            if time.monotonic() - self._ended_at < 2.0:
                time.sleep(0.002)
                return
            self._ended = False  # it was not (a retry after a lost worker): block again
        got = self.backend.redis.xread({stream_key(self.task_id): self._last_id},
                                       block=block_ms, count=1000)
        for _key, entries in got or []:
            for entry_id, fields in entries:
                self._last_id = entry_id
                name = fields.get(b"name", b"").decode()
                if name in ("stdout", "stderr") and on_output is not None:
                    on_output(name, fields.get(b"text", b"").decode("utf-8", "replace"))
                elif name == "end":
                    self._ended, self._ended_at = True, time.monotonic()

    def wait(self, timeout: float, on_output: OnOutput | None = None) -> TaskResult | None:
        deadline = time.monotonic() + timeout
        try:
            while self._result is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._read_stream(max(1, int(min(remaining, 0.2) * 1000)), on_output)
                self._check(on_output)
        except RedisError as exc:
            raise self._unavailable(exc) from None
        return self._result

    def _check(self, on_output: OnOutput | None) -> None:
        now = time.monotonic()
        if now >= self._next_cleanup:
            # the client does RQ's housekeeping: a job whose worker stopped heartbeating
            # is retried or failed now, not when some worker gets round to it
            StartedJobRegistry(queue=self.backend.queue).cleanup()
            self._next_cleanup = now + 1.0
            self._watch_workers(now, on_output)
            if self._result is not None:
                return
        try:
            status = self.job.get_status(refresh=True)
        except (NoSuchJobError, InvalidJobOperation):
            self._result = self._lost("its job vanished from the queue (expired or deleted)")
            return
        self.status = self._describe(status)
        if status == JobStatus.FINISHED:
            self._ended = False
            self._read_stream(1, on_output)  # what was written before the end
            value = self.job.return_value(refresh=True)
            self._result = TaskResult.from_json(value) if value else self._lost(
                "the job finished without a result")
            self._result.notes[:0] = self._notes
        elif status == JobStatus.FAILED:
            self.job.refresh()
            if self.job.retries_left:
                return  # RQ requeues it
            self._result = self._lost(f"component {self.component!r}: "
                                      f"{_failure_reason(self.job)}")
        elif status in (JobStatus.STOPPED, JobStatus.CANCELED):
            self._result = self._lost(f"the task was {status.value}")

    def _watch_workers(self, now: float, on_output: OnOutput | None) -> None:
        """Once a second: who runs the task. A retry after its worker died is said in the
        output; a task no live worker of the alias can take is given up (and cancelled,
        so no worker starting later runs it) after NO_WORKER_GRACE seconds."""
        try:
            self.job.refresh()
        except (NoSuchJobError, InvalidJobOperation):
            return  # _check says so
        status = self.job.get_status(refresh=False)
        left = self.job.retries_left or 0  # RQ's cleanup retries without counting up
        if left < self._retries_left:
            self._retries_left = left
            if self._worker:
                self._dead.add(self._worker)
            note = (f"worker {self.backend.spec.alias!r}: the worker running component "
                    f"{self.component!r} ({self._worker or '?'}) stopped responding; "
                    "retried on another worker")
            self._notes.append(note)
            if on_output is not None:
                on_output("stderr", f"cellpipe: {note}\n")
        if status == JobStatus.STARTED and self.job.worker_name:
            self._worker = self.job.worker_name
        if status not in (JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED,
                          JobStatus.DEFERRED):
            self._orphaned_since = None
            return
        alive = {w.name for w in live_workers(self.backend.redis, self.backend.spec.alias)}
        if alive - self._dead:
            self._orphaned_since = None
            return
        if self._orphaned_since is None:
            self._orphaned_since = now
            return
        if now - self._orphaned_since < NO_WORKER_GRACE:
            return
        self.cancel()
        if self._dead:
            why = (f"its worker died while running component {self.component!r} and no "
                   "other worker of the alias is alive to take it over")
        else:
            why = f"no worker of the alias is alive to run component {self.component!r}"
        self._result = self._lost(
            f"{why} (none for {NO_WORKER_GRACE:.0f} s); the task was cancelled. Start a "
            f"worker (`cellpipe worker --alias {self.backend.spec.alias} ...`) and run again")

    def _describe(self, status: JobStatus) -> str:
        """Slow or dead: a running task whose worker stopped heartbeating says so."""
        if status in (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED):
            return "waiting for a free worker"
        if status != JobStatus.STARTED:
            return self.status
        beat = self.job.last_heartbeat
        age = time.time() - beat.timestamp() if beat is not None else 0.0
        if age > 3 * HEARTBEAT + 1:
            return f"no heartbeat from its worker for {age:.0f} s (lost? retried once it expires)"
        return f"running on worker {self.job.worker_name or '?'}"

    def _lost(self, why: str) -> TaskResult:
        return TaskResult(self.task_id, "lost", ename="TaskLost", evalue=why)

    def cancel(self) -> None:
        try:
            status = self.job.get_status(refresh=True)
            if status == JobStatus.STARTED:
                send_stop_job_command(self.backend.redis, self.task_id)
            else:
                self.job.cancel()
        except (RedisError, NoSuchJobError, InvalidJobOperation):
            pass


def _failure_reason(job: Job) -> str:
    text = ""
    try:
        latest = job.latest_result()
        text = (latest.exc_string or "") if latest is not None else ""
    except Exception:
        text = ""
    last = [ln for ln in text.strip().splitlines() if ln.strip()]
    detail = last[-1] if last else "no detail"
    if "AbandonedJobError" in text or "Moved to FailedJobRegistry" in text:
        return "its worker stopped responding while running the task (killed or lost)"
    if "terminated unexpectedly" in text:
        return f"the task process died: {detail}"
    return f"the job failed: {detail}"


class RQBackend:
    """An alias served by `cellpipe worker` processes on an RQ queue."""

    capacity: int | None = None

    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        self.redis = connect(spec.queue, spec.alias)
        self.queue = task_queue(spec.alias, self.redis)
        self.store = DataStore(expand(spec.store, spec.alias))

    def check(self) -> None:
        alias = self.spec.alias
        where = redact(self.spec.queue)
        try:
            self.redis.ping()
            alive = live_workers(self.redis, alias)
        except RedisError as exc:
            raise WorkerUnavailable(alias, f"cannot reach its queue {where}: {exc}") from None
        if not alive:
            raise WorkerUnavailable(
                alias, f"no worker is serving it on {where}; start one on the worker machine "
                f"with `cellpipe worker --alias {alias} --queue URL --store URL`")
        try:
            self.store.check()
        except OSError as exc:
            raise WorkerUnavailable(alias, f"cannot write its data store "
                                           f"{redact(self.spec.store)}: {exc}") from None

    def round_trip(self, timeout: float) -> tuple[int, str]:
        """A job through a worker that reads a probe this client wrote in the store:
        (live workers, message); raises WorkerUnavailable when the worker does not see it."""
        alive = len(live_workers(self.redis, self.spec.alias))
        probe, token = self.store.write_probe()
        try:
            job = self.queue.enqueue(pong, probe, token, job_timeout=30, result_ttl=60,
                                     failure_ttl=60)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if job.get_status(refresh=True) == JobStatus.FINISHED:
                    reply = json.loads(job.return_value(refresh=True) or "{}")
                    if not reply.get("sees_store"):
                        raise WorkerUnavailable(self.spec.alias, store_mismatch(
                            reply.get("worker") or "?", self.spec.store, reply.get("store")))
                    return alive, f"{alive} worker{'s' if alive != 1 else ''} listening, " \
                                  "same data store"
                time.sleep(0.02)
        finally:
            self.store.remove_probe(probe)
        job.cancel()
        raise WorkerUnavailable(self.spec.alias, f"{alive} worker(s) registered, but none "
                                f"answered within {timeout:.0f} s (all busy or stuck?)")

    def submit(self, task: Task) -> RQHandle:
        retries = int(self.spec.option("retries", 1))
        try:
            job = self.queue.enqueue(
                execute, task.to_json(), job_id=task.task_id,
                job_timeout=int(self.spec.option("timeout", task.deadline)),
                retry=Retry(max=retries) if retries > 0 else None,
                result_ttl=3600, failure_ttl=86400,
                description=f"cellpipe component {task.component_name!r}")
        except RedisError as exc:
            raise WorkerUnavailable(self.spec.alias, f"cannot enqueue on "
                                    f"{redact(self.spec.queue)}: {exc}") from None
        return RQHandle(self, task, job)

    def close(self) -> None:
        self.redis.close()
