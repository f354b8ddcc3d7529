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


def _records(metadata: Any, where: str) -> list[dict[str, Any]]:
    """The conflict records kept in metadata, checked: a malformed one is a ResolveError."""
    if not isinstance(metadata, dict):
        raise ResolveError(f"{where}: 'metadata' must be an object")
    holder = metadata.get(CONFLICT_KEY, {})
    records = holder.get("conflicts", []) if isinstance(holder, dict) else None
    if not isinstance(records, list) or not all(
            isinstance(r, dict) and isinstance(r.get("kind"), str) for r in records):
        raise ResolveError(f"{where}: metadata.{CONFLICT_KEY} is not a list of conflict records "
                           "as cellpipe's merge writes them")
    for record in records:
        path = record.get("path", [])
        texts = [record.get(k, "") for k in ("base", "ours", "theirs")]
        if (not isinstance(path, list) or not all(isinstance(p, str) for p in path)
                or record["kind"] in ("source", "delete-modify")
                and not all(isinstance(t, str) for t in texts)):
            raise ResolveError(f"{where}: malformed {record['kind']!r} conflict record")
    return records


def resolve_cell(cell: dict[str, Any], choice: str) -> dict[str, Any]:
    """The cell with its source conflicts resolved to choice and its conflict record removed.

    For a cell one side deleted, 'ours'/'theirs' keeps that side's text ('' when that side
    deleted it; the cell is then marked `deleted: true` for the caller to remove it).
    """
    if choice not in CHOICES:
        raise ResolveError(f"choice must be one of {', '.join(CHOICES)}, not {choice!r}")
    records = _records(cell.get("metadata", {}), f"cell {cell.get('id', '?')}")
    if not records:
        raise ResolveError(f"cell {cell.get('id', '?')} has no merge conflict to resolve")
    resolved = copy.deepcopy(cell)
    resolved["metadata"].pop(CONFLICT_KEY)
    resolved["deleted"] = False
    for record in records:
        if record["kind"] == "delete-modify":
            kept = record.get("ours", record.get("theirs", ""))
            if choice == record.get("deleted_by"):
                resolved["deleted"] = True
            resolved["source"] = kept
        elif record["kind"] == "source":
            ours, theirs = record.get("ours", ""), record.get("theirs", "")
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
    records = _records(metadata, "notebook metadata")
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
        if not isinstance(target, dict):
            raise ResolveError(f"cannot resolve {'.'.join(path)}: {key} is not an object")
    if not path:
        return
    if present:
        target[path[-1]] = value
    else:
        target.pop(path[-1], None)
