"""Notebook- and pipeline-aware git: diff, history, three-way merge driver, setup (DESIGN 6).

Generic algorithms (`sequence`, `threeway`) are kept apart from notebook code (`merge`,
`diff`); files and git sit at the edges (`files`, `gitio`, `history`, `gitsetup`, `driver`).
"""

from cellpipe.gitnb.diff import CellChange, NotebookDiff, diff_notebooks
from cellpipe.gitnb.files import MergeOutcome, diff_files, merge_files
from cellpipe.gitnb.history import HistoryEntry, notebook_history
from cellpipe.gitnb.merge import Conflict, NotebookMerge, merge_notebooks
from cellpipe.gitnb.svg import dag_diff_svg

__all__ = [
    "CellChange",
    "Conflict",
    "HistoryEntry",
    "MergeOutcome",
    "NotebookDiff",
    "NotebookMerge",
    "dag_diff_svg",
    "diff_files",
    "diff_notebooks",
    "merge_files",
    "merge_notebooks",
    "notebook_history",
]
