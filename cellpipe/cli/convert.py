"""`cellpipe convert`: MakinaRocks Link notebooks to cellpipe metadata."""

from __future__ import annotations

from pathlib import Path

import click

from cellpipe.cli.console import err
from cellpipe.cli.notebooks import write_notebook
from cellpipe.model import convert_notebook, read_notebook
from cellpipe.model.errors import PipelineError


def register(main: click.Group) -> None:
    """Add `convert` to the main group."""
    main.add_command(convert)


@click.command()
@click.argument("notebook", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write the converted notebook here (default: NOTEBOOK, in place).")
def convert(notebook: str, output: str | None) -> None:
    """Convert a MakinaRocks Link notebook ('canvas' metadata) to cellpipe metadata.

    The converted notebook is checked before it is written: on any problem nothing is
    written and the command exits non-zero."""
    try:
        nb, notices = read_notebook(notebook)
        result = convert_notebook(nb, source=notebook)
    except PipelineError as exc:
        raise click.ClickException(str(exc)) from None
    for notice in [*notices, *result.notices]:
        err.print(f"[yellow]note:[/] {notice}")
    write_notebook(result.notebook, Path(output or notebook))
    err.print(result.summary())
