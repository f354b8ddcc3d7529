"""MakinaRocks Link notebooks (metadata key `canvas`) read as pipelines, and converted.

Link gives every cell a canvas id of its own, which is NOT its nbformat cell id; a
component's `parents[].id` are canvas ids. Older Link notebooks are nbformat 4.4 without
cell ids, and parameter values are strings ("0.3", "42", "1e-3").
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cellpipe.model.errors import MetadataError, PipelineError

LINK_KEY = "canvas"
_CELL_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")  # what nbformat 4.5 allows as a cell id
_TYPE_ALIASES = {
    "int": "int", "integer": "int", "int64": "int", "int32": "int",
    "float": "float", "number": "float", "double": "float", "float64": "float",
    "str": "str", "string": "str", "text": "str",
    "bool": "bool", "boolean": "bool",
    "json": "json", "list": "json", "dict": "json", "object": "json",
}


class ConversionError(PipelineError):
    """`convert` found problems in what it would write; nothing was written."""


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
        raw_type = str(spec.get("type") or "").strip().lower()
        type_ = _TYPE_ALIASES.get(raw_type) or _infer_type(spec["value"])
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


@dataclass
class Conversion:
    """What `convert_notebook` did: the converted notebook and a summary."""

    notebook: Any
    components: int
    edges: int
    parameters: int
    converted_cells: int
    notices: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{self.components} components, {self.edges} edges, "
                f"{self.parameters} parameters")


def convert_notebook(nb: Any, source: str = "notebook") -> Conversion:
    """Write a Link notebook's pipeline as cellpipe metadata (a converted copy of nb).

    The result is checked before it is returned: every problem (a dangling parent, a cycle,
    duplicate names, a pipeline that reads back differently) raises ConversionError."""
    from cellpipe.model.notebook import (
        notebook_from_dict,
        pipeline_from_notebook,
        write_pipeline,
    )
    from cellpipe.model.validate import problems

    nb = copy.deepcopy(nb)
    try:
        pipeline = pipeline_from_notebook(nb)
    except PipelineError as exc:
        raise ConversionError(f"{source}: {exc}") from None
    found = problems(pipeline)
    if found:
        lines = "; ".join(str(p) for p in found)
        raise ConversionError(f"{source}: cannot convert, {len(found)} problem(s): {lines}")
    notices = []
    if not has_link_metadata(nb):
        notices.append(f"{source}: no Link ('canvas') metadata; cellpipe metadata written as is")
    was_valid = _schema_problem(nb) is None
    write_pipeline(nb, pipeline)
    converted = 0
    for cell in nb.cells:  # components and plain cells alike: Link's layout goes
        if cell.metadata.pop(LINK_KEY, None) is not None:
            converted += 1
    nb.metadata.pop(LINK_KEY, None)
    problem = _schema_problem(nb)
    if problem is not None:
        if was_valid:
            raise ConversionError(f"{source}: the converted notebook would not be valid "
                                  f"nbformat ({problem}); nothing was written")
        notices.append(f"{source}: the notebook was not valid nbformat before conversion "
                       f"either ({problem}); converted anyway")
    _check_round_trip(nb, pipeline, source, notebook_from_dict, pipeline_from_notebook)
    return Conversion(nb, len(pipeline.components),
                      sum(len(c.parents) for c in pipeline.components),
                      len(pipeline.parameters), converted, notices)


def _schema_problem(nb: Any) -> str | None:
    """The first nbformat schema violation of nb, in one line, or None."""
    import nbformat

    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as exc:
        return str(exc.message).splitlines()[0]
    return None


def _check_round_trip(nb: Any, pipeline: Any, source: str, read: Any, parse: Any) -> None:
    """The converted notebook must read back as exactly this pipeline."""
    import nbformat

    try:
        again, _ = read(json.loads(nbformat.writes(nb, capture_validation_error={})), source=source)
        back = parse(again)
    except PipelineError as exc:
        raise ConversionError(f"{source}: the converted notebook cannot be read back: {exc}; "
                              "nothing was written") from None
    if back.components != pipeline.components or dict(back.parameters) != dict(pipeline.parameters):
        raise ConversionError(f"{source}: the converted notebook does not read back as the "
                              "same pipeline; nothing was written")
