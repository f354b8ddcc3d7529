"""Real notebooks run two ways, for the inferred-pipeline tests and benchmark: top to bottom
by nbclient (twice, to know which cells are stable), and as a pipeline made by
`cellpipe convert` whose every sink runs with `cellpipe run -o`."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from test_nbclient_parity import normalise

from cellpipe.model import dag

# a counter of the kernel's process, like an execution count: scikit-learn numbers the
# HTML of every estimator it displays
_SKLEARN_IDS = re.compile(r"sk-(container|estimator)-id-\d+")
_LABEL = re.compile(r"(Cell(?:\x1b\[[0-9;]*m)*\s*(?:\x1b\[[0-9;]*m)*)In\[.*?\]"
                    r"(?=(?:\x1b\[[0-9;]*m)*, line)")

REAL = Path(__file__).parent / "fixtures" / "real"


def run_top_to_bottom(path: Path, workdir: Path) -> nbformat.NotebookNode:
    """The notebook as Jupyter runs it, cell after cell, errors kept (in a fresh workdir)."""
    workdir.mkdir(parents=True)
    nb = nbformat.read(path, 4)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(workdir)}}).execute()
    return nb


def run_as_pipeline(path: Path, workdir: Path, reference: nbformat.NotebookNode | None = None,
                    env: dict[str, str] | None = None
                    ) -> tuple[nbformat.NotebookNode, subprocess.CompletedProcess]:
    """`cellpipe convert` then `cellpipe run -o` of every sink, in a fresh workdir.

    With the reference (the notebook run top to bottom), cells downstream of a cell that
    fails there are left out, and the sinks of what remains run: a pipeline stops at a
    failing component, so a cell whose only sinks lie past one would never run."""
    workdir.mkdir(parents=True)
    target = workdir / path.name
    shutil.copy(path, target)
    cli = [sys.executable, "-m", "cellpipe.cli"]
    environ = {**os.environ, "CELLPIPE_CACHE_DIR": str(workdir / ".cache"), **(env or {})}
    done = subprocess.run([*cli, "convert", str(target)], capture_output=True, text=True,
                          timeout=120, env=environ)
    assert done.returncode == 0, done.stderr
    targets: list[str] = []
    if reference is not None:
        converted = [c for c in nbformat.read(target, 4).cells if c.cell_type == "code"]
        graph = {c.id: c.metadata["cellpipe"]["parents"] for c in converted}
        failing = {c.id for c, r in zip(converted, _code(reference), strict=True)
                   if any(o.output_type == "error" for o in r.outputs)}
        reached = {c for c in graph if not dag.ancestors(graph, c) & failing}
        targets = dag.sinks({c: [p for p in ps if p in reached]
                             for c, ps in graph.items() if c in reached})
    out = workdir / "out.ipynb"
    # a fresh cache of its own (not --no-cache: with it, since 6f00d1f, a component another
    # target needs runs alone from cached ancestors, and numpy views between two ancestors'
    # results come back as separate arrays; see the stream's report)
    proc = subprocess.run([*cli, "run", str(target), "--keep-going", "-o",
                           str(out), *(a for t in targets for a in ("-t", t))],
                          capture_output=True, text=True, timeout=1800, env=environ)
    ran = nbformat.read(out, 4) if out.exists() else None
    return ran, proc


def _code(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if c.cell_type == "code"]


def outputs(cell: nbformat.NotebookNode) -> list[dict]:
    """A cell's outputs minus what differs between runs (see normalise), the cell label
    of a traceback (Jupyter's In[7], cellpipe's In[name]) and the Out[n] prompt of a value."""
    norm = normalise(cell.outputs)
    for o in norm:
        # a target served from the cache shows its value as display_data (no Out[n] prompt
        # to give it); two cells with the same code and parents share one cache entry
        if o.get("output_type") == "execute_result":
            o["output_type"] = "display_data"
        if "text/html" in o.get("data", {}):
            o["data"]["text/html"] = _SKLEARN_IDS.sub(r"sk-\1-id-N", o["data"]["text/html"])
        if o.get("output_type") == "error":
            o["traceback"] = [_LABEL.sub(r"\1In[N]", line) for line in o["traceback"]]
    return norm


def compare(reference: nbformat.NotebookNode, again: nbformat.NotebookNode,
            pipeline: nbformat.NotebookNode) -> tuple[list[int], list[int], list[str]]:
    """(stable cells compared, cells left out, differences) by code cell index.

    Left out: cells whose outputs differ between the two top-to-bottom runs, and cells
    with an ancestor that fails top to bottom (a pipeline stops at a failed component,
    where Jupyter runs the next cell with whatever the failed one left)."""
    ref = [c for c in reference.cells if c.cell_type == "code"]
    rep = [c for c in again.cells if c.cell_type == "code"]
    got = [c for c in pipeline.cells if c.cell_type == "code"]
    assert len(ref) == len(rep) == len(got)
    graph = {c.id: c.metadata["cellpipe"]["parents"] for c in got}
    failing = {c.id for c, r in zip(got, ref, strict=True)
               if any(o.output_type == "error" for o in r.outputs)}
    stable, left_out, diffs = [], [], []
    for i, (a, b, c) in enumerate(zip(ref, rep, got, strict=True)):
        want = outputs(a)
        if want != outputs(b) or dag.ancestors(graph, c.id) & failing:
            left_out.append(i)
            continue
        stable.append(i)
        have = outputs(c)
        if have != want:
            diffs.append(f"code cell {i} ({c.metadata.get('cellpipe', {}).get('name')!r}):\n"
                         f"{c.source[:300]}\n--- want: {str(want)[:600]}\n--- got:  "
                         f"{str(have)[:600]}")
    return stable, left_out, diffs
