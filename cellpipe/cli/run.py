"""`cellpipe run`: run a notebook's pipeline headless in a real kernel.

The notebook is read once, here; the kernel gets its cells (`sync`) and plans each target
once, when the run request (kernel/protocol.py) arrives, as when JupyterLab runs a cell.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click
import nbformat
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from cellpipe.cache import DiskStore, default_cache_dir, disk_cache_enabled
from cellpipe.cli.console import ANSI_COLOUR, err, shown
from cellpipe.cli.notebooks import (
    check_conflicts,
    check_drawn_edges,
    load_notebook,
    parse_params,
    resolve_targets,
    write_notebook,
)
from cellpipe.model import Pipeline, dag
from cellpipe.model.errors import PipelineError


def register(main: click.Group) -> None:
    """Add `run` to the main group."""
    main.add_command(run)


@click.command()
@click.argument("notebook", type=click.Path(exists=True, dir_okay=False))
@click.option("--target", "-t", "targets", multiple=True,
              help="Component to run (name or cell id); repeat for several. Default: every sink.")
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Set a pipeline parameter for this run.")
@click.option("--no-cache", is_flag=True,
              help="Run everything: read nothing from the cache, write nothing to disk.")
@click.option("--force", is_flag=True, help="Re-run everything, then cache the new results.")
@click.option("--inplace", is_flag=True, help="Write the outputs back into NOTEBOOK.")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write the notebook with outputs to this file.")
@click.option("--timeout", default=3600.0, show_default=True,
              help="Seconds to wait for one target.")
@click.option("--strict", is_flag=True,
              help="A component reading a name that only a non-ancestor binds is an error.")
@click.option("--keep-going", is_flag=True,
              help="When a target fails, still run the other targets (exit status 1).")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Components bound to the 'local' worker run up to N at a time "
                   "(independent branches in parallel). Default: 1.")
def run(notebook: str, targets: tuple[str, ...], params: tuple[str, ...], no_cache: bool,
        force: bool, inplace: bool, output: str | None, timeout: float,
        strict: bool, keep_going: bool, jobs: int | None) -> None:
    """Run the pipeline of NOTEBOOK in a real kernel, showing the targets' output."""
    from cellpipe.cli.kernel_driver import KernelFailure, PipelineKernel

    if inplace and output:
        raise click.UsageError("use either --inplace or -o/--output, not both")
    nb, pipeline = load_notebook(notebook)
    given = parse_params(params)
    try:  # typed here, sent typed: the kernel reads no command-line text
        values = pipeline.parameter_values(given)
    except PipelineError as exc:
        raise click.ClickException(str(exc)) from None
    parameters = {name: values[name] for name in given}
    ids = resolve_targets(pipeline, targets)
    check_conflicts(notebook, nb, pipeline, ids)
    check_drawn_edges(pipeline, strict)
    if not no_cache and disk_cache_enabled():
        try:  # refuse a cache others could have written before a kernel starts
            DiskStore(default_cache_dir()).check_private()
        except PipelineError as exc:
            raise click.ClickException(str(exc)) from None
    _check_workers(pipeline, ids)
    env = dict(os.environ)
    env["JPY_SESSION_NAME"] = str(Path(notebook).resolve())  # which notebook, as Jupyter says
    if no_cache:
        env["CELLPIPE_CACHE"] = "memory"
    if jobs is not None:
        env["CELLPIPE_JOBS"] = str(jobs)
    cwd = str(Path(notebook).resolve().parent)
    target_outputs: dict[str, list[dict[str, Any]]] = {}
    took_part: set[str] = set()  # components that ran, failed or came from the cache
    # the run the kernel is in, and the components it reported starting (named if it dies)
    running: dict[str, str] = {}
    failed = False
    try:
        with PipelineKernel(cwd=cwd, env=env, timeout=timeout) as kernel:
            try:
                state = kernel.sync(nb)
                if state.get("op") == "error":
                    raise click.ClickException(state["message"])
                ran: set[str] = set()  # what this invocation executed: forced once, not per target
                for cid in ids:
                    name = pipeline.get(cid).name
                    err.print(f"[bold]▶ {shown(name)}[/]")
                    running.clear()
                    running["target:" + cid] = name
                    for sid, rerun in _forced_steps(pipeline, cid, force, no_cache, ran):
                        quiet = sid != cid
                        execution = _run_one(kernel, sid, name, rerun is None, parameters,
                                             took_part, running, ran,
                                             rerun_target=bool(rerun), quiet=quiet)
                        if quiet and execution.status != "ok":
                            break
                    target_outputs[cid] = list(execution.outputs)
                    if execution.status != "ok":
                        failed = True
                        if not keep_going:
                            break
                if inplace or output:
                    _write_back(kernel, nb, pipeline, target_outputs, took_part,
                                Path(output or notebook))
                # the results reach the disk in the background: wait for them here (the kernel's
                # shutdown would wait anyway) and say once what a full disk refused
                unwritten = kernel.request({"op": "state", "flush": True}).get("cache_unwritten")
                if unwritten:
                    err.print(f"[yellow]warning:[/] {shown(unwritten['message'])}",
                              soft_wrap=True)
            except (KernelFailure, KeyboardInterrupt):
                # a timeout or Ctrl-C: stop what runs and let the kernel answer before it is
                # shut down (its reply would meet closed sockets: a ZMQError traceback)
                kernel.stop_busy()
                raise
    except KernelFailure as exc:
        raise click.ClickException(f"{exc} {_where(running)}") from None
    except KeyboardInterrupt:
        err.print("[red]interrupted[/]")
        sys.exit(130)
    if failed:
        sys.exit(1)


def _check_workers(pipeline: Pipeline, ids: list[str]) -> None:
    """Before a kernel starts: every component the targets need that is bound to a worker
    names a registered alias, or the run fails in one line (the kernel plans; this does
    not, so a cached component counts too)."""
    from cellpipe.cli.workers import check_workers

    graph = pipeline.graph()
    needed = set(ids).union(*(dag.ancestors(graph, cid) for cid in ids))
    check_workers(pipeline, [c for c in pipeline.components if c.id in needed])


def _forced_steps(pipeline: Pipeline, cid: str, force: bool, no_cache: bool,
                  ran: set[str]) -> list[tuple[str, bool | None]]:
    """The kernel runs that make target cid, as (component, rerun): rerun None is a forced
    run of the target and its ancestors; True re-runs that component alone (its ancestors
    come from the cache); False takes what the cache has. With --force, a component an
    earlier target of this invocation already ran is not run again: the components of
    cid's lineage not run yet go first, each alone, in order (quietly), then cid.
    With --no-cache every target runs its whole lineage live: nothing is read from a cache,
    not even what this invocation put there (a value restored from it loses what it shared
    with another ancestor's value, e.g. a numpy view of an array)."""
    if no_cache:
        return [(cid, None)]
    if not force:
        return [(cid, False)]
    graph = pipeline.graph()
    lineage = dag.ancestors(graph, cid) | {cid}
    if not lineage & ran:
        return [(cid, None)]
    fresh = dag.topological_order(graph, lineage - ran - {cid})
    return [*((sid, True) for sid in fresh), (cid, cid not in ran)]


def _run_one(kernel: Any, cid: str, name: str, force: bool, parameters: dict[str, Any],
             took_part: set[str], running: dict[str, str], ran: set[str], *,
             rerun_target: bool = False, quiet: bool = False) -> Any:
    """Run component cid for target name with a progress display; print its outputs as they
    come (quiet: only its progress and its error, for a component run on the way there)."""
    progress = Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                        TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                        console=err, transient=True)
    task = progress.add_task(f"{shown(name)}: planning", total=None)

    def on_message(msg: dict[str, Any]) -> None:
        kind = msg["msg_type"]
        content = msg["content"]
        if kind == "comm_msg":
            data = content["data"]
            if data.get("op") == "run" and data.get("phase") == "start":
                progress.update(task, total=len(data["steps"]), completed=0)
            elif data.get("op") == "run" and data.get("phase") == "end":
                for notice in data.get("notices", []):
                    progress.console.print(f"[yellow]note:[/] {shown(notice)}")
            elif data.get("op") == "event":
                status = data["status"]
                label = shown(data["name"])
                if status in ("done", "cached", "error"):
                    took_part.add(data["id"])
                if status == "done":
                    ran.add(data["id"])
                if status == "running":
                    running.pop("started:" + data["id"], None)
                    running["started:" + data["id"]] = data["name"]  # last in order
                    progress.update(task, description=f"{shown(name)}: running {label}")
                elif status in ("done", "cached"):
                    progress.advance(task)
                    took = f" {data['elapsed']:.2f} s" if data.get("elapsed") is not None else ""
                    mark = "[green]done[/]" if status == "done" else "[cyan]cached[/]"
                    reason = shown(data["reason"])
                    progress.console.print(f"  {mark}  {label}{took}  [dim]{reason}[/]")
                elif status in ("error", "interrupted"):
                    progress.console.print(f"  [red]{shown(status)}[/]  {label}")
        elif quiet and kind in ("stream", "display_data", "execute_result"):
            return
        elif kind == "stream":
            progress.console.file.flush()
            stream = sys.stdout if content["name"] == "stdout" else sys.stderr
            stream.write(content["text"])
            stream.flush()
        elif kind in ("display_data", "execute_result"):
            data = content.get("data", {})
            text = data.get("text/plain")
            if text is not None:
                print(text, flush=True)
            else:
                print(f"<{', '.join(data)}>", flush=True)
        elif kind == "error":
            text = "\n".join(content["traceback"]) + "\n"
            if not sys.stderr.isatty():  # colours only on a terminal, as git does
                text = ANSI_COLOUR.sub("", text)
            sys.stderr.write(text)
            sys.stderr.flush()

    with progress:
        return kernel.run(cid, force=force, rerun_target=rerun_target, parameters=parameters,
                          on_message=on_message)


def _where(running: dict[str, str]) -> str:
    """Which run the kernel died in, and the last component it said it started (its last
    events can die with it, so that one is a hint, not a certainty)."""
    target = [n for k, n in running.items() if k.startswith("target:")]
    if not target:
        return "before the run started"
    started = [n for k, n in running.items() if k.startswith("started:")]
    hint = f"; the last component it reported starting was {started[-1]!r}" if started else ""
    return f"while running {target[0]!r}{hint}"


def _write_back(kernel: Any, nb: nbformat.NotebookNode, pipeline: Pipeline,
               target_outputs: dict[str, list[dict[str, Any]]], took_part: set[str],
               path: Path) -> None:
    """The notebook as this run left it: targets get what the client saw, the other
    components of the run their captured outputs (a failed one: what it printed, then its
    error); every other code cell did not run, so its old outputs go."""
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        cid = cell.get("id")
        outputs: list[dict[str, Any]] = []
        if cid in target_outputs:
            outputs = target_outputs[cid]
        elif cid in took_part:
            reply = kernel.request({"op": "captured", "id": cid})
            if reply.get("op") == "captured" and reply["run_of"] is not None:
                outputs = reply["outputs"]
        cell.outputs = [nbformat.from_dict(o) for o in outputs]
        cell.execution_count = None
    write_notebook(nb, path)
