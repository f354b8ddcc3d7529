"""Remote execution without a server: the data store, the registry, the `local` alias
(a child process per task) and parallel branches, through the real engine."""

import json
import os
import pickle
import stat
import time

import pytest
from remoteutil import chain, pipe_with_workers

from cellpipe.cache import CacheStore
from cellpipe.engine import ComponentError, PipelineRunner, PythonExecutor
from cellpipe.engine.namespace import RunNamespace
from cellpipe.remote import (
    DataStore,
    DataStoreError,
    RegistryError,
    Task,
    UnknownWorker,
    WorkerRegistry,
    WorkerSpec,
    WorkerSteps,
)
from cellpipe.remote.registry import expand, redact
from cellpipe.remote.taskrun import run_task


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("CELLPIPE_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("CELLPIPE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


# --- data store ----------------------------------------------------------------------

def _entry(key, code, inputs=(), store=None):
    task = Task("t-" + key, "c-" + key, key, code, key, list(inputs), {})
    result = run_task(task, store)
    assert result.status == "ok", result.traceback
    return result


def test_store_round_trip_keeps_values_and_buffers_out_of_band():
    np = pytest.importorskip("numpy")
    store = DataStore("memory://cellpipe-test-roundtrip")
    _entry("k1", "import numpy as np\na = np.arange(100_000, dtype='float64')\nd = {'x': [1, 2]}",
           store=store)
    entry = store.get("k1")
    assert set(entry.variables) == {"np", "a", "d"}
    a = entry.variables["a"]
    # the array's bytes travel out of band, not inside the pickle stream
    assert a.kind == "pickle" and len(a.data) < 1000 and sum(len(b) for b in a.buffers) == 800_000
    ns = RunNamespace({})
    ns.apply(entry)
    assert np.array_equal(ns.ns["a"], np.arange(100_000, dtype="float64"))
    assert ns.ns["d"] == {"x": [1, 2]}


def test_store_entry_is_invisible_until_its_manifest_and_put_is_idempotent():
    store = DataStore("memory://cellpipe-test-manifest")
    _entry("k2", "x = [1, 2, 3]", store=store)
    files = store.fs.ls(f"{store.root}/entries/k2", detail=False)
    manifest = next(f for f in files if f.endswith("manifest.json"))
    store.fs.rm_file(manifest)  # as if the writer died before its last write
    assert not store.has("k2")
    with pytest.raises(DataStoreError, match="has no entry k2"):
        store.get("k2")
    _entry("k2", "x = [1, 2, 3]", store=store)  # a retry completes it
    assert store.has("k2")
    before = sorted(store.fs.ls(f"{store.root}/entries/k2", detail=False))
    store.put(store.get("k2"))  # putting it again changes nothing
    assert sorted(store.fs.ls(f"{store.root}/entries/k2", detail=False)) == before


def test_store_detects_a_damaged_variable(tmp_path):
    store = DataStore((tmp_path / "store").as_uri())
    _entry("k3", "x = list(range(1000))", store=store)
    var = next((tmp_path / "store" / "entries" / "k3").glob("var0.*.bin"))
    raw = bytearray(var.read_bytes())
    raw[-1] ^= 0xFF
    var.write_bytes(bytes(raw))
    with pytest.raises(DataStoreError, match="'x' is damaged"):
        store.get("k3")


def _fetched(tmp_path, key, code):
    """A file:// store with key's entry (by a real task), and a private disk store to fetch
    it into (a client's import directory)."""
    from cellpipe.cache import DiskStore

    store = DataStore((tmp_path / "store").as_uri())
    _entry(key, code, store=store)
    return store, DiskStore(tmp_path / "import")


def test_fetch_from_a_file_store_links_checks_and_refuses_a_damaged_file(tmp_path):
    np = pytest.importorskip("numpy")
    store, into = _fetched(tmp_path, "k4", "import numpy as np\na = np.arange(300_000.0)")
    var = next((tmp_path / "store" / "entries" / "k4").glob("var1.*.bin"))  # a
    entry = store.fetch("k4", into)
    kept = into.entry_dir("k4") / "var1.bin"  # the store's file itself: no copy
    assert os.stat(kept).st_ino == os.stat(var).st_ino
    a = entry.variables["a"]
    arr = pickle.loads(a.data, buffers=a.backing.views(private=True))
    assert np.array_equal(arr, np.arange(300_000.0)) and arr.flags.aligned
    into.remove("k4")
    with open(var, "r+b") as f:  # one byte of the array changed, same size
        f.seek(-5, os.SEEK_END)
        byte = f.read(1)
        f.seek(-5, os.SEEK_END)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(DataStoreError, match="'a' is damaged"):
        store.fetch("k4", into)
    assert not into.has("k4") and not any((tmp_path / "import" / "tmp").iterdir())


def test_fetch_copies_a_file_others_may_write_and_checks_the_copy(tmp_path):
    np = pytest.importorskip("numpy")
    store, into = _fetched(tmp_path, "k5", "import numpy as np\nb = np.arange(300_000.0)")
    var = next((tmp_path / "store" / "entries" / "k5").glob("var1.*.bin"))  # b
    var.chmod(0o664)  # group-writable: the cache must not share it
    entry = store.fetch("k5", into)
    kept = into.entry_dir("k5") / "var1.bin"
    assert os.stat(kept).st_ino != os.stat(var).st_ino
    assert stat.S_IMODE(os.stat(kept).st_mode) == 0o600
    b = entry.variables["b"]
    got = pickle.loads(b.data, buffers=b.backing.views(private=True))
    assert np.array_equal(got, np.arange(300_000.0))
    assert into.get("k5", verify="full") is not None  # the copy matches its manifest


def test_a_tasks_own_big_array_is_stored_whole_while_its_pages_go_back(tmp_path):
    """The array a task alone holds is written to a file:// store in chunks whose pages go
    back to the system as they are written: every chunk arrives (the checksum says so)."""
    pytest.importorskip("numpy")
    store = DataStore((tmp_path / "store").as_uri())
    _entry("k7", "import numpy as np\nbig = np.arange(10 << 20, dtype='int64')\n"
                 "small = big[:10].copy()", store=store)
    got = store.get("k7", private=True).variables["big"]  # checked against its fingerprint
    arr = pickle.loads(got.data, buffers=got.buffers)
    assert arr.shape == (10 << 20,) and arr[-1] == (10 << 20) - 1 and arr[12345] == 12345


def test_entries_of_an_older_store_layout_are_still_read_and_fetched(tmp_path):
    """Entries written before buffers were aligned (format 1: parts one after the other)
    are read by workers and fetched (copied into the aligned layout) by clients."""
    np = pytest.importorskip("numpy")
    store, into = _fetched(tmp_path, "k6", "import numpy as np\nc = np.arange(300_000.0)")
    folder = tmp_path / "store" / "entries" / "k6"
    manifest = json.loads((folder / "manifest.json").read_text())
    for var in manifest["variables"]:  # rewritten as format 1 laid them out
        path = folder / var["file"]
        raw = path.read_bytes()
        path.write_bytes(b"".join(raw[o:o + n] for o, n in zip(var.pop("offsets"),
                                                                  var["sizes"], strict=True)))
    manifest["version"] = 1
    (folder / "manifest.json").write_text(json.dumps(manifest))
    got = store.get("k6", private=True).variables["c"]
    assert np.array_equal(pickle.loads(got.data, buffers=got.buffers), np.arange(300_000.0))
    c = store.fetch("k6", into).variables["c"]
    assert np.array_equal(pickle.loads(c.data, buffers=c.backing.views(private=True)),
                          np.arange(300_000.0))
    assert into.get("k6", verify="full") is not None


def _record(folder, name):
    """The manifest record of variable name in an entry directory."""
    manifest = json.loads((folder / "manifest.json").read_text())
    return next(v for v in manifest["variables"] if v["name"] == name)


def test_a_disk_cache_file_goes_to_a_file_store_by_link_and_both_stay_checked(env):
    """Uploading a result the disk cache holds links its file into the store (no copy):
    readable there as a store file, still private enough for the cache (which checks it
    again, its stamp having changed), and a worker's read of it is verified."""
    np = pytest.importorskip("numpy")
    pipeline, _ = pipe_with_workers([("import numpy as np\nv = np.arange(300_000.0)", "v", [])],
                                    {})
    cache = CacheStore(env / "cache")
    res = PipelineRunner(cache, PythonExecutor()).run(pipeline, "v")
    cache.flush()
    key = res.plan.step("v").key
    store = DataStore((env / "store").as_uri())
    store.put(cache.on_disk(key))
    var = _record(env / "store" / "entries" / key, "v")
    stored = env / "store" / "entries" / key / var["file"]
    kept = cache.disk.entry_dir(key) / _record(cache.disk.entry_dir(key), "v")["file"]
    assert os.stat(stored).st_ino == os.stat(kept).st_ino
    assert not os.stat(stored).st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    got = store.get(key, private=True).variables["v"]
    assert np.array_equal(pickle.loads(got.data, buffers=got.buffers), np.arange(300_000.0))
    again = CacheStore(env / "cache")
    assert again.get(key) is not None and again.take_notices() == []
    with open(stored, "r+b") as f:  # the file both share, changed in place
        f.seek(var["offsets"][1] + 16)
        f.write(b"\x07")
    with pytest.raises(DataStoreError, match="'v' is damaged"):
        store.get(key, private=True)  # as a worker reads it
    third = CacheStore(env / "cache")
    assert third.get(key) is None and "damaged" in " ".join(third.take_notices())


def test_task_with_a_missing_input_fails_clearly():
    store = DataStore("memory://cellpipe-test-missing")
    result = run_task(Task("t", "c", "child", "y = x", "k9", ["nokey"], {}), store)
    assert result.status == "error" and "no entry nokey" in result.evalue


def test_task_protocol_mismatch_is_refused():
    store = DataStore("memory://cellpipe-test-protocol")
    task = Task("t", "c", "child", "y = 1", "k8", [], {}, protocol=999)
    result = run_task(task, store)
    assert result.ename == "VersionMismatch" and "same cellpipe version" in result.evalue
    assert not store.has("k8")


# --- registry ------------------------------------------------------------------------

def test_registry_persists_with_mode_0600_and_keeps_password_references(env, monkeypatch):
    reg = WorkerRegistry()
    reg.add(WorkerSpec("gpu-box", "redis://:${CP_TEST_PW}@127.0.0.1:6399/0", "s3://b/p",
                       {"timeout": "600"}))
    path = env / "config" / "workers.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "${CP_TEST_PW}" in path.read_text()
    again = WorkerRegistry()  # a new process reads the same file
    spec = again.get("gpu-box")
    assert spec.options == {"timeout": 600.0} and spec.kind == "rq"
    assert [s.alias for s in again.all()] == ["local", "gpu-box"]
    with pytest.raises(RegistryError, match="CP_TEST_PW"):
        expand(spec.queue, spec.alias)
    monkeypatch.setenv("CP_TEST_PW", "s3cret")
    assert expand(spec.queue, spec.alias) == "redis://:s3cret@127.0.0.1:6399/0"
    assert redact("redis://:s3cret@h:1/0") == "redis://:***@h:1/0"
    again.remove("gpu-box")
    with pytest.raises(UnknownWorker, match="'gpu-box'"):
        WorkerRegistry().get("gpu-box")


@pytest.mark.parametrize("spec, message", [
    (WorkerSpec("bad alias", "redis://h", "file:///x"), "letters, digits"),
    (WorkerSpec("local", "redis://h", "file:///x"), "built in"),
    (WorkerSpec("a", "http://h", "file:///x"), "redis://"),
    (WorkerSpec("a", "redis://h", "/no/scheme"), "needs a scheme"),
    (WorkerSpec("a", "redis://h", "file:///x", {"speed": 1}), "unknown option"),
])
def test_registry_refuses_bad_registrations(env, spec, message):
    with pytest.raises(RegistryError, match=message):
        WorkerRegistry().add(spec)
    assert not (env / "config" / "workers.json").exists()


# --- the engine with the `local` alias ----------------------------------------------

def test_middle_component_on_local_gives_what_all_local_gives(env):
    here = PipelineRunner(CacheStore(env / "c1"), PythonExecutor(), remote=WorkerSteps()).run(chain({}), "c")
    pipeline = chain({"b": "local"})
    runner = PipelineRunner(CacheStore(env / "c2"), PythonExecutor(), remote=WorkerSteps())
    events = []
    there = runner.run(pipeline, "c", on_event=events.append)
    assert there.target_outputs == here.target_outputs
    assert {k: v for k, v in there.namespace.items() if not k.endswith("pid")} == \
        {k: v for k, v in here.namespace.items() if not k.endswith("pid")}
    assert there.namespace["x"] == [1, 2, 99]  # b's in-place change reached c
    assert there.namespace["b_pid"] not in (os.getpid(), there.namespace["parent_pid"])
    running = [(e.name, e.worker) for e in events if e.status == "running"]
    assert sorted(set(running), key=running.index) == [("a", None), ("b", "local"), ("c", None)]
    assert any(e.reason.startswith("worker 'local': running in process") for e in events)
    # b's captured stdout came back with its result
    entry = runner.store.get(there.plan.step("b").key)
    assert entry.outputs == [{"output_type": "stream", "name": "stdout", "text": "b says [1, 2, 3]\n"}]
    again = runner.run(pipeline, "c")
    assert again.executed == [] and again.target_from_cache


def test_target_on_local_streams_its_stdout_and_shows_its_error(env, capsys):
    pipeline, _ = pipe_with_workers([
        ("n = 3", "a", []),
        ("for i in range(n):\n    print('line', i)\n1 / 0", "b", ["a"]),
    ], {"b": "local"})
    runner = PipelineRunner(CacheStore(env / "c"), PythonExecutor(), remote=WorkerSteps())
    with pytest.raises(ComponentError) as info:
        runner.run(pipeline, "b")
    assert capsys.readouterr().out == "line 0\nline 1\nline 2\n"
    err = info.value
    assert err.ename == "ZeroDivisionError" and err.component_name == "b"
    text = "".join(err.traceback)
    assert "1 / 0" in text and "cellpipe" not in text.replace("<component b>", "")
    assert runner.store.last_failed_key("b") == runner.plan(pipeline, "b").step("b").key


def test_unknown_alias_fails_naming_it_and_nothing_runs(env, tmp_path):
    marker = tmp_path / "ran"
    pipeline, _ = pipe_with_workers([
        (f"open({str(marker)!r}, 'w').write('a')", "a", []),
        ("y = 1", "b", ["a"]),
    ], {"b": "nowhere"})
    runner = PipelineRunner(CacheStore(env / "c"), PythonExecutor(), remote=WorkerSteps())
    started = time.monotonic()
    with pytest.raises(ComponentError) as info:
        runner.run(pipeline, "b")
    assert time.monotonic() - started < 5
    assert info.value.ename == "UnknownWorker"
    assert "'nowhere'" in str(info.value) and "cellpipe workers add nowhere" in str(info.value)
    assert not marker.exists()  # not even the local ancestor ran


def test_two_branches_on_local_with_two_jobs_overlap_and_the_join_sees_both(env):
    pipeline, _ = pipe_with_workers([
        ("base = 10", "root", []),
        ("import time\ntime.sleep(1.0)\nleft = base + 1", "left", ["root"]),
        ("import time\ntime.sleep(1.0)\nright = base + 2", "right", ["root"]),
        ("total = left + right", "join", ["left", "right"]),
    ], {"left": "local", "right": "local"})
    runner = PipelineRunner(CacheStore(env / "c"), PythonExecutor(), remote=WorkerSteps(2))
    res = runner.run(pipeline, "join")
    assert res.namespace["total"] == 23
    (l0, l1), (r0, r1) = res.intervals["left"], res.intervals["right"]
    assert l0 < r1 and r0 < l1, res.intervals  # the two ran at the same time
    # with one job they take turns
    runner.remote.jobs = 1
    res = runner.run(pipeline, "join", force=True)
    (l0, l1), (r0, r1) = res.intervals["left"], res.intervals["right"]
    assert l1 <= r0 or r1 <= l0, res.intervals


def test_an_error_in_one_branch_cancels_the_other(env, tmp_path):
    marker = tmp_path / "slow-finished"
    pipeline, _ = pipe_with_workers([
        ("base = 1", "root", []),
        (f"import time\ntime.sleep(5)\nopen({str(marker)!r}, 'w').write('x')\nslow = 1",
         "slow", ["root"]),
        ("import time\ntime.sleep(0.3)\nraise ValueError('bad branch')", "bad", ["root"]),
        ("z = slow", "join", ["slow", "bad"]),
    ], {"slow": "local", "bad": "local"})
    runner = PipelineRunner(CacheStore(env / "c"), PythonExecutor(), remote=WorkerSteps(2))
    started = time.monotonic()
    with pytest.raises(ComponentError, match="bad branch"):
        runner.run(pipeline, "join")
    assert time.monotonic() - started < 4
    time.sleep(5.5 - (time.monotonic() - started))
    assert not marker.exists()  # the slow branch was cancelled, not left running
    assert runner.remote.inflight == {}


def test_unpicklable_input_cannot_be_shipped(env):
    pipeline, _ = pipe_with_workers([
        ("import threading\nlock = threading.Lock()\nn = 1", "a", []),
        ("m = n + 1", "b", ["a"]),
    ], {"b": "local"})
    runner = PipelineRunner(CacheStore(env / "c"), PythonExecutor(), remote=WorkerSteps())
    with pytest.raises(ComponentError, match="cannot be shipped") as info:
        runner.run(pipeline, "b")
    assert info.value.component_name == "b"


def test_notebook_holds_only_the_alias(env):
    reg = WorkerRegistry()
    reg.add(WorkerSpec("gpu-box", "redis://:hunter2@127.0.0.1:6399/0", "file:///tmp/s"))
    _, nb = pipe_with_workers([("x = 1", "a", [])], {"a": "gpu-box"})
    text = json.dumps(nb)
    assert '"worker": "gpu-box"' in text and "hunter2" not in text and "6399" not in text


def test_big_arrays_and_frames_travel_both_ways(env):
    """Values the cache keeps out of band (a big array in a memfd, a pandas frame) are
    shipped to a task and come back intact; the task may write into its inputs."""
    pytest.importorskip("pandas")
    pipeline, _ = pipe_with_workers([
        ("import numpy as np, pandas as pd\nbig = np.arange(4_000_000, dtype='float64')\n"
         "df = pd.DataFrame({'a': np.arange(1000), 'b': np.ones(1000)})", "make", []),
        ("big[:10] = -1\ntotal = float(big.sum())\ndf['c'] = df['a'] * 2\n"
         "out = np.sqrt(np.abs(big))", "remote", ["make"]),
        ("check = (float(out[11]), int(df['c'].sum()), total, float(big[0]))", "join",
         ["remote"]),
    ], {"remote": "local"})
    runner = PipelineRunner(CacheStore(env / "c"), PythonExecutor(), remote=WorkerSteps())
    res = runner.run(pipeline, "join")
    n = 4_000_000
    expected_total = float(n * (n - 1) / 2 - sum(range(10)) - 10)
    assert res.namespace["check"] == (11.0 ** 0.5, 2 * sum(range(1000)), expected_total, -1.0)
    # the producer's own entry is untouched by the task's in-place write
    made = runner.store.get(res.plan.step("make").key)
    from cellpipe.cache import load_value

    assert float(load_value(made.variables["big"], {})[0]) == 0.0


def test_a_changed_registration_is_used_by_the_next_run(env, redis_server):
    """A long-lived runner (a kernel) follows the registry: re-pointing an alias takes
    effect at the next run, removing it makes the next run fail naming it."""
    from processes import free_port

    reg = WorkerRegistry()
    reg.add(WorkerSpec("moving", f"redis://127.0.0.1:{free_port()}/0", (env / "s").as_uri()))
    pipeline, _ = pipe_with_workers([("v = 1", "a", [])], {"a": "moving"})
    runner = PipelineRunner(CacheStore(env / "c"), PythonExecutor(), remote=WorkerSteps())
    with pytest.raises(ComponentError, match="cannot reach its queue"):
        runner.run(pipeline, "a")
    reg.add(WorkerSpec("moving", redis_server.url, (env / "s").as_uri()))
    with pytest.raises(ComponentError, match="no worker is serving it"):
        runner.run(pipeline, "a")
    reg.remove("moving")
    with pytest.raises(ComponentError, match="'moving', which is not registered"):
        runner.run(pipeline, "a")


def test_objects_shared_between_variables_stay_shared_both_ways(env):
    """Variables kept together (they share objects) travel to a task and back as one
    group: identity holds in the task and in what it sends back, big buffers included."""
    pytest.importorskip("numpy")
    pipeline, _ = pipe_with_workers([
        ("import numpy as np\nx = {'v': 1, 'arr': np.zeros(300_000)}\nholder = [x]\nalias = x",
         "make", []),
        ("there = (holder[0] is x, alias is x)\nholder[0]['v'] = 2\nx['arr'][0] = 5\n"
         "pair = [x, x]\nbig = np.ones(300_000)\nbox = [big]", "remote", ["make"]),
        ("check = (there, holder[0] is x, alias is x, pair[0] is x, pair[1] is x, x['v'], "
         "float(holder[0]['arr'][0]), box[0] is big, float(big.sum()))", "join", ["remote"]),
    ], {"remote": "local"})
    runner = PipelineRunner(CacheStore(env / "c"), PythonExecutor(), remote=WorkerSteps())
    res = runner.run(pipeline, "join")
    assert res.namespace["check"] == ((True, True), True, True, True, True, 2, 5.0, True,
                                      300_000.0)


def test_a_task_changing_an_object_in_place_also_sends_back_the_containers_kept_with_it(env):
    pipeline, _ = pipe_with_workers([
        ("x = {'v': 1}\nholder = [x]", "make", []),
        ("x['v'] = 2", "remote", ["make"]),
        ("check = (holder[0] is x, holder[0]['v'])", "join", ["remote"]),
    ], {"remote": "local"})
    runner = PipelineRunner(CacheStore(env / "c"), PythonExecutor(), remote=WorkerSteps())
    assert runner.run(pipeline, "join").namespace["check"] == (True, 2)
    again = runner.run(pipeline, "join", rerun_target=True)
    assert again.reused == ["make", "remote"] and again.namespace["check"] == (True, 2)
