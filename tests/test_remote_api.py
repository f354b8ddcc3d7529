"""`cellpipe workers ...` and the /cellpipe/workers REST endpoints, against a real worker."""

import json
import os
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from processes import JupyterServer, free_port, start_worker, stop


def cli(env, *args):
    return subprocess.run([sys.executable, "-m", "cellpipe.cli", *args], env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("api")
    return {**os.environ, "CELLPIPE_CONFIG_DIR": str(root / "config"),
            "CELLPIPE_CACHE_DIR": str(root / "cache"), "CP_API_PW": ""}


@pytest.fixture(scope="module")
def worker(redis_server, env, tmp_path_factory):
    store = (tmp_path_factory.mktemp("api-store")).as_uri()
    proc = start_worker("api", redis_server.url, store, env=env)
    yield redis_server.url, store
    stop(proc)


def test_cli_workers_add_list_ping_remove(env, worker):
    queue, store = worker
    r = cli(env, "workers", "add", "api", "--queue", queue, "--store", store,
            "--option", "timeout=600")
    assert r.returncode == 0, r.stderr
    path = os.path.join(env["CELLPIPE_CONFIG_DIR"], "workers.json")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    listed = json.loads(cli(env, "workers", "list", "--json").stdout)["workers"]
    assert [w["alias"] for w in listed] == ["local", "api"]
    assert listed[1]["options"] == {"timeout": 600.0} and listed[1]["kind"] == "rq"
    r = cli(env, "workers", "ping", "api")
    assert r.returncode == 0 and "api: ok in" in r.stdout and "1 worker listening" in r.stdout
    r = cli(env, "workers", "ping", "local")
    assert r.returncode == 0 and "local: ok" in r.stdout
    r = cli(env, "workers", "add", "dead", "--queue", f"redis://127.0.0.1:{free_port()}/0",
            "--store", store)
    started = time.monotonic()
    r = cli(env, "workers", "ping", "dead")
    assert r.returncode == 1 and "worker 'dead' is unavailable" in r.stderr
    assert time.monotonic() - started < 15
    r = cli(env, "workers", "remove", "dead")
    assert r.returncode == 0
    for args, message in ((("remove", "dead"), "worker 'dead' is not registered"),
                          (("ping", "nope"), "worker 'nope' is not registered"),
                          (("remove", "local"), "built in"),
                          (("add", "x y", "--queue", queue, "--store", store), "letters"),
                          (("add", "x", "--queue", queue, "--store", store, "--option", "t"),
                           "NAME=VALUE")):
        r = cli(env, "workers", *args)
        assert r.returncode != 0 and message in r.stderr, (args, r.stderr)


def test_cli_worker_refuses_an_unreachable_queue(env, tmp_path):
    r = cli(env, "worker", "--alias", "w", "--queue", f"redis://127.0.0.1:{free_port()}/0",
            "--store", tmp_path.as_uri())
    assert r.returncode == 1 and "worker 'w' is unavailable" in r.stderr


def test_worker_stops_gracefully_on_sigterm_after_its_task(redis_server, env, tmp_path):
    import signal
    import threading

    from remoteutil import pipe_with_workers

    from cellpipe.cache import CacheStore
    from cellpipe.engine import PipelineRunner, PythonExecutor
    from cellpipe.remote import WorkerRegistry, WorkerSpec, WorkerSteps

    store = (tmp_path / "store").as_uri()
    os.environ["CELLPIPE_CONFIG_DIR"] = env["CELLPIPE_CONFIG_DIR"]
    try:
        WorkerRegistry().add(WorkerSpec("term", redis_server.url, store))
        proc = start_worker("term", redis_server.url, store, env=env)
        pipeline, _ = pipe_with_workers([("import time\ntime.sleep(1.5)\nv = 7", "t", [])],
                                        {"t": "term"})
        runner = PipelineRunner(CacheStore(tmp_path / "cache"), PythonExecutor(), remote=WorkerSteps())
        threading.Timer(0.7, lambda: proc.send_signal(signal.SIGTERM)).start()
        res = runner.run(pipeline, "t")
        assert res.namespace["v"] == 7  # the running task finished
        assert proc.wait(20) == 0  # then the worker stopped by itself
    finally:
        os.environ.pop("CELLPIPE_CONFIG_DIR", None)
        if proc.poll() is None:
            proc.kill()


@pytest.fixture(scope="module")
def server(env, tmp_path_factory):
    root = tmp_path_factory.mktemp("api-server")
    with JupyterServer(root, {**env, "JUPYTER_RUNTIME_DIR": str(root / "runtime")},
                       root / "server.log") as server:
        yield f"{server.url}/cellpipe/workers%s?token={server.token}"


def call(url, method="GET", body=None):
    data = json.dumps(body).encode() if body is not None else (b"" if method == "POST" else None)
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_rest_list_add_ping_remove(server, worker):
    queue, store = worker
    status, body = call(server % "")
    assert status == 200 and body["workers"][0]["alias"] == "local"
    assert body["workers"][0]["builtin"] is True
    secret_queue = queue.replace("redis://", "redis://:topsecret@")
    status, body = call(server % "", "POST", {"alias": "web", "queue": secret_queue,
                                              "store": store, "options": {"retries": 2}})
    assert status == 200 and body["worker"]["queue"].startswith("redis://:***@")
    assert body["worker"]["options"] == {"retries": 2}
    status, listed = call(server % "")
    assert "topsecret" not in json.dumps(listed)
    aliases = [w["alias"] for w in listed["workers"]]
    assert aliases[0] == "local" and "web" in aliases and aliases[1:] == sorted(aliases[1:])
    status, body = call(server % "", "POST", {"alias": "api", "queue": queue, "store": store})
    status, body = call(server % "/api/ping", "POST")
    assert status == 200 and body["ok"] is True and body["workers"] == 1, body
    assert body["elapsed_ms"] > 0
    status, body = call(server % "", "POST", {"alias": "bad alias", "queue": queue,
                                              "store": store})
    assert status == 400 and body["kind"] == "RegistryError" and "letters" in body["message"]
    status, body = call(server % "/nope/ping", "POST")
    assert status == 404 and body["kind"] == "UnknownWorker"
    status, body = call(server % "/web", "DELETE")
    assert status == 200 and body == {"removed": "web"}
    status, body = call(server % "/web", "DELETE")
    assert status == 404 and body["kind"] == "UnknownWorker"
    status, body = call(server % "/local", "DELETE")
    assert status == 400 and "built in" in body["message"]
