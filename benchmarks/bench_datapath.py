"""cellpipe against plain Jupyter (nbclient) on the same notebooks, in one run (issue 12).

Every case is a notebook whose cells are also cellpipe components. Plain Jupyter runs it
with nbclient (every cell, top to bottom, one fresh kernel); cellpipe runs it in one fresh
kernel with `%load_ext cellpipe` and `%cellpipe run` of the sink (the JupyterLab path), or
as a whole `cellpipe run` command against `jupyter execute`. The two are interleaved and
repeated; the figures are min and median, the ratio is cellpipe / plain on the medians.
Memory is the kernel process's peak RSS (VmHWM in /proc/<pid>/status, read just before
shutdown).

    python benchmarks/bench_datapath.py --quick          # small sizes, a minute or two
    python benchmarks/bench_datapath.py                  # the sizes of issue 12
    python benchmarks/bench_datapath.py --cases chain,array --repeat 5 --array-mb 300

Cases: chain (headless 10-component chain, whole command), overhead (per component, in
a kernel), array (big array read by 5 components), frame (2M-row frame with strings, 5
readers), big (10 components each making 500 MB, under a memory limit, then a warm run
after a restart), huge (one 5 GB array and 2 readers; only with --huge and enough RAM).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

from cellpipe.cli.kernel_driver import PipelineKernel

BIN = Path(sys.executable).parent


# --- notebooks -----------------------------------------------------------------------
def notebook(cells: list[tuple[str, str, list[str]]]) -> nbformat.NotebookNode:
    """cells: (id, code, parent ids); every cell is a component named after its id."""
    nb = nbformat.v4.new_notebook()
    for cid, code, parents in cells:
        cell = nbformat.v4.new_code_cell(code)
        cell.id = cid
        cell.metadata["cellpipe"] = {"name": cid, "parents": sorted(parents)}
        nb.cells.append(cell)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nb


def chain_nb(n: int) -> nbformat.NotebookNode:
    cells = [("c0", "x0 = 0", [])]
    cells += [(f"c{i}", f"x{i} = x{i - 1} + 1", [f"c{i - 1}"]) for i in range(1, n)]
    return notebook(cells)


def readers_nb(make: str, read: str, readers: int) -> nbformat.NotebookNode:
    """One producer, `readers` sibling components reading its value, one sink after them."""
    cells = [("make", make, [])]
    cells += [(f"read{i}", read.format(i=i), ["make"]) for i in range(readers)]
    cells.append(("done", "total = " + " + ".join(f"r{i}" for i in range(readers)),
                  [f"read{i}" for i in range(readers)]))
    return notebook(cells)


def array_nb(mb: int, readers: int) -> nbformat.NotebookNode:
    n = mb * (1 << 20) // 8
    return readers_nb(f"import numpy as np\narr = np.ones({n})",
                      "r{i} = float(arr[::1024].sum()) + {i}", readers)


def frame_nb(rows: int, readers: int) -> nbformat.NotebookNode:
    make = ("import numpy as np\nimport pandas as pd\n"
            f"df = pd.DataFrame({{'x': np.arange({rows}), 'y': np.random.default_rng(0)"
            f".random({rows}),\n    's': ['item-' + str(i % 1000) for i in range({rows})]}})")
    return readers_nb(make, "r{i} = float(df['x'].iloc[::1000].sum()) + len(df.columns) + {i}",
                      readers)


def big_nb(mb: int, count: int) -> nbformat.NotebookNode:
    n = mb * (1 << 20) // 8
    cells = [("b0", f"import numpy as np\na0 = np.full({n}, 0.0)", [])]
    cells += [(f"b{i}", f"a{i} = a{i - 1} + 1.0", [f"b{i - 1}"]) for i in range(1, count)]
    return notebook(cells)


def sink(nb: nbformat.NotebookNode) -> str:
    return str(nb.cells[-1].id)


# --- measuring ---------------------------------------------------------------------------
def peak_rss(pid: int) -> int:
    """VmHWM of a process, in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


def _status(pid: int) -> dict[str, int]:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssShmem"):
                out[key] = int(value.split()[0]) * 1024
    return out


def memfd_bytes(pid: int) -> int:
    """Bytes held in the process's memfds (cellpipe keeps stored values there, unmapped:
    VmHWM does not see them, the machine does)."""
    total = 0
    fd_dir = f"/proc/{pid}/fd"
    try:
        fds = os.listdir(fd_dir)
    except OSError:
        return 0
    seen = set()  # mmap keeps its own duplicate of the descriptor: count each memfd once
    for fd in fds:
        try:
            if os.readlink(f"{fd_dir}/{fd}").startswith("/memfd:"):
                st = os.stat(f"{fd_dir}/{fd}")
                if (st.st_dev, st.st_ino) not in seen:
                    seen.add((st.st_dev, st.st_ino))
                    total += st.st_blocks * 512
        except OSError:
            continue
    return total


class MemorySampler:
    """Samples a process's RSS plus its memfds not mapped (RSS counts mapped ones) every
    20 ms: the physical memory it holds, which VmHWM alone can under-report."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(0.02)

    def sample(self) -> None:
        try:
            st = _status(self.pid)
            held = st["VmRSS"] + max(0, memfd_bytes(self.pid) - st.get("RssShmem", 0))
        except (OSError, KeyError):
            return
        self.peak = max(self.peak, held)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        self.sample()
        return self.peak


@dataclass
class Sample:
    run: float  # seconds running the cells / the pipeline
    total: float  # start + run + shutdown
    shutdown: float
    peak: int  # kernel VmHWM, bytes
    held: int = 0  # sampled peak of RSS + unmapped memfds, bytes
    peak_written: int = 0  # VmHWM once cellpipe's background disk writes are done


def run_plain(nb: nbformat.NotebookNode, cwd: str) -> Sample:
    """nbclient, every cell in order, in a fresh kernel."""
    started = time.perf_counter()
    client = NotebookClient(nb, timeout=3600, kernel_name="python3",
                            resources={"metadata": {"path": cwd}},
                            extra_arguments=["--IPKernelApp.log_level=ERROR"])
    with client.setup_kernel():
        pid = client.km.provisioner.process.pid  # type: ignore[union-attr]
        sampler = MemorySampler(pid)
        t0 = time.perf_counter()
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
        run = time.perf_counter() - t0
        held = sampler.stop()
        peak = peak_rss(pid)
        t1 = time.perf_counter()
    shutdown = time.perf_counter() - t1
    return Sample(run, time.perf_counter() - started, shutdown, peak, held)


def run_cellpipe(nb: nbformat.NotebookNode, cwd: str, env: dict[str, str],
                 target: str | None = None) -> Sample:
    """A fresh kernel, `%load_ext cellpipe`, the notebook synced, `%cellpipe run` of target."""
    started = time.perf_counter()
    kernel = PipelineKernel(cwd=cwd, env=env, timeout=3600)
    kernel.start()
    try:
        pid = kernel.km.provisioner.process.pid  # type: ignore[union-attr]
        kernel.sync(nb)
        sampler = MemorySampler(pid)
        t0 = time.perf_counter()
        execution = kernel.run(target or sink(nb))
        run = time.perf_counter() - t0
        held = sampler.stop()
        if execution.status != "ok":
            raise RuntimeError(f"cellpipe run failed: {execution.error}")
        peak = peak_rss(pid)
        kernel.execute("from cellpipe.kernel.extension import _SESSIONS as _s\n"
                       "[s.store.flush() for s in _s.values()]", silent=True)
        written = peak_rss(pid)
    finally:
        t1 = time.perf_counter()
        kernel.shutdown()
    shutdown = time.perf_counter() - t1
    return Sample(run, time.perf_counter() - started, shutdown, peak, held, written)


def command(args: list[str], cwd: str, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    return time.perf_counter() - t0


@dataclass
class Pair:
    plain: list[Any] = field(default_factory=list)
    cellpipe: list[Any] = field(default_factory=list)


def interleaved(repeat: int, plain: Callable[[], Any], cellpipe: Callable[[], Any]) -> Pair:
    """Alternate the two (which goes first alternates too), repeat times each."""
    pair = Pair()
    for i in range(repeat):
        order = [("plain", plain), ("cellpipe", cellpipe)]
        for name, fn in order if i % 2 == 0 else order[::-1]:
            getattr(pair, name).append(fn())
    return pair


def fmt_time(values: list[float]) -> str:
    return f"min {min(values):7.3f} s  median {statistics.median(values):7.3f} s"


def fmt_mem(values: list[int]) -> str:
    return (f"min {min(values) / 2**20:7.0f} MB  median "
            f"{statistics.median(values) / 2**20:7.0f} MB")


def ratio(a: list[float], b: list[float]) -> float:
    return statistics.median(a) / statistics.median(b)


def min_ratio(a: list[float], b: list[float]) -> float:
    return min(a) / min(b)


def verdict(value: float, goal: float) -> str:
    return f"goal <= {goal}x: {'OK' if value <= goal else 'OVER GOAL'}"


def report_samples(pair: Pair, time_goal: float | None, mem_goal: float | None) -> None:
    for label, attr in (("run", "run"), ("whole (start+run+shutdown)", "total"),
                        ("shutdown", "shutdown")):
        p = [getattr(s, attr) for s in pair.plain]
        c = [getattr(s, attr) for s in pair.cellpipe]
        print(f"  {label:<27} plain    {fmt_time(p)}")
        goal = f"   ({verdict(ratio(c, p), time_goal)})" if attr == "run" and time_goal else ""
        print(f"  {'':<27} cellpipe {fmt_time(c)}   ratio {ratio(c, p):5.2f}x "
              f"(of mins {min_ratio(c, p):4.2f}x){goal}")
    p_mem = [s.peak for s in pair.plain]
    c_mem = [s.peak for s in pair.cellpipe]
    goal = f"   ({verdict(ratio(c_mem, p_mem), mem_goal)})" if mem_goal else ""
    print(f"  {'kernel peak RSS (VmHWM)':<27} plain    {fmt_mem(p_mem)}")
    print(f"  {'':<27} cellpipe {fmt_mem(c_mem)}   ratio {ratio(c_mem, p_mem):5.2f}x{goal}")
    w_mem = [s.peak_written for s in pair.cellpipe]
    print(f"  {'':<27} cellpipe {fmt_mem(w_mem)}   ratio {ratio(w_mem, p_mem):5.2f}x   "
          "(VmHWM once its background disk writes are done)")
    p_held = [s.held for s in pair.plain]
    c_held = [s.held for s in pair.cellpipe]
    print(f"  {'held (RSS + memfd, sampled)':<27} plain    {fmt_mem(p_held)}")
    print(f"  {'':<27} cellpipe {fmt_mem(c_held)}   ratio {ratio(c_held, p_held):5.2f}x")


# --- cases -----------------------------------------------------------------------------
class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.root = Path(tempfile.mkdtemp(prefix="cellpipe-bench-"))
        self.env = dict(os.environ)
        self.env.pop("JPY_SESSION_NAME", None)
        self.env.pop("CELLPIPE_MEMORY_LIMIT", None)

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def fresh_cache(self) -> dict[str, str]:
        env = dict(self.env)
        env["CELLPIPE_CACHE_DIR"] = tempfile.mkdtemp(dir=self.root, prefix="cache-")
        return env

    def write(self, name: str, nb: nbformat.NotebookNode) -> Path:
        path = self.root / f"{name}.ipynb"
        nbformat.write(nb, path)
        return path

    def chain(self) -> None:
        n = 10
        path = self.write("chain", chain_nb(n))
        cwd = str(self.root)
        print(f"[chain] headless {n}-component chain of trivial cells, whole command, "
              f"{self.args.repeat} runs each")
        pair = interleaved(
            self.args.repeat,
            lambda: command([str(BIN / "jupyter-execute"), str(path)], cwd, self.env),
            lambda: command([str(BIN / "cellpipe"), "run", str(path)], cwd, self.fresh_cache()),
        )
        print(f"  jupyter execute (nbclient)  {fmt_time(pair.plain)}")
        r = ratio(pair.cellpipe, pair.plain)
        print(f"  cellpipe run                {fmt_time(pair.cellpipe)}   ratio {r:5.2f}x   "
              f"({verdict(r, 1.2)})")

    def overhead(self) -> None:
        n = self.args.overhead_n
        nb = chain_nb(n)
        cwd = str(self.root)
        print(f"[overhead] {n}-component chain of trivial cells in one kernel (run only)")
        pair = interleaved(self.args.repeat, lambda: run_plain(nb, cwd),
                           lambda: run_cellpipe(nb, cwd, self.fresh_cache()))
        p = statistics.median(s.run for s in pair.plain)
        c = statistics.median(s.run for s in pair.cellpipe)
        print(f"  plain (nbclient, one execute per cell)  median {p:7.3f} s "
              f"({p / n * 1e3:.2f} ms/cell)")
        print(f"  cellpipe (one %cellpipe run)            median {c:7.3f} s "
              f"({c / n * 1e3:.2f} ms/component)")
        print(f"  kernel extension start: see [start] below; shutdown plain "
              f"{statistics.median(s.shutdown for s in pair.plain):.3f} s, cellpipe "
              f"{statistics.median(s.shutdown for s in pair.cellpipe):.3f} s")

    def start(self) -> None:
        """Time of `import cellpipe` + `%load_ext cellpipe` in a fresh interpreter."""
        code = ("import time, IPython, ipykernel.ipkernel\n"
                "from IPython.core.interactiveshell import InteractiveShell\n"
                "shell = InteractiveShell.instance()\n"
                "t = time.perf_counter()\n"
                "shell.run_line_magic('load_ext', 'cellpipe')\n"
                "print(time.perf_counter() - t)\n")
        times = []
        for _ in range(max(3, self.args.repeat)):
            proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                  env=self.env, cwd=str(self.root))
            if proc.returncode != 0:
                raise RuntimeError(proc.stderr)
            times.append(float(proc.stdout.strip().splitlines()[-1]))
        best = min(times)
        print(f"[start] %load_ext cellpipe in a fresh IPython (IPython/ipykernel already "
              f"imported): min {best * 1e3:.0f} ms, median {statistics.median(times) * 1e3:.0f} "
              f"ms (goal < 150 ms: {'OK' if best < 0.15 else 'OVER GOAL'})")

    def readers(self, label: str, nb: nbformat.NotebookNode, time_goal: float | None,
                mem_goal: float | None) -> None:
        print(label)
        cwd = str(self.root)
        pair = interleaved(self.args.repeat, lambda: run_plain(nb, cwd),
                           lambda: run_cellpipe(nb, cwd, self.fresh_cache()))
        report_samples(pair, time_goal, mem_goal)

    def array(self) -> None:
        mb, k = self.args.array_mb, 5
        self.readers(f"[array] {mb} MB numpy array read by {k} sibling components",
                     array_nb(mb, k), None, 1.2)

    def frame(self) -> None:
        rows, k = self.args.frame_rows, 5
        self.readers(f"[frame] {rows:,}-row DataFrame (int, float, str columns) read by {k} "
                     "sibling components", frame_nb(rows, k), 1.3, 1.2)

    def big(self, mb: int, count: int, label: str) -> None:
        nb = big_nb(mb, count)
        limit = self.args.memory_limit_mb
        env = self.fresh_cache()
        env["CELLPIPE_MEMORY_LIMIT"] = f"{limit}M"
        cwd = str(self.root)
        print(f"[{label}] {count} chained components each making {mb} MB "
              f"(CELLPIPE_MEMORY_LIMIT={limit}M)")
        caches: list[dict[str, str]] = []

        def cold() -> Sample:
            caches.append(dict(env, CELLPIPE_CACHE_DIR=tempfile.mkdtemp(dir=self.root)))
            return run_cellpipe(nb, cwd, caches[-1])

        pair = interleaved(self.args.big_repeat, lambda: run_plain(nb, cwd), cold)
        report_samples(pair, 1.5, None)
        plain_peak = statistics.median(max(s.peak, s.held) for s in pair.plain)
        cp_peak = statistics.median(max(s.peak, s.held) for s in pair.cellpipe)
        extra = (cp_peak - plain_peak) / 2**20
        print(f"  cellpipe's peak above plain (max of VmHWM and sampled RSS + memfd): "
              f"{extra:.0f} MB (goal: at most the limit + one value = {limit + mb} MB: "
              f"{'OK' if extra <= limit + mb else 'OVER GOAL'})")
        # the cache of the last cold run is on disk; a new kernel runs the sink again
        warm = [run_cellpipe(nb, cwd, caches[-1]) for _ in range(self.args.big_repeat)]
        for cache in caches[:-1]:
            shutil.rmtree(cache["CELLPIPE_CACHE_DIR"], ignore_errors=True)
        recompute = [s.run for s in pair.plain]
        w = [s.run for s in warm]
        r = ratio(w, recompute)
        print(f"  warm run after a restart    cellpipe {fmt_time(w)}   "
              f"ratio to plain recompute {r:5.2f}x "
              f"(goal < 1x: {'OK' if r < 1 else 'OVER GOAL'})")
        print(f"  warm run kernel peak        cellpipe {fmt_mem([s.peak for s in warm])}")
        shutil.rmtree(caches[-1]["CELLPIPE_CACHE_DIR"], ignore_errors=True)


def mem_available() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--cases", default="start,chain,overhead,array,frame,big",
                        help="comma-separated: start,chain,overhead,array,frame,big,huge")
    parser.add_argument("--repeat", type=int, default=None, help="runs per side (default 5, "
                        "quick 2)")
    parser.add_argument("--big-repeat", type=int, default=None,
                        help="runs per side of the big cases (default 2, quick 1)")
    parser.add_argument("--array-mb", type=int, default=None, help="default 300 (quick 30)")
    parser.add_argument("--frame-rows", type=int, default=None,
                        help="default 2,000,000 (quick 200,000)")
    parser.add_argument("--big-mb", type=int, default=None,
                        help="size of each of the 10 values (default 500, quick 40)")
    parser.add_argument("--big-count", type=int, default=10)
    parser.add_argument("--memory-limit-mb", type=int, default=None,
                        help="CELLPIPE_MEMORY_LIMIT of the big case (default 2048, quick 100)")
    parser.add_argument("--overhead-n", type=int, default=None, help="default 50 (quick 20)")
    parser.add_argument("--huge", action="store_true",
                        help="also the 5 GB case (needs 12 GB available)")
    args = parser.parse_args()
    q = args.quick
    defaults = {"repeat": (2, 5), "big_repeat": (1, 2), "array_mb": (30, 300),
                "frame_rows": (200_000, 2_000_000), "big_mb": (40, 500),
                "memory_limit_mb": (100, 2048), "overhead_n": (20, 50)}
    for name, (quick, full) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if q else full)
    cases = args.cases.split(",")
    if args.huge and "huge" not in cases:
        cases.append("huge")
    bench = Bench(args)
    print(f"cellpipe vs plain Jupyter (nbclient), {os.cpu_count()} cores, "
          f"{mem_available() / 2**30:.1f} GB available; ratios are cellpipe / plain "
          "on medians\n")
    try:
        for case in cases:
            if case == "big":
                bench.big(args.big_mb, args.big_count, "big")
            elif case == "huge":
                need = 12 * 2**30  # plain's 5 GB, cellpipe's 5 GB plus one copy in flight
                if mem_available() < need:
                    print(f"[huge] skipped: {mem_available() / 2**30:.1f} GB available, "
                          f"needs {need / 2**30:.0f} GB")
                    continue
                bench.readers("[huge] 5 GB numpy array read by 2 sibling components",
                              array_nb(5 * 1024, 2), None, 1.2)
            else:
                getattr(bench, case)()
            print()
            sys.stdout.flush()
    finally:
        bench.close()


if __name__ == "__main__":
    main()
