"""Remote execution under faults, with a real redis-server and real `cellpipe worker`
processes: a dead worker is reported, the processes a task starts end with it, a worker
runs cellpipe's tasks only, `ping` checks the store, and `local` is not slower than its work."""

import os
import signal
import subprocess
import sys
import time

import nbformat
import pytest
from redis import Redis
from remoteutil import (
    SPAWN_PROCESSES,
    RedisServer,
    busy_worker,
    interrupt_once_written,
    pipe_with_workers,
    private_config,
    process_gone,
    start_worker,
    stop,
)

from cellpipe.cache import CacheStore
from cellpipe.engine import PipelineRunner, PythonExecutor
from cellpipe.remote import WorkerRegistry, WorkerSpec, WorkerSteps


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    with private_config(tmp_path_factory.mktemp("faults")) as root:
        yield root


@pytest.fixture(scope="module")
def solo(redis_server, config):
    """Alias 'solo' over a directory store, with one worker (started anew by tests that
    kill it)."""
    store = (config / "store-solo").as_uri()
    WorkerRegistry().add(WorkerSpec("solo", redis_server.url, store, {"timeout": 120}))
    procs = [start_worker("solo", redis_server.url, store, log=config / "solo.log")]
    yield procs
    for p in procs:
        stop(p)


def runner(tmp_path):
    return PipelineRunner(CacheStore(tmp_path / "cache"), PythonExecutor(), remote=WorkerSteps())


def cli(*args, timeout=240):
    return subprocess.run([sys.executable, "-m", "cellpipe.cli", *args], capture_output=True,
                          text=True, timeout=timeout, env=os.environ.copy())


def write_notebook(tmp_path, cells, workers):
    _, nb = pipe_with_workers(cells, workers)
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, str(path))
    return path


# --- 1. a dead worker is reported ----------------------------------------------------

def test_kill_9_of_the_only_worker_is_reported_naming_alias_and_component(
        solo, redis_server, config, tmp_path):
    """`cellpipe run` ends non-zero within 30 s, naming the alias and the component; the
    task is cancelled, so a worker started afterwards does not run it half again."""
    starts = tmp_path / "starts"
    path = write_notebook(tmp_path, [
        (f"import time\nopen({str(starts)!r}, 'a').write('x')\ntime.sleep(25)\nvalue = 1",
         "slow", []),
    ], {"slow": "solo"})
    run = subprocess.Popen([sys.executable, "-m", "cellpipe.cli", "run", str(path)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=os.environ.copy())
    try:
        busy = busy_worker(Redis.from_url(redis_server.url), "solo", timeout=120)
        os.kill(busy.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        out, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
    took = time.monotonic() - killed_at
    print(f"kill -9 of the only worker reported after {took:.1f} s")
    assert took < 30
    assert run.returncode != 0
    assert "TaskLost" in err and "worker 'solo'" in err and "component 'slow'" in err, err
    assert "no other worker of the alias is alive" in err
    store = config / "store-solo" / "entries"
    assert not store.exists() or all((d / "manifest.json").exists() for d in store.iterdir())
    # a worker that comes later finds nothing to run: the task was cancelled
    solo[0] = start_worker("solo", redis_server.url, (config / "store-solo").as_uri(),
                           log=config / "solo.log")
    time.sleep(2)
    assert starts.read_text() == "x"


# --- 2. every process a task started ends with it ------------------------------------

@pytest.mark.parametrize("alias", ["local", "solo"])
def test_processes_a_task_started_end_with_it(solo, alias, tmp_path):
    """A child, a child in a new session and an orphaned daemon all end with the task."""
    pipeline, _ = pipe_with_workers([(SPAWN_PROCESSES, "spawn", [])], {"spawn": alias})
    res = runner(tmp_path).run(pipeline, "spawn")
    pids = res.namespace["pids"]
    assert len(set(pids)) == 3
    assert all(process_gone(pid, 5) for pid in pids), [
        (pid, open(f"/proc/{pid}/stat").read()) for pid in pids if os.path.exists(f"/proc/{pid}")]


@pytest.mark.parametrize("alias", ["local", "solo"])
def test_processes_of_a_stopped_task_end_with_it(solo, alias, tmp_path):
    """Ctrl-C in the client stops the task (local: its process is terminated; RQ: stop-job
    kills the work horse's group) and the processes it started, new sessions included."""

    from cellpipe.engine import RunInterrupted

    pidfile = tmp_path / "pids"
    code = SPAWN_PROCESSES + (f"open({str(pidfile)!r}, 'w').write(' '.join(map(str, pids)))\n"
                              "time.sleep(60)")
    pipeline, _ = pipe_with_workers([(code, "stuck", [])], {"stuck": alias})

    interrupt_once_written(pidfile, 60)
    with pytest.raises(RunInterrupted, match="stuck"):
        runner(tmp_path).run(pipeline, "stuck")
    pids = [int(p) for p in pidfile.read_text().split()]
    assert len(pids) == 3 and all(process_gone(pid, 10) for pid in pids)


# --- 3. only cellpipe's tasks run on a worker ----------------------------------------

class Evil:
    """Unpickling this runs a shell command."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_worker_never_runs_a_job_other_than_cellpipes(solo, redis_server, config, tmp_path):
    """Jobs enqueued on the alias's queue with RQ's own API, pickled (RQ's default) or
    JSON, are refused and logged; the worker goes on serving cellpipe's tasks."""
    from rq import Queue
    from rq.job import JobStatus
    from rq.serializers import JSONSerializer

    redis = Redis.from_url(redis_server.url)
    pickled = Queue("cellpipe.solo", connection=redis)
    as_json = Queue("cellpipe.solo", connection=redis, serializer=JSONSerializer)
    markers = [tmp_path / f"ran{i}" for i in range(3)]
    jobs = [
        pickled.enqueue(os.system, f"touch {markers[0]}"),
        pickled.enqueue(print, Evil(markers[1])),  # runs code when unpickled
        as_json.enqueue("os.system", f"touch {markers[2]}"),
    ]
    deadline = time.monotonic() + 30
    while not all(j.get_status(refresh=True) == JobStatus.FAILED for j in jobs):
        assert time.monotonic() < deadline, [j.get_status() for j in jobs]
        time.sleep(0.1)
    time.sleep(0.5)
    assert not any(m.exists() for m in markers)
    log = (config / "solo.log").read_text()
    assert log.count("refused job") >= 3, log[-2000:]
    assert "'os.system' is not a cellpipe task function" in log
    pipeline, _ = pipe_with_workers([("v = 7", "after", [])], {"after": "solo"})
    assert runner(tmp_path).run(pipeline, "after").namespace["v"] == 7


def test_tls_and_an_acl_user_with_the_password_only_in_the_environment(config, tmp_path,
                                                                      monkeypatch):
    """A worker on `rediss://` (a self-signed certificate) as an ACL user limited to what
    RQ needs; its password is in no command line; a client runs a task through it."""
    server = RedisServer(tls=tmp_path / "tls", users={"cellpipe": "s3cret-pw"}).start()
    monkeypatch.setenv("REDIS_PW", "s3cret-pw")
    url = server.url_for("cellpipe")  # rediss://cellpipe:${REDIS_PW}@...
    store = (config / "store-tls").as_uri()
    proc = start_worker("tls", url, store, log=config / "tls.log")
    try:
        cmdline = open(f"/proc/{proc.pid}/cmdline", "rb").read()
        assert b"s3cret-pw" not in cmdline and b"${REDIS_PW}" in cmdline
        WorkerRegistry().add(WorkerSpec("tls", url, store))
        assert "s3cret-pw" not in (config / "config" / "workers.json").read_text()
        pipeline, _ = pipe_with_workers([("import os\nv = os.getpid()", "t", [])],
                                        {"t": "tls"})
        assert runner(tmp_path).run(pipeline, "t").namespace["v"] != os.getpid()
        ping = cli("workers", "ping", "tls", timeout=60)
        assert ping.returncode == 0 and "tls: ok" in ping.stdout, ping.stderr
        # the default user is off: no password, no queue
        from redis.exceptions import AuthenticationError, ResponseError

        plain = Redis.from_url(f"rediss://127.0.0.1:{server.port}/0?ssl_ca_certs={server.ca}")
        with pytest.raises((AuthenticationError, ResponseError)):
            plain.lpush("rq:queue:cellpipe.tls", "x")
    finally:
        stop(proc)
        server.stop()


# --- 5. ping checks that the worker sees the client's store --------------------------

def test_ping_fails_against_a_worker_with_another_store(redis_server, config, tmp_path):
    mine, theirs = (config / "store-mine").as_uri(), (config / "store-theirs").as_uri()
    WorkerRegistry().add(WorkerSpec("elsewhere", redis_server.url, mine))
    proc = start_worker("elsewhere", redis_server.url, theirs, log=config / "elsewhere.log")
    try:
        r = cli("workers", "ping", "elsewhere", timeout=60)
        assert r.returncode == 1
        assert "does not see this client's data store" in r.stderr, r.stderr
        assert "store-theirs" in r.stderr and "store-mine" in r.stderr
        WorkerRegistry().add(WorkerSpec("elsewhere", redis_server.url, theirs))
        r = cli("workers", "ping", "elsewhere", timeout=60)
        assert r.returncode == 0 and "elsewhere: ok" in r.stdout, r.stderr
    finally:
        stop(proc)


# --- 4. `local` is not slower than its work ------------------------------------------

def test_cellpipe_run_of_a_3_s_local_task_ends_within_2_s_of_the_work(config, tmp_path):
    """Even when the task leaves a non-daemon thread behind."""
    done = tmp_path / "done"
    path = write_notebook(tmp_path, [
        ("import threading, time\nthreading.Thread(target=time.sleep, args=(60,)).start()\n"
         f"time.sleep(3)\nopen({str(done)!r}, 'w').write(str(time.time()))", "work", []),
    ], {"work": "local"})
    r = cli("run", str(path))
    ended = time.time()
    assert r.returncode == 0, r.stderr
    lag = ended - float(done.read_text())
    print(f"cellpipe run ended {lag:.2f} s after the 3 s local task's work")
    assert lag < 2


def test_force_with_two_targets_runs_their_shared_ancestor_once(config, tmp_path):
    runs = tmp_path / "runs"
    path = write_notebook(tmp_path, [
        (f"open({str(runs)!r}, 'a').write('root\\n')\nbase = 1", "root", []),
        (f"open({str(runs)!r}, 'a').write('left\\n')\nleft = base + 1", "left", ["root"]),
        (f"open({str(runs)!r}, 'a').write('right\\n')\nright = base + 2", "right", ["root"]),
    ], {})
    assert cli("run", str(path), "-t", "left", "-t", "right").returncode == 0
    runs.unlink()
    r = cli("run", str(path), "--force", "-t", "left", "-t", "right")
    assert r.returncode == 0, r.stderr
    assert sorted(runs.read_text().split()) == ["left", "right", "root"]
