"""`cellpipe workers add|list|remove|ping` (the registry) and `cellpipe worker` (serve a queue)."""

from __future__ import annotations

import json
from collections.abc import Iterable

import click
from rich.table import Table

from cellpipe.cli.console import err, out, shown
from cellpipe.engine.plan import Step
from cellpipe.model import Component, Pipeline


def register(main: click.Group) -> None:
    """Add the `workers` group and the `worker` command to the main group."""
    main.add_command(workers)
    main.add_command(worker)


def _option(values: tuple[str, ...]) -> dict[str, str]:
    options = {}
    for item in values:
        if "=" not in item:
            raise click.BadParameter(f"{item!r} must be NAME=VALUE", param_hint="--option")
        name, value = item.split("=", 1)
        options[name.strip()] = value.strip()
    return options


@click.group()
def workers() -> None:
    """Register remote workers under aliases (stored in your config dir, mode 0600)."""


@workers.command("add")
@click.argument("alias")
@click.option("--queue", required=True, metavar="URL",
              help="redis://[:${PASSWORD_VAR}@]host:port/db (rediss:// for TLS), or "
                   "ray://head:10001 (a Ray cluster; pip install 'cellpipe[ray]').")
@click.option("--store", required=True, metavar="URL",
              help="Data store the worker also uses: file:///shared/dir, s3://bucket/prefix.")
@click.option("--option", "options", multiple=True, metavar="NAME=VALUE",
              help="timeout=SECONDS (default 86400), retries=N (default 1), "
                   "num_gpus=N (Ray: GPUs per task, default 0).")
def workers_add(alias: str, queue: str, store: str, options: tuple[str, ...]) -> None:
    """Add (or replace) worker ALIAS."""
    from cellpipe.remote import RegistryError, WorkerRegistry, WorkerSpec

    try:
        spec = WorkerRegistry().add(WorkerSpec(alias, queue, store, _option(options)))
    except RegistryError as exc:
        raise click.ClickException(str(exc)) from None
    out.print(f"added worker {spec.alias!r} ({spec.kind}, queue {spec.as_json()['queue']}, "
              f"store {spec.as_json()['store']})")


@workers.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def workers_list(as_json: bool) -> None:
    """List the registered aliases (passwords hidden)."""
    from cellpipe.remote import RegistryError, WorkerRegistry

    try:
        specs = [s.as_json() for s in WorkerRegistry().all()]
    except RegistryError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        out.print_json(json.dumps({"workers": specs}))
        return
    table = Table()
    for col in ("alias", "kind", "queue", "store", "options"):
        table.add_column(col)
    for s in specs:
        opts = ", ".join(f"{k}={v}" for k, v in s["options"].items())
        table.add_row(*(shown(v) for v in (s["alias"], s["kind"], s["queue"] or "-",
                                             s["store"], opts)))
    out.print(table)


@workers.command("remove")
@click.argument("alias")
def workers_remove(alias: str) -> None:
    """Forget worker ALIAS."""
    from cellpipe.remote import RemoteError, WorkerRegistry

    try:
        WorkerRegistry().remove(alias)
    except RemoteError as exc:
        raise click.ClickException(str(exc)) from None
    out.print(f"removed worker {alias!r}")


@workers.command("ping")
@click.argument("alias")
@click.option("--timeout", default=5.0, show_default=True, help="Seconds to wait.")
def workers_ping(alias: str, timeout: float) -> None:
    """Round trip to ALIAS's queue, store and a worker, timed."""
    from cellpipe.remote import RemoteError
    from cellpipe.remote.backend import ping

    try:
        reply = ping(alias, timeout=timeout)
    except RemoteError as exc:
        raise click.ClickException(str(exc)) from None
    if not reply["ok"]:
        raise click.ClickException(f"{reply['message']} ({reply['elapsed_ms']} ms)")
    out.print(f"{alias}: ok in {reply['elapsed_ms']} ms, {reply['message']}")


@click.command()
@click.option("--alias", required=True, help="The alias clients use for this worker.")
@click.option("--queue", required=True, metavar="URL",
              help="'redis://[USER:${PASSWORD_VAR}@]host:port/db' (rediss:// for TLS), in "
                   "single quotes: ${VAR} is read from the environment, so the password "
                   "stays off the command line.")
@click.option("--store", required=True, metavar="URL",
              help="The data store (the same storage the clients' alias points at).")
@click.option("--concurrency", "-c", default=1, show_default=True,
              type=click.IntRange(min=1), help="Tasks run at once (one process each).")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
def worker(alias: str, queue: str, store: str, concurrency: int, burst: bool) -> None:
    """Serve ALIAS's task queue: each task runs in a fresh process; SIGTERM finishes the
    running task, then stops."""
    from cellpipe.remote import RemoteError
    from cellpipe.remote.registry import expand, redact
    from cellpipe.remote.rqueue import run_worker

    err.print(f"cellpipe worker {alias!r}: queue {redact(queue)}, store {redact(store)}, "
              f"{concurrency} at a time")
    try:
        run_worker(alias, expand(queue, alias), expand(store, alias), concurrency, burst)
    except (RemoteError, OSError) as exc:
        raise click.ClickException(str(exc)) from None


def unknown_workers(pipeline: Pipeline, steps: Iterable[Step | Component]) -> dict[str, str]:
    """Step (component) id -> the alias it is bound to, for those bound to an alias this
    user has not registered (the registry is read once)."""
    from cellpipe.remote import LOCAL, RemoteError, WorkerRegistry

    bound = {s.id: pipeline.get(s.id).worker for s in steps if pipeline.get(s.id).worker}
    if not bound:
        return {}
    try:
        known = {spec.alias for spec in WorkerRegistry().all()}
    except RemoteError as exc:
        raise click.ClickException(str(exc)) from None
    return {sid: alias for sid, alias in bound.items() if alias != LOCAL and alias not in known}


def check_workers(pipeline: Pipeline, steps: Iterable[Step | Component]) -> None:
    """Fail (exit 1, one line) when a step (component) is bound to an unknown alias, before
    a kernel starts: nothing runs, locally or elsewhere."""
    from cellpipe.remote import UnknownWorker

    for sid, alias in unknown_workers(pipeline, steps).items():
        raise click.ClickException(str(UnknownWorker(alias, pipeline.get(sid).name)))
