"""Resolving one conflicted cell left by the merge: keep ours, theirs or both.

The conflict view in JupyterLab calls this (through the server) instead of editing sources
itself, so the rules live in one place.
"""

from __future__ import annotations

import copy
from typing import Any

from cellpipe.gitnb.cells import CONFLICT_KEY

CHOICES = ("ours", "theirs", "both")


class ResolveError(ValueError):
    """The cell has no conflict that this choice can resolve."""


def _ended(text: str) -> str:
    return text if not text or text.endswith("\n") else text + "\n"


def resolve_cell(cell: dict[str, Any], choice: str) -> dict[str, Any]:
    """The cell with its source conflicts resolved to choice and its conflict record removed.

    For a cell one side deleted, 'ours'/'theirs' keeps that side's text ('' when that side
    deleted it; the cell is then marked `deleted: true` for the caller to remove it).
    """
    if choice not in CHOICES:
        raise ResolveError(f"choice must be one of {', '.join(CHOICES)}, not {choice!r}")
    records = cell.get("metadata", {}).get(CONFLICT_KEY, {}).get("conflicts", [])
    if not records:
        raise ResolveError(f"cell {cell.get('id', '?')} has no merge conflict to resolve")
    resolved = copy.deepcopy(cell)
    resolved["metadata"].pop(CONFLICT_KEY)
    resolved["deleted"] = False
    for record in records:
        if record["kind"] == "delete-modify":
            kept = record.get("ours", record.get("theirs", ""))
            if choice == record["deleted_by"]:
                resolved["deleted"] = True
            resolved["source"] = kept
        elif record["kind"] == "source":
            ours, theirs = record["ours"], record["theirs"]
            resolved["source"] = {"ours": ours, "theirs": theirs,
                                  "both": _ended(ours) + theirs}[choice]
        elif record["kind"] in ("metadata", "name", "worker", "component"):
            value = record.get("ours" if choice != "theirs" else "theirs")
            _set_path(resolved["metadata"], record.get("path", []), value,
                      present=("ours" if choice != "theirs" else "theirs") in record)
    return resolved


def resolve_notebook_metadata(metadata: dict[str, Any], choice: str) -> dict[str, Any]:
    """The notebook metadata with its merge conflicts (e.g. parameters) resolved to one side."""
    if choice not in ("ours", "theirs"):
        raise ResolveError(f"choice must be 'ours' or 'theirs', not {choice!r}")
    records = metadata.get(CONFLICT_KEY, {}).get("conflicts", [])
    if not records:
        raise ResolveError("the notebook metadata has no merge conflict to resolve")
    resolved = copy.deepcopy(metadata)
    resolved.pop(CONFLICT_KEY)
    for record in records:
        _set_path(resolved, record.get("path", []), record.get(choice), present=choice in record)
    return resolved


def _set_path(meta: dict[str, Any], path: list[str], value: Any, present: bool) -> None:
    target = meta
    for key in path[:-1]:
        target = target.setdefault(key, {})
    if not path:
        return
    if present:
        target[path[-1]] = value
    else:
        target.pop(path[-1], None)
