"""Reading and writing the notebook a command names, and picking its targets."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
import nbformat

from cellpipe.cli.console import err, shown
from cellpipe.gitnb.cells import CONFLICT_KEY
from cellpipe.model import Pipeline, dag, parse_assignments, read_pipeline
from cellpipe.model import write_notebook as save_notebook
from cellpipe.model.errors import PipelineError
from cellpipe.model.validate import check_run

if TYPE_CHECKING:
    from cellpipe.model.infer import EdgeCheck


def parse_params(values: tuple[str, ...]) -> dict[str, str]:
    """`-p NAME=VALUE` options as a dict."""
    try:
        return parse_assignments(values)
    except PipelineError as exc:
        raise click.BadParameter(str(exc), param_hint="-p") from None


def load_notebook(path: str) -> tuple[nbformat.NotebookNode, Pipeline]:
    """The notebook and its pipeline; reading notices go to stderr."""
    try:
        nb, pipeline, notices = read_pipeline(path)
    except PipelineError as exc:
        raise click.ClickException(str(exc)) from None
    for notice in notices:
        err.print(f"[yellow]note:[/] {shown(notice)}")
    return nb, pipeline


def resolve_targets(pipeline: Pipeline, names: tuple[str, ...]) -> list[str]:
    """Component ids for --target names or ids (every sink when none is given), checked as
    a run needs them before anything starts: a problem that stops the run is an error."""
    if not pipeline.components:
        raise click.ClickException("the notebook has no components: mark cells as components "
                                   "in JupyterLab (or add 'cellpipe' metadata) first")
    try:
        ids = [pipeline.find(n).id for n in names] if names else None
        targets, elsewhere = check_run(pipeline, ids)
    except PipelineError as exc:
        raise click.ClickException(str(exc)) from None
    for problem in elsewhere:
        err.print(f"[yellow]warning:[/] {shown(problem)} (not needed by this run)")
    return targets


def check_conflicts(path: str, nb: nbformat.NotebookNode, pipeline: Pipeline,
                    targets: list[str]) -> None:
    """Refuse to run (or plan) what a merge left unresolved: the notebook's own metadata or a
    component the targets need still holds a `cellpipe_merge` record (conflict markers in
    its code). Elsewhere in the notebook such a component is a warning."""
    graph = pipeline.graph()
    components = {c.id: c for c in pipeline.components}
    needed = set(targets)
    for target in targets:
        needed |= dag.ancestors(graph, target)
    fix = ("resolve it (edit the cell and delete its 'cellpipe_merge' metadata, or use the "
           "conflict view in JupyterLab), then run again")
    blocking, elsewhere = [], []
    if isinstance(nb.get("metadata"), dict) and CONFLICT_KEY in nb.metadata:
        kinds = _conflict_kinds(nb.metadata[CONFLICT_KEY])
        blocking.append(f"{path}: the notebook's metadata has an unresolved merge conflict"
                        f"{kinds}: resolve it (delete the notebook metadata's 'cellpipe_merge' "
                        "after fixing the values, or use the conflict bar in JupyterLab)")
    for cell in nb.cells:
        meta = cell.get("metadata")
        cid = cell.get("id")
        if not isinstance(meta, dict) or CONFLICT_KEY not in meta or cid not in components:
            continue
        problem = (f"{path}: component {components[cid].name!r} (cell {cid}) has an "
                   f"unresolved merge conflict{_conflict_kinds(meta[CONFLICT_KEY])}")
        if cid in needed:
            blocking.append(f"{problem}: {fix}")
        else:
            elsewhere.append(problem)
    if blocking:
        raise click.ClickException("\n".join(blocking))
    for problem in elsewhere:
        err.print(f"[yellow]warning:[/] {shown(problem)} (not needed by this run)")


def _conflict_kinds(record: object) -> str:
    conflicts = record.get("conflicts") if isinstance(record, dict) else None
    if not isinstance(conflicts, list):
        return ""
    kinds = sorted({str(c.get("kind")) for c in conflicts if isinstance(c, dict) and c.get("kind")})
    return f" ({', '.join(kinds)})" if kinds else ""


def write_notebook(nb: nbformat.NotebookNode, path: Path) -> None:
    """Write atomically (model.write_notebook) and say so on stderr."""
    save_notebook(nb, path)
    err.print(f"wrote {shown(path)}")


def check_drawn_edges(pipeline: Pipeline, strict: bool) -> EdgeCheck:
    """Warn, one line each, when a component reads a name that another component binds but
    no ancestor does (model.infer.check_pipeline); with strict, that is an error. Returns
    the check (its edge names serve `plan --json`: the analysis is done once)."""
    from cellpipe.model.infer import check_pipeline

    checked = check_pipeline(pipeline)
    warnings = checked.warnings
    for w in warnings:
        err.print(f"{'error' if strict else 'warning'}: {w.message}", markup=False,
                  highlight=False, soft_wrap=True)
    if strict and warnings:
        raise click.ClickException(f"{len(warnings)} edge(s) missing (--strict); add the "
                                   "parents, or run without --strict")
    return checked
