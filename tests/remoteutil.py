"""Helpers for remote-execution tests: pipelines with workers, private config, RQ workers'
state. The processes (redis-server, workers, moto_server) start in tests/processes.py."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from nbutil import make_notebook
from processes import (  # noqa: F401  (the remote tests' imports)
    MotoServer,
    RedisServer,
    free_port,
    start_worker,
    stop,
)

from cellpipe.model import pipeline_from_notebook


@contextmanager
def private_config(root: Path) -> Iterator[Path]:
    """CELLPIPE_CONFIG_DIR and CELLPIPE_CACHE_DIR under root (seen by the worker processes a
    test starts too), restored afterwards."""
    saved = {k: os.environ.get(k) for k in ("CELLPIPE_CONFIG_DIR", "CELLPIPE_CACHE_DIR")}
    os.environ["CELLPIPE_CONFIG_DIR"] = str(root / "config")
    os.environ["CELLPIPE_CACHE_DIR"] = str(root / "cache")
    try:
        yield root
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def pipe_with_workers(cells, workers, parameters=None):
    """cells as for make_notebook; workers: component name -> alias."""
    nb = make_notebook(list(cells), parameters=parameters)
    for cell in nb.cells:
        meta = cell.metadata.get("cellpipe")
        if meta and meta["name"] in workers:
            meta["worker"] = workers[meta["name"]]
    return pipeline_from_notebook(nb), nb


def chain(workers):
    """The 3-component DAG a -> b -> c of the remote tests (b mutates a's x in place and
    prints), with workers: component name -> alias."""
    return pipe_with_workers([
        ("import os\nx = [1, 2]\nparent_pid = os.getpid()", "a", []),
        ("import os\ny = x + [3]\nx.append(99)\nb_pid = os.getpid()\nprint('b says', y)", "b",
         ["a"]),
        ("z = sum(y)\nprint(z, x)\nz", "c", ["b"]),
    ], workers)[0]


# a component that starts a child, a child in a new session and an orphaned daemon (its
# parent gone at once, so it is reparented), their pids in `pids`
SPAWN_PROCESSES = r"""
import os, subprocess, sys, time
sleeper = [sys.executable, '-c', 'import time; time.sleep(120)']
child = subprocess.Popen(sleeper)
session = subprocess.Popen(sleeper, start_new_session=True)
out = subprocess.run(['setsid', 'sh', '-c', 'sleep 120 > /dev/null 2>&1 & echo $!'],
                     capture_output=True, text=True).stdout
pids = [child.pid, session.pid, int(out)]
del child, session  # a Popen does not pickle
time.sleep(0.2)
"""


class StdoutRecorder:
    """Stands for sys.stdout: records each write with the time it arrived."""

    def __init__(self):
        self.writes = []

    def write(self, text):
        self.writes.append((time.time(), text))
        return len(text)

    def flush(self):
        pass


def process_gone(pid: int, within: float) -> bool:
    """Whether pid ends (or is only a zombie) within the given seconds."""
    import psutil

    deadline = time.monotonic() + within
    while True:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def busy_worker(redis, alias: str, timeout: float = 30):
    """The worker of alias that has started a job (waits for one)."""
    from cellpipe.remote.rqueue import live_workers

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for w in live_workers(redis, alias):
            if w.get_current_job_id():
                return w
        time.sleep(0.05)
    raise AssertionError("no worker started the task")


def interrupt_once_written(path: Path, within: float) -> None:
    """In the background: SIGINT this process (Ctrl-C) once a task has written path."""

    def wait_then_interrupt() -> None:
        deadline = time.monotonic() + within
        while not path.exists() or not path.read_text():
            if time.monotonic() > deadline:
                return
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=wait_then_interrupt, daemon=True).start()
