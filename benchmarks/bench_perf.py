"""Issue 27's table, every row against its baseline measured in the same run.

    python benchmarks/bench_perf.py                 # rows 1, 4, 5 (a few minutes)
    python benchmarks/bench_perf.py --rows 1,2,3,4,5 --repeat 5
    python benchmarks/bench_perf.py --quick         # a smoke run (small sizes, 1-2 repeats)

1. `cellpipe run` of a trivial 10-component chain, whole command, vs bare nbclient running
   the same cells (both processes; goal <= 1.1x)
2. 300 MB array made by one component, read by 5, vs plain Jupyter (bench_datapath's array
   case; goal <= 1.3x on the fastest runs)
3. 1 GB in and 1 GB out through an RQ worker and a file:// store vs `cp` (bench_remote's big
   data case; goal >= 0.5x)
4. three-way merge of a 2000-cell notebook as a process (the git driver) vs nbdime's
   `nbmerge` (goal >= 20x)
5. a cached ~50 MB result (arrays and a frame) served after a kernel restart (goal < 100 ms)
   vs marimo's `mo.persistent_cache` on the same value, when a Python with marimo is given
   (--marimo-python, default /tmp/marimo-venv/bin/python; never a cellpipe dependency);
   both sides have numpy and pandas imported before the clock starts
5b. after a restart, the time to decide that a 10-step chain is fully cached, vs marimo's
   app of ten persistent_cache blocks

Sides are interleaved (which goes first alternates) and repeated; each row prints min and
median of both and the ratios of medians and of mins. Process rows report wall time and CPU
time (user + system of the process and the children it waited for: the kernel included),
which moves less on a loaded machine. The load average is printed with every row.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import nbformat  # noqa: E402
from bench_datapath import chain_nb, interleaved, notebook  # noqa: E402

from cellpipe.cli.kernel_driver import PipelineKernel  # noqa: E402

BIN = Path(sys.executable).parent
MARIMO_PYTHON = "/tmp/marimo-venv/bin/python"


def load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def timed_process(args: list[str], cwd: str, env: dict[str, str] | None = None,
                  ok: tuple[int, ...] = (0,)) -> tuple[float, float]:
    """Run a process to its end: (wall seconds, CPU seconds of it and its waited children)."""
    before = _children_cpu()
    start = time.perf_counter()
    proc = subprocess.run(args, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    if proc.returncode not in ok:
        raise RuntimeError(f"{' '.join(args)} exited {proc.returncode}:\n"
                           f"{proc.stderr.decode(errors='replace')[-2000:]}")
    return wall, _children_cpu() - before


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def stats(values: list[float]) -> str:
    return f"min {min(values):7.3f} s  median {statistics.median(values):7.3f} s"


def print_pair(label: str, base_label: str, base: list[float], ours: list[float],
               higher_is_better: bool = False) -> tuple[float, float]:
    """Both sides, then ours/base (or base/ours when a speed-up is the figure)."""
    if higher_is_better:
        med = statistics.median(base) / statistics.median(ours)
        mins = min(base) / min(ours)
    else:
        med = statistics.median(ours) / statistics.median(base)
        mins = min(ours) / min(base)
    print(f"   {base_label:<24} {stats(base)}")
    print(f"   {label:<24} {stats(ours)}   ratio {med:6.2f}x (of mins {mins:5.2f}x)")
    return med, mins


def verdict(value: float, goal: str) -> str:
    op, num = goal[:2], float(goal[2:])
    good = value <= num if op == "<=" else value >= num
    return f"goal {op} {num:g}x: {'OK' if good else 'NOT YET'}"


# --- row 1 -------------------------------------------------------------------------------
BARE_NBCLIENT = """\
import sys
import nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(nb, kernel_name="python3").execute()
"""


def row_chain(root: Path, repeat: int) -> None:
    path = root / "chain.ipynb"
    nbformat.write(chain_nb(10), path)
    bare = root / "bare_nbclient.py"
    bare.write_text(BARE_NBCLIENT)
    env = dict(os.environ)
    env.pop("CELLPIPE_CACHE_DIR", None)

    def cellpipe() -> tuple[float, float]:
        cache = tempfile.mkdtemp(dir=root, prefix="cache-")
        return timed_process([str(BIN / "cellpipe"), "run", str(path)], str(root),
                             dict(env, CELLPIPE_CACHE_DIR=cache))

    print(f"1. `cellpipe run` of a trivial 10-component chain vs bare nbclient, whole "
          f"processes, {repeat} runs each ({load()})")
    pair = interleaved(repeat, lambda: timed_process([sys.executable, str(bare), str(path)],
                                                     str(root), env), cellpipe)
    for kind, index in (("wall", 0), ("CPU", 1)):
        print(f"   {kind}:")
        med, _ = print_pair("cellpipe run", "bare nbclient", [s[index] for s in pair.plain],
                            [s[index] for s in pair.cellpipe])
        print(f"   -> {verdict(med, '<=1.1')}")


# --- row 2 and 3: the existing benchmarks' cases --------------------------------------------
SHMEM_ENABLED = Path("/sys/kernel/mm/transparent_hugepage/shmem_enabled")


@contextlib.contextmanager
def shmem_policy(policy: str | None) -> Iterator[bool]:
    """The kernel's huge page policy for memfds set to policy for the block (as root), put
    back afterwards; None leaves the machine's. Yields whether it holds."""
    from cellpipe.cache.values.alloc import shmem_huge_pages

    before = shmem_huge_pages()
    if policy is None or policy == before:
        yield True
        return
    try:
        SHMEM_ENABLED.write_text(policy)
    except OSError as exc:
        print(f"   cannot set {SHMEM_ENABLED} to {policy} ({exc.strerror}; it takes root)")
        yield False
        return
    try:
        yield True
    finally:
        SHMEM_ENABLED.write_text(before)


def row_array(quick: bool, repeat: int, huge: str) -> None:
    from bench_datapath import Bench

    from cellpipe.cache.values import alloc

    mb = 30 if quick else 300
    for policy in {"keep": [None], "advise": ["advise"], "both": [None, "advise"]}[huge]:
        with shmem_policy(policy) as held:
            if not held:
                continue
            print(f"2. {mb} MB array made by one component, read by 5, vs plain Jupyter "
                  f"(bench_datapath's array case; goal <= 1.3x on the fastest runs) "
                  f"({load()})\n   memfds' huge pages (shmem_enabled): "
                  f"{alloc.shmem_huge_pages()}; big arrays made in memfds: "
                  f"{'yes' if alloc.huge_pages_possible() else 'no (copied once instead)'}")
            bench = Bench(argparse.Namespace(repeat=repeat, array_mb=mb))
            try:
                bench.array()
            finally:
                bench.close()


def row_remote(quick: bool, repeat: int, root: Path) -> None:
    import bench_remote
    from remoteutil import RedisServer

    print(f"3. 1 GB in and out through an RQ worker and a file:// store vs `cp` "
          f"(bench_remote's big data case; goal >= 0.5x) ({load()})")
    os.environ["CELLPIPE_CONFIG_DIR"] = str(root / "config")
    server = RedisServer().start()
    try:
        bench_remote.big_data(server.url, (root / "store").as_uri(),
                              (64 << 20) if quick else (1 << 30), repeat, root)
    finally:
        server.stop()


# --- row 4 -------------------------------------------------------------------------------
def row_merge(root: Path, repeat: int, cells: int) -> None:
    import random

    from bench_git import edit, make_notebook

    from cellpipe.gitnb.cells import dumps_notebook

    nbmerge = BIN / "nbmerge"
    rnd = random.Random(cells)
    base = make_notebook(cells, rnd)
    picks = rnd.sample(range(cells), max(2, cells // 50))
    both = picks[:3]
    sides = {"O": base, "A": edit(base, rnd, "ours", both + picks[3::2]),
             "B": edit(base, rnd, "theirs", both + picks[4::2])}
    for name, nb in sides.items():
        (root / f"{name}.ipynb").write_text(dumps_notebook(nb))
    print(f"4. three-way merge of a {cells}-cell notebook as a process: the git driver vs "
          f"nbdime's nbmerge, {repeat} runs each ({load()})")
    if not nbmerge.exists():
        print("   nbmerge not installed (pip install nbdime): row skipped")
        return

    def cellpipe() -> tuple[float, float]:
        shutil.copy(root / "A.ipynb", root / "ours.ipynb")  # the driver writes into %A
        return timed_process([sys.executable, "-m", "cellpipe.gitnb.driver", "merge",
                              "O.ipynb", "ours.ipynb", "B.ipynb", "7", "nb.ipynb"],
                             str(root), ok=(0, 1))  # 1: the conflicts the edits make

    def nbdime() -> tuple[float, float]:
        return timed_process([str(nbmerge), "O.ipynb", "A.ipynb", "B.ipynb",
                              "--out", "nbdime.ipynb"], str(root), ok=(0, 1))

    pair = interleaved(repeat, nbdime, cellpipe)
    for kind, index in (("wall", 0), ("CPU", 1)):
        print(f"   {kind} (ratio: nbmerge / cellpipe):")
        med, _ = print_pair("cellpipe merge driver", "nbdime nbmerge",
                            [s[index] for s in pair.plain], [s[index] for s in pair.cellpipe],
                            higher_is_better=True)
        print(f"   -> {verdict(med, '>=20')}")


# --- row 5 -------------------------------------------------------------------------------
MAKE_VALUE = """\
import numpy as np
import pandas as pd
rng = np.random.default_rng(0)
weights = rng.random(2_500_000)
grid = rng.random((1000, 2500))
frame = pd.DataFrame({"x": np.arange(400_000), "y": rng.random(400_000),
                      "z": rng.random(400_000)})
"""  # 20 MB + 20 MB of arrays and a 10 MB frame

# a marimo app (persistent_cache needs marimo's runtime; `python app.py` runs it as a script)
MARIMO_APP = """\
import marimo

app = marimo.App()


@app.cell
def _():
    import os
    import time

    import marimo as mo
    import numpy
    import pandas
    return mo, os, time


@app.cell
def _(mo, os, time):
    t0 = time.perf_counter()
    with mo.persistent_cache(name="bench27", save_path=os.environ["BENCH_SAVE"]):
{body}
    took = time.perf_counter() - t0
    assert weights.shape == (2_500_000,) and frame.shape == (400_000, 3)
    print("TOOK", took)
    t1 = time.perf_counter()
    float(weights.sum() + grid.sum() + frame.to_numpy().sum())
    print("TOUCH", time.perf_counter() - t1)
    return


if __name__ == "__main__":
    app.run()
"""


TOUCH = ("import time as _t\n_t1 = _t.perf_counter()\n"
         "float(weights.sum() + grid.sum() + frame.to_numpy().sum())\n"
         "print(_t.perf_counter() - _t1)\n")


def row_cached(root: Path, repeat: int, marimo_python: str) -> None:
    nb = notebook([("make", MAKE_VALUE, []),
                   ("use", "total = float(weights[::1000].sum()) + len(frame)", ["make"])])
    env = dict(os.environ, CELLPIPE_CACHE_DIR=str(root / "cache5"))
    env.pop("CELLPIPE_CACHE", None)
    cwd = str(root)
    with PipelineKernel(cwd=cwd, env=env) as kernel:  # compute once; results reach the disk
        kernel.sync(nb)
        if kernel.run("make").status != "ok":
            raise RuntimeError("the value could not be made")
        kernel.request({"op": "state", "flush": True})

    def cellpipe() -> float:
        with PipelineKernel(cwd=cwd, env=env) as kernel:  # a restarted kernel
            kernel.sync(nb)
            kernel.execute("import numpy, pandas")  # as on marimo's side: not the cache's time
            start = time.perf_counter()
            execution = kernel.run("make")
            took = time.perf_counter() - start
            if execution.status != "ok":
                raise RuntimeError("cached run failed")
            reply = kernel.execute(TOUCH + "print(weights.nbytes + grid.nbytes"
                                   " + int(frame.memory_usage().sum()))")
            events = [e for e in kernel.events if e.get("op") == "event"
                      and e.get("id") == "make"]
            if not events or events[-1].get("status") != "cached":
                raise RuntimeError(f"not served from the cache: {events[-1:]}")
            words = reply.outputs[0]["text"].split() if reply.outputs else ["nan", "?"]
            touched.setdefault("cellpipe", []).append(float(words[-2]))
            sizes.append(words[-1])
        return took

    sizes: list[str] = []
    touched: dict[str, list[float]] = {}
    have_marimo = Path(marimo_python).exists() and subprocess.run(
        [marimo_python, "-c", "import marimo, numpy, pandas"], capture_output=True).returncode == 0
    marimo_runs: list[float] = []
    if have_marimo:
        script = root / "marimo_cached.py"
        script.write_text(MARIMO_APP.format(body=textwrap.indent(MAKE_VALUE, " " * 8)))
        marimo_env = dict(os.environ, BENCH_SAVE=str(root / "marimo-cache"))

        def marimo() -> float:
            proc = subprocess.run([marimo_python, str(script)], capture_output=True,
                                  text=True, cwd=cwd, env=marimo_env)
            lines = dict(line.split(None, 1) for line in proc.stdout.splitlines()
                         if line.startswith(("TOOK ", "TOUCH ")))
            if proc.returncode != 0 or len(lines) != 2:
                raise RuntimeError(proc.stdout[-1000:] + proc.stderr[-2000:])
            touched.setdefault("marimo", []).append(float(lines["TOUCH"]))
            return float(lines["TOOK"])

        marimo()  # fills its cache
        touched.clear()
    print(f"5. a cached result of ~50 MB (arrays and a frame) served after a kernel restart, "
          f"{repeat} restarts ({load()})")
    if have_marimo:
        pair = interleaved(repeat, marimo, cellpipe)
        mine, marimo_runs = pair.cellpipe, pair.plain
    else:
        mine = [cellpipe() for _ in range(repeat)]
    print(f"   value: {int(sizes[-1]) / 2**20:.0f} MB" if sizes[-1].isdigit() else "")
    print(f"   cellpipe (%cellpipe run, cached)   {stats(mine)}   "
          f"(goal < 100 ms: {'OK' if statistics.median(mine) < 0.1 else 'NOT YET'} "
          "on the median)")
    touch = [a + b for a, b in zip(mine, touched["cellpipe"], strict=True)]
    print(f"   ... and then every byte read      {stats(touch)}   (mapped pages load on use)")
    if not have_marimo:
        print(f"   marimo: skipped (no Python with marimo at {marimo_python}; make one with "
              f"`python -m venv /tmp/marimo-venv && /tmp/marimo-venv/bin/pip install marimo "
              f"numpy pandas`, never in cellpipe's environment)")
        return
    print(f"   marimo persistent_cache (load)     {stats(marimo_runs)}")
    med = statistics.median(marimo_runs) / statistics.median(mine)
    print(f"   ratio marimo / cellpipe {med:5.2f}x (of mins "
          f"{min(marimo_runs) / min(mine):4.2f}x) -> {verdict(med, '>=1')}")
    theirs = [a + b for a, b in zip(marimo_runs, touched["marimo"], strict=True)]
    print(f"   marimo, then every byte read       {stats(theirs)}   ratio marimo / cellpipe "
          f"{statistics.median(theirs) / statistics.median(touch):5.2f}x")


def marimo_chain_app(n: int) -> str:
    """A marimo app of n cells, each step in its own persistent_cache block; prints the
    seconds from before the first block to after the last."""
    cells = ['@app.cell\ndef _():\n    import os\n    import time\n\n    import marimo as mo\n'
             '    t0 = time.perf_counter()\n    return mo, os, t0, time\n']
    for i in range(n):
        prev = f", x{i - 1}" if i else ""
        value = f"x{i - 1} + 1" if i else "0"
        cells.append(f"@app.cell\ndef _(mo, os{prev}):\n"
                     f"    with mo.persistent_cache(name='step{i}', "
                     f"save_path=os.environ['BENCH_SAVE']):\n"
                     f"        x{i} = {value}\n    return (x{i},)\n")
    cells.append(f"@app.cell\ndef _(t0, time, x{n - 1}):\n"
                 f"    print('TOOK', time.perf_counter() - t0, x{n - 1})\n    return\n")
    return ("import marimo\n\napp = marimo.App()\n\n\n" + "\n\n".join(cells)
            + '\n\nif __name__ == "__main__":\n    app.run()\n')


def row_decide(root: Path, repeat: int, marimo_python: str, n: int = 10) -> None:
    """The peer benchmark's second figure: after a restart, the time to find that every step
    of a 10-step chain is cached (cellpipe: `%cellpipe run` of the sink; marimo: the app's
    ten persistent_cache blocks)."""
    nb = chain_nb(n)
    env = dict(os.environ, CELLPIPE_CACHE_DIR=str(root / "cache5b"))
    env.pop("CELLPIPE_CACHE", None)
    sink = str(nb.cells[-1].id)
    with PipelineKernel(cwd=str(root), env=env) as kernel:
        kernel.sync(nb)
        kernel.run(sink)
        kernel.request({"op": "state", "flush": True})

    def cellpipe() -> float:
        with PipelineKernel(cwd=str(root), env=env) as kernel:
            kernel.sync(nb)
            start = time.perf_counter()
            if kernel.run(sink).status != "ok":
                raise RuntimeError("cached chain failed")
            took = time.perf_counter() - start
            done = {e["id"]: e["status"] for e in kernel.events if e.get("op") == "event"}
            if any(status != "cached" for status in done.values()):
                raise RuntimeError(f"not all cached: {done}")
        return took

    print(f"5b. after a restart, deciding that a {n}-step chain is fully cached "
          f"({repeat} restarts) ({load()})")
    have_marimo = Path(marimo_python).exists()
    if not have_marimo:
        print(f"   marimo: skipped (no Python with marimo at {marimo_python})")
        print(f"   cellpipe (%cellpipe run of the sink)   {stats([cellpipe() for _ in range(repeat)])}")
        return
    app = root / "marimo_chain.py"
    app.write_text(marimo_chain_app(n))
    marimo_env = dict(os.environ, BENCH_SAVE=str(root / "marimo-chain"))

    def marimo() -> float:
        proc = subprocess.run([marimo_python, str(app)], capture_output=True, text=True,
                              cwd=str(root), env=marimo_env)
        took = [line for line in proc.stdout.splitlines() if line.startswith("TOOK ")]
        if proc.returncode != 0 or not took:
            raise RuntimeError(proc.stdout[-1000:] + proc.stderr[-2000:])
        return float(took[-1].split()[1])

    marimo()  # fills its cache
    pair = interleaved(repeat, marimo, cellpipe)
    print(f"   marimo (ten persistent_cache blocks)   {stats(pair.plain)}")
    print(f"   cellpipe (%cellpipe run of the sink)   {stats(pair.cellpipe)}   ratio marimo / "
          f"cellpipe {statistics.median(pair.plain) / statistics.median(pair.cellpipe):5.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1,4,5,5b", help="comma-separated rows 1-5, 5b")
    parser.add_argument("--repeat", type=int, default=None, help="runs per side (default 5; "
                        "quick 1)")
    parser.add_argument("--cells", type=int, default=None, help="row 4 size (default 2000)")
    parser.add_argument("--quick", action="store_true", help="small sizes, one run each")
    parser.add_argument("--marimo-python", default=MARIMO_PYTHON)
    parser.add_argument("--shmem-huge", choices=("keep", "advise", "both"), default="keep",
                        help="row 2 with the machine's huge page policy for memfds (keep), "
                        "with 'advise' (set for the row and put back; root), or both")
    args = parser.parse_args()
    repeat = args.repeat or (1 if args.quick else 5)
    cells = args.cells or (200 if args.quick else 2000)
    root = Path(tempfile.mkdtemp(prefix="cellpipe-bench27-"))
    print(f"issue 27 rows, {os.cpu_count()} cores, {load()}; ratios of medians "
          f"(and of mins)\n")
    rows: dict[str, Callable[[], Any]] = {
        "1": lambda: row_chain(root, repeat),
        "2": lambda: row_array(args.quick, repeat, args.shmem_huge),
        "3": lambda: row_remote(args.quick, repeat, root),
        "4": lambda: row_merge(root, repeat, cells),
        "5": lambda: row_cached(root, repeat, args.marimo_python),
        "5b": lambda: row_decide(root, repeat, args.marimo_python),
    }
    try:
        for row in args.rows.split(","):
            rows[row.strip()]()
            print(flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"done ({load()})")


if __name__ == "__main__":
    main()
