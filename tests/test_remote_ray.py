"""Workers on a real Ray cluster: a head started here on 127.0.0.1, reached via ray://."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from remoteutil import (
    SPAWN_PROCESSES,
    StdoutRecorder,
    chain,
    free_port,
    interrupt_once_written,
    pipe_with_workers,
    private_config,
    process_gone,
)

from cellpipe.cache import CacheStore
from cellpipe.engine import ComponentError, PipelineRunner, PythonExecutor, RunInterrupted
from cellpipe.remote import WorkerRegistry, WorkerSpec, WorkerSteps

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'cellpipe[ray]')")


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    with private_config(tmp_path_factory.mktemp("ray")) as root:
        yield root


LOOPBACK_ONLY = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


@pytest.fixture(scope="module")
def ray_head(config):
    """`ray start --head` on loopback with free ports; `ray stop --force` afterwards.
    Its temp dir is short (Ray's unix socket paths must stay under 108 bytes)."""
    from cellpipe.remote import raybackend

    exe = Path(sys.executable).parent / "ray"
    tmp = tempfile.mkdtemp(prefix="cpray")
    port, client_port = free_port(), free_port()
    # Ray replaces 127.0.0.1 with the machine's own address unless told this is a
    # one-machine cluster (the switch it uses on macOS/Windows): keep every port on loopback
    os.environ[LOOPBACK_ONLY] = "0"
    env = {**os.environ, "RAY_TMPDIR": tmp}
    cmd = [str(exe), "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}",
           f"--ray-client-server-port={client_port}", "--num-cpus=2", "--num-gpus=0",
           "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={tmp}",
           ]
    started = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    if started.returncode != 0:
        subprocess.run([str(exe), "stop", "--force"], env=env, capture_output=True, timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)
        pytest.fail(f"ray start failed: {started.stdout}\n{started.stderr}")
    url = f"ray://127.0.0.1:{client_port}"
    deadline = time.monotonic() + 60  # the Ray Client server starts after `ray start` returns
    while True:
        try:
            socket.create_connection(("127.0.0.1", client_port), 0.5).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail("the Ray Client server did not start within 60 s")
            time.sleep(0.1)
    WorkerRegistry().add(WorkerSpec("rayw", url, (config / "store-rayw").as_uri(),
                                    {"timeout": 120}))
    try:
        yield url
    finally:
        if ray.is_initialized():
            ray.shutdown()
        raybackend._connected = None
        subprocess.run([str(exe), "stop", "--force"], env=env, capture_output=True, timeout=60)
        os.environ.pop(LOOPBACK_ONLY, None)
        if not os.environ.get("CELLPIPE_KEEP_RAY_LOGS"):
            shutil.rmtree(tmp, ignore_errors=True)


def runner(tmp_path):
    return PipelineRunner(CacheStore(tmp_path / "cache"), PythonExecutor(), remote=WorkerSteps())


def test_middle_component_on_ray_gives_what_all_local_gives(ray_head, tmp_path):
    here = runner(tmp_path / "1").run(chain({}), "c")
    r = runner(tmp_path / "2")
    there = r.run(chain({"b": "rayw"}), "c")
    assert there.target_outputs == here.target_outputs
    strip = lambda ns: {k: v for k, v in ns.items() if not k.endswith("pid")}  # noqa: E731
    assert strip(there.namespace) == strip(here.namespace)
    b_pid = there.namespace["b_pid"]
    assert b_pid != os.getpid()
    # max_calls=1: the Ray worker process that ran the task is retired after it
    assert process_gone(b_pid, 15), "the Ray worker process outlived its task"
    entry = r.store.get(there.plan.step("b").key)
    assert entry.outputs[0]["text"] == "b says [1, 2, 3]\n"
    assert r.run(chain({"b": "rayw"}), "c").executed == []  # imported into the local cache


def test_target_on_ray_streams_stdout_while_it_runs(ray_head, tmp_path, monkeypatch):
    rec = StdoutRecorder()
    pipeline, _ = pipe_with_workers([
        ("import time\nprint('first', flush=True)\ntime.sleep(2)\nprint('second')\n"
         "done_at = time.time()", "talk", []),
    ], {"talk": "rayw"})
    monkeypatch.setattr(sys, "stdout", rec)
    res = runner(tmp_path).run(pipeline, "talk")
    monkeypatch.undo()
    assert "".join(t for _, t in rec.writes) == "first\nsecond\n"  # each once, in order
    first_at = next(t for t, s in rec.writes if "first" in s)
    assert first_at < res.namespace["done_at"] - 1.0  # shown while the task still ran
    assert res.target_remote


def test_errors_on_ray_keep_their_frames(ray_head, tmp_path):
    pipeline, _ = pipe_with_workers([
        ("def f(v):\n    return 1 / v\n", "a", []),
        ("r = f(0)", "b", ["a"]),
    ], {"b": "rayw"})
    with pytest.raises(ComponentError) as info:
        runner(tmp_path / "2").run(pipeline, "b")
    assert (info.value.ename, info.value.component_name) == ("ZeroDivisionError", "b")
    text = "".join(info.value.traceback)
    assert "return 1 / v" in text and "r = f(0)" in text


def test_processes_a_ray_task_started_end_with_it(ray_head, tmp_path):
    """A child, a child in a new session and an orphaned daemon all end with the task."""
    pipeline, _ = pipe_with_workers([(SPAWN_PROCESSES, "spawn", [])], {"spawn": "rayw"})
    pids = runner(tmp_path).run(pipeline, "spawn").namespace["pids"]
    assert len(set(pids)) == 3 and all(process_gone(pid, 5) for pid in pids)


def test_ping_runs_a_task_on_the_cluster(ray_head):
    from cellpipe.remote.backend import ping

    got = ping("rayw", timeout=60)
    assert got["ok"], got["message"]
    assert got["workers"] == 1 and "Ray cluster, 1 node" in got["message"]


def test_interrupt_cancels_the_ray_task_and_kills_its_process(ray_head, tmp_path):
    pidfile = tmp_path / "pid"
    pipeline, _ = pipe_with_workers([
        (f"import os, time\nopen({str(pidfile)!r}, 'w').write(str(os.getpid()))\n"
         "time.sleep(120)", "forever", []),
    ], {"forever": "rayw"})
    r = runner(tmp_path)

    interrupt_once_written(pidfile, 120)  # the first task of a cold Ray head can take over 30 s
    with pytest.raises(RunInterrupted, match="forever"):
        r.run(pipeline, "forever")
    assert process_gone(int(pidfile.read_text()), 15), "the Ray task kept running"
    quick, _ = pipe_with_workers([("q = 1", "quick", [])], {"quick": "rayw"})
    assert r.run(quick, "quick").namespace["q"] == 1  # the cluster takes tasks again


def test_unreachable_ray_cluster_fails_quickly_naming_the_alias(config, tmp_path):
    dead = f"ray://127.0.0.1:{free_port()}"
    WorkerRegistry().add(WorkerSpec("raygone", dead, (tmp_path / "s").as_uri(),
                                    {"num_gpus": 1}))
    marker = tmp_path / "ran"
    pipeline, _ = pipe_with_workers([
        (f"open({str(marker)!r}, 'w').write('a')", "a", []),
        ("y = 1", "b", ["a"]),
    ], {"b": "raygone"})
    started = time.monotonic()
    with pytest.raises(ComponentError) as info:
        runner(tmp_path).run(pipeline, "b")
    assert time.monotonic() - started < 10
    assert info.value.ename == "WorkerUnavailable"
    assert "worker 'raygone'" in str(info.value)
    assert "cannot reach the Ray cluster" in str(info.value)
    assert not marker.exists()
