"""Building notebooks for tests."""

from __future__ import annotations

from typing import Any

import nbformat
from nbformat import NotebookNode


def make_notebook(
    cells: list[tuple[str, str | None, list[str]] | str],
    parameters: dict[str, dict[str, Any]] | None = None,
) -> NotebookNode:
    """cells: (code, component name or None, parent names) or plain code strings.

    Cell ids are the component names (or cell-N), so tests read naturally.
    """
    nb = nbformat.v4.new_notebook()
    ids: dict[str, str] = {}
    for i, spec in enumerate(cells):
        code, name, parents = (spec, None, []) if isinstance(spec, str) else spec
        cell = nbformat.v4.new_code_cell(code)
        cell.id = (name or f"cell-{i}").replace(" ", "-")
        if name is not None:
            ids[name] = cell.id
            cell.metadata["cellpipe"] = {
                "name": name,
                "parents": sorted(ids.get(p, p) for p in parents),
            }
        nb.cells.append(cell)
    nb.metadata["cellpipe"] = {"version": 1, "parameters": parameters or {}}
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb
