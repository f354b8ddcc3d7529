"""`cellpipe convert`: MakinaRocks Link notebooks to cellpipe metadata."""

from __future__ import annotations

from pathlib import Path

import click

from cellpipe.cli.console import err
from cellpipe.cli.notebooks import load_notebook, write_notebook
from cellpipe.model import write_pipeline


def register(main: click.Group) -> None:
    """Add `convert` to the main group."""
    main.add_command(convert)


@click.command()
@click.argument("notebook", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write the converted notebook here (default: NOTEBOOK, in place).")
def convert(notebook: str, output: str | None) -> None:
    """Convert a MakinaRocks Link notebook ('canvas' metadata) to cellpipe metadata."""
    nb, pipeline = load_notebook(notebook)
    had_link = "canvas" in nb.metadata or any("canvas" in c.metadata for c in nb.cells)
    if not had_link:
        err.print("[yellow]note:[/] no Link metadata found; cellpipe metadata written as is")
    write_pipeline(nb, pipeline)
    write_notebook(nb, Path(output or notebook))
    err.print(f"{len(pipeline.components)} components, "
              f"{sum(len(c.parents) for c in pipeline.components)} edges, "
              f"{len(pipeline.parameters)} parameters")


