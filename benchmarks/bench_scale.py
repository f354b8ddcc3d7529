"""Scaling benchmark: `cellpipe plan` over many sinks and `cellpipe cache export` over a long
chain, each at 1x and 10x its size, with the ratio of the times (linear: about 10; the goal
is at most 12). Times are CPU seconds of this process (the machine may be shared).

Both run through the CLI (in this process, so interpreter start-up is not timed): `plan` of a
notebook where one component feeds N sinks (its tables, and `--json`), and `cache export`
of a chain of N components whose results are all in the cache (written beforehand by the
engine, not timed). Best of --repeats runs.

    python benchmarks/bench_scale.py [--sinks 500] [--chain 150] [--repeats 3] [--quick]
"""

from __future__ import annotations

import argparse
import functools
import gc
import io
import os
import tempfile
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import nbformat
from click.testing import CliRunner

from cellpipe.cache import CacheStore
from cellpipe.cli import main
from cellpipe.engine import PipelineRunner, PythonExecutor
from cellpipe.model import pipeline_from_notebook


def notebook(cells: list[tuple[str, str, list[str]]]) -> nbformat.NotebookNode:
    """A notebook of components (code, name, parent names); cell ids are the names."""
    nb = nbformat.v4.new_notebook()
    for code, name, parents in cells:
        cell = nbformat.v4.new_code_cell(code)
        cell.id = name
        cell.metadata["cellpipe"] = {"name": name, "parents": sorted(parents)}
        nb.cells.append(cell)
    nb.metadata["cellpipe"] = {"version": 1, "parameters": {}}
    return nb


def fan_out(path: Path, sinks: int) -> Path:
    """One component feeding `sinks` sink components."""
    cells = [("x = 1", "root", [])]
    cells += [(f"y{i} = x + {i}", f"sink{i}", ["root"]) for i in range(sinks)]
    nbformat.write(notebook(cells), path)
    return path


def chain(path: Path, length: int, cache: Path) -> Path:
    """A chain of `length` components, every result written to the cache at `cache`."""
    cells = [("x0 = 0", "c0", [])]
    cells += [(f"x{i} = x{i - 1} + 1", f"c{i}", [f"c{i - 1}"]) for i in range(1, length)]
    nb = notebook(cells)
    nbformat.write(nb, path)
    runner = PipelineRunner(CacheStore(cache), PythonExecutor())
    runner.run(pipeline_from_notebook(nb), f"c{length - 1}", materialize=False)
    assert runner.store.flush() == []
    return path


def forget_memoized() -> None:
    """Empty every functools cache (code analysis memoizes per code text), so each run
    starts cold as a new `cellpipe` process does: a small size must not run warm from the
    repeat before while a big one outgrows the caches."""
    for obj in gc.get_objects():
        if isinstance(obj, functools._lru_cache_wrapper):
            obj.cache_clear()


def timed(runs: list[tuple[list[str], Path]], repeats: int) -> list[float]:
    """Best CPU seconds of each `cellpipe ARGS` (with its cache) run in this process, the runs
    interleaved (their output discarded). CPU time, not wall time: on a machine shared with
    other work the wall clock measures the neighbours as much as the command."""
    best = [float("inf")] * len(runs)
    for _ in range(repeats):
        for i, (args, cache) in enumerate(runs):
            env = {"CELLPIPE_CACHE_DIR": str(cache), "COLUMNS": "120"}
            forget_memoized()
            with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
                start = time.process_time()
                result = CliRunner(env=env).invoke(main, args)
                took = time.process_time() - start
            assert result.exit_code == 0, result.output
            best[i] = min(best[i], took)
    return best


def main_(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sinks", type=int, default=500, help="sinks at 1x (default 500)")
    parser.add_argument("--chain", type=int, default=150, help="chain length at 1x (150)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1x: 100 sinks, a chain of 30, 2 repeats")
    opts = parser.parse_args(argv)
    if opts.quick:
        opts.sinks, opts.chain, opts.repeats = 100, 30, 2
    ratios = {}
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        root = Path(tmp)
        os.chdir(root)
        for what in ("plan", "plan --json", "cache export"):
            runs, labels = [], []
            for scale in (1, 10):
                cache = root / f"cache-{what[0]}{scale}"
                if what.startswith("plan"):
                    n = opts.sinks * scale
                    path = fan_out(root / f"fan{scale}.ipynb", n)
                    runs.append((what.split()[:1] + [str(path)] + what.split()[1:], cache))
                    labels.append(f"{n} sinks")
                else:
                    n = opts.chain * scale
                    path = chain(root / f"chain{scale}.ipynb", n, cache)
                    runs.append((["cache", "export", str(path), "-o",
                                  str(root / f"a{scale}.tar.gz")], cache))
                    labels.append(f"a chain of {n}")
            times = timed(runs, opts.repeats)
            for scale, label, took in zip((1, 10), labels, times, strict=True):
                print(f"{what:<12} {scale:>2}x ({label}): {took:.2f} s CPU", flush=True)
            ratios[what] = times[1] / times[0]
            print(f"{what:<12} 10x / 1x = {ratios[what]:.1f} (goal <= 12)", flush=True)
    return ratios


if __name__ == "__main__":
    main_()
