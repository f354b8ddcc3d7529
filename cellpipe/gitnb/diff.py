"""Cell- and pipeline-level diff of two notebooks: what changed, moved, and which caches go stale.

Cells match by id (ids are unique, so matching is linear); moves come from one
longest-increasing-subsequence pass. The result is plain data for the terminal, JSON and SVG
renderers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from cellpipe.gitnb.cells import (
    CONFLICT_KEY,
    METADATA_KEY,
    ComponentInfo,
    component_of,
    parameters_of,
    source_of,
)
from cellpipe.gitnb.sequence import moved_items
from cellpipe.model import Parameter, PipelineError, dag
from cellpipe.model.code import own_key_parts


@dataclass
class CellChange:
    """How one cell differs between the two notebooks (status: added/removed/changed/same)."""

    id: str
    status: str
    cell_type: str
    name: str | None = None
    old_name: str | None = None
    moved: bool = False
    code_changed: bool = False
    old_source: str = ""
    new_source: str = ""
    parents_added: list[str] = field(default_factory=list)
    parents_removed: list[str] = field(default_factory=list)
    worker: tuple[str | None, str | None] | None = None
    component: tuple[bool, bool] = (False, False)
    metadata_changed: bool = False
    outputs_changed: bool = False
    old_outputs: list[Any] = field(default_factory=list)
    new_outputs: list[Any] = field(default_factory=list)

    @property
    def renamed(self) -> bool:
        return self.status == "changed" and self.old_name != self.name and all(self.component)

    @property
    def is_component(self) -> bool:
        return any(self.component)


@dataclass
class ParameterChange:
    """A pipeline parameter added, removed or changed ({"type", "value"} or None)."""

    name: str
    old: Any
    new: Any


@dataclass
class NotebookDiff:
    """The whole difference: cells in display order, parameters, edges, stale caches."""

    cells: list[CellChange]
    parameters: list[ParameterChange]
    edges_added: list[tuple[str, str]]
    edges_removed: list[tuple[str, str]]
    invalidated: list[str]
    names: dict[str, str]
    old_graph: dict[str, tuple[str, ...]] = field(default_factory=dict)
    new_graph: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def changed(self) -> list[CellChange]:
        return [c for c in self.cells if c.status != "same" or c.moved]

    @property
    def components_changed(self) -> int:
        return sum(1 for c in self.changed if c.is_component)

    def summary(self) -> str:
        """One line: 'n components changed, edges +a/-b' plus cells and parameters."""
        parts = [f"{self.components_changed} component(s) changed",
                 f"edges +{len(self.edges_added)}/-{len(self.edges_removed)}"]
        plain = sum(1 for c in self.changed if not c.is_component)
        if plain:
            parts.append(f"{plain} other cell(s) changed")
        if self.parameters:
            parts.append(f"{len(self.parameters)} parameter(s) changed")
        if self.invalidated:
            parts.append(f"{len(self.invalidated)} cache(s) invalidated")
        return ", ".join(parts)

    def name(self, cid: str) -> str:
        return self.names.get(cid, cid)

    def to_json(self, outputs: bool = False) -> dict[str, Any]:
        """A JSON-ready dict (the `--json` output)."""
        cells = []
        for c in self.changed:
            item = asdict(c)
            item["renamed"] = c.renamed
            if not outputs:
                item.pop("old_outputs")
                item.pop("new_outputs")
            if not c.code_changed:
                item.pop("old_source")
                item.pop("new_source")
            cells.append(item)
        return {
            "summary": self.summary(),
            "cells": cells,
            "parameters": [asdict(p) for p in self.parameters],
            "edges_added": [list(e) for e in self.edges_added],
            "edges_removed": [list(e) for e in self.edges_removed],
            "invalidated": self.invalidated,
            "names": self.names,
        }


def _other_metadata(cell: Mapping[str, Any]) -> dict[str, Any]:
    meta = cell.get("metadata", {})
    return {k: v for k, v in meta.items() if k not in (METADATA_KEY, CONFLICT_KEY)}


def _compare(cid: str, a: Mapping[str, Any] | None, b: Mapping[str, Any] | None,
             comp_a: ComponentInfo | None, comp_b: ComponentInfo | None) -> CellChange:
    cell = b if b is not None else a
    assert cell is not None
    change = CellChange(
        id=cid,
        status="added" if a is None else "removed" if b is None else "same",
        cell_type=str(cell.get("cell_type", "code")),
        name=(comp_b or comp_a).name if (comp_b or comp_a) else None,
        old_name=comp_a.name if comp_a else None,
        component=(comp_a is not None, comp_b is not None),
        old_source=source_of(a) if a is not None else "",
        new_source=source_of(b) if b is not None else "",
    )
    change.code_changed = change.old_source != change.new_source
    parents_a = set(comp_a.parents) if comp_a else set()
    parents_b = set(comp_b.parents) if comp_b else set()
    change.parents_added = sorted(parents_b - parents_a)
    change.parents_removed = sorted(parents_a - parents_b)
    worker_a = comp_a.worker if comp_a else None
    worker_b = comp_b.worker if comp_b else None
    if worker_a != worker_b:
        change.worker = (worker_a, worker_b)
    if a is not None and b is not None:
        change.metadata_changed = _other_metadata(a) != _other_metadata(b) or (
            a.get("cell_type") != b.get("cell_type"))
        change.outputs_changed = a.get("outputs") != b.get("outputs")
        structural = (change.code_changed or change.parents_added or change.parents_removed
                      or change.worker or change.metadata_changed
                      or comp_a != comp_b)
        if structural:
            change.status = "changed"
    change.old_outputs = list(a.get("outputs", [])) if a is not None else []
    change.new_outputs = list(b.get("outputs", [])) if b is not None else []
    if a is None or b is None:
        change.outputs_changed = bool(change.old_outputs or change.new_outputs)
    return change


def diff_notebooks(a: Mapping[str, Any], b: Mapping[str, Any]) -> NotebookDiff:
    """The cell-level and pipeline-level difference from notebook a to notebook b."""
    cells_a = {str(c.get("id")): c for c in a.get("cells", [])}
    cells_b = {str(c.get("id")): c for c in b.get("cells", [])}
    comps_a = {cid: i for cid, c in cells_a.items() if (i := component_of(c)) is not None}
    comps_b = {cid: i for cid, c in cells_b.items() if (i := component_of(c)) is not None}
    moved = moved_items(list(cells_a), list(cells_b))

    changes: dict[str, CellChange] = {}
    for cid in dict.fromkeys([*cells_b, *cells_a]):
        change = _compare(cid, cells_a.get(cid), cells_b.get(cid), comps_a.get(cid),
                          comps_b.get(cid))
        change.moved = cid in moved
        changes[cid] = change
    # display order: b's order, each removed cell after the cell that preceded it in a
    after: dict[str | None, list[str]] = {}
    anchor: str | None = None
    for cid in cells_a:
        if cid not in cells_b:
            after.setdefault(anchor, []).append(cid)
        else:
            anchor = cid
    order = list(after.get(None, []))
    for cid in cells_b:
        order.append(cid)
        order += after.get(cid, [])

    graph_a = {cid: i.parents for cid, i in comps_a.items()}
    graph_b = {cid: i.parents for cid, i in comps_b.items()}
    edges_a = {(p, c) for c, ps in graph_a.items() for p in ps}
    edges_b = {(p, c) for c, ps in graph_b.items() for p in ps}
    position = {cid: i for i, cid in enumerate(order)}

    def edge_order(e: tuple[str, str]) -> tuple[int, int]:
        return (position.get(e[1], -1), position.get(e[0], -1))

    params_a, params_b = parameters_of(a), parameters_of(b)
    param_changes = [ParameterChange(n, params_a.get(n), params_b.get(n))
                     for n in dict.fromkeys([*params_a, *params_b])
                     if params_a.get(n) != params_b.get(n)]
    names = {cid: i.name for cid, i in comps_a.items()}
    names.update({cid: i.name for cid, i in comps_b.items()})
    return NotebookDiff(
        cells=[changes[cid] for cid in order],
        parameters=param_changes,
        edges_added=sorted(edges_b - edges_a, key=edge_order),
        edges_removed=sorted(edges_a - edges_b, key=edge_order),
        invalidated=_invalidated(cells_a, cells_b, graph_a, graph_b, param_changes),
        names=names,
        old_graph=graph_a,
        new_graph=graph_b,
    )


def _invalidated(cells_a: Mapping[str, Any], cells_b: Mapping[str, Any],
                 graph_a: Mapping[str, tuple[str, ...]], graph_b: Mapping[str, tuple[str, ...]],
                 params: list[ParameterChange]) -> list[str]:
    """Components of b that had a cache key in a and whose key changes (DESIGN 3.3): the
    same key parts the engine hashes (model.code.own_key_parts), parents, and descendants."""
    values_a = {p.name: _value(p.name, p.old) for p in params}
    values_b = {p.name: _value(p.name, p.new) for p in params}
    rekeyed: set[str] = set()
    for cid, parents in graph_b.items():
        if cid not in graph_a:
            rekeyed.add(cid)  # new: its descendants' keys change with it
            continue
        if set(parents) != set(graph_a[cid]):
            rekeyed.add(cid)
            continue
        src_a, src_b = source_of(cells_a[cid]), source_of(cells_b[cid])
        if src_a == src_b and not params:
            continue  # nothing its key is made of changed (and no need to parse it)
        # only changed parameters can make the parts differ, so compare just those
        if own_key_parts(src_a, values_a) != own_key_parts(src_b, values_b):
            rekeyed.add(cid)
    stale = dag.downstream(graph_b, rekeyed)
    return [cid for cid in graph_b if cid in stale and cid in graph_a]


def _value(name: str, written: Any) -> Any:
    """A parameter's value as the engine sees it, from {"type", "value"} as written (None
    when absent; what is written, when it is not a valid parameter)."""
    try:
        return Parameter(name, written["type"], written["value"]).value
    except (PipelineError, KeyError, TypeError):
        return written
