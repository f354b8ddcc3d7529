"""`cellpipe export|import` (pipeline JSON) and `cellpipe cache export|import` (.tar.gz)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from cellpipe.cli.console import err, human_size, out, shown
from cellpipe.cli.notebooks import load_notebook, parse_params, write_notebook
from cellpipe.model import exchange, read_notebook
from cellpipe.model.errors import PipelineError


def register(main: click.Group) -> None:
    """Add `export` and `import` to the main group, `export`/`import` to `cache`."""
    main.add_command(export_pipeline, "export")
    main.add_command(import_pipeline, "import")
    cache = main.commands.get("cache")
    if isinstance(cache, click.Group):
        cache.add_command(cache_export, "export")
        cache.add_command(cache_import, "import")
        cache.add_command(cache_keygen, "keygen")


def say(message: str) -> None:
    """A note on stderr, never wrapped (paths and messages stay greppable)."""
    err.print(message, soft_wrap=True)


def _refs(values: tuple[str, ...]) -> list[str] | None:
    """--components A,B -c C: component names or ids (None: all)."""
    refs = [part.strip() for value in values for part in value.split(",") if part.strip()]
    return refs or None


@click.command()
@click.argument("notebook", type=click.Path(exists=True, dir_okay=False))
@click.option("-c", "--components", "components", multiple=True, metavar="A,B",
              help="Export only these components (names or ids; comma-separated or repeated).")
@click.option("--with-ancestors", is_flag=True,
              help="Also export the ancestors of the chosen components.")
@click.option("-o", "--output", type=click.Path(),
              help="Write the pipeline JSON (or program) here (default: standard output); "
                   "with --format kfp, the directory to write.")
@click.option("--format", "fmt", type=click.Choice(["json", "py", "kfp"]), default="json",
              show_default=True, help="json: pipeline JSON; py: a standalone Python program; "
                                      "kfp: a Kubeflow pipeline (see docs/production.md).")
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE",
              help="py, kfp: the default of a parameter in the exported pipeline.")
@click.option("--store", metavar="URL", help="kfp: the data store (fsspec URL) steps share.")
@click.option("--image", help="kfp: the container image every step runs in.")
def export_pipeline(notebook: str, components: tuple[str, ...], with_ancestors: bool,
                    output: str | None, fmt: str, params: tuple[str, ...], store: str | None,
                    image: str | None) -> None:
    """Export the pipeline of NOTEBOOK (or some components) as pipeline JSON, a Python
    program or a Kubeflow pipeline."""
    if fmt != "json":
        from cellpipe.cli import production

        production.export(fmt, notebook, output, _refs(components), with_ancestors, params,
                          store, image)
        return
    if params or store is not None or image is not None:
        raise click.UsageError("-p, --store and --image are options of --format py and kfp")
    if output and Path(output).is_dir():
        raise click.ClickException(f"{output} is a directory; name the file to write")
    _, pipeline = load_notebook(notebook)
    try:
        document = exchange.export_pipeline(pipeline, _refs(components), with_ancestors)
    except PipelineError as exc:
        raise click.ClickException(str(exc)) from None
    text = exchange.dumps(document)
    if output is None:
        sys.stdout.write(text)
        return
    _write_text(Path(output), text)
    say(f"wrote {shown(output)}: {len(document['components'])} components, "
              f"{sum(len(c['parents']) for c in document['components'])} edges, "
              f"{len(document['parameters'])} parameters")


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


@click.command()
@click.argument("pipeline_json", type=click.Path(exists=True, dir_okay=False))
@click.option("--into", type=click.Path(exists=True, dir_okay=False),
              help="Append the components to this notebook (default: a new notebook).")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="The new notebook's file (default: PIPELINE_JSON's name with .ipynb).")
@click.option("--overwrite-params", is_flag=True,
              help="Where a parameter exists with another value, take the file's value.")
def import_pipeline(pipeline_json: str, into: str | None, output: str | None,
                    overwrite_params: bool) -> None:
    """Import a pipeline JSON as a new notebook, or into one with --into."""
    if into and output:
        raise click.UsageError("use either --into NOTEBOOK or -o NEW.ipynb, not both")
    source = Path(pipeline_json)
    target = Path(into) if into else Path(output or source.with_suffix(".ipynb").name)
    try:  # the file first: a notebook given here gets its own message, not "exists"
        document = exchange.loads(source.read_text(encoding="utf-8"), str(source))
    except UnicodeDecodeError:
        raise click.ClickException(f"{source}: not a text file; expected pipeline JSON") from None
    except PipelineError as exc:
        raise click.ClickException(str(exc)) from None
    if not into and target.exists():
        raise click.ClickException(
            f"{target} exists; import into it with --into {target}, or name a new file with -o"
        )
    try:
        nb = read_notebook(target)[0] if into else None
        result = exchange.import_pipeline(document, nb, overwrite_params=overwrite_params,
                                          source=str(source))
    except UnicodeDecodeError:
        raise click.ClickException(f"{source}: not a text file; expected pipeline JSON") from None
    except PipelineError as exc:
        raise click.ClickException(str(exc)) from None
    for message in result.messages:
        say(f"[yellow]note:[/] {shown(message)}")
    write_notebook(result.notebook, target)
    say(f"{len(result.cells)} components imported into {shown(target)}")


@click.command()
@click.argument("notebook", type=click.Path(exists=True, dir_okay=False))
@click.option("-c", "--components", "components", multiple=True, metavar="A,B",
              help="Export these components and their ancestors (default: all).")
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Parameter values the results were computed with (default: the notebook's).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True,
              help="The archive to write (.tar.gz).")
@click.option("--level", type=click.IntRange(0, 9), default=None,
              help="gzip level (default 1; see docs/sharing.md).")
@click.option("--no-sign", is_flag=True, help="Do not sign, even when a key is configured.")
def cache_export(notebook: str, components: tuple[str, ...], params: tuple[str, ...],
                 output: str, level: int | None, no_sign: bool) -> None:
    """Write the cached results of NOTEBOOK's components to a .tar.gz archive."""
    from cellpipe.cache import archive
    from cellpipe.engine import sharing

    _, pipeline = load_notebook(notebook)
    try:
        values = pipeline.parameter_values(parse_params(params))
        chosen = sharing.current_entries(pipeline, sharing.open_store(notebook), values,
                                         _refs(components))
    except (PipelineError, archive.ArchiveError) as exc:
        raise click.ClickException(str(exc)) from None
    for miss in chosen.missing:
        say(f"[yellow]not exported:[/] {shown(miss.name)}: {shown(miss.reason)}")
    if not chosen.entries:
        raise click.ClickException(
            f"{notebook}: no component has a current result in the cache; run it first "
            f"(cellpipe run {notebook})"
        )
    try:
        sign_key = None if no_sign else archive.configured_key()
    except archive.ArchiveError as exc:
        raise click.ClickException(f"{exc} (nothing was written)") from None
    try:
        with _progress_bar("exporting") as progress:
            written = archive.export_archive(
                chosen, Path(output), level=archive.DEFAULT_LEVEL if level is None else level,
                sign_key=sign_key, notebook_name=Path(notebook).name, progress=progress,
            )
    except OSError as exc:  # no such directory, disk full: nothing is left behind
        raise click.ClickException(f"{output}: {exc.strerror or exc}; nothing written") from None
    say(f"wrote {shown(output)}: {len(chosen.entries)} entries, "
        f"{human_size(chosen.total_size)} ({human_size(written)} compressed)"
        + (", signed" if sign_key else ""))


@click.command()
@click.argument("archive_path", metavar="ARCHIVE", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True,
              help="Check the archive and say what would be imported; write nothing.")
@click.option("--trust", is_flag=True,
              help="Do not ask before importing an unsigned archive (its pickles run code).")
@click.option("--notebook", type=click.Path(exists=True, dir_okay=False),
              help="Say which of this notebook's components the archive would serve.")
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Parameter values for --notebook (default: the notebook's).")
@click.option("--max-size", default=None, metavar="BYTES",
              help="Refuse archives holding more than this (K/M/G suffix; default 8G).")
def cache_import(archive_path: str, dry_run: bool, trust: bool, notebook: str | None,
                 params: tuple[str, ...], max_size: str | None) -> None:
    """Import cached results from a .tar.gz archive into the cache ($CELLPIPE_CACHE_DIR)."""
    from cellpipe.cache import archive
    from cellpipe.engine import sharing

    try:
        limits = archive.Limits.default()
    except archive.ArchiveError as exc:
        raise click.ClickException(str(exc)) from None
    if max_size is not None:
        try:
            limits.max_total_size = archive.parse_size(max_size)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--max-size") from None
    try:  # a cache others can write is refused before the archive is read
        store = sharing.open_store(notebook)
    except PipelineError as exc:
        raise click.ClickException(f"{exc} (nothing was imported)") from None
    usage = None
    if notebook:
        _, pipeline = load_notebook(notebook)
        try:
            usage = sharing.planned_keys(pipeline, store,
                                         pipeline.parameter_values(parse_params(params)))
        except PipelineError as exc:
            raise click.ClickException(str(exc)) from None

    def confirm(summary: archive.ImportSummary) -> bool:
        _print_summary(summary)
        if trust:
            return True
        say("[bold yellow]Cache entries are pickles: loading them runs code written by "
                  "the archive's author.[/] Import only archives from people you trust.")
        if not sys.stdin.isatty():
            raise click.ClickException(
                f"{archive_path} is not signed with your key; pass --trust to import it "
                "anyway (it was not imported)"
            )
        return click.confirm("import it?", default=False, err=True)

    try:
        with _progress_bar("checking" if dry_run else "importing") as progress:
            summary = archive.import_archive(
                Path(archive_path), store, dry_run=dry_run, confirm=confirm, limits=limits,
                usage=usage, verify_key=archive.configured_key(), progress=progress,
                scope=archive.notebook_scope(notebook),
            )
    except (archive.ArchiveError, PipelineError) as exc:
        raise click.ClickException(str(exc)) from None
    if summary.cancelled:
        say("not imported")
        sys.exit(1)
    if dry_run or summary.trusted:  # else confirm() printed it
        _print_summary(summary)
    if dry_run:
        out.print(f"dry run: {len(summary.entries)} entries would be checked and imported "
                  f"({summary.to_import} new), nothing written")
    else:
        out.print(f"imported {summary.imported} entries ({human_size(summary.imported_size)}), "
                  f"{summary.skipped} already present, into {shown(store.root)}")


@contextmanager
def _progress_bar(label: str) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar over bytes on stderr; yields the callback archive functions take."""
    bar = Progress(TextColumn(f"[bold]{label}"), BarColumn(), DownloadColumn(),
                   TransferSpeedColumn(), TimeRemainingColumn(), console=err, transient=True,
                   disable=not err.is_terminal)
    task = bar.add_task(label, total=None)

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    with bar:
        yield update


@click.command()
@click.option("--force", is_flag=True, help="Replace an existing key.")
def cache_keygen(force: bool) -> None:
    """Create the key that signs exported archives (share it with your team only)."""
    import secrets

    from cellpipe.cache import archive
    from cellpipe.cache.privacy import make_private_dir

    path = archive.key_file()
    if path.exists() and not force:
        raise click.ClickException(f"{path} exists; pass --force to replace it (archives "
                                   "signed with the old key will ask before importing)")
    make_private_dir(path.parent)
    key = secrets.token_hex(32)
    # a new file renamed over the old one: a replaced key is this user's, 0600, whatever
    # the old file's owner or mode was
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(key + "\n")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    say(f"wrote {path} (mode 0600); give your team the same file, or set "
        f"{archive.KEY_ENV}={key}")


def _print_summary(summary: object) -> None:
    from cellpipe.cache.archive import ImportSummary

    assert isinstance(summary, ImportSummary)
    signed = ("signed with your key" if summary.trusted else
              "signed, but not with your key" if summary.signed else "not signed")
    say(f"archive: {len(summary.entries)} entries, {human_size(summary.total_size)}, "
        f"from {shown(summary.notebook or 'a notebook')}, Python {shown(summary.python)}, "
        f"{signed}")
    for item in summary.entries:
        state = "present" if item.present else "new"
        use = f" -> {shown(item.used_by)}" if item.used_by else ""
        say(f"  {shown(item.name):<24} {shown(item.key[:12])}  {human_size(item.size):>9}  "
            f"{state}{use}")
    if summary.hits or summary.misses:
        say(f"with the notebook: [cyan]{len(summary.hits)} from the cache[/] "
            f"({shown(', '.join(summary.hits) or 'none')}); [yellow]{len(summary.misses)} run[/] "
            f"({shown(', '.join(summary.misses) or 'none')})")
