"""Three-way merge of notebooks (DESIGN 6): cells by id, pipeline structure kept a DAG.

Cell order is a sequence merge with moves, sources merge line-wise, parents as sets,
metadata as dicts; outputs and execution counts take the side that changed them. Every
conflict keeps both sides: markers inside the cell's source and a record in the cell's
`cellpipe_merge` metadata (ours, theirs, base) for the JupyterLab conflict view.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cellpipe.gitnb.cells import CONFLICT_KEY, METADATA_KEY, component_of, source_of
from cellpipe.gitnb.sequence import merge_order
from cellpipe.gitnb.threeway import (
    MISSING,
    check_prefer,
    conflict_block,
    merge_dicts,
    merge_sets,
    merge_text,
    merge_value,
)
from cellpipe.model import dag

Cell = dict[str, Any]
_RUN_STATE = ("outputs", "execution_count")


@dataclass
class Conflict:
    """One thing the merge could not decide; `record` is what the notebook stores."""

    kind: str
    cell: str | None
    message: str
    record: dict[str, Any] = field(default_factory=dict)


@dataclass
class NotebookMerge:
    """The merged notebook (a plain dict), its conflicts and notes about decisions taken."""

    notebook: dict[str, Any]
    conflicts: list[Conflict]
    notes: list[str] = field(default_factory=list)
    cells_from: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        """One line for the terminal: what was merged and what conflicts."""
        n = len(self.notebook.get("cells", []))
        both = self.cells_from["both"]
        head = f"{n} cells, {both} changed on both sides"
        if not self.conflicts:
            return f"merged cleanly: {head}"
        kinds = Counter(c.kind for c in self.conflicts)
        listed = ", ".join(f"{k} x{v}" if v > 1 else k for k, v in kinds.items())
        return f"{len(self.conflicts)} conflict(s) ({listed}): {head}"


def merge_notebooks(
    base: Mapping[str, Any],
    ours: Mapping[str, Any],
    theirs: Mapping[str, Any],
    prefer: str | None = None,
    marker_size: int = 7,
) -> NotebookMerge:
    """Merge three notebook dicts whose cells carry matching ids; prefer resolves conflicts."""
    check_prefer(prefer)
    cells = {side: {c["id"]: c for c in nb["cells"]} for side, nb in
             (("base", base), ("ours", ours), ("theirs", theirs))}
    b_cells, o_cells, t_cells = cells["base"], cells["ours"], cells["theirs"]
    conflicts: list[Conflict] = []
    notes: list[str] = []
    counts: Counter[str] = Counter()
    merged_cells: dict[str, Cell] = {}
    revived: list[str] = []
    for cid in dict.fromkeys([*o_cells, *t_cells]):
        b, o, t = b_cells.get(cid), o_cells.get(cid), t_cells.get(cid)
        if b is not None and (o is None or t is None):
            kept = o if o is not None else t
            deleted_by = "theirs" if o is not None else "ours"
            if not _edited(b, kept):
                continue
            if prefer == deleted_by:
                notes.append(f"cell {cid}: deleted by {deleted_by} (edited by the other side)")
                continue
            revived.append(cid)
            merged_cells[cid] = _delete_modify(cid, b, kept, deleted_by, prefer,
                                               marker_size, conflicts)
            continue
        if o is None or t is None:
            merged_cells[cid] = dict(o if o is not None else t)  # type: ignore[arg-type]
            continue
        base_cell = b if b is not None else {"cell_type": o.get("cell_type"), "source": ""}
        cell, changed_both = _merge_cell(cid, base_cell, o, t, prefer, marker_size, conflicts)
        counts["both"] += changed_both
        merged_cells[cid] = cell

    order = merge_order(
        [c["id"] for c in base["cells"]],
        [c["id"] for c in ours["cells"]],
        [c["id"] for c in theirs["cells"]],
        keep=revived,
        prefer=prefer or "ours",
    )
    for cid in order.moved_by_both:
        notes.append(f"cell {cid}: moved on both sides; kept where {prefer or 'ours'} put it")
    merged_list = [merged_cells[cid] for cid in order.order if cid in merged_cells]

    metadata, meta_conflicts = merge_dicts(
        base.get("metadata"), ours.get("metadata"), theirs.get("metadata"), prefer
    )
    nb_records = []
    for c in meta_conflicts:
        record = {"kind": "notebook-metadata", "path": list(c.path),
                  **_values(c.base, c.ours, c.theirs)}
        nb_records.append(record)
        conflicts.append(Conflict("notebook-metadata", None,
                                  f"notebook metadata {'.'.join(c.path)}: both sides changed it",
                                  record))
    metadata.pop(CONFLICT_KEY, None)
    if nb_records:
        metadata[CONFLICT_KEY] = {"conflicts": nb_records}
    notebook = {
        **{k: v for k, v in ours.items() if k not in ("cells", "metadata")},
        "nbformat": 4,
        "nbformat_minor": max(5, *(int(nb.get("nbformat_minor", 5)) for nb in (ours, theirs))),
        "metadata": metadata,
        "cells": merged_list,
    }
    _check_pipeline(notebook, (ours, theirs), prefer, conflicts, notes)
    return NotebookMerge(notebook, conflicts, notes, counts)


def _edited(base: Cell, side: Cell) -> bool:
    """Whether side changed what a person writes (not outputs or execution counts)."""
    return any(base.get(k) != side.get(k) for k in {*base, *side} if k not in _RUN_STATE) or (
        source_of(base) != source_of(side)
    )


def _values(base: Any, ours: Any, theirs: Any) -> dict[str, Any]:
    """Conflict values as JSON (an absent value is left out)."""
    return {k: v for k, v in (("base", base), ("ours", ours), ("theirs", theirs))
            if v is not MISSING}


def _own_metadata(cell: Cell) -> dict[str, Any]:
    """cell's metadata, copied where the merge writes, so the inputs are never changed."""
    meta = dict(cell.get("metadata", {}))
    if isinstance(meta.get(METADATA_KEY), dict):
        meta[METADATA_KEY] = dict(meta[METADATA_KEY])
    if CONFLICT_KEY in meta:
        meta[CONFLICT_KEY] = {"conflicts": list(meta[CONFLICT_KEY]["conflicts"])}
    cell["metadata"] = meta
    return meta


def _flag(cell: Cell, record: dict[str, Any]) -> None:
    meta = _own_metadata(cell)
    meta.setdefault(CONFLICT_KEY, {"conflicts": []})["conflicts"].append(record)


def _delete_modify(cid: str, base: Cell, kept: Cell, deleted_by: str, prefer: str | None,
                   marker_size: int, conflicts: list[Conflict]) -> Cell:
    """A cell one side deleted and the other edited: kept, with the deletion made visible."""
    cell = {**kept, "metadata": dict(kept.get("metadata", {}))}
    if prefer is not None:  # prefer is the editing side here
        return cell
    lines = source_of(kept).splitlines(keepends=True)
    if deleted_by == "theirs":
        block = conflict_block(lines, [], ("ours", "theirs (deleted this cell)"), marker_size)
    else:
        block = conflict_block([], lines, ("ours (deleted this cell)", "theirs"), marker_size)
    cell["source"] = "".join(block)
    edited_by = "ours" if deleted_by == "theirs" else "theirs"
    record = {"kind": "delete-modify", "deleted_by": deleted_by,
              "base": source_of(base), edited_by: source_of(kept)}
    _flag(cell, record)
    conflicts.append(Conflict("delete-modify", cid,
                              f"cell {cid}: deleted by {deleted_by}, edited by {edited_by}",
                              record))
    return cell


def _merge_cell(cid: str, b: Cell, o: Cell, t: Cell, prefer: str | None, marker_size: int,
                conflicts: list[Conflict]) -> tuple[Cell, bool]:
    """Merge one cell present on both sides; returns (cell, whether both sides changed it)."""
    if o == t or t == b:
        return dict(o), False
    if o == b:
        return dict(t), False
    records: list[dict[str, Any]] = []
    cell: Cell = {}
    for key in dict.fromkeys([*o, *t]):
        if key in ("source", "metadata", *_RUN_STATE):
            continue
        value, conflicted = merge_value(b.get(key, MISSING), o.get(key, MISSING),
                                        t.get(key, MISSING), prefer)
        if conflicted:
            records.append({"kind": "cell-field", "field": key,
                            **_values(b.get(key, MISSING), o.get(key, MISSING),
                                      t.get(key, MISSING))})
        if value is not MISSING:
            cell[key] = value
    src_b, src_o, src_t = source_of(b), source_of(o), source_of(t)
    text = merge_text(src_b, src_o, src_t, prefer, marker_size=marker_size)
    cell["source"] = text.text
    if text.conflicts:
        records.append({"kind": "source", "base": src_b, "ours": src_o, "theirs": src_t})
    for key in _RUN_STATE:  # never conflicts: the side that changed it, preferred if both
        value, _ = merge_value(b.get(key, MISSING), o.get(key, MISSING), t.get(key, MISSING),
                               prefer)
        if value is not MISSING:
            cell[key] = value
    meta_b, meta_o, meta_t = (dict(c.get("metadata", {})) for c in (b, o, t))
    comp_b, comp_o, comp_t = (m.pop(METADATA_KEY, MISSING) for m in (meta_b, meta_o, meta_t))
    for m in (meta_b, meta_o, meta_t):
        m.pop(CONFLICT_KEY, None)
    metadata, meta_conflicts = merge_dicts(meta_b, meta_o, meta_t, prefer)
    records += [{"kind": "metadata", "path": list(c.path), **_values(c.base, c.ours, c.theirs)}
                for c in meta_conflicts]
    component, comp_records = _merge_component(comp_b, comp_o, comp_t, prefer)
    records += comp_records
    if component is not MISSING:
        metadata[METADATA_KEY] = component
    cell["metadata"] = metadata
    for record in records:
        _flag(cell, record)
        conflicts.append(Conflict(record["kind"], cid, _describe(cid, record), record))
    return cell, True


def _describe(cid: str, record: dict[str, Any]) -> str:
    kind = record["kind"]
    if kind == "source":
        return f"cell {cid}: both sides changed the same lines of code"
    if kind == "name":
        return f"cell {cid}: renamed on both sides ({record.get('ours')!r} / {record.get('theirs')!r})"
    if kind == "worker":
        return (f"cell {cid}: worker changed on both sides "
                f"({record.get('ours', 'local')} / {record.get('theirs', 'local')})")
    if kind in ("metadata", "component"):
        where = ".".join(record.get("path", [])) or "component"
        return f"cell {cid}: both sides changed {where}"
    return f"cell {cid}: both sides changed {record.get('field', kind)}"


def _merge_component(b: Any, o: Any, t: Any, prefer: str | None
                     ) -> tuple[Any, list[dict[str, Any]]]:
    """Merge a cell's `cellpipe` metadata: name and worker as values, parents as sets."""
    if o == t or t == b:
        return o, []
    if o == b:
        return t, []
    dicts = [x if isinstance(x, dict) else {} for x in (b, o, t)]
    if not isinstance(o, dict) or not isinstance(t, dict):  # one side stopped being a component
        if prefer is not None:
            return (o if prefer == "ours" else t), []
        kept = o if isinstance(o, dict) else t
        return kept, [{"kind": "component", "path": [METADATA_KEY], **_values(b, o, t)}]
    records: list[dict[str, Any]] = []
    rest_b, rest_o, rest_t = ({k: v for k, v in d.items() if k != "parents"} for d in dicts)
    merged, conflicts = merge_dicts(rest_b, rest_o, rest_t, prefer, (METADATA_KEY,))
    for c in conflicts:
        kind = c.path[1] if len(c.path) == 2 and c.path[1] in ("name", "worker") else "metadata"
        records.append({"kind": kind, "path": list(c.path), **_values(c.base, c.ours, c.theirs)})
    parents = [_parent_list(d.get("parents")) for d in dicts]
    merged["parents"] = sorted(merge_sets(*parents))
    return merged, records


def _parent_list(value: Any) -> list[str]:
    return [p for p in value if isinstance(p, str)] if isinstance(value, list) else []


def _check_pipeline(nb: dict[str, Any], sides: tuple[Mapping[str, Any], ...],
                    prefer: str | None, conflicts: list[Conflict], notes: list[str]) -> None:
    """Dangling parents, cycles and duplicate names the merge made are conflicts too."""
    cells = {c["id"]: c for c in nb["cells"]}
    comps = {cid: info for cid, c in cells.items() if (info := component_of(c)) is not None}
    side_comps = [{c["id"]: component_of(c) for c in s["cells"]} for s in sides]
    for cid, info in comps.items():
        for parent in info.parents:
            if parent in comps:
                continue
            added_by = [name for name, sc in zip(("ours", "theirs"), side_comps, strict=True)
                        if sc.get(cid) and parent in sc[cid].parents and sc.get(parent)]
            if not added_by:
                continue  # it dangled before the merge already
            spec = _own_metadata(cells[cid])[METADATA_KEY]
            spec["parents"] = [p for p in spec["parents"] if p != parent]
            if prefer is not None:
                notes.append(f"cell {cid}: dropped edge from {parent}, a cell the merge removed")
                continue
            record = {"kind": "dangling-parent", "parent": parent, "edge_from": added_by}
            _flag(cells[cid], record)
            conflicts.append(Conflict(
                "dangling-parent", cid,
                f"cell {cid}: parent {parent} was kept by {' and '.join(added_by)} but the "
                "cell is gone or no longer a component; the edge was removed", record))
    comps = {cid: info for cid, c in cells.items() if (info := component_of(c)) is not None}
    graph = {cid: tuple(p for p in info.parents if p in comps) for cid, info in comps.items()}
    cycle = dag.find_cycle(graph)
    if cycle and prefer is not None:
        keep_from = side_comps[0 if prefer == "ours" else 1]
        on_cycles = _cycle_nodes(graph)
        for cid in comps:
            pref = keep_from.get(cid)
            allowed = set(pref.parents) if pref else set()
            spec = cells[cid]["metadata"][METADATA_KEY]
            dropped = [p for p in spec["parents"] if p not in allowed and p in comps]
            if dropped and cid in on_cycles:
                spec = _own_metadata(cells[cid])[METADATA_KEY]
                spec["parents"] = [p for p in spec["parents"] if p not in dropped]
                notes.append(f"cell {cid}: dropped edges from {dropped} to break a cycle")
        comps = {cid: info for cid, c in cells.items() if (info := component_of(c)) is not None}
        graph = {cid: tuple(p for p in info.parents if p in comps) for cid, info in comps.items()}
        cycle = dag.find_cycle(graph)
    if cycle:
        names = [comps[c].name for c in cycle]
        path = " -> ".join([*names, names[0]])
        for cid in cycle:
            record = {"kind": "cycle", "cycle": list(cycle)}
            _flag(cells[cid], record)
        conflicts.append(Conflict("cycle", cycle[0],
                                  f"the merged edges form a cycle: {path}; remove one edge",
                                  {"kind": "cycle", "cycle": list(cycle)}))
    by_name: dict[str, list[str]] = {}
    for cid, info in comps.items():
        by_name.setdefault(info.name, []).append(cid)
    side_names = [Counter(i.name for i in sc.values() if i) for sc in side_comps]
    for name, ids in by_name.items():
        if len(ids) > 1 and all(sn[name] < len(ids) for sn in side_names):
            for cid in ids:
                _flag(cells[cid], {"kind": "duplicate-name", "name": name, "cells": ids})
            conflicts.append(Conflict("duplicate-name", ids[0],
                                      f"{len(ids)} components are named {name!r} after the "
                                      "merge; rename all but one", {"kind": "duplicate-name"}))


def _cycle_nodes(graph: Mapping[str, tuple[str, ...]]) -> set[str]:
    """Nodes that lie on some cycle (strongly connected components of size > 1)."""
    nodes: set[str] = set()
    remaining = dict(graph)
    while (cycle := dag.find_cycle(remaining)) is not None:
        nodes.update(cycle)
        remaining = {k: tuple(p for p in v if p != cycle[0]) for k, v in remaining.items()
                     if k != cycle[0]}
    return nodes
