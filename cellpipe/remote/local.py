"""The embedded `local` alias: one child process per task on this machine, no server.

Children are forked from a multiprocessing fork server that has cellpipe imported, so a
task starts in milliseconds and every byte it allocated goes back when it exits.
"""

from __future__ import annotations

import contextlib
import importlib.util
import multiprocessing
import multiprocessing.util as mp_util
import os
import signal
import subprocess
import sys
import time
import types
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from multiprocessing.connection import Connection
from typing import Any

from cellpipe.engine.task import OnOutput, Task, TaskResult
from cellpipe.remote.datastore import DataStore
from cellpipe.remote.reaper import end_descendants, task_processes
from cellpipe.remote.registry import WorkerSpec

# what every task needs, imported once in the fork server (IPython's input transforms
# normalise the code as the kernel does: 120 ms to import)
_PRELOAD = ["cellpipe.remote.taskrun", "cellpipe.remote.local", "IPython.core.inputtransformer2",
            "IPython.core.interactiveshell"]  # an error renders as in the kernel
if importlib.util.find_spec("numpy") is not None:  # most tasks unpickle arrays
    _PRELOAD.append("numpy")


def _context() -> Any:
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(_PRELOAD)
    return ctx


_helpers: list[subprocess.Popen[bytes]] = []  # the fork server and resource tracker


def _spawn_in_own_session(path: str, args: list[str], passfds: Sequence[int]) -> int:
    """multiprocessing.util.spawnv_passfds, in a session of its own."""
    proc = subprocess.Popen(args, executable=path, pass_fds=tuple(passfds), close_fds=True,
                            start_new_session=True)
    _helpers.append(proc)
    return proc.pid


@contextmanager
def _starting() -> Iterator[None]:
    """Start a task process: without multiprocessing importing this process's __main__ into
    it (a script, or ipykernel's launcher: hundreds of ms per task, and nothing a task
    needs), and with the fork server and resource tracker, if they start now, out of this
    process's group. In ipykernel's group they would hold up the kernel's shutdown by
    ~30 s: it signals every process of its group until none is left, and the tracker
    ignores SIGTERM, and neither is ever reaped once killed (a zombie counts)."""
    saved = sys.modules["__main__"], mp_util.spawnv_passfds
    sys.modules["__main__"] = types.ModuleType("__main__")
    mp_util.spawnv_passfds = _spawn_in_own_session
    try:
        yield
    finally:
        sys.modules["__main__"], mp_util.spawnv_passfds = saved


def task_process_main(task_json: str, store_url: str, conn: Connection) -> None:
    """In the child: run the task, sending stream writes and then the result.

    The processes the task started end before its result is sent; the child exits right
    after it, not waiting for threads the task left running (its result is already out)."""
    from cellpipe.remote.taskrun import run_task

    def emit(name: str, text: str) -> None:
        conn.send(("out", name, text))

    signal.signal(signal.SIGTERM, _end_on_sigterm)
    with task_processes():
        result = run_task(Task.from_json(task_json), DataStore(store_url), emit)
    conn.send(("result", result.to_json()))
    conn.close()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(0)


def _end_on_sigterm(signum: int, frame: Any) -> None:
    """A cancelled task: its processes end with it."""
    end_descendants()
    os._exit(128 + signum)


def _pong() -> None:
    """A task process that does nothing (ping)."""


class LocalHandle:
    """A task running in a child process of this machine."""

    def __init__(self, task: Task, store_url: str) -> None:
        self.task_id = task.task_id
        self.component = task.component_name
        ctx = _context()
        self._conn, child_conn = ctx.Pipe(duplex=False)
        self.process = ctx.Process(target=task_process_main,
                                   args=(task.to_json(), store_url, child_conn),
                                   name=f"cellpipe task {task.component_name}", daemon=True)
        with _starting():
            self.process.start()
        child_conn.close()
        self.status = f"running in process {self.process.pid}"
        self._result: TaskResult | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def wait(self, timeout: float, on_output: OnOutput | None = None) -> TaskResult | None:
        deadline = time.monotonic() + timeout
        while self._result is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                if not self._conn.poll(min(remaining, 0.5)):
                    continue
                msg = self._conn.recv()
            except (EOFError, OSError):
                self.process.join(5)
                code = self.process.exitcode
                self._result = TaskResult(
                    self.task_id, "lost", ename="TaskLost",
                    evalue=f"the task process ended without a result (exit code {code})")
                break
            if msg[0] == "out":
                if on_output is not None:
                    on_output(msg[1], msg[2])
            elif msg[0] == "result":
                self._result = TaskResult.from_json(msg[1])
                self._end()
        return self._result

    def _end(self) -> None:
        """Reap the task process (it exits right after sending its result)."""
        self.process.join(2)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        self._conn.close()

    def cancel(self) -> None:
        if self.process.is_alive():
            self.process.terminate()  # it ends its own processes, then exits
            self.process.join(2)
        self._end()


class LocalBackend:
    """Tasks in child processes over a directory store; `jobs` of them at once."""

    def __init__(self, spec: WorkerSpec, jobs: int = 1) -> None:
        self.spec = spec
        self.store = DataStore(spec.store)
        self.capacity: int | None = max(1, jobs)

    def check(self) -> None:
        from cellpipe.remote.errors import WorkerUnavailable

        self._check_private()
        try:
            self.store.check()
        except OSError as exc:
            raise WorkerUnavailable(self.spec.alias, f"its store {self.spec.store} is not "
                                                     f"writable: {exc}") from None

    def _check_private(self) -> None:
        """The store holds pickles its task processes load (loading one runs code): like the
        results cache, it is created 0700 and refused when another user owns it or can write
        it (it sits beside the cache dir, which may be a shared place such as /tmp)."""
        from pathlib import Path
        from urllib.parse import unquote, urlsplit

        from cellpipe.cache.privacy import UnsafeCacheError, check_private, make_private_dir
        from cellpipe.remote.errors import WorkerUnavailable

        parts = urlsplit(self.spec.store)
        if parts.scheme not in ("", "file"):
            return
        root = Path(unquote(parts.path))
        try:
            make_private_dir(root)
            check_private(root, "the local worker's store")
            st = root.stat()
            if st.st_mode & 0o077:  # made by an older version: ours, so make it private
                root.chmod(0o700)
            check_private(root / "entries", "the local worker's store")
        except UnsafeCacheError as exc:
            raise WorkerUnavailable(self.spec.alias, str(exc)) from None
        except OSError as exc:
            raise WorkerUnavailable(self.spec.alias, f"its store {root} cannot be made: "
                                                     f"{exc}") from None

    def round_trip(self, timeout: float) -> tuple[int, str]:
        """Start a task process and hear back from it: (1, message)."""
        ctx = _context()
        process = ctx.Process(target=_pong, daemon=True)
        with _starting():
            process.start()
        process.join(timeout)
        if process.exitcode != 0:
            process.kill()
            from cellpipe.remote.errors import WorkerUnavailable

            raise WorkerUnavailable(self.spec.alias, "a task process did not start")
        return 1, "child processes on this machine"

    def submit(self, task: Task) -> LocalHandle:
        return LocalHandle(task, self.spec.store)

    def close(self) -> None:
        pass
