"""Reading notebook dicts the way git tools must: leniently, as plain JSON, cell by cell.

The model (`cellpipe.model`) refuses malformed pipelines; diffs and merges must still show
and keep them, so here a component is simply a code cell with a `cellpipe` dict.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

METADATA_KEY = "cellpipe"
CONFLICT_KEY = "cellpipe_merge"


def source_of(cell: Mapping[str, Any]) -> str:
    """A cell's source as one string (on disk it may be a list of lines)."""
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


@dataclass(frozen=True)
class ComponentInfo:
    """What git tools need of a component: its name, parents and worker."""

    name: str
    parents: tuple[str, ...]
    worker: str | None


def component_of(cell: Mapping[str, Any]) -> ComponentInfo | None:
    """The component a cell declares, or None; malformed fields are read as best they can."""
    spec = cell.get("metadata", {}).get(METADATA_KEY)
    if not isinstance(spec, dict) or cell.get("cell_type", "code") != "code":
        return None
    parents = spec.get("parents", [])
    if not isinstance(parents, list):
        parents = []
    worker = spec.get("worker")
    return ComponentInfo(
        name=str(spec.get("name") or cell.get("id", "?")),
        parents=tuple(sorted({p for p in parents if isinstance(p, str)})),
        worker=worker if isinstance(worker, str) and worker else None,
    )


def components_of(nb: Mapping[str, Any]) -> dict[str, ComponentInfo]:
    """cell id -> component, in notebook order."""
    found: dict[str, ComponentInfo] = {}
    for cell in nb.get("cells", []):
        info = component_of(cell)
        if info is not None:
            found[str(cell.get("id"))] = info
    return found


def parameters_of(nb: Mapping[str, Any]) -> dict[str, Any]:
    """The notebook's pipeline parameters: name -> {"type", "value"} (as written)."""
    meta = nb.get("metadata", {}).get(METADATA_KEY)
    params = meta.get("parameters") if isinstance(meta, dict) else None
    return dict(params) if isinstance(params, dict) else {}


def dumps_notebook(nb: Mapping[str, Any]) -> str:
    """The notebook as Jupyter writes it: sorted keys, indent 1, sources as line lists."""
    cells = []
    for cell in nb.get("cells", []):
        if isinstance(cell.get("source"), str):
            cell = {**cell, "source": cell["source"].splitlines(keepends=True)}
        cells.append(cell)
    return json.dumps({**nb, "cells": cells}, sort_keys=True, indent=1, ensure_ascii=False) + "\n"
