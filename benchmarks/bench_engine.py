"""Engine benchmarks: overhead per component, cache hits, passing big arrays.

Prints figures and ratios against baselines measured in the same run:
    python benchmarks/bench_engine.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from IPython.core.interactiveshell import InteractiveShell

from cellpipe.cache import CacheStore
from cellpipe.engine import PipelineRunner
from cellpipe.kernel.executor import IPythonExecutor
from cellpipe.model import Component, Pipeline


def chain(codes: list[str]) -> Pipeline:
    comps = [Component(f"c{i}", f"step {i}", code, (f"c{i - 1}",) if i else ())
             for i, code in enumerate(codes)]
    return Pipeline(tuple(comps))


def best_of(n: int, fn) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def overhead(shell: InteractiveShell, n: int, repeats: int) -> None:
    codes = ["x0 = 0"] + [f"x{i} = x{i - 1} + 1" for i in range(1, n)]

    def plain() -> None:
        for code in codes:
            shell.run_cell(code, store_history=False)

    def via(disk: bool, wait_for_disk: bool = False) -> float:
        times = []
        for _ in range(repeats):
            with tempfile.TemporaryDirectory() as tmp:
                store = CacheStore(Path(tmp) if disk else None)
                runner = PipelineRunner(store, IPythonExecutor(shell))
                start = time.perf_counter()
                result = runner.run(chain(codes), f"c{n - 1}")
                if wait_for_disk:
                    store.flush()
                times.append(time.perf_counter() - start)
                store.flush()
                assert result.namespace[f"x{n - 1}"] == n - 1 and len(result.executed) == n
        return min(times)

    base = best_of(repeats, plain)
    mem = via(False)
    disk = via(True)
    disk_done = via(True, wait_for_disk=True)
    print(f"[overhead] {n}-component chain of trivial cells, best of {repeats}")
    print(f"  plain InteractiveShell.run_cell : {base * 1e3:8.1f} ms ({base / n * 1e3:.3f} ms/cell)")
    for label, t in (("cellpipe, memory cache", mem), ("cellpipe, disk cache  ", disk),
                     ("  ... until on disk   ", disk_done)):
        per = (t - base) / n * 1e3
        verdict = "OK" if per < 1.0 else "OVER GOAL"
        print(f"  {label}          : {t * 1e3:8.1f} ms -> overhead {per:.3f} ms/component "
              f"(goal < 1 ms: {verdict}); ratio to plain {t / base:.2f}x")
    print("  (disk entries are written by a background thread; the run returns before they land)")


def cache_hit(shell: InteractiveShell, depth: int, seconds: float) -> None:
    codes = [f"import time\nv0 = 0\ntime.sleep({seconds!r})"] + [
        f"time.sleep({seconds!r})\nv{i} = v{i - 1} + 1" for i in range(1, depth - 1)
    ] + [f"leaf = v{depth - 2} * 2"]
    pipeline = chain(codes)
    with tempfile.TemporaryDirectory() as tmp:
        runner = PipelineRunner(CacheStore(Path(tmp)), IPythonExecutor(shell))
        start = time.perf_counter()
        runner.run(pipeline, f"c{depth - 1}")
        cold = time.perf_counter() - start
        runner.store.flush()
        warm = best_of(3, lambda: runner.run(pipeline, f"c{depth - 1}", rerun_target=True))

        stores: list[CacheStore] = []

        def restarted() -> None:  # a new kernel: nothing in memory, all from disk
            stores.append(CacheStore(Path(tmp)))
            fresh = PipelineRunner(stores[-1], IPythonExecutor(shell))
            res = fresh.run(pipeline, f"c{depth - 1}", rerun_target=True)
            assert res.executed == [f"c{depth - 1}"]

        disk = best_of(3, restarted)
        for store in stores:
            store.flush()
    print(f"[cache hit] re-run the leaf of a {depth}-deep chain, ancestors {seconds * 1e3:.0f} ms each")
    print(f"  cold run                 : {cold:8.3f} s")
    for label, t in (("warm (memory)", warm), ("after restart (disk)", disk)):
        ratio = t / cold * 100
        print(f"  {label:<24} : {t:8.4f} s = {ratio:.2f}% of cold "
              f"(goal < 5%: {'OK' if ratio < 5 else 'OVER GOAL'})")


def big_array(shell: InteractiveShell, megabytes: int, length: int) -> None:
    n = megabytes * 1024 * 1024 // 8
    codes = [f"import numpy as np\narr = np.ones({n})"] + [
        f"s{i} = float(arr[::4096].sum())" for i in range(1, length)
    ]
    pipeline = chain(codes)
    arrays = {"src": np.ones(n), "dst": np.empty(n)}
    warm_memcpy = best_of(3, lambda: np.copyto(arrays["dst"], arrays["src"]))
    memcpy = best_of(3, lambda: arrays["src"].copy())  # what a consumer's own copy costs
    arrays.clear()

    def plain() -> None:
        ns: dict = {}
        for code in codes:
            exec(code, ns)

    base = best_of(2, plain)

    def via() -> None:
        runner = PipelineRunner(CacheStore(None), IPythonExecutor(shell))
        runner.run(pipeline, f"c{length - 1}")

    t = best_of(2, via)
    consumers = length - 1
    per = (t - base) / consumers
    ratio = per / memcpy
    print(f"[big array] {megabytes} MB numpy array down a {length}-component chain "
          f"({consumers} consumers)")
    print(f"  one memcpy of the array  : {memcpy * 1e3:8.1f} ms (arr.copy(), new memory); "
          f"{warm_memcpy * 1e3:.1f} ms into memory already touched")
    print(f"  plain exec of the cells  : {base * 1e3:8.1f} ms")
    print(f"  cellpipe cold run        : {t * 1e3:8.1f} ms -> {per * 1e3:.1f} ms per consumer "
          f"= {ratio:.2f}x memcpy (goal < 2x: {'OK' if ratio < 2 else 'OVER GOAL'}); "
          f"{per / warm_memcpy:.2f}x the warm memcpy")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller sizes (CI smoke run)")
    args = parser.parse_args()
    shell = InteractiveShell.instance()
    if args.quick:
        overhead(shell, 50, 2)
        cache_hit(shell, 10, 0.02)
        big_array(shell, 50, 4)
    else:
        overhead(shell, 200, 5)
        cache_hit(shell, 50, 0.1)
        big_array(shell, 500, 10)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
