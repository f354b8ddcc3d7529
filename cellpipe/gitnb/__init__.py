"""Notebook- and pipeline-aware git: diff, history, three-way merge driver, setup (DESIGN 6).

Generic algorithms (`sequence`, `threeway`) are kept apart from notebook code (`merge`,
`diff`); files and git sit at the edges (`files`, `gitio`, `history`, `gitsetup`, `driver`).
Names are imported lazily: git starts the driver once per file, so start-up time counts.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "CellChange": "diff",
    "NotebookDiff": "diff",
    "diff_notebooks": "diff",
    "MergeOutcome": "files",
    "diff_files": "files",
    "merge_files": "files",
    "HistoryEntry": "history",
    "notebook_history": "history",
    "Conflict": "merge",
    "NotebookMerge": "merge",
    "merge_notebooks": "merge",
    "dag_diff_svg": "svg",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(f"cellpipe.gitnb.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'cellpipe.gitnb' has no attribute {name!r}")
