"""The `cellpipe` command: run a notebook's pipeline headless, inspect plans and the cache."""

from __future__ import annotations

import sys

# nbformat imports jsonschema, whose optional IRI checker (rfc3987_syntax) builds a grammar
# when imported (~2.5 s); nothing in the CLI validates IRIs, so keep it out of this process.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import click
import nbformat
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from cellpipe.cache import CacheStore, default_cache_dir
from cellpipe.cli_git import register as _register_git
from cellpipe.engine import plan_run
from cellpipe.model import Pipeline, pipeline_from_notebook, read_notebook, write_pipeline
from cellpipe.model.errors import PipelineError

err = Console(stderr=True, highlight=False)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
out = Console(highlight=False)


def _params(values: tuple[str, ...]) -> dict[str, str]:
    params = {}
    for item in values:
        if "=" not in item:
            raise click.BadParameter(f"{item!r} must be NAME=VALUE", param_hint="-p")
        name, value = item.split("=", 1)
        params[name.strip()] = value
    return params


def _load(path: str) -> tuple[nbformat.NotebookNode, Pipeline]:
    try:
        nb, notices = read_notebook(path)
        pipeline = pipeline_from_notebook(nb)
    except PipelineError as exc:
        raise click.ClickException(str(exc)) from None
    for notice in notices:
        err.print(f"[yellow]note:[/] {notice}")
    return nb, pipeline


def _targets(pipeline: Pipeline, names: tuple[str, ...]) -> list[str]:
    from cellpipe.model import dag

    if not pipeline.components:
        raise click.ClickException("the notebook has no components: mark cells as components "
                                   "in JupyterLab (or add 'cellpipe' metadata) first")
    try:
        if names:
            return [pipeline.find(n).id for n in names]
    except PipelineError as exc:
        raise click.ClickException(str(exc)) from None
    children = dag.children_of(pipeline.graph())
    return [cid for cid in pipeline.ids if not children[cid]]


@click.group()
@click.version_option(package_name="cellpipe")
def main() -> None:
    """cellpipe: notebook cells as the components of a cached pipeline."""


@main.command()
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
def run(notebook: str, targets: tuple[str, ...], params: tuple[str, ...], no_cache: bool,
        force: bool, inplace: bool, output: str | None, timeout: float) -> None:
    """Run the pipeline of NOTEBOOK in a real kernel, showing the targets' output."""
    from cellpipe.kernel.client import KernelFailure, PipelineKernel

    if inplace and output:
        raise click.UsageError("use either --inplace or -o/--output, not both")
    nb, pipeline = _load(notebook)
    parameters = _params(params)
    try:
        pipeline.parameter_values(parameters)
    except PipelineError as exc:
        raise click.ClickException(str(exc)) from None
    ids = _targets(pipeline, targets)
    env = dict(os.environ)
    env["JPY_SESSION_NAME"] = str(Path(notebook).resolve())  # which notebook, as Jupyter says
    if no_cache:
        env["CELLPIPE_CACHE"] = "memory"
    cwd = str(Path(notebook).resolve().parent)
    target_outputs: dict[str, list[dict[str, Any]]] = {}
    failed = False
    try:
        with PipelineKernel(cwd=cwd, env=env, timeout=timeout) as kernel:
            state = kernel.sync(nb)
            if state.get("op") == "error":
                raise click.ClickException(state["message"])
            for cid in ids:
                name = pipeline.get(cid).name
                execution = _run_one(kernel, cid, name, force or no_cache, parameters)
                target_outputs[cid] = list(execution.outputs)
                if execution.status != "ok":
                    failed = True
                    break
            if inplace or output:
                _write_back(kernel, nb, pipeline, target_outputs, Path(output or notebook))
    except KernelFailure as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        err.print("[red]interrupted[/]")
        sys.exit(130)
    if failed:
        sys.exit(1)


def _run_one(kernel: Any, cid: str, name: str, force: bool, parameters: dict[str, str]) -> Any:
    """Run one target with a progress display; print its outputs as they come."""
    progress = Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                        TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                        console=err, transient=True)
    task = progress.add_task(f"{name}: planning", total=None)

    def on_message(msg: dict[str, Any]) -> None:
        kind = msg["msg_type"]
        content = msg["content"]
        if kind == "comm_msg":
            data = content["data"]
            if data.get("op") == "run" and data.get("phase") == "start":
                progress.update(task, total=len(data["steps"]), completed=0)
            elif data.get("op") == "event":
                status = data["status"]
                label = data["name"]
                if status == "running":
                    progress.update(task, description=f"{name}: running {label}")
                elif status in ("done", "cached"):
                    progress.advance(task)
                    took = f" {data['elapsed']:.2f} s" if data.get("elapsed") is not None else ""
                    mark = "[green]done[/]" if status == "done" else "[cyan]cached[/]"
                    progress.console.print(f"  {mark}  {label}{took}  [dim]{data['reason']}[/]")
                elif status in ("error", "interrupted"):
                    progress.console.print(f"  [red]{status}[/]  {label}")
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
                text = _ANSI.sub("", text)
            sys.stderr.write(text)
            sys.stderr.flush()

    err.print(f"[bold]▶ {name}[/]")
    with progress:
        return kernel.run(cid, force=force, parameters=parameters, on_message=on_message)


def _write_back(kernel: Any, nb: nbformat.NotebookNode, pipeline: Pipeline,
                target_outputs: dict[str, list[dict[str, Any]]], path: Path) -> None:
    """Each component cell gets its latest outputs; targets get what the client saw."""
    for cell in nb.cells:
        cid = cell.get("id")
        if cid not in pipeline:
            continue
        if cid in target_outputs:
            outputs = target_outputs[cid]
        else:
            reply = kernel.request({"op": "captured", "id": cid})
            if reply.get("op") != "captured" or reply["run_of"] is None:
                continue
            outputs = reply["outputs"]
        cell.outputs = [nbformat.from_dict(o) for o in outputs]
    _write_notebook(nb, path)


def _write_notebook(nb: nbformat.NotebookNode, path: Path) -> None:
    """Write atomically (temp file, then rename): an interrupted write loses nothing."""
    text = nbformat.writes(nb)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
    err.print(f"wrote {path}")


@main.command()
@click.argument("notebook", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write the converted notebook here (default: NOTEBOOK, in place).")
def convert(notebook: str, output: str | None) -> None:
    """Convert a MakinaRocks Link notebook ('canvas' metadata) to cellpipe metadata."""
    nb, pipeline = _load(notebook)
    had_link = "canvas" in nb.metadata or any("canvas" in c.metadata for c in nb.cells)
    if not had_link:
        err.print("[yellow]note:[/] no Link metadata found; cellpipe metadata written as is")
    write_pipeline(nb, pipeline)
    _write_notebook(nb, Path(output or notebook))
    err.print(f"{len(pipeline.components)} components, "
              f"{sum(len(c.parents) for c in pipeline.components)} edges, "
              f"{len(pipeline.parameters)} parameters")


@main.command()
@click.argument("notebook", type=click.Path(exists=True, dir_okay=False))
@click.option("--target", "-t", "targets", multiple=True, help="Component (default: every sink).")
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
def plan(notebook: str, targets: tuple[str, ...], params: tuple[str, ...], as_json: bool) -> None:
    """Show what running the targets would do, and why (no kernel needed)."""
    _, pipeline = _load(notebook)
    store = CacheStore(default_cache_dir())
    store.scope = str(Path(notebook).resolve())
    plans = []
    for cid in _targets(pipeline, targets):
        try:
            values = pipeline.parameter_values(_params(params))
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


@main.group()
def cache() -> None:
    """Inspect and clean the on-disk results cache ($CELLPIPE_CACHE_DIR)."""


@cache.command("ls")
def cache_ls() -> None:
    """List cache entries."""
    store = CacheStore(default_cache_dir())
    table = Table(title=str(store.root), title_justify="left")
    for col in ("component", "key", "size", "created", "variables"):
        table.add_column(col)
    from datetime import datetime

    total = 0
    for info in store.entries():
        total += info.nbytes
        table.add_row(info.name, info.key[:12], _size(info.nbytes),
                      datetime.fromtimestamp(info.created).strftime("%Y-%m-%d %H:%M"),
                      ", ".join(info.variables[:6]) + (" ..." if len(info.variables) > 6 else ""))
    out.print(table)
    out.print(f"{table.row_count} entries, {_size(total)}")


@cache.command("clear")
@click.option("--yes", is_flag=True, help="Do not ask.")
def cache_clear(yes: bool) -> None:
    """Remove every cache entry."""
    store = CacheStore(default_cache_dir())
    if not yes:
        click.confirm(f"remove every entry in {store.root}?", abort=True)
    out.print(f"removed {store.clear()} entries")


@cache.command("gc")
@click.option("--older-than", type=float, default=None, metavar="DAYS",
              help="Also remove entries created more than DAYS ago.")
def cache_gc(older_than: float | None) -> None:
    """Remove entries no component uses any more, and leftovers of interrupted writes."""
    removed, freed = CacheStore(default_cache_dir()).gc(older_than)
    out.print(f"removed {removed} entries, freed {_size(freed)}")


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


_register_git(main)


if __name__ == "__main__":
    main()
