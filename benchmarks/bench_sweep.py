"""Sweep benchmarks, each against a baseline measured in the same run:

1. four combinations whose target sleeps 2 s: wall time with --jobs 2 / with --jobs 1
   (goal <= 0.6 on 2 cores), the shared ancestor run once in each;
2. the cost of one trivial combination as a `local` task (the sweep's way) against the
   same run in this process (PipelineRunner + PythonExecutor) and a kernel start (the
   other candidates; docs/sweeps.md says why tasks).

    python benchmarks/bench_sweep.py [--quick]

Uses private cache and config directories in a temp dir; starts no server.
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(tempfile.mkdtemp(prefix="cellpipe-bench-sweep-"))
atexit.register(shutil.rmtree, ROOT, True)
os.environ["CELLPIPE_CONFIG_DIR"] = str(ROOT / "config")
os.environ["CELLPIPE_CACHE_DIR"] = str(ROOT / "cache")

from cellpipe.cache import CacheStore  # noqa: E402
from cellpipe.engine import PipelineRunner, PythonExecutor  # noqa: E402
from cellpipe.engine.sweep_run import SweepRunner  # noqa: E402
from cellpipe.model import Component, Parameter, Pipeline  # noqa: E402
from cellpipe.remote import WorkerSteps  # noqa: E402


def pipeline(sleep: float) -> Pipeline:
    return Pipeline((
        Component("prep", "prep", "data = list(range(1000))"),
        Component("train", "train", f"import time\ntime.sleep({sleep})\nloss = sum(data) * lr",
                  ("prep",)),
    ), {"lr": Parameter("lr", "float", 0.0)})


def sweep_seconds(pipe: Pipeline, values: list[float], jobs: int, cache: Path) -> float:
    """Wall time of a sweep over lr with a fresh cache (the shared prep runs once)."""
    runner = SweepRunner(pipe, "train", CacheStore(cache), WorkerSteps(jobs), jobs=jobs)
    start = time.perf_counter()
    for lr in values:
        runner.add(pipe.parameter_values({"lr": lr}), {"lr": lr})
    rows = runner.run()
    took = time.perf_counter() - start
    assert [r.status for r in rows] == ["done"] * len(values), rows
    assert runner.executed.count("prep") <= 1  # shared: once at most
    return took


def parallel(sleep: float) -> None:
    pipe = pipeline(sleep)
    values = [0.1, 0.2, 0.3, 0.4]
    sweep_seconds(pipe, [9.0], 1, ROOT / "warm")  # fork server up
    one = sweep_seconds(pipe, values, 1, ROOT / "jobs1")
    two = sweep_seconds(pipe, values, 2, ROOT / "jobs2")
    print(f"four {sleep:g}-second combinations: --jobs 1 {one:.2f} s, --jobs 2 {two:.2f} s: "
          f"ratio {two / one:.2f} (goal <= 0.6 on 2 cores)")


def overhead(repeats: int) -> None:
    pipe = pipeline(0.0)
    as_task, in_process = [], []
    for i in range(repeats + 1):
        lr = 1.0 + i
        took = sweep_seconds(pipe, [lr], 1, ROOT / "tasks")
        if i:
            as_task.append(took)
        runner = PipelineRunner(CacheStore(ROOT / "inproc"), PythonExecutor())
        start = time.perf_counter()
        runner.run(pipe, "train", {"lr": lr}, materialize=False)
        if i:
            in_process.append(time.perf_counter() - start)
    from cellpipe.cli.kernel_driver import PipelineKernel

    start = time.perf_counter()
    with PipelineKernel(cwd=str(ROOT)):
        kernel = time.perf_counter() - start
    task_ms = statistics.median(as_task) * 1000
    here_ms = statistics.median(in_process) * 1000
    print(f"one trivial combination: {task_ms:.0f} ms as a `local` task, {here_ms:.0f} ms in "
          f"this process ({task_ms - here_ms:.0f} ms more); a kernel start: {kernel:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="0.5-second combinations")
    args = parser.parse_args()
    parallel(0.5 if args.quick else 2.0)
    overhead(3 if args.quick else 10)


if __name__ == "__main__":
    sys.exit(main())
