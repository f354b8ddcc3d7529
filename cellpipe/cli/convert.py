"""`cellpipe convert`: a plain notebook to an inferred pipeline; Link notebooks to cellpipe."""

from __future__ import annotations

from pathlib import Path

import click

from cellpipe.cli.console import err, out
from cellpipe.cli.notebooks import write_notebook
from cellpipe.model import convert_notebook, read_notebook
from cellpipe.model.errors import PipelineError
from cellpipe.model.infer import apply_inference, infer_notebook
from cellpipe.model.link import has_link_metadata
from cellpipe.model.notebook import METADATA_KEY


def register(main: click.Group) -> None:
    """Add `convert` to the main group."""
    main.add_command(convert)


@click.command()
@click.argument("notebook", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write the converted notebook here (default: NOTEBOOK, in place).")
@click.option("--infer", "force_infer", is_flag=True,
              help="Infer the pipeline from the code even when the notebook has components "
                   "(their names and edges are replaced).")
@click.option("--explain", is_flag=True,
              help="Print every inferred edge with the names it carries, and why.")
def convert(notebook: str, output: str | None, force_infer: bool, explain: bool) -> None:
    """Make NOTEBOOK a pipeline.

    A plain notebook (no components): every code cell becomes a component whose parents are
    the cells that last bound or changed what it reads, so that running any component gives
    the outputs the notebook gives top to bottom. A MakinaRocks Link notebook ('canvas'
    metadata): its pipeline is written as cellpipe metadata. The result is checked before it
    is written: on any problem nothing is written and the command exits non-zero."""
    try:
        nb, notices = read_notebook(notebook)
        drawn = has_link_metadata(nb) or any(
            isinstance(c.get("metadata", {}).get(METADATA_KEY), dict) for c in nb.cells)
        if force_infer or not drawn:
            inference = infer_notebook(nb)
            result = apply_inference(nb, inference, source=notebook)
        else:
            inference = None
            result = convert_notebook(nb, source=notebook)
    except PipelineError as exc:
        raise click.ClickException(str(exc)) from None
    write_notebook(result.notebook, Path(output or notebook))
    for notice in [*notices, *result.notices]:
        err.print(f"note: {notice}", markup=False, highlight=False, soft_wrap=True)
    if inference is not None:
        for note in inference.notes:
            err.print(f"note: {note}", markup=False, highlight=False, soft_wrap=True)
        if explain:
            names = inference.names
            for e in inference.edges:
                carried = ", ".join(e.names) or "-"
                out.print(f"{names[e.child]!r} <- {names[e.parent]!r}: {carried} ({e.reason})",
                          markup=False, highlight=False, soft_wrap=True)
    err.print(result.summary(), markup=False, highlight=False)
