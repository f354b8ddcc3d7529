"""Helpers for remote-execution tests: pipelines with workers, real redis-server."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from nbutil import make_notebook

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A real redis-server on a free loopback port, no persistence.

    tls: a directory to make a self-signed certificate in; the server then speaks TLS only
    (`rediss://`). users: {name: password} added as ACL users limited to what cellpipe's
    RQ workers and clients need (docs/remote.md); the default user is then disabled."""

    def __init__(self, tls: Path | None = None, users: dict[str, str] | None = None) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server is not installed (scripts/setup.sh installs it)")
        self.exe = exe
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.tls = tls
        self.users = users or {}

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def ca(self) -> Path:
        assert self.tls is not None
        return self.tls / "cert.pem"

    def url_for(self, user: str, password: str = "${REDIS_PW}") -> str:
        """The URL a worker or client uses as user (the password as written in it)."""
        scheme = "rediss" if self.tls else "redis"
        query = f"?ssl_ca_certs={self.ca}" if self.tls else ""
        return f"{scheme}://{user}:{password}@127.0.0.1:{self.port}/0{query}"

    def start(self) -> RedisServer:
        args = [self.exe, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        if self.tls:
            self.tls.mkdir(parents=True, exist_ok=True)
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                            "-keyout", str(self.tls / "key.pem"), "-out", str(self.ca),
                            "-days", "1", "-subj", "/CN=127.0.0.1",
                            "-addext", "subjectAltName=IP:127.0.0.1"],
                           check=True, capture_output=True)
            args += ["--port", "0", "--tls-port", str(self.port),
                     "--tls-cert-file", str(self.tls / "cert.pem"),
                     "--tls-key-file", str(self.tls / "key.pem"),
                     "--tls-ca-cert-file", str(self.ca), "--tls-auth-clients", "no"]
        else:
            args += ["--port", str(self.port)]
        # ACL rules go in through stdin, not argv: passwords stay out of `ps`
        config = "".join(f"user {name} on >{pw} {ACL_RULES}\n" for name, pw in self.users.items())
        if self.users:
            config += "user default off\n"
        self.proc = subprocess.Popen([*args, "-"] if config else args, stdin=subprocess.PIPE,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert self.proc.stdin is not None
        self.proc.stdin.write(config.encode())
        self.proc.stdin.close()
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


# what an ACL user of cellpipe needs: RQ's keys and channels and cellpipe's output streams;
# no admin or dangerous commands beyond the ones RQ calls (the same line is in docs/remote.md)
ACL_RULES = "~rq:* ~cellpipe:* &rq:* -@all +@read +@write +@keyspace +@list +@hash +@set " \
    "+@sortedset +@stream +@string +@pubsub +@connection +@transaction +@scripting +info"


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


def start_worker(alias: str, queue: str, store: str, env: dict[str, str] | None = None,
                 concurrency: int = 1, log: Path | None = None) -> subprocess.Popen[bytes]:
    """`cellpipe worker` in its own process; returns once it is listening."""
    from redis import Redis

    from cellpipe.remote.rqueue import live_workers

    cmd = [sys.executable, "-m", "cellpipe.cli", "worker", "--alias", alias, "--queue", queue,
           "--store", store, "--concurrency", str(concurrency)]
    out = open(log, "ab") if log else subprocess.DEVNULL
    full_env = {**os.environ, **(env or {})}
    own = re.sub(r"\$\{(\w+)\}", lambda m: full_env[m[1]], queue)  # as the worker reads it
    redis = Redis.from_url(own)
    before = {w.name for w in live_workers(redis, alias)}
    proc = subprocess.Popen(cmd, env=full_env, stdout=out, stderr=subprocess.STDOUT)
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
