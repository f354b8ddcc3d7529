"""`cellpipe cache ls|clear|gc`: inspect and clean the on-disk results cache."""

from __future__ import annotations

from datetime import datetime

import click
from rich.table import Table

from cellpipe.cache import CacheStore, default_cache_dir
from cellpipe.cli.console import human_size, out, shown
from cellpipe.engine.rng import RNG_NAME


def register(main: click.Group) -> None:
    """Add the `cache` group to the main group."""
    main.add_command(cache)


@click.group()
def cache() -> None:
    """Inspect and clean the on-disk results cache ($CELLPIPE_CACHE_DIR)."""


@cache.command("ls")
def cache_ls() -> None:
    """List cache entries."""
    store = CacheStore(default_cache_dir())
    table = Table(title=shown(store.root), title_justify="left")
    for col in ("component", "key", "size", "created", "variables"):
        table.add_column(col)
    total = 0
    for info in store.entries():
        total += info.nbytes
        names = [n for n in info.variables if n != RNG_NAME]  # the random generators' states
        table.add_row(shown(info.name), shown(info.key[:12]), human_size(info.nbytes),
                      datetime.fromtimestamp(info.created).strftime("%Y-%m-%d %H:%M"),
                      shown(", ".join(names[:6])) + (" ..." if len(names) > 6 else ""))
    out.print(table)
    out.print(f"{table.row_count} entries, {human_size(total)}")
    broken = list(store.disk.broken()) if store.disk is not None else []
    for b in broken:
        out.print(f"[red]damaged[/] {shown(b.path.name)}: {shown(b.reason)}")
    if broken:
        out.print(f"{len(broken)} damaged entries (never used): `cellpipe cache gc` removes them")


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
    done = CacheStore(default_cache_dir()).gc(older_than)
    leftovers = f" and {done.leftovers} leftovers of interrupted runs" if done.leftovers else ""
    out.print(f"removed {len(done.keys)} entries{leftovers}, freed {human_size(done.freed)}")


