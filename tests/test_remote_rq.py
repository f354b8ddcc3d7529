"""Workers on RQ with a real redis-server: `cellpipe worker` processes, the engine as client."""

import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
from processes import RedisServer, start_worker, stop
from redis import Redis
from remoteutil import (
    StdoutRecorder,
    busy_worker,
    chain,
    interrupt_once_written,
    pipe_with_workers,
    private_config,
    process_gone,
)

from cellpipe.cache import CacheStore, load_value
from cellpipe.engine import ComponentError, PipelineRunner, PythonExecutor
from cellpipe.remote import WorkerRegistry, WorkerSpec, WorkerSteps


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    """A private registry and cache for the module (also seen by worker processes)."""
    with private_config(tmp_path_factory.mktemp("rq")) as root:
        yield root


@pytest.fixture(scope="module")
def rqw(redis_server, config):
    """Alias 'rqw': one `cellpipe worker` (one task at a time) over a directory store."""
    store = (config / "store-rqw").as_uri()
    WorkerRegistry().add(WorkerSpec("rqw", redis_server.url, store, {"timeout": 120}))
    proc = start_worker("rqw", redis_server.url, store, log=config / "rqw.log")
    yield proc
    stop(proc)


def runner(tmp_path, jobs=1):
    return PipelineRunner(CacheStore(tmp_path / "cache"), PythonExecutor(), remote=WorkerSteps(jobs))


def test_middle_component_on_an_rq_worker_gives_what_all_local_gives(rqw, tmp_path):
    here = runner(tmp_path / "1").run(chain({}), "c")
    r = runner(tmp_path / "2")
    there = r.run(chain({"b": "rqw"}), "c")
    assert there.target_outputs == here.target_outputs
    strip = lambda ns: {k: v for k, v in ns.items() if not k.endswith("pid")}  # noqa: E731
    assert strip(there.namespace) == strip(here.namespace)
    b_pid = there.namespace["b_pid"]
    assert b_pid not in (os.getpid(), rqw.pid)  # a work horse, not the worker itself
    assert process_gone(b_pid, 10)  # the work horse exits after reporting (not always at once)
    entry = r.store.get(there.plan.step("b").key)
    assert entry.outputs[0]["text"] == "b says [1, 2, 3]\n"
    assert r.run(chain({"b": "rqw"}), "c").executed == []  # imported into the local cache


def test_task_process_and_its_memory_are_gone_after_the_task(rqw, tmp_path):
    np = pytest.importorskip("numpy")  # noqa: F841
    worker = psutil.Process(rqw.pid)
    idle = worker.memory_info().rss
    pipeline, _ = pipe_with_workers([
        ("import os, numpy as np\nbig = np.ones(1 << 30, dtype=np.uint8)\n"
         "total = int(big[::4096].sum())\npid = os.getpid()\n"
         "peak = int(open(f'/proc/{pid}/status').read().split('VmHWM:')[1].split()[0]) * 1024\n"
         "del big", "alloc", []),
    ], {"alloc": "rqw"})
    res = runner(tmp_path).run(pipeline, "alloc")
    assert res.namespace["total"] == (1 << 30) // 4096
    assert res.namespace["peak"] >= 1 << 30  # the task process really held 1 GB
    pid = res.namespace["pid"]
    assert pid != rqw.pid
    deadline = time.monotonic() + 5
    while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "the task process outlived its task"
        time.sleep(0.05)
    assert worker.memory_info().rss < idle + (50 << 20)  # the worker never held the 1 GB


def test_target_on_a_worker_streams_stdout_while_it_runs(rqw, tmp_path, monkeypatch):
    rec = StdoutRecorder()
    pipeline, _ = pipe_with_workers([
        ("import time\nprint('first', flush=True)\ntime.sleep(1.5)\nprint('second')\n"
         "done_at = time.time()", "talk", []),
    ], {"talk": "rqw"})
    monkeypatch.setattr(sys, "stdout", rec)
    res = runner(tmp_path).run(pipeline, "talk")
    monkeypatch.undo()
    text = "".join(t for _, t in rec.writes)
    assert text == "first\nsecond\n"
    first_at = next(t for t, s in rec.writes if "first" in s)
    assert first_at < res.namespace["done_at"] - 1.0  # shown while the task still ran
    assert res.target_remote
    assert "".join(o["text"] for o in res.target_outputs) == "first\nsecond\n"


def test_a_task_waiting_for_a_busy_worker_says_so(rqw, tmp_path):
    """Two branches, one worker: one runs, the other is reported as queued, not as slow."""
    pipeline, _ = pipe_with_workers([
        ("base = 1", "root", []),
        ("import time\ntime.sleep(1.0)\nl = base", "left", ["root"]),
        ("import time\ntime.sleep(1.0)\nr = base", "right", ["root"]),
        ("j = l + r", "join", ["left", "right"]),
    ], {"left": "rqw", "right": "rqw"})
    events = []
    res = runner(tmp_path).run(pipeline, "join", on_event=events.append)
    assert res.namespace["j"] == 2
    reasons = {(e.name, e.reason) for e in events if e.status == "running" and e.worker}
    assert any(r == "worker 'rqw': waiting for a free worker" for _, r in reasons)
    assert {n for n, r in reasons if r.startswith("worker 'rqw': running on worker")} == \
        {"left", "right"}


def test_remote_error_is_the_components_error_with_its_own_frames(rqw, tmp_path):
    pipeline, _ = pipe_with_workers([
        ("def f(v):\n    return 1 / v\n", "a", []),
        ("r = f(0)", "b", ["a"]),
        ("s = r", "c", ["b"]),
    ], {"b": "rqw"})
    r = runner(tmp_path)
    with pytest.raises(ComponentError) as info:
        r.run(pipeline, "c")
    err = info.value
    assert (err.ename, err.component_name) == ("ZeroDivisionError", "b")
    text = "".join(err.traceback)
    assert "Error in component 'b', an ancestor of 'c'" in text
    assert "return 1 / v" in text and "r = f(0)" in text and "taskrun" not in text


def test_unreachable_queue_or_no_worker_fails_naming_the_alias(redis_server, config, tmp_path):
    from processes import free_port

    dead = f"redis://127.0.0.1:{free_port()}/0"
    WorkerRegistry().add(WorkerSpec("gone", dead, (tmp_path / "s").as_uri()))
    WorkerRegistry().add(WorkerSpec("idle", redis_server.url, (tmp_path / "s").as_uri()))
    marker = tmp_path / "ran"
    for alias, why in (("gone", "cannot reach its queue"), ("idle", "no worker is serving")):
        pipeline, _ = pipe_with_workers([
            (f"open({str(marker)!r}, 'w').write('a')", "a", []),
            ("y = 1", "b", ["a"]),
        ], {"b": alias})
        started = time.monotonic()
        with pytest.raises(ComponentError) as info:
            runner(tmp_path).run(pipeline, "b")
        assert time.monotonic() - started < 10
        assert info.value.ename == "WorkerUnavailable"
        assert f"worker {alias!r}" in str(info.value) and why in str(info.value)
        assert not marker.exists()


def test_two_independent_components_on_two_workers_overlap(redis_server, config, tmp_path):
    store = (config / "store-pair").as_uri()
    WorkerRegistry().add(WorkerSpec("pair", redis_server.url, store))
    proc = start_worker("pair", redis_server.url, store, concurrency=2, log=config / "pair.log")
    try:
        pipeline, _ = pipe_with_workers([
            ("base = 10", "root", []),
            ("import time\ntime.sleep(1.5)\nleft = base + 1", "left", ["root"]),
            ("import time\ntime.sleep(1.5)\nright = base + 2", "right", ["root"]),
            ("total = left + right", "join", ["left", "right"]),
        ], {"left": "pair", "right": "pair"})
        res = runner(tmp_path).run(pipeline, "join")
        assert res.namespace["total"] == 23
        (l0, l1), (r0, r1) = res.intervals["left"], res.intervals["right"]
        assert l0 < r1 and r0 < l1, res.intervals
    finally:
        stop(proc)


@pytest.mark.parametrize("retries", [1, 0])
def test_kill_9_of_the_worker_mid_task(redis_server, config, tmp_path, retries, capsys):
    """With a retry the second worker finishes the task and the output says it was retried
    there; without, the client says what happened within seconds. Either way the cache
    holds no half-written entry."""
    import threading

    alias = f"kill{retries}"
    store_dir = config / f"store-{alias}"
    WorkerRegistry().add(WorkerSpec(alias, redis_server.url, store_dir.as_uri(),
                                    {"retries": retries}))
    procs = [start_worker(alias, redis_server.url, store_dir.as_uri(),
                          log=config / f"{alias}.log") for _ in range(2)]
    redis = Redis.from_url(redis_server.url)
    try:
        pipeline, _ = pipe_with_workers([
            ("import time, os\ntime.sleep(2.5)\nvalue = 42\npid = os.getpid()", "slow", []),
        ], {"slow": alias})
        r = runner(tmp_path)
        outcome = {}

        def client():
            try:
                outcome["result"] = r.run(pipeline, "slow")
            except ComponentError as exc:
                outcome["error"] = exc

        thread = threading.Thread(target=client)
        thread.start()
        busy = busy_worker(redis, alias)
        os.kill(busy.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        thread.join(60)
        assert not thread.is_alive()
        key = r.plan(pipeline, "slow").step("slow").key
        if retries:
            res = outcome["result"]
            assert res.namespace["value"] == 42 and res.executed == ["slow"]
            assert any("retried on another worker" in w and "'slow'" in w
                       for w in res.warnings), res.warnings
            assert "retried on another worker" in capsys.readouterr().err
            assert load_value(r.store.get(key).variables["value"], {}) == 42
        else:
            err = outcome["error"]
            assert time.monotonic() - killed_at < 15
            assert err.ename == "TaskLost" and f"worker {alias!r}" in str(err)
            assert "stopped responding" in str(err) or "died" in str(err)
            assert "component 'slow'" in str(err)
            assert not r.store.has(key)
        # only whole entries in the data store: each has its manifest
        for folder in (store_dir / "entries").glob("*"):
            assert (folder / "manifest.json").exists()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()


def test_stop_redis_mid_run_is_a_clear_error_not_a_hang(config, tmp_path):
    server = RedisServer().start()
    store = (config / "store-fragile").as_uri()
    WorkerRegistry().add(WorkerSpec("fragile", server.url, store))
    proc = start_worker("fragile", server.url, store, log=config / "fragile.log")
    try:
        pipeline, _ = pipe_with_workers([("import time\ntime.sleep(30)", "long", [])],
                                        {"long": "fragile"})
        r = runner(tmp_path)
        import threading

        threading.Timer(1.5, server.stop).start()
        started = time.monotonic()
        with pytest.raises(ComponentError) as info:
            r.run(pipeline, "long")
        assert time.monotonic() - started < 20
        assert info.value.ename == "WorkerUnavailable"
        assert "worker 'fragile'" in str(info.value) and "long" in str(info.value)
    finally:
        server.stop()
        proc.kill()
        proc.wait()


CLIENT = r"""
import json, sys, uuid
from cellpipe.cache import load_value
from cellpipe.remote import Task, open_backend
client, n = int(sys.argv[1]), int(sys.argv[2])
backend = open_backend(sys.argv[3])
backend.check()
handles = {}
for i in range(n):
    key = f"c{client}t{i}" + uuid.uuid4().hex[:8]
    task = Task(uuid.uuid4().hex, f"c{i}", f"task {i}", f"v = {client} * 1000 + {i}", key, [], {})
    handles[key] = backend.submit(task)
got = []
for key, handle in handles.items():
    res = None
    while res is None:
        res = handle.wait(1.0)
    entry = backend.store.get(res.output_key)
    got.append([res.task_id, res.status, res.output_key, load_value(entry.variables["v"], {})])
print(json.dumps(got))
"""


def test_two_clients_two_workers_fifty_tasks_each_result_once(redis_server, config):
    store = (config / "store-many").as_uri()
    WorkerRegistry().add(WorkerSpec("many", redis_server.url, store))
    workers = [start_worker("many", redis_server.url, store, log=config / "many.log")
               for _ in range(2)]
    try:
        clients = [subprocess.Popen([sys.executable, "-c", CLIENT, str(c), "25", "many"],
                                    stdout=subprocess.PIPE, env=os.environ.copy())
                   for c in (1, 2)]
        outs = [json.loads(c.communicate(timeout=120)[0]) for c in clients]
    finally:
        for w in workers:
            stop(w)
    for client, got in zip((1, 2), outs, strict=True):
        assert len(got) == 25 and len({g[0] for g in got}) == 25
        assert all(status == "ok" for _, status, _, _ in got)
        assert sorted(v for *_, v in got) == [client * 1000 + i for i in range(25)]


def test_s3_store_on_moto_server(redis_server, config, tmp_path, monkeypatch):
    """The data store on a real S3 API: the worker and the client share it by URL; an
    input already there is not uploaded again."""
    from processes import MotoServer

    from cellpipe.remote import DataStore

    moto = MotoServer().start()
    try:
        for k, v in moto.env().items():
            monkeypatch.setenv(k, v)
        moto.make_bucket("cellpipe-test")
        store = "s3://cellpipe-test/runs"
        WorkerRegistry().add(WorkerSpec("s3w", redis_server.url, store))
        proc = start_worker("s3w", redis_server.url, store, env=moto.env(),
                            log=config / "s3w.log")
        try:
            here = runner(tmp_path / "1").run(chain({}), "c")
            r = runner(tmp_path / "2")
            there = r.run(chain({"b": "s3w"}), "c")
            assert there.target_outputs == here.target_outputs
            s3 = DataStore(store)
            a_key, b_key = there.plan.step("a").key, there.plan.step("b").key
            assert s3.has(a_key) and s3.has(b_key)
            a_files = sorted(s3.fs.ls(f"{s3.root}/entries/{a_key}", detail=False))
            again = r.run(chain({"b": "s3w"}), "b", rerun_target=True)
            assert again.executed == ["b"]
            assert sorted(s3.fs.ls(f"{s3.root}/entries/{a_key}", detail=False)) == a_files
        finally:
            stop(proc)
    finally:
        moto.stop()


def test_interrupt_stops_the_remote_task(rqw, tmp_path):
    """Ctrl-C in the client stops the worker's task process (RQ stop-job), within seconds."""

    from cellpipe.engine import RunInterrupted

    pidfile = tmp_path / "pid"
    pipeline, _ = pipe_with_workers([
        (f"import os, time\nopen({str(pidfile)!r}, 'w').write(str(os.getpid()))\n"
         "time.sleep(60)", "forever", []),
    ], {"forever": "rqw"})
    r = runner(tmp_path)

    interrupt_once_written(pidfile, 20)
    with pytest.raises(RunInterrupted, match="forever"):
        r.run(pipeline, "forever")
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 10
    while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "the remote task kept running"
        time.sleep(0.05)
    # the worker is free again: the next task runs at once
    quick, _ = pipe_with_workers([("q = 1", "quick", [])], {"quick": "rqw"})
    assert r.run(quick, "quick").namespace["q"] == 1


def test_a_worker_refuses_another_task_protocol_naming_itself(rqw, tmp_path):
    """A client of another cellpipe version gets a clear refusal, and nothing is stored."""
    import uuid

    from cellpipe.remote import Task, open_backend

    backend = open_backend("rqw")
    task = Task(uuid.uuid4().hex, "c", "future", "x = 1", "kfuture" + uuid.uuid4().hex[:8],
                [], {}, protocol=99)
    result = backend.submit(task).wait(30)
    assert result.status == "error" and result.internal
    assert result.ename == "VersionMismatch" and "same cellpipe version" in result.evalue
    assert not backend.store.has(task.key)


def test_a_result_linked_from_the_store_is_still_checked(rqw, config, tmp_path):
    """A worker's result reaches the disk cache as the store's own file (hard-linked, no
    copy); a byte changed in that file afterwards is refused by the next client that
    fetches it and by the first client's cache, which share it."""
    np = pytest.importorskip("numpy")  # noqa: F841
    pipeline, _ = pipe_with_workers([
        ("import numpy as np\narr = np.arange(1 << 18, dtype='float64')", "big", []),
        ("total = float(arr.sum())", "use", ["big"]),
    ], {"big": "rqw"})
    first = runner(tmp_path / "a")
    res = first.run(pipeline, "use")
    assert res.namespace["total"] == float(sum(range(1 << 18)))
    first.store.flush()
    key = res.plan.step("big").key
    manifest = json.loads((config / "store-rqw" / "entries" / key / "manifest.json").read_text())
    record = next(v for v in manifest["variables"] if v["name"] == "arr")
    stored = config / "store-rqw" / "entries" / key / record["file"]
    cached = next(v for v in json.loads(
        (first.store.disk.entry_dir(key) / "manifest.json").read_text())["variables"]
        if v["name"] == "arr")
    assert os.stat(first.store.disk.entry_dir(key) / cached["file"]).st_ino == \
        os.stat(stored).st_ino
    with open(stored, "r+b") as f:  # in place: the inode both share
        f.seek(record["offsets"][1] + 8)
        f.write(b"\x01")
    second = runner(tmp_path / "b")
    with pytest.raises(ComponentError, match="'arr' is damaged"):
        second.run(pipeline, "use")  # the worker runs it again; its store entry is kept
    assert not second.store.has(key)
    again = CacheStore(tmp_path / "a" / "cache")
    assert again.get(key) is None
    assert any("damaged" in n for n in again.take_notices())


def test_a_local_result_a_worker_needs_is_written_once_for_the_cache_and_the_store(rqw, config,
                                                                                   tmp_path):
    """A big result made in this run and needed by a worker goes to the disk cache at once
    and into a file:// store by hard link: one file, not a copy for the store and another
    for the cache after the run."""
    np = pytest.importorskip("numpy")  # noqa: F841
    pipeline, _ = pipe_with_workers([
        ("import numpy as np\nbase = np.arange(1 << 18, dtype='float64')", "base", []),
        ("total = float(base.sum())", "sum", ["base"]),
    ], {"sum": "rqw"})
    r = runner(tmp_path)
    res = r.run(pipeline, "sum")
    assert res.namespace["total"] == float(sum(range(1 << 18)))
    key = res.plan.step("base").key
    folder = r.store.disk.entry_dir(key)  # written before the task, not only after the run
    cached = next(v for v in json.loads((folder / "manifest.json").read_text())["variables"]
                  if v["name"] == "base")
    store = config / "store-rqw" / "entries" / key
    stored = next(v for v in json.loads((store / "manifest.json").read_text())["variables"]
                  if v["name"] == "base")
    assert os.stat(folder / cached["file"]).st_ino == os.stat(store / stored["file"]).st_ino
    assert r.store.flush() == []
