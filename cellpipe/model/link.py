"""MakinaRocks Link notebooks (metadata key `canvas`): how their metadata reads as a pipeline.

Link gives every cell a canvas id of its own, which is NOT its nbformat cell id; a
component's `parents[].id` are canvas ids. Older Link notebooks are nbformat 4.4 without
cell ids, and parameter values are strings ("0.3", "42", "1e-3").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from cellpipe.model.errors import MetadataError
from cellpipe.model.pipeline import parameter_type

LINK_KEY = "canvas"
_CELL_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")  # what nbformat 4.5 allows as a cell id


def canvas(cell: Mapping[str, Any]) -> dict[str, Any] | None:
    """A cell's Link metadata, when it has any."""
    meta = cell.get("metadata")
    spec = meta.get(LINK_KEY) if isinstance(meta, dict) else None
    return spec if isinstance(spec, dict) else None


def has_link_metadata(nb: Mapping[str, Any]) -> bool:
    """Whether the notebook or any of its cells carries Link metadata."""
    meta = nb.get("metadata")
    return (isinstance(meta, dict) and LINK_KEY in meta) or any(
        canvas(c) is not None for c in nb.get("cells", []) if isinstance(c, dict))


def adopt_canvas_ids(cells: list[dict[str, Any]]) -> int:
    """Give cells without an nbformat id their canvas id (when it is a valid, unused id).

    Old Link notebooks (nbformat 4.4) have no cell ids; using the canvas id keeps the
    component ids stable across reads. Returns how many cells got one."""
    taken = {c["id"] for c in cells if isinstance(c.get("id"), str) and c["id"]}
    adopted = 0
    for cell in cells:
        if isinstance(cell.get("id"), str) and cell["id"]:
            continue
        spec = canvas(cell)
        cid = spec.get("id") if spec else None
        if isinstance(cid, str) and _CELL_ID.match(cid) and cid not in taken:
            cell["id"] = cid
            taken.add(cid)
            adopted += 1
    return adopted


def canvas_to_cell_ids(cells: list[Any]) -> dict[str, str]:
    """canvas id -> nbformat cell id, for every cell with Link metadata (ids must be set).

    A canvas id used by two cells maps to neither (a parent naming it is ambiguous)."""
    mapping: dict[str, str] = {}
    shared: set[str] = set()
    for cell in cells:
        spec = canvas(cell) if isinstance(cell, dict) else None
        cid = spec.get("id") if spec else None
        if isinstance(cid, str) and cid:
            if cid in mapping:
                shared.add(cid)
            mapping[cid] = cell["id"]
    for cid in shared:
        del mapping[cid]
    return mapping


def link_component(spec: Mapping[str, Any], ids: Mapping[str, str],
                   where: str) -> tuple[Any, list[str]] | None:
    """(name, parent cell ids) of a cell's Link metadata, or None if it is no component."""
    if spec.get("isComponent", True) is False:
        return None
    raw_parents = spec.get("parents", [])
    if raw_parents is None:
        raw_parents = []
    if not isinstance(raw_parents, list):
        raise MetadataError(f"{where}: Link 'parents' must be a list of {{\"id\", \"name\"}}, "
                            f"not {raw_parents!r}")
    parents = []
    for parent in raw_parents:
        ref = parent.get("id") if isinstance(parent, dict) else parent
        if not isinstance(ref, str) or not ref:
            raise MetadataError(f"{where}: Link parent {parent!r} has no canvas 'id'")
        parents.append(ids.get(ref, ref))
    return spec.get("name"), parents


def link_parameters(meta: Any, where: str) -> list[tuple[Any, dict[str, Any]]]:
    """Link's `[{"name", "type", "value"}]` as (name, {type, value}) with the type resolved:
    Link writes values as strings, and a missing or unknown type is taken from the value."""
    if meta is None:
        return []
    if not isinstance(meta, list):
        raise MetadataError(f"{where}: Link 'parameters' must be a list of "
                            "{\"name\", \"type\", \"value\"}")
    items = []
    for spec in meta:
        if not isinstance(spec, dict) or "value" not in spec:
            raise MetadataError(f"{where}: Link parameter {spec!r} needs a 'name' and a 'value'")
        type_ = parameter_type(spec.get("type") or "") or _infer_type(spec["value"])
        items.append((spec.get("name"), {"type": type_, "value": spec["value"]}))
    return items


def _infer_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if not isinstance(value, str):
        return "json"
    for type_, parse in (("int", int), ("float", float)):
        try:
            parse(value)
            return type_
        except ValueError:
            continue
    if value.strip().lower() in ("true", "false"):
        return "bool"
    return "str"
