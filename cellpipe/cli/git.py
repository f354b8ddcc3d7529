"""The git commands of the `cellpipe` CLI: diff, log, merge, git-setup.

`register(main)` adds them to the main group; `git_group` holds them alone (tests).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.text import Text

from cellpipe.gitnb import gitsetup
from cellpipe.gitnb.driver import run_merge
from cellpipe.gitnb.files import diff_files
from cellpipe.gitnb.gitio import GitError
from cellpipe.gitnb.history import notebook_history
from cellpipe.gitnb.render import print_diff
from cellpipe.gitnb.revisions import notebook_at
from cellpipe.gitnb.svg import dag_diff_svg
from cellpipe.model.text import printable


def _console(colour: bool | None) -> Console:
    return Console(force_terminal=colour, no_color=colour is False, highlight=False,
                   soft_wrap=True)


def _resolve(args: tuple[str, ...]) -> tuple[bytes | None, bytes | None, str, str]:
    """(old bytes, new bytes, old label, new label) for the accepted argument forms."""
    def git_version(rev: str, notebook: str) -> bytes:
        return notebook_at(notebook, rev)

    def file(path: str) -> bytes:
        try:
            return Path(path).read_bytes()
        except OSError as exc:
            raise click.ClickException(f"cannot read {path}: {exc.strerror}") from None

    # a missing working-tree file is named, not blamed on git
    if len(args) == 1:
        new = file(args[0])
        return git_version("HEAD", args[0]), new, f"HEAD:{args[0]}", args[0]
    if len(args) == 2 and (Path(args[0]).is_file() or
                           (args[0].endswith(".ipynb") and ":" not in args[0])):
        return file(args[0]), file(args[1]), args[0], args[1]
    if len(args) == 2:
        return git_version(args[0], args[1]), file(args[1]), f"{args[0]}:{args[1]}", args[1]
    if len(args) == 3:
        rev1, rev2, nb = args
        return (git_version(rev1, nb), git_version(rev2, nb), f"{rev1}:{nb}", f"{rev2}:{nb}")
    raise click.UsageError("give A B (files), REV1 REV2 NOTEBOOK, REV NOTEBOOK or NOTEBOOK")


@click.command("diff")
@click.argument("args", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print the diff as JSON.")
@click.option("--svg", "svg_path", type=click.Path(dir_okay=False),
              help="Also write a picture of the DAG diff to this SVG file.")
@click.option("--outputs", is_flag=True, help="Show changes of outputs too (hidden by default).")
@click.option("--color/--no-color", "colour", default=None, help="Force colours on or off.")
def diff_command(args: tuple[str, ...], as_json: bool, svg_path: str | None, outputs: bool,
                 colour: bool | None) -> None:
    """Cell- and pipeline-level diff of two notebooks.

    \b
    cellpipe diff A.ipynb B.ipynb        two files
    cellpipe diff REV1 REV2 NOTEBOOK     two git revisions of a notebook
    cellpipe diff REV NOTEBOOK           a revision against the working tree
    cellpipe diff NOTEBOOK               HEAD against the working tree
    """
    try:
        old, new, old_label, new_label = _resolve(args)
    except GitError as exc:
        raise click.ClickException(str(exc)) from None
    result = diff_files(old, new, (old_label, new_label))
    if result.diff is None:
        raise click.ClickException(str(result.problem))
    if svg_path:
        Path(svg_path).write_text(dag_diff_svg(result.diff, f"{old_label} -> {new_label}"))
    if as_json:
        click.echo(json.dumps({"old": old_label, "new": new_label,
                               **result.diff.to_json(outputs)}, indent=1))
        return
    print_diff(result.diff, _console(colour), outputs, title=f"cellpipe diff {old_label} "
               f"{new_label}")


@click.command("log")
@click.argument("notebook", type=click.Path(dir_okay=False))
@click.option("-n", "--max-count", "limit", type=click.IntRange(min=1), default=None,
              help="Show at most N commits.")
@click.option("--json", "as_json", is_flag=True, help="Print the history as JSON.")
@click.option("--color/--no-color", "colour", default=None, help="Force colours on or off.")
def log_command(notebook: str, limit: int | None, as_json: bool, colour: bool | None) -> None:
    """The commits that touched NOTEBOOK, each with its pipeline change summary."""
    try:
        entries = notebook_history(notebook, limit)
    except GitError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps([e.to_json() for e in entries], indent=1))
        return
    console = _console(colour)
    for e in entries:
        line = Text()
        line.append(e.commit[:10], style="yellow")
        line.append(f" {e.date[:10]} {printable(e.author)}: ", style="dim")
        line.append(printable(e.subject), style="bold")
        console.print(line, soft_wrap=True)
        state = "" if e.status == "modified" else f"[{e.status} {printable(e.path)}] "
        console.print(Text(f"    {state}{printable(e.summary)}", style="cyan"), soft_wrap=True)
    if not entries:
        console.print(f"no commits touch {notebook}")


@click.command("merge")
@click.argument("base", type=click.Path(exists=True, dir_okay=False))
@click.argument("ours", type=click.Path(exists=True, dir_okay=False))
@click.argument("theirs", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Where to write the result (default: OURS, like git merge-file).")
@click.option("--path", "label", default=None, help="The notebook's name in messages.")
@click.option("--marker-size", type=int, default=7, show_default=True)
@click.option("--strategy", type=click.Choice(["ours", "theirs"]), default=None,
              help="Resolve every conflict to one side (default: $CELLPIPE_MERGE_STRATEGY).")
def merge_command(base: str, ours: str, theirs: str, output: str | None, label: str | None,
                  marker_size: int, strategy: str | None) -> None:
    """Three-way merge of notebooks: cells, code lines, edges (exit 1 on conflicts)."""
    names = None if label else (f"{base} (base)", f"{ours} (ours)", f"{theirs} (theirs)")
    status = run_merge(base, ours, theirs, output or ours, label or ours, marker_size, strategy,
                       names)
    sys.exit(status)


@click.command("git-setup")
@click.option("--global", "global_", is_flag=True,
              help="Configure for every repository of this user (~/.gitconfig).")
@click.option("--uninstall", is_flag=True, help="Remove cellpipe's drivers again.")
def git_setup_command(global_: bool, uninstall: bool) -> None:
    """Make git diff and merge notebooks through cellpipe (.gitattributes + git config)."""
    try:
        report = (gitsetup.uninstall if uninstall else gitsetup.install)(".", global_)
    except GitError as exc:
        raise click.ClickException(
            f"{exc} (run it inside a git repository, or use --global)") from None
    for line in report.done:
        click.echo(line)
    if uninstall and not report.done:
        click.echo("nothing to remove: cellpipe's drivers were not configured here")
    for warning in report.warnings:
        click.secho(f"warning: {warning}", fg="yellow", err=True)


COMMANDS = (diff_command, log_command, merge_command, git_setup_command)


def register(group: click.Group) -> None:
    """Add the git commands to the main `cellpipe` group."""
    for command in COMMANDS:
        group.add_command(command)


@click.group()
def git_group() -> None:
    """cellpipe's git commands."""


register(git_group)
