"""`cellpipe sweep` as a user runs it: combinations as tasks on `local` or an RQ alias,
shared ancestors run once, errors in their rows, Optuna searches that resume."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import nbformat
import psutil
import pytest
from processes import start_worker, stop
from remoteutil import pipe_with_workers


@pytest.fixture
def env(tmp_path):
    return {**os.environ, "CELLPIPE_CONFIG_DIR": str(tmp_path / "config"),
            "CELLPIPE_CACHE_DIR": str(tmp_path / "cache")}


def write(tmp_path, cells, parameters, workers=None):
    _, nb = pipe_with_workers(cells, workers or {}, parameters)
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, str(path))
    return path


def sweep(env, *args, timeout=180):
    return subprocess.run([sys.executable, "-m", "cellpipe.cli", "sweep", *map(str, args)],
                          env=env, capture_output=True, text=True, timeout=timeout)


def rows_of(result):
    assert result.stdout.strip(), result.stderr
    return json.loads(result.stdout)


def logged(log):
    return log.read_text().splitlines() if log.exists() else []


def chain_with_log(tmp_path, train_code):
    """prep (reads no parameter) -> feat (reads scale) -> train (reads lr), each appending
    its name to a log when it runs."""
    log = tmp_path / "runs.log"
    note = f"open({str(log)!r}, 'a').write"
    return log, write(tmp_path, [
        (f"{note}('prep\\n')\ndata = list(range(10))", "prep", []),
        (f"{note}(f'feat {{scale}}\\n')\nfeats = [d * scale for d in data]", "feat", ["prep"]),
        (f"{note}(f'train {{lr}} {{scale}}\\n')\n{train_code}", "train", ["feat"]),
    ], {"lr": {"type": "float", "value": 0.1}, "scale": {"type": "int", "value": 1}})


def test_grid_shares_what_reads_no_swept_parameter_and_runs_two_at_once(env, tmp_path):
    log, path = chain_with_log(tmp_path, (
        "import time\nstart = time.time()\ntime.sleep(0.6)\n"
        "loss = sum(feats) * lr\nend = time.time()\nlabel = f'lr={lr}'\nbig = list(range(5000))"))
    r = sweep(env, path, "--target", "train", "-p", "lr=0.1,0.2", "-p", "scale=1,2",
              "--jobs", "2", "--json")
    assert r.returncode == 0, r.stderr
    rows = rows_of(r)
    assert [row["params"] for row in rows] == [
        {"lr": 0.1, "scale": 1}, {"lr": 0.1, "scale": 2},
        {"lr": 0.2, "scale": 1}, {"lr": 0.2, "scale": 2}]
    assert [row["values"]["loss"] for row in rows] == pytest.approx([4.5, 9.0, 9.0, 18.0])
    assert rows[0]["values"]["label"] == "lr=0.1" and "big" not in rows[0]["values"]
    assert {row["status"] for row in rows} == {"done"}
    assert all(row["seconds"] >= 0.6 for row in rows) and "error" not in rows[0]
    runs = logged(log)
    # executions per component: prep once, feat once per scale, train once per combination
    assert runs.count("prep") == 1
    assert sorted(x for x in runs if x.startswith("feat")) == ["feat 1", "feat 2"]
    assert len([x for x in runs if x.startswith("train")]) == 4
    # --jobs 2 on `local`: two combinations ran at once
    spans = sorted((row["values"]["start"], row["values"]["end"]) for row in rows)
    assert any(b[0] < a[1] for a, b in zip(spans, spans[1:], strict=False))

    again = sweep(env, path, "--target", "train", "-p", "lr=0.1,0.2", "-p", "scale=1,2",
                  "--json")
    assert again.returncode == 0, again.stderr
    assert logged(log) == runs  # nothing executed
    cached = rows_of(again)
    assert {row["status"] for row in cached} == {"cached"}
    assert [(c["params"], c["values"], c["seconds"]) for c in cached] == [
        (row["params"], row["values"], row["seconds"]) for row in rows]
    # a combination is an ordinary run: `cellpipe run` with its values would run nothing
    plan = subprocess.run([sys.executable, "-m", "cellpipe.cli", "plan", str(path), "-t",
                           "train", "-p", "lr=0.2", "-p", "scale=2", "--json"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert [s["action"] for s in json.loads(plan.stdout)[0]["steps"]] == ["cache"] * 3
    table = sweep(env, path, "--target", "train", "-p", "lr=0.1,0.2", "-p", "scale=1",
                  "--objective", "loss", "--maximize", "--report", "loss,label")
    assert table.returncode == 0, table.stderr
    lines = [ln for ln in table.stdout.splitlines() if "cached" in ln]
    assert len(lines) == 2 and "*" in lines[1] and "*" not in lines[0]  # best: lr=0.2


def test_a_failing_combination_is_reported_in_its_row_and_the_others_finish(env, tmp_path):
    log, path = chain_with_log(tmp_path, (
        "if lr > 0.15:\n    raise ValueError(f'lr {lr} is too big')\nloss = lr"))
    r = sweep(env, path, "-t", "train", "-p", "lr=0.1,0.2,0.05", "--json")
    assert r.returncode == 1
    rows = rows_of(r)
    assert [row["status"] for row in rows] == ["done", "error", "done"]
    assert rows[1]["error"] == "train: ValueError: lr 0.2 is too big"
    assert rows[1]["params"] == {"lr": 0.2} and rows[2]["values"] == {"loss": 0.05}
    assert logged(log).count("prep") == 1
    # its traceback (the user's frames only) on stderr, once
    assert r.stderr.count("raise ValueError(f'lr {lr} is too big')") == 1
    assert "error with lr=0.2" in r.stderr and "cellpipe/" not in r.stderr
    table = sweep(env, path, "-t", "train", "-p", "lr=0.1,0.2")
    assert table.returncode == 1
    assert "ValueError: lr 0.2 is too big" in table.stdout and "cached" in table.stdout


def test_jobs_two_on_an_rq_alias_run_in_its_workers(env, tmp_path, redis_server):
    store = (tmp_path / "store").as_uri()
    subprocess.run([sys.executable, "-m", "cellpipe.cli", "workers", "add", "box", "--queue",
                    redis_server.url, "--store", store], env=env, check=True,
                   capture_output=True)
    workers = start_worker("box", redis_server.url, store, env=env, concurrency=2)
    try:
        path = write(tmp_path, [
            ("import os\nbase = 10\nprep_pid = os.getpid()", "prep", []),
            ("import os, time\nstart = time.time()\ntime.sleep(1.0)\nend = time.time()\n"
             "y = base + x\npid = os.getpid()", "train", ["prep"]),
        ], {"x": {"type": "int", "value": 0}}, {"train": "box"})
        r = sweep(env, path, "-t", "train", "-p", "x=1,2", "--jobs", "2", "--json")
    finally:
        stop(workers)
    assert r.returncode == 0, r.stderr
    rows = rows_of(r)
    assert [row["values"]["y"] for row in rows] == [11, 12]
    (s0, e0), (s1, e1) = ((row["values"]["start"], row["values"]["end"]) for row in rows)
    assert s0 < e1 and s1 < e0  # at once, on the alias's two work horses
    pids = {row["values"]["pid"] for row in rows}
    assert len(pids) == 2 and os.getpid() not in pids


QUADRATIC = [("import math\nshift = 2.0", "prep", []),
             ("loss = (x - shift) ** 2", "f", ["prep"])]


def test_optuna_finds_the_minimum_and_a_list_is_searched_as_a_grid(env, tmp_path):
    path = write(tmp_path, QUADRATIC, {"x": {"type": "float", "value": 0.0}})
    r = sweep(env, path, "-t", "f", "-p", "x=-10..10", "--trials", "40", "--objective",
              "loss", "--minimize", "--seed", "1", "--jobs", "2", "--json")
    assert r.returncode == 0, r.stderr
    rows = rows_of(r)
    assert len(rows) == 40
    # TPE ends below 0.05 in 40 trials on every seed tried (0-29, two trials in flight);
    # 40 random trials would miss that about 4 times in 10
    best = min(rows, key=lambda row: row["values"]["loss"])
    assert best["values"]["loss"] < 0.05 and abs(best["params"]["x"] - 2) < 0.23
    assert all(-10 <= row["params"]["x"] <= 10 for row in rows)
    grid = sweep(env, path, "-t", "f", "-p", "x=1,2,3,4", "--trials", "10", "--objective",
                 "loss", "--json")
    assert grid.returncode == 0, grid.stderr
    assert sorted(row["params"]["x"] for row in rows_of(grid)) == [1.0, 2.0, 3.0, 4.0]


def test_a_search_stopped_with_ctrl_c_resumes_its_study(env, tmp_path):
    optuna = pytest.importorskip("optuna")
    pids = tmp_path / "pids"
    path = write(tmp_path, QUADRATIC[:1] + [(
        f"import os, time\nopen({str(pids)!r}, 'a').write(f'{{os.getpid()}}\\n')\n"
        "time.sleep(0.7)\nloss = (x - shift) ** 2", "f", ["prep"])],
        {"x": {"type": "int", "value": 0}})
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    args = [path, "-t", "f", "-p", "x=-5..5", "--trials", "6", "--objective", "loss",
            "--storage", storage, "--study", "s1", "--seed", "3"]
    proc = subprocess.Popen([sys.executable, "-m", "cellpipe.cli", "sweep", *map(str, args)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    complete = optuna.trial.TrialState.COMPLETE
    deadline = time.monotonic() + 60
    done = 0
    while time.monotonic() < deadline:
        try:
            trials = optuna.load_study(study_name="s1", storage=storage).get_trials()
        except KeyError:  # not created yet
            trials = []
        done = sum(t.state == complete for t in trials)
        if done >= 2 and len(pids.read_text().split()) > done:
            break
        time.sleep(0.1)
    assert done >= 2
    proc.send_signal(signal.SIGINT)
    out, errtext = proc.communicate(timeout=30)
    assert proc.returncode == 130, errtext
    assert "interrupted" in errtext
    for pid in map(int, pids.read_text().split()):  # no trial goes on running
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"
    before = optuna.load_study(study_name="s1", storage=storage).get_trials()
    kept = sum(t.state == complete for t in before)
    assert 2 <= kept < 6
    r = sweep(env, *args, "--json")
    assert r.returncode == 0, r.stderr
    assert len(rows_of(r)) == 6 - kept
    assert "study best: loss=" in r.stderr  # over the whole study
    wrong = sweep(env, *args, "--maximize")
    assert wrong.returncode == 1 and "made to minimize" in wrong.stderr
    after = optuna.load_study(study_name="s1", storage=storage).get_trials()
    assert sum(t.state == complete for t in after) == 6
    numbers = [t.number for t in after]
    assert numbers == list(range(len(after)))  # numbering went on from where it stopped
    assert min(t.number for t in after[len(before):]) == len(before)


def test_axes_are_typed_by_their_parameter_and_make_the_grid():
    from cellpipe.engine.sweep import Row, grid, mark_best, parse_axis
    from cellpipe.model import Parameter, Pipeline
    from cellpipe.model.errors import ParameterError

    pipe = Pipeline((), {"lr": Parameter("lr", "float", 0.1), "n": Parameter("n", "int", 1),
                         "opt": Parameter("opt", "str", "sgd")})
    lr, n, opt = (parse_axis(pipe, t) for t in ("lr=0.1,1e-2", "n=2..8", "opt=sgd,adam"))
    assert lr.values == (0.1, 0.01) and not lr.is_range
    assert (n.low, n.high, n.log, n.is_range) == (2, 8, False, True)
    assert parse_axis(pipe, "lr=1e-4..1e-1:log").log
    assert grid([lr, opt]) == [{"lr": 0.1, "opt": "sgd"}, {"lr": 0.1, "opt": "adam"},
                               {"lr": 0.01, "opt": "sgd"}, {"lr": 0.01, "opt": "adam"}]
    for bad in ("lr=x,y", "nope=1,2", "n=8..2", "lr=0..1:log", "lr"):
        with pytest.raises(ParameterError):
            parse_axis(pipe, bad)
    with pytest.raises(ParameterError, match="--trials"):
        grid([n])
    rows = [Row({"lr": 1}, "done", {"loss": 3.0}), Row({"lr": 2}, "error"),
            Row({"lr": 3}, "cached", {"loss": 1.0})]
    assert mark_best(rows, "loss", "minimize") is rows[2] and rows[2].best
    assert rows[1].as_json() == {"params": {"lr": 2}, "values": {}, "status": "error",
                                 "error": "", "seconds": 0.0}


def test_the_sweep_benchmark_prints_its_ratio():
    bench = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "bench_sweep.py")
    proc = subprocess.run([sys.executable, bench, "--quick"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"--jobs 2 [\d.]+ s: ratio [\d.]+ \(goal", proc.stdout)
    assert re.search(r"trivial combination: \d+ ms as a `local` task", proc.stdout)


def test_an_unreachable_worker_fails_the_sweep_in_one_line_before_anything_runs(env, tmp_path):
    subprocess.run([sys.executable, "-m", "cellpipe.cli", "workers", "add", "dead", "--queue",
                    "redis://127.0.0.1:1/0", "--store",  # nothing listens on port 1
                    (tmp_path / "store").as_uri()], env=env, check=True, capture_output=True)
    log, path = chain_with_log(tmp_path, "loss = lr")
    nb = nbformat.read(str(path), as_version=4)
    nb.cells[2].metadata["cellpipe"]["worker"] = "dead"
    nbformat.write(nb, str(path))
    r = sweep(env, path, "-t", "train", "-p", "lr=0.1,0.2")
    assert r.returncode == 1
    # prep and feat, bound to no worker, run on the target's alias too: prep is checked first
    assert r.stderr.strip().startswith("Error: prep: worker 'dead' is unavailable")
    assert len(r.stderr.strip().splitlines()) == 1
    assert logged(log) == []  # prep and feat did not run either
