"""The real processes tests start, each on a free loopback port and stopped afterwards:
redis-server, moto_server (S3), `cellpipe worker`, a Jupyter server or JupyterLab.

Fixtures over these live in conftest.py; a test needing one more kind adds it here.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path


def free_port() -> int:
    """A loopback port nothing listens on now (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop(proc: subprocess.Popen[bytes] | None, timeout: float = 15) -> None:
    """Terminate proc and wait for it (killed if it does not end in time)."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def _wait_listening(port: int, proc: subprocess.Popen[bytes], what: str,
                    timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.02)
    stop(proc)
    raise RuntimeError(f"{what} did not start")


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
        _wait_listening(self.port, self.proc, "redis-server", 10)
        return self

    def stop(self) -> None:
        stop(self.proc, 10)


# what an ACL user of cellpipe needs: RQ's keys and channels and cellpipe's output streams;
# no admin or dangerous commands beyond the ones RQ calls (the same line is in docs/remote.md)
ACL_RULES = "~rq:* ~cellpipe:* &rq:* -@all +@read +@write +@keyspace +@list +@hash +@set " \
    "+@sortedset +@stream +@string +@pubsub +@connection +@transaction +@scripting +info"


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
        _wait_listening(self.port, self.proc, "moto_server", 30)
        return self

    def make_bucket(self, name: str) -> None:
        import s3fs

        fs = s3fs.S3FileSystem(key="testing", secret="testing",
                               client_kwargs={"endpoint_url": self.endpoint,
                                              "region_name": "us-east-1"})
        fs.call_s3("create_bucket", Bucket=name)

    def stop(self) -> None:
        stop(self.proc, 10)


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


class JupyterServer:
    """`python -m jupyter_server` (or `jupyterlab`) on a free loopback port with token auth,
    cellpipe's server extension loaded; a context manager that waits until it answers and
    stops it on exit. Its output goes to log (kept for the failure message)."""

    def __init__(self, root: Path, env: Mapping[str, str], log: Path, *,
                 token: str = "cellpipe-test-token", app: str = "jupyter_server",
                 args: Sequence[str] = (), cwd: Path | None = None) -> None:
        self.root, self.env, self.log, self.token = root, dict(env), log, token
        self.app, self.args, self.cwd = app, list(args), cwd
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> JupyterServer:
        cmd = [sys.executable, "-m", self.app, "--no-browser", "--ip=127.0.0.1",
               f"--port={self.port}", f"--IdentityProvider.token={self.token}",
               f"--ServerApp.root_dir={self.root}", *self.args]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(cmd, cwd=self.cwd, env=self.env, stdout=out,
                                         stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/api/status?token={self.token}",
                                            timeout=2):
                    return self
            except (OSError, http.client.HTTPException):  # not yet, or half-started
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    stop(self.proc)
                    raise RuntimeError(f"{self.app} did not start:\n"
                                       + self.log.read_text()[-3000:]) from None
                time.sleep(0.2)

    def __exit__(self, *exc: object) -> None:
        stop(self.proc)
