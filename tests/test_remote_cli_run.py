"""`cellpipe run` (a real kernel) with components bound to workers."""

import json
import os
import subprocess
import sys

import nbformat
import pytest
from remoteutil import pipe_with_workers


@pytest.fixture
def env(tmp_path):
    return {**os.environ, "CELLPIPE_CONFIG_DIR": str(tmp_path / "config"),
            "CELLPIPE_CACHE_DIR": str(tmp_path / "cache")}


def write(tmp_path, cells, workers):
    _, nb = pipe_with_workers(cells, workers)
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, str(path))
    return path


def run(env, *args):
    return subprocess.run([sys.executable, "-m", "cellpipe.cli", "run", *args], env=env,
                          capture_output=True, text=True, timeout=180)


def test_cellpipe_run_with_two_local_jobs_overlaps_branches_and_shows_the_remote_target(
        env, tmp_path):
    """Both branches and the join run on `local`: with --jobs 2 the branches overlap; the
    join's stdout and its value reach the terminal, and the written notebook, once."""
    path = write(tmp_path, [
        ("import time\nbase = 1", "root", []),
        ("import time\nleft = (time.time(), base)\ntime.sleep(1.0)\nleft_end = time.time()",
         "left", ["root"]),
        ("import time\nright = (time.time(), base)\ntime.sleep(1.0)\nright_end = time.time()",
         "right", ["root"]),
        ("import json, os\nprint(json.dumps([left[0], left_end, right[0], right_end]))\n"
         "print('join ran in', 'a task' if os.getppid() != 1 else '?')\n{'answer': 42}",
         "join", ["left", "right"]),
    ], {"left": "local", "right": "local", "join": "local"})
    r = run(env, str(path), "--jobs", "2", "-o", str(tmp_path / "out.ipynb"))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    l0, l1, r0, r1 = json.loads(next(ln for ln in lines if ln.startswith("[")))
    assert l0 < r1 and r0 < l1  # the branches overlapped
    assert "join ran in a task" in r.stdout and "{'answer': 42}" in r.stdout
    out = nbformat.read(str(tmp_path / "out.ipynb"), as_version=4)
    texts = "".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", ""))
                    for o in out.cells[3].outputs)
    assert texts.count("join ran in a task") == 1 and texts.count("'answer': 42") == 1


def test_cellpipe_run_with_an_unknown_worker_fails_naming_it(env, tmp_path):
    marker = tmp_path / "ran"
    path = write(tmp_path, [
        (f"open({str(marker)!r}, 'w').write('x')", "prep", []),
        ("y = 2", "train", ["prep"]),
    ], {"train": "gpu-box"})
    r = run(env, str(path))
    assert r.returncode == 1
    # one line, before any kernel started (no run header), naming component and alias
    assert r.stderr.strip().splitlines() == [
        "Error: component 'train' is bound to worker 'gpu-box', which is not registered "
        "here: register it with `cellpipe workers add gpu-box --queue URL --store URL` (or "
        "pick another worker; `cellpipe workers list` shows them)"]
    assert not marker.exists()
    # --force and --no-cache check the same way; a target whose own ancestor is bound
    # fails as well, naming that ancestor
    for flags in (["--force"], ["--no-cache"]):
        r = run(env, str(path), *flags)
        assert r.returncode == 1 and "component 'train'" in r.stderr and "▶" not in r.stderr
    path = write(tmp_path, [("x = 1", "prep", []), ("y = x", "train", ["prep"])],
                 {"prep": "nowhere"})
    r = run(env, str(path), "-t", "train")
    assert r.returncode == 1
    assert "component 'prep' is bound to worker 'nowhere'" in r.stderr


def plan(env, *args):
    return subprocess.run([sys.executable, "-m", "cellpipe.cli", "plan", *args], env=env,
                          capture_output=True, text=True, timeout=60)


def test_cellpipe_plan_shows_each_steps_worker_and_names_unknown_ones(env, tmp_path):
    path = write(tmp_path, [
        ("x = 1", "prep", []),
        ("y = x", "fit", ["prep"]),
        ("z = y", "report", ["fit"]),
    ], {"fit": "local", "report": "gpu-box"})
    r = plan(env, str(path), "--json")
    assert r.returncode == 0, r.stderr
    steps = {s["name"]: s for s in json.loads(r.stdout)[0]["steps"]}
    assert {n: (s["worker"], s["worker_registered"]) for n, s in steps.items()} == {
        "prep": (None, True), "fit": ("local", True), "report": ("gpu-box", False)}
    r = plan(env, str(path))
    assert r.returncode == 0, r.stderr
    rows = {line.split("│")[1].strip(): line for line in r.stdout.splitlines()
            if line.count("│") >= 4}
    assert "kernel" in rows["prep"] and "local" in rows["fit"]
    assert "gpu-box (not registered)" in rows["report"]
    assert ("note: component 'report' is bound to worker 'gpu-box', which is not registered "
            "here: register it with `cellpipe workers add gpu-box") in r.stderr
    # registered, the note goes and the alias shows plainly
    add = subprocess.run([sys.executable, "-m", "cellpipe.cli", "workers", "add", "gpu-box",
                          "--queue", "redis://127.0.0.1:1/0", "--store", "file:///tmp/x"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert add.returncode == 0, add.stderr
    r = plan(env, str(path), "--json")
    assert r.returncode == 0 and r.stderr == ""
    assert json.loads(r.stdout)[0]["steps"][2]["worker_registered"] is True

