"""`cellpipe plan`: what running the targets would do, and why (no kernel needed)."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.table import Table

from cellpipe.cache import CacheStore, default_cache_dir
from cellpipe.cli.console import out
from cellpipe.cli.notebooks import check_conflicts, load_notebook, parse_params, resolve_targets
from cellpipe.engine import plan_run
from cellpipe.model.errors import PipelineError


def register(main: click.Group) -> None:
    """Add `plan` to the main group."""
    main.add_command(plan)


@click.command()
@click.argument("notebook", type=click.Path(exists=True, dir_okay=False))
@click.option("--target", "-t", "targets", multiple=True, help="Component (default: every sink).")
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Plan with a pipeline parameter set to VALUE.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
def plan(notebook: str, targets: tuple[str, ...], params: tuple[str, ...], as_json: bool) -> None:
    """Show what running the targets would do, and why (no kernel needed)."""
    nb, pipeline = load_notebook(notebook)
    store = CacheStore(default_cache_dir(), notebook=str(Path(notebook).resolve()))
    plans = []
    ids = resolve_targets(pipeline, targets)
    check_conflicts(notebook, nb, pipeline, ids)
    for cid in ids:
        try:
            values = pipeline.parameter_values(parse_params(params))
            plans.append(plan_run(pipeline, cid, store, values))
        except PipelineError as exc:
            raise click.ClickException(str(exc)) from None
    if as_json:
        out.print_json(json.dumps([{"target": p.target,
                                    "steps": [s.as_json() for s in p.steps]} for p in plans]))
        return
    for p in plans:
        table = Table(title=f"run {pipeline.get(p.target).name}", title_justify="left")
        for col in ("component", "action", "why"):
            table.add_column(col)
        for s in p.steps:
            colour = "cyan" if s.action == "cache" else "yellow"
            table.add_row(s.name, f"[{colour}]{s.action}[/]", s.reason)
        out.print(table)


