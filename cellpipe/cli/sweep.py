"""`cellpipe sweep`: run one target for many parameter values (a grid, or an Optuna search)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from cellpipe.cache import CacheStore
from cellpipe.cli.console import ANSI_COLOUR, err, out, shown
from cellpipe.cli.notebooks import check_conflicts, load_notebook, resolve_targets
from cellpipe.engine import ComponentError, plan_run
from cellpipe.engine.sweep import Axis, Row, mark_best, split_axes
from cellpipe.engine.sweep_run import SweepRunner, failure_line, open_sweep_store, run_grid
from cellpipe.model import Pipeline
from cellpipe.model.errors import PipelineError


def register(main: click.Group) -> None:
    """Add `sweep` to the main group."""
    main.add_command(sweep)


@click.command()
@click.argument("notebook", type=click.Path(exists=True, dir_okay=False))
@click.option("--target", "-t", "target", default=None,
              help="Component to run (name or cell id). Default: the only sink.")
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=V1,V2|LOW..HIGH[:log]",
              help="Values of a parameter: a list (every one is run) or a range (searched; "
                   "needs --trials). One value sets the parameter for every combination.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=1, show_default=True,
              help="Combinations run at once, on the target's worker alias when it has one, "
                   "else in `local` processes.")
@click.option("--report", "reports", multiple=True, metavar="NAME",
              help="Variables to show per row (repeat, or NAME,NAME). Default: the target's "
                   "names bound to small numbers, strings and bools.")
@click.option("--objective", default=None, metavar="NAME",
              help="The reported number to optimise; marks the best row.")
@click.option("--minimize/--maximize", "minimize", default=True,
              help="Direction of the objective.  [default: minimize]")
@click.option("--trials", type=click.IntRange(min=1), default=None,
              help="Search with Optuna: the study ends with N complete trials (a resumed study "
                   "runs what it lacks).")
@click.option("--study", "study_name", default=None, metavar="NAME",
              help="The Optuna study to create or resume. Default: a new one.")
@click.option("--storage", default=None, metavar="URL",
              help="Optuna storage (an RDB URL, to share a study across machines). Default: "
                   "an SQLite database in the cache directory.")
@click.option("--seed", type=int, default=None, help="Seed of Optuna's sampler.")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
def sweep(notebook: str, target: str | None, params: tuple[str, ...], jobs: int,
          reports: tuple[str, ...], objective: str | None, minimize: bool, trials: int | None,
          study_name: str | None, storage: str | None, seed: int | None, as_json: bool) -> None:
    """Run the target of NOTEBOOK for every combination of parameter values (or search
    them with Optuna), sharing what reads no swept parameter; print one row each."""
    nb, pipeline = load_notebook(notebook)
    ids = resolve_targets(pipeline, (target,) if target else ())
    if len(ids) != 1:
        raise click.UsageError("a sweep runs one target: name it with --target")
    target_id = ids[0]
    check_conflicts(notebook, nb, pipeline, ids)
    searching = trials is not None
    try:
        swept, fixed = split_axes(pipeline, params, searching=searching)
    except PipelineError as exc:
        raise click.BadParameter(str(exc), param_hint="-p") from None
    if searching and objective is None:
        raise click.UsageError("a search (--trials) needs --objective NAME")
    report = [n.strip() for r in reports for n in r.split(",") if n.strip()] or None
    store = _store(notebook)
    _check_workers(pipeline, target_id, store, fixed)
    runner = _runner(pipeline, target_id, store, jobs, report, objective)
    direction = "minimize" if minimize else "maximize"
    rows: list[Row] = []
    interrupted = False
    try:
        with _progress() as progress:
            if searching:
                assert trials is not None and objective is not None
                rows = _search(runner, pipeline, notebook, swept, fixed, trials, objective,
                               direction, storage, study_name, seed, progress)
            else:
                rows = _grid(runner, swept, fixed, progress)
    except KeyboardInterrupt:
        interrupted = True
        rows = [c.row for c in runner.combinations if c.row.status != "running"]
    except (PipelineError, ComponentError) as exc:
        raise click.ClickException(failure_line(exc)) from None
    finally:
        for problem in store.flush():
            err.print(f"[yellow]warning:[/] {problem}")
    if objective is not None:
        mark_best(rows, objective, direction)
    _show(rows, swept, as_json)
    _show_tracebacks(rows)
    if interrupted:
        err.print("[red]interrupted[/]: the running combinations were stopped")
        sys.exit(130)
    if any(r.status == "error" for r in rows):
        sys.exit(1)


def _store(notebook: str) -> CacheStore:
    try:  # refuse a cache others could have written before anything runs
        return open_sweep_store(notebook)
    except PipelineError as exc:
        raise click.ClickException(str(exc)) from None


def _check_workers(pipeline: Pipeline, target_id: str, store: CacheStore,
                   fixed: dict[str, Any]) -> None:
    """Every alias the target's components are bound to is registered, before anything runs."""
    from cellpipe.cli.workers import check_workers

    steps = plan_run(pipeline, target_id, store, pipeline.parameter_values(fixed),
                     force=True).steps
    check_workers(pipeline, steps)


def _runner(pipeline: Pipeline, target_id: str, store: CacheStore, jobs: int,
            report: list[str] | None, objective: str | None) -> SweepRunner:
    from cellpipe.remote import WorkerSteps

    return SweepRunner(pipeline, target_id, store, WorkerSteps(jobs), jobs=jobs, report=report,
                       also_report=[objective] if objective else [])


def _progress() -> Progress:
    return Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                    TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                    console=err, transient=True)


def _grid(runner: SweepRunner, swept: list[Axis], fixed: dict[str, Any],
          progress: Progress) -> list[Row]:
    total = 1
    for axis in swept:
        total *= len(axis.values)
    task = progress.add_task("sweep", total=total)

    def stopped() -> bool:  # called between steps: the moment to say what runs
        running = sorted(set(runner.running))
        progress.update(task, description="running " + ", ".join(running) if running
                        else "sweep")
        return False

    return run_grid(runner, swept, fixed, on_row=lambda _row: progress.advance(task),
                    stopped=stopped)


def _search(runner: SweepRunner, pipeline: Pipeline, notebook: str, swept: list[Axis],
            fixed: dict[str, Any], trials: int, objective: str, direction: str,
            storage: str | None, study_name: str | None, seed: int | None,
            progress: Progress) -> list[Row]:
    from cellpipe.engine.search import Search, default_storage

    name = study_name or _default_study(notebook, pipeline.get(runner.target_id).name)
    url = storage or default_storage()
    try:
        search = Search(runner, swept, fixed, objective=objective, direction=direction,
                        storage=url, study_name=name, seed=seed)
    except PipelineError:
        raise
    except Exception as exc:  # noqa: BLE001 - Optuna and SQLAlchemy raise many kinds
        raise click.ClickException(f"study {name!r} in {url}: {type(exc).__name__}: "
                                   f"{str(exc).splitlines()[0] if str(exc) else ''}") from None
    todo = search.remaining(trials)
    err.print(f"study {shown(repr(name), False)} ({search.complete} complete trial(s); {todo} "
              f"to run): resume it with --study {shown(name, False)}", markup=False,
              highlight=False)
    task = progress.add_task("search", total=todo)
    rows = search.run(trials, on_row=lambda _row: progress.advance(task))
    best = search.best()
    if best is not None:  # over every trial of the study, earlier runs' included
        number, value, params = best
        chosen = ", ".join(f"{k}={v!r}" for k, v in params.items())
        err.print(f"study best: {objective}={value:.6g} with {chosen} (trial {number})",
                  markup=False, highlight=False)
    return rows


def _default_study(notebook: str, target: str) -> str:
    import time

    return f"{Path(notebook).stem}-{target}-{time.strftime('%Y%m%d-%H%M%S')}".replace(" ", "_")


def _show(rows: list[Row], swept: list[Axis], as_json: bool) -> None:
    if as_json:  # plain json.dumps, as `cellpipe plan --json` (rich's print_json re-parses)
        click.echo(json.dumps([r.as_json() for r in rows]))
        return
    names = [a.name for a in swept]
    values = list(dict.fromkeys(n for r in rows for n in r.values))
    table = Table(title_justify="left")
    table.add_column("")
    for col in names:
        table.add_column(col, style="bold")
    for col in values:
        table.add_column(col, justify="right")
    table.add_column("status")
    table.add_column("seconds", justify="right")
    colours = {"done": "green", "cached": "cyan", "error": "red"}
    for r in rows:
        status = f"[{colours.get(r.status, 'yellow')}]{r.status}[/]"
        if r.status == "error":
            status += f" {shown(r.error)}"
        table.add_row("[bold yellow]*[/]" if r.best else "",
                      *(_cell(r.params.get(n)) for n in names),
                      *(_cell(r.values.get(n)) for n in values), status, f"{r.seconds:.2f}",
                      style="bold" if r.best else None)
    out.print(table)


def _show_tracebacks(rows: list[Row]) -> None:
    """Each distinct error's traceback on stderr (the user's frames), once, after the rows."""
    seen: set[str] = set()
    for row in rows:
        if row.status != "error" or not row.traceback or row.error in seen:
            continue
        seen.add(row.error)
        params = ", ".join(f"{k}={v!r}" for k, v in row.params.items())
        text = "\n".join(row.traceback) + "\n"
        if not sys.stderr.isatty():  # colours only on a terminal, as git does
            text = ANSI_COLOUR.sub("", text)
        err.print(f"[red]error[/] with {shown(params) or 'the set parameters'}:")
        sys.stderr.write(text)
        sys.stderr.flush()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return shown(f"{value:.6g}")
    return shown(str(value))
