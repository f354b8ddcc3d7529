"""Inferred pipelines on real notebooks: how narrow they are, and how fast convert is.

For every notebook of tests/fixtures/real (or the ones named), prints the **edit cost** of
the pipeline `cellpipe convert` infers: the mean number of components that turn stale when
one component is edited (its descendants), relative to a chain of the same cells (1.0; a
chain is what running a notebook top to bottom amounts to). Lower is narrower: 0.1 means an
edit re-runs a tenth of what a chain would. Then the time to infer, the time `cellpipe plan`
spends on its edge check against the time it spends planning, and the time of a whole
`cellpipe convert` of a 150-cell notebook (a fresh process, as a user runs it).

    python benchmarks/bench_infer.py [NOTEBOOK ...] [--repeats 5] [--with-outputs]

--with-outputs also runs every notebook both ways (nbclient top to bottom twice, and every
sink of the converted pipeline) and prints how many stable cells give identical outputs
(slow: minutes per notebook; what tests/test_infer_real.py asserts).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT / "tests" / "fixtures" / "real"
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]  # as the CLI does

from cellpipe.cache import CacheStore  # noqa: E402
from cellpipe.engine import plan_runs  # noqa: E402
from cellpipe.model import analysis, code, dag, read_notebook  # noqa: E402
from cellpipe.model.infer import apply_inference, check_pipeline, infer_notebook  # noqa: E402
from cellpipe.model.notebook import pipeline_from_notebook  # noqa: E402


def edit_cost(parents: dict[str, tuple[str, ...]]) -> float:
    """Mean descendants per component, relative to a chain of as many components."""
    n = len(parents)
    if n < 2:
        return 0.0
    mean = statistics.fmean(len(dag.descendants(parents, c)) for c in parents)
    return mean / ((n - 1) / 2)


def cold(fn):
    """Time fn with the per-code caches empty (as a fresh convert sees the notebook)."""
    for cached in (code.transform, code.parse, analysis.analyse,
                   analysis._imports_and_stores):
        cached.cache_clear()
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def plan_and_check(nb) -> tuple[float, float]:
    """Seconds `cellpipe plan` spends planning every sink, and what the edge check adds to
    that in the same process (the code is parsed once for both: the check adds analysis)."""
    pipeline = pipeline_from_notebook(nb)
    _, plan = cold(lambda: plan_runs(pipeline, dag.sinks(pipeline.graph()),
                                     CacheStore(None), {}))
    analysis.analyse.cache_clear()
    analysis._imports_and_stores.cache_clear()
    start = time.perf_counter()
    check_pipeline(pipeline)
    return plan, time.perf_counter() - start


def best(fn, repeats: int) -> float:
    """The fastest of repeats timings of fn (the machine's noise only ever adds)."""
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--with-outputs", action="store_true")
    args = parser.parse_args()
    paths = args.notebooks or sorted(REAL.glob("*.ipynb"))
    infer_notebook(read_notebook(paths[0])[0])  # imports (IPython's transformer) once
    print(f"{'notebook':48} {'cells':>5} {'edges':>5} {'edit cost':>9} {'infer ms':>8} "
          f"{'plan ms':>7} {'+check ms':>9}")
    costs = []
    for path in paths:
        nb, _ = read_notebook(path)
        times = []
        for _ in range(args.repeats):
            inference, took = cold(lambda nb=nb: infer_notebook(nb))
            times.append(took)
        converted = apply_inference(nb, inference).notebook  # type: ignore[attr-defined]
        plan, check = plan_and_check(converted)
        cost = edit_cost(inference.parents)
        costs.append(cost)
        print(f"{path.stem[:48]:48} {len(inference.names):5} {len(inference.edges):5} "
              f"{cost:9.3f} {1000 * min(times):8.0f} {1000 * plan:7.0f} {1000 * check:9.0f}")
    print(f"mean edit cost: {statistics.fmean(costs):.3f} (a chain: 1.000)")
    big = max(paths, key=lambda p: len(read_notebook(p)[0].cells))
    cells = sum(1 for c in read_notebook(big)[0].cells if c.cell_type == "code")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.ipynb"
        cli = [sys.executable, "-m", "cellpipe.cli"]
        convert = best(lambda: subprocess.run([*cli, "convert", str(big), "-o", str(out)],
                                              check=True, capture_output=True), args.repeats)
        plan = best(lambda: subprocess.run([*cli, "plan", str(out)], check=True,
                                           capture_output=True), args.repeats)
        start = best(lambda: subprocess.run([*cli, "--version"], check=True,
                                            capture_output=True), args.repeats)
    print(f"{big.name} ({cells} code cells), whole processes: cellpipe convert "
          f"{convert:.2f} s, cellpipe plan (with its check) {plan:.2f} s, "
          f"cellpipe --version {start:.2f} s")
    if args.with_outputs:
        outputs(paths)


def outputs(paths: list[Path]) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from realnb import compare, run_as_pipeline, run_top_to_bottom

    total_same = total = 0
    for path in paths:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            reference = run_top_to_bottom(path, work / "a")
            again = run_top_to_bottom(path, work / "b")
            ran, _ = run_as_pipeline(path, work / "c", reference)
            stable, left_out, diffs = compare(reference, again, ran)
        same = len(stable) - len(diffs)
        total_same += same
        total += len(stable)
        print(f"{path.stem[:48]:48} identical {same}/{len(stable)} stable cells "
              f"({len(left_out)} left out)")
        for diff in diffs:
            print("    differs: " + diff.splitlines()[0])
    print(f"all: identical {total_same}/{total} stable cells")


if __name__ == "__main__":
    main()
