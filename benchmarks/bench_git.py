"""Three-way merge and diff of 500/2000/10000-cell notebooks: cellpipe against nbdime.

    .venv/bin/python benchmarks/bench_git.py [--sizes 500,2000,10000] [--nbdime-max 10000]

Both tools get the same pre-parsed notebooks (cellpipe: plain dicts; nbdime: NotebookNodes);
cellpipe's end-to-end time (parse the three files, merge, serialize) is printed as well.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import sys
import time
from collections.abc import Callable
from typing import Any

import nbformat

from cellpipe.gitnb.cells import dumps_notebook
from cellpipe.gitnb.diff import diff_notebooks
from cellpipe.gitnb.files import diff_files, merge_files
from cellpipe.gitnb.merge import merge_notebooks


def make_notebook(n: int, rnd: random.Random) -> dict[str, Any]:
    """n code cells, two in three of them components wired to one or two earlier components."""
    cells, comps = [], []
    for i in range(n):
        code = "".join(f"v{i}_{k} = {rnd.randint(0, 99)} + {k}\n" for k in range(rnd.randint(3, 6)))
        c: dict[str, Any] = {"cell_type": "code", "id": f"cell{i}", "source": code,
                             "metadata": {}, "outputs": [], "execution_count": None}
        if i % 3:
            parents = sorted({comps[-1], rnd.choice(comps)}) if comps else []
            c["metadata"]["cellpipe"] = {"name": f"step{i}", "parents": parents}
            comps.append(c["id"])
        cells.append(c)
    return {"cells": cells, "metadata": {"cellpipe": {"version": 1, "parameters": {}}},
            "nbformat": 4, "nbformat_minor": 5}


def edit(nb: dict[str, Any], rnd: random.Random, side: str, picks: list[int]) -> dict[str, Any]:
    """About 1% of cells edited, 0.5% inserted, 0.5% deleted, 0.5% re-wired, two moved."""
    nb = copy.deepcopy(nb)
    cells = nb["cells"]
    n = len(cells)
    for i in picks[: max(1, n // 100)]:
        lines = cells[i]["source"].splitlines(keepends=True)
        lines[0] = f"{side}_edit = {i}\n"
        cells[i]["source"] = "".join(lines)
    comps = [c for c in cells if "cellpipe" in c["metadata"]]
    for k in range(max(1, n // 200)):
        child = comps[rnd.randrange(len(comps) // 2, len(comps))]
        parent = comps[rnd.randrange(0, len(comps) // 2)]
        spec = child["metadata"]["cellpipe"]
        spec["parents"] = sorted({*spec["parents"], parent["id"]})
        new = {"cell_type": "code", "id": f"{side}new{k}", "source": f"{side} = {k}\n",
               "metadata": {}, "outputs": [], "execution_count": None}
        cells.insert(rnd.randrange(len(cells)), new)
    protected = {c["id"] for c in comps}
    for _ in range(max(1, n // 200)):
        i = rnd.randrange(len(cells))
        if cells[i]["id"] not in protected:
            cells.pop(i)
    for _ in range(2):
        cells.insert(rnd.randrange(len(cells)), cells.pop(rnd.randrange(len(cells))))
    return nb


def without_ids(nb: dict[str, Any]) -> str:
    """The notebook as an nbformat 4.4 file: no cell ids."""
    old = copy.deepcopy(nb)
    old["nbformat_minor"] = 4
    for c in old["cells"]:
        del c["id"]
    return dumps_notebook(old)


def best(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="500,2000,10000")
    parser.add_argument("--nbdime-max", type=int, default=10000,
                        help="skip nbdime above this many cells (it grows quadratically)")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    args = parser.parse_args()
    try:
        import nbdime
    except ImportError:
        nbdime = None
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        row = measure(n, nbdime if n <= args.nbdime_max else None)
        rows.append(row)
        print_row(row, file=sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(rows, indent=1))
    return 0


def measure(n: int, nbdime: Any) -> dict[str, Any]:
    """Seconds (best of 3 for cellpipe, one run for nbdime) for one notebook size."""
    rnd = random.Random(n)
    base = make_notebook(n, rnd)
    picks = rnd.sample(range(n), max(2, n // 50))
    both = picks[:3]  # the same first line edited on both sides: conflicts
    ours = edit(base, rnd, "ours", both + picks[3::2])
    theirs = edit(base, rnd, "theirs", both + picks[4::2])
    texts = [dumps_notebook(nb) for nb in (base, ours, theirs)]
    row: dict[str, Any] = {"cells": n}
    row["cellpipe_merge"] = best(lambda: merge_notebooks(base, ours, theirs), 3)
    row["cellpipe_merge_files"] = best(lambda: merge_files(*texts), 3)
    row["cellpipe_diff"] = best(lambda: diff_notebooks(base, ours), 3)
    # the same notebooks as nbformat 4.4 files (no cell ids): cells aligned by content first
    old = [without_ids(nb) for nb in (base, ours, theirs)]
    row["cellpipe_merge_files_noids"] = best(lambda: merge_files(*old), 3)
    row["cellpipe_diff_files_noids"] = best(lambda: diff_files(old[0], old[1]), 3)
    row["noids_cells_changed"] = len(diff_files(old[0], old[1]).diff.changed)  # type: ignore[union-attr]
    row["ids_cells_changed"] = len(diff_notebooks(base, ours).changed)
    result = merge_files(*texts)
    row["conflicts"] = len(result.conflicts)
    json.loads(result.text)
    if nbdime is not None:
        nodes = [nbformat.from_dict(copy.deepcopy(nb)) for nb in (base, ours, theirs)]
        row["nbdime_merge"] = best(lambda: nbdime.merge_notebooks(*nodes), 1)
        row["nbdime_diff"] = best(lambda: nbdime.diff_notebooks(nodes[0], nodes[1]), 1)
    return row


def print_row(row: dict[str, Any], file: Any) -> None:
    def ratio(op: str) -> str:
        theirs = row.get(f"nbdime_{op}")
        return f"{theirs / row[f'cellpipe_{op}']:8.1f}x" if theirs else "   (skipped)"

    def secs(key: str) -> str:
        return f"{row[key]:8.3f}s" if key in row else "        -"

    print(f"{row['cells']:>6} cells  merge: cellpipe {secs('cellpipe_merge')} "
          f"(files end-to-end {secs('cellpipe_merge_files')}), nbdime {secs('nbdime_merge')}, "
          f"ratio {ratio('merge')}  |  diff: cellpipe {secs('cellpipe_diff')}, "
          f"nbdime {secs('nbdime_diff')}, ratio {ratio('diff')}  "
          f"[{row['conflicts']} conflicts]", file=file, flush=True)
    print(f"{'':>6}        without cell ids (4.4): merge files {secs('cellpipe_merge_files_noids')}"
          f", diff files {secs('cellpipe_diff_files_noids')}; cells changed "
          f"{row['noids_cells_changed']} (with ids: {row['ids_cells_changed']})",
          file=file, flush=True)


if __name__ == "__main__":
    sys.exit(main())
