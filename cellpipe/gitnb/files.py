"""Merge and diff of notebook *files*: bytes in, bytes and an exit status out.

This is where bad input is handled: a side that is not a notebook, or that still holds
an earlier merge's conflicts, is never merged cell by cell; its text is merged line by line
like git would (both sides kept in markers) and the status says: stop.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cellpipe.gitnb.cells import dumps_notebook
from cellpipe.gitnb.load import (
    LoadedNotebook,
    NotebookInputError,
    align_ids,
    align_pair,
    parse_notebook,
    unresolved_conflicts,
)
from cellpipe.gitnb.merge import Conflict, merge_notebooks
from cellpipe.gitnb.threeway import merge_text
from cellpipe.model.jsontext import notebook_text

if TYPE_CHECKING:
    from cellpipe.gitnb.diff import NotebookDiff

STRATEGY_ENV = "CELLPIPE_MERGE_STRATEGY"
EXIT_CLEAN, EXIT_CONFLICT, EXIT_REFUSED = 0, 1, 2


def empty_notebook() -> dict[str, Any]:
    """A notebook with no cells (what a file that does not exist yet merges as)."""
    return {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def strategy_from_env(environ: os._Environ[str] | dict[str, str] | None = None
                      ) -> tuple[str | None, str | None]:
    """(strategy, warning) from CELLPIPE_MERGE_STRATEGY (ours|theirs; anything else ignored)."""
    raw = (environ if environ is not None else os.environ).get(STRATEGY_ENV, "").strip().lower()
    if raw in ("", "none"):
        return None, None
    if raw in ("ours", "theirs"):
        return raw, None
    return None, f"{STRATEGY_ENV}={raw!r} ignored: use 'ours' or 'theirs'"


@dataclass
class MergeOutcome:
    """The merged file text, git's exit status and a one-line message for stderr."""

    text: str
    status: int
    message: str
    conflicts: list[Conflict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _decode(data: str | bytes) -> str:
    """Text for a line merge: bytes that are not UTF-8 survive (surrogateescape)."""
    return data.decode("utf-8", errors="surrogateescape") if isinstance(data, bytes) else data


def _load(data: str | bytes, label: str) -> LoadedNotebook:
    text = notebook_text(data, label, NotebookInputError)
    if not text.strip():
        return LoadedNotebook(empty_notebook(), [], empty=True)
    return parse_notebook(text, label)


def side_names(path: str) -> tuple[str, str, str]:
    """How messages name the three versions git hands the driver for one path."""
    return (f"the base version of {path}", f"the ours version of {path}",
            f"the theirs version of {path}")


def _merged_version(sides: list[LoadedNotebook]) -> tuple[int, int]:
    """The nbformat version of the result: the newer of ours' and theirs' (the file keeps
    its format unless a side upgraded it; a downgrade would drop the cell ids)."""
    return max((s.version for s in sides[1:] if not s.empty), default=(4, 5))


def merge_files(
    base: str | bytes,
    ours: str | bytes,
    theirs: str | bytes,
    path: str = "notebook",
    prefer: str | None = None,
    marker_size: int = 7,
    names: tuple[str, str, str] | None = None,
) -> MergeOutcome:
    """Three-way merge of notebook file contents (status 0 clean, 1 conflicts, 2 refused).

    `names` are how messages call base, ours and theirs (default: "the base version of
    PATH", ...). A side that is not a UTF-8 notebook cellpipe can read is refused, never
    merged into a file that cellpipe could not read back.
    """
    names = names or side_names(path)
    try:
        sides = [_load(data, name) for data, name in zip((base, ours, theirs), names, strict=True)]
    except NotebookInputError as exc:
        return _refuse(base, ours, theirs, path, str(exc), marker_size)
    for side, name in zip(sides, names, strict=True):
        stuck = unresolved_conflicts(side.nb)
        if stuck:
            shown = ", ".join(stuck[:5]) + (" ..." if len(stuck) > 5 else "")
            reason = (f"{name} still holds unresolved merge conflicts "
                      f"(in {shown}); resolve them and commit first")
            return _refuse(base, ours, theirs, path, reason, marker_size)
    try:
        align_ids(*sides)
        result = merge_notebooks(sides[0].nb, sides[1].nb, sides[2].nb, prefer, marker_size)
        version = _merged_version(sides)
        merged = result.notebook
        merged["nbformat"], merged["nbformat_minor"] = version
        if version < (4, 5):  # ids were given only to match cells: the format has none
            for cell in merged["cells"]:
                cell.pop("id", None)
        text = dumps_notebook(merged)
        check_readable(text, f"the merge of {path}")
    except Exception as exc:  # a bug must cost a manual merge, never a side's changes
        reason = f"cellpipe failed ({type(exc).__name__}: {exc}); please report this"
        return _refuse(base, ours, theirs, path, reason, marker_size)
    status = EXIT_CONFLICT if result.conflicts else EXIT_CLEAN
    notices = [n for s in sides for n in s.notices]
    message = f"cellpipe merge {path}: {result.summary()}"
    return MergeOutcome(text, status, message, result.conflicts, notices + result.notes)


def check_readable(text: str, label: str) -> None:
    """Raise NotebookInputError unless text reads back as a notebook of the shape merged."""
    nb = parse_notebook(text, label)
    if nb.version >= (4, 5) and any(nb.missing_id):
        raise NotebookInputError(f"{label} has cells without a unique id")


def _refuse(base: str | bytes, ours: str | bytes, theirs: str | bytes, path: str,
            reason: str, marker_size: int) -> MergeOutcome:
    """Merge the raw text line by line, keeping both sides; the status always says stop."""
    merged = merge_text(_decode(base), _decode(ours), _decode(theirs),
                        labels=("ours", "theirs"), marker_size=marker_size)
    message = (f"cellpipe merge {path}: not merged cell by cell: {reason}. Merged as plain "
               f"text instead ({merged.conflicts} conflict region(s)); fix the file by hand, "
               "then `git add` it")
    return MergeOutcome(merged.text, EXIT_REFUSED, message)


@dataclass
class FileDiff:
    """A notebook diff, or (when a side is not a notebook) why not."""

    diff: NotebookDiff | None
    problem: str | None = None


def diff_files(old: str | bytes | None, new: str | bytes | None,
               labels: tuple[str, str] = ("a", "b")) -> FileDiff:
    """Diff two notebook file contents (None or empty: the file does not exist)."""
    try:
        a = _load(old or "", labels[0])
        b = _load(new or "", labels[1])
    except NotebookInputError as exc:
        return FileDiff(None, str(exc))
    align_pair(a, b)
    from cellpipe.gitnb.diff import diff_notebooks  # not on the merge driver's path

    return FileDiff(diff_notebooks(a.nb, b.nb))
