"""`cellpipe plan`: what running the targets would do, and why (no kernel needed)."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.table import Table

from cellpipe.cache import CacheStore, default_cache_dir
from cellpipe.cli.console import err, out, shown
from cellpipe.cli.notebooks import (
    check_conflicts,
    check_drawn_edges,
    load_notebook,
    parse_params,
    resolve_targets,
)
from cellpipe.cli.workers import unknown_workers
from cellpipe.engine import plan_runs
from cellpipe.model.errors import PipelineError
from cellpipe.remote.errors import UnknownWorker


def register(main: click.Group) -> None:
    """Add `plan` to the main group."""
    main.add_command(plan)


@click.command()
@click.argument("notebook", type=click.Path(exists=True, dir_okay=False))
@click.option("--target", "-t", "targets", multiple=True, help="Component (default: every sink).")
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Plan with a pipeline parameter set to VALUE.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option("--strict", is_flag=True,
              help="A component reading a name that only a non-ancestor binds is an error.")
def plan(notebook: str, targets: tuple[str, ...], params: tuple[str, ...], as_json: bool,
         strict: bool) -> None:
    """Show what running the targets would do, and why (no kernel needed)."""
    nb, pipeline = load_notebook(notebook)
    store = CacheStore(default_cache_dir(), notebook=str(Path(notebook).resolve()))
    ids = resolve_targets(pipeline, targets)
    check_conflicts(notebook, nb, pipeline, ids)
    checked = check_drawn_edges(pipeline, strict)
    try:
        values = pipeline.parameter_values(parse_params(params))
        plans = plan_runs(pipeline, ids, store, values)
    except PipelineError as exc:
        raise click.ClickException(str(exc)) from None
    unknown = unknown_workers(pipeline, [s for p in plans for s in p.steps])
    if as_json:
        # worker: the alias the step runs on (null: in the kernel); worker_registered: false
        # when that alias is not registered here (running it would fail); edges: the names
        # each parent edge carries (what the step reads that the parent binds or changes)
        carried = checked.edge_names
        # plain json.dumps: rich's print_json took 80% of a 5,000-sink plan (it re-parses
        # and highlights the text); this is the same text without colours
        click.echo(json.dumps([{"target": p.target, "steps": [
            {**s.as_json(), "worker": pipeline.get(s.id).worker or None,
             "worker_registered": s.id not in unknown,
             "edges": [{"parent": q, "names": list(carried.get((q, s.id), ()))}
                       for q in pipeline.get(s.id).parents]}
            for s in p.steps]} for p in plans], indent=2, ensure_ascii=False))
        return
    for p in plans:
        table = Table(title=f"run {shown(pipeline.get(p.target).name)}", title_justify="left")
        for col in ("component", "action", "worker", "why"):
            table.add_column(col)
        for s in p.steps:
            colour = "cyan" if s.action == "cache" else "yellow"
            alias = pipeline.get(s.id).worker
            where = "kernel" if not alias else (
                f"[red]{shown(alias)} (not registered)[/]" if s.id in unknown else shown(alias))
            table.add_row(shown(s.name), f"[{colour}]{s.action}[/]", where, shown(s.reason))
        out.print(table)
    for sid, alias in unknown.items():  # running such a step fails
        err.print(f"note: {shown(UnknownWorker(alias, pipeline.get(sid).name), False)}", markup=False,
                  highlight=False, soft_wrap=True)
