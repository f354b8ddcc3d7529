"""`cellpipe export --format py|kfp`: a pipeline leaves the notebook for production.

py: one standalone program (model/program.py). kfp: a Kubeflow Pipelines DSL file and the
YAML the kfp SDK compiles from it (model/kubeflow.py). Everything is generated and checked
before anything is written, so a refused pipeline leaves no file behind.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import click

from cellpipe.cli.console import err, shown
from cellpipe.cli.notebooks import load_notebook, parse_params
from cellpipe.model import Pipeline, program
from cellpipe.model.errors import PipelineError


def export(fmt: str, notebook: str, output: str | None, refs: list[str] | None,
           with_ancestors: bool, params: tuple[str, ...], store: str | None,
           image: str | None) -> None:
    """`cellpipe export --format py|kfp`: refs (names or ids) and their ancestors, or all."""
    del with_ancestors  # a program always holds the ancestors of what it runs
    _, pipeline = load_notebook(notebook)
    defaults = parse_params(params)
    try:
        if refs:
            pipeline = program.with_ancestors(pipeline, refs)
        if fmt == "py":
            if store is not None or image is not None:
                raise click.UsageError("--store and --image are options of --format kfp")
            _export_program(pipeline, notebook, output, defaults)
        else:
            _export_kfp(pipeline, notebook, output, defaults, store, image)
    except PipelineError as exc:
        raise click.ClickException(_one_line(exc)) from None


def _export_program(pipeline: Pipeline, notebook: str, output: str | None,
                    defaults: dict[str, str]) -> None:
    name = Path(output).name if output else "pipeline.py"
    text = program.python_program(pipeline, Path(notebook).name, defaults, name)
    if output is None:
        sys.stdout.write(text)
        return
    write_text(Path(output), text)
    os.chmod(output, 0o755)
    err.print(f"wrote {shown(output)}: {len(pipeline.components)} components; run it with "
              f"`python {shown(output)} --help`", soft_wrap=True)


def _export_kfp(pipeline: Pipeline, notebook: str, output: str | None,
                defaults: dict[str, str], store: str | None, image: str | None) -> None:
    from cellpipe.remote.kubeflow import export_kubeflow

    if not output:
        raise click.UsageError("--format kfp writes a directory: name it with -o DIR")
    directory = Path(output)
    if directory.exists() and not directory.is_dir():
        raise click.ClickException(f"{output} is a file; -o names the directory to write")
    if store is None:
        store = (directory.resolve() / "store").as_uri()
    exported = export_kubeflow(pipeline, Path(notebook).name, store, image, defaults)
    directory.mkdir(parents=True, exist_ok=True)
    write_text(directory / "pipeline.py", exported.dsl)
    write_text(directory / "pipeline.yaml", exported.yaml)
    err.print(f"wrote {shown(directory / 'pipeline.py')} and "
              f"{shown(directory / 'pipeline.yaml')}: {len(pipeline.components)} steps, "
              f"data store {shown(store)}", soft_wrap=True)
    for note in exported.notes:
        err.print(f"[yellow]note:[/] {shown(note)}", soft_wrap=True)


def write_text(path: Path, text: str) -> None:
    """Write atomically (a temp file beside it, then a rename)."""
    if path.is_dir():
        raise click.ClickException(f"{path} is a directory; name the file to write")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _one_line(exc: PipelineError) -> str:
    """The first problem (a run check lists every one; export names the first and the count)."""
    problems = getattr(exc, "problems", None)
    if problems and len(problems) > 1:
        return f"{problems[0]} (and {len(problems) - 1} more problems; nothing written)"
    return f"{exc} (nothing written)"
