"""Helpers for remote-execution tests: pipelines with workers, real redis-server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from nbutil import make_notebook

from cellpipe.model import pipeline_from_notebook


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


class StdoutRecorder:
    """Stands for sys.stdout: records each write with the time it arrived."""

    def __init__(self):
        self.writes = []

    def write(self, text):
        self.writes.append((time.time(), text))
        return len(text)

    def flush(self):
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A real redis-server on a free loopback port, no persistence."""

    def __init__(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server is not installed (scripts/setup.sh installs it)")
        self.exe = exe
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.proc = subprocess.Popen(
            [self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return self
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def start_worker(alias: str, queue: str, store: str, env: dict[str, str] | None = None,
                 concurrency: int = 1, log: Path | None = None) -> subprocess.Popen[bytes]:
    """`cellpipe worker` in its own process; returns once it is listening."""
    from redis import Redis

    from cellpipe.remote.rqueue import live_workers

    cmd = [sys.executable, "-m", "cellpipe.cli", "worker", "--alias", alias, "--queue", queue,
           "--store", store, "--concurrency", str(concurrency)]
    out = open(log, "ab") if log else subprocess.DEVNULL
    before = {w.name for w in live_workers(Redis.from_url(queue), alias)}
    proc = subprocess.Popen(cmd, env={**os.environ, **(env or {})}, stdout=out,
                            stderr=subprocess.STDOUT)
    redis = Redis.from_url(queue)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        now = {w.name for w in live_workers(redis, alias)}
        if len(now - before) >= concurrency:
            return proc
        if proc.poll() is not None:
            raise RuntimeError(f"cellpipe worker exited with {proc.returncode}")
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("cellpipe worker did not register")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class MotoServer:
    """moto_server: a real S3 HTTP API on a free loopback port."""

    def __init__(self) -> None:
        exe = shutil.which("moto_server") or str(Path(sys.executable).parent / "moto_server")
        self.exe = exe
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """What s3fs (client and worker) needs to talk to this server."""
        return {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": self.endpoint,
                "AWS_ENDPOINT_URL": self.endpoint}

    def start(self) -> MotoServer:
        self.proc = subprocess.Popen([self.exe, "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("moto_server did not start")

    def make_bucket(self, name: str) -> None:
        import s3fs

        fs = s3fs.S3FileSystem(key="testing", secret="testing",
                               client_kwargs={"endpoint_url": self.endpoint,
                                              "region_name": "us-east-1"})
        fs.call_s3("create_bucket", Bucket=name)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
