"""Reading and writing the notebook a command names, and picking its targets."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click
import nbformat

from cellpipe.cli.console import err
from cellpipe.model import Pipeline, parse_assignments, read_pipeline
from cellpipe.model.errors import PipelineError
from cellpipe.model.validate import check_run


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
        err.print(f"[yellow]note:[/] {notice}")
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
        err.print(f"[yellow]warning:[/] {problem} (not needed by this run)")
    return targets


def write_notebook(nb: nbformat.NotebookNode, path: Path) -> None:
    """Write atomically (temp file, then rename): an interrupted write loses nothing."""
    text = nbformat.writes(nb)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
    err.print(f"wrote {path}")
