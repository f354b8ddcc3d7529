"""Turning the bytes git hands us into notebooks whose cells carry ids that match across sides.

Cells without ids (nbformat < 4.5) get the id of the cell they align with in the other
version (`align`: equal cells, then similar cells between them), else one derived from
their content, so the same files always get the same ids.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any

from cellpipe.gitnb.align import align
from cellpipe.gitnb.cells import CONFLICT_KEY, component_of, source_of
from cellpipe.model.errors import NotebookFormatError
from cellpipe.model.jsontext import notebook_json, notebook_text


class NotebookInputError(NotebookFormatError):
    """One of the files given to diff or merge cannot be read as a notebook."""


@dataclass
class LoadedNotebook:
    """A notebook as a plain dict, which of its cells had no id, and what was done to it."""

    nb: dict[str, Any]
    missing_id: list[bool]
    notices: list[str] = field(default_factory=list)
    version: tuple[int, int] = (4, 5)  # the file's (nbformat, nbformat_minor); 3 reads as 4.5
    empty: bool = False  # an empty file: the notebook does not exist in this version


def parse_notebook(text: str | bytes, label: str) -> LoadedNotebook:
    """Parse a notebook file's text; upgrade old formats; mark cells that had no id."""
    raw = notebook_json(notebook_text(text, label, NotebookInputError), label, NotebookInputError)
    if not isinstance(raw, dict) or not isinstance(raw.get("cells", raw.get("worksheets")), list):
        raise NotebookInputError(f"{label} is not a Jupyter notebook (no list of 'cells')")
    minor = raw.get("nbformat_minor")
    if raw.get("nbformat") == 4 and isinstance(minor, int) and minor >= 0:
        _check_cells(raw, label)
        seen: set[str] = set()
        missing = []
        for cell in raw["cells"]:
            cid = cell.get("id") if minor >= 5 else None  # before 4.5 an id is not a cell id
            missing.append(not isinstance(cid, str) or not cid or cid in seen)
            seen.add(cid)
            if minor < 5:
                cell.pop("id", None)
        return LoadedNotebook(raw, missing, version=(4, minor))
    from cellpipe.model.notebook import notebook_from_dict  # rare: not on the start-up path

    try:  # nbformat 3 (or an unusual version field): nbformat converts it to 4.5
        nb, notices = notebook_from_dict(raw, source=label)
    except NotebookFormatError as exc:
        raise NotebookInputError(str(exc)) from None
    nb = json.loads(json.dumps(nb))  # plain dicts
    _check_cells(nb, label)
    for cell in nb["cells"]:  # the reader's random ids: `match_ids` gives deterministic ones
        cell.pop("id", None)
    return LoadedNotebook(nb, [True] * len(nb["cells"]),
                          [n for n in notices if "new id" not in n])


_CELL_TYPES = ("code", "markdown", "raw")


def _check_cells(nb: Mapping[str, Any], label: str) -> None:
    """Raise NotebookInputError unless every cell has the shape nbformat 4 gives it."""
    if not isinstance(nb.get("metadata", {}), dict):
        raise NotebookInputError(f"{label} is not a notebook cellpipe can read: its 'metadata' "
                                 "is not an object")
    for k, cell in enumerate(nb["cells"]):
        problem = None
        if not isinstance(cell, dict):
            problem = "is not an object"
        elif cell.get("cell_type") not in _CELL_TYPES:
            problem = f"has cell_type {cell.get('cell_type')!r}, not code, markdown or raw"
        elif not isinstance(cell.get("metadata", {}), dict):
            problem = "has 'metadata' that is not an object"
        else:
            src = cell.get("source", "")
            if not (isinstance(src, str)
                    or isinstance(src, list) and all(isinstance(x, str) for x in src)):
                problem = "has a 'source' that is not text"
        if problem:
            raise NotebookInputError(f"{label} is not a notebook cellpipe can read: cell "
                                     f"{k + 1} {problem}")


_MARKERS = re.compile(r"^<{7,}( [^\n]*)?\n.*?^={7,}\n.*?^>{7,}( |$)", re.M | re.S)


def unresolved_conflicts(nb: Mapping[str, Any]) -> list[str]:
    """Where a notebook still holds merge conflicts: cell ids, or 'notebook metadata'."""
    found = ["notebook metadata"] if CONFLICT_KEY in nb.get("metadata", {}) else []
    for cell in nb.get("cells", []):
        src = source_of(cell)
        flagged = CONFLICT_KEY in cell.get("metadata", {})
        if flagged or _MARKERS.search(src):
            found.append(str(cell.get("id", "?")))
    return found


def _content_key(cell: Mapping[str, Any]) -> tuple[str, str]:
    return (str(cell.get("cell_type")), source_of(cell))


SIMILAR = 0.5  # a cell edited so far that less than this much of its text is left is new


def cell_similarity(a: Mapping[str, Any], b: Mapping[str, Any]) -> float:
    """How alike two cells are, 0..1: same type, then the share of source text they keep.

    Two components with the same name count as rather alike (an edit keeps the name).
    """
    if a.get("cell_type") != b.get("cell_type"):
        return 0.0
    src_a, src_b = source_of(a), source_of(b)
    if src_a == src_b:
        return 1.0
    floor = 0.0
    comp_a, comp_b = component_of(a), component_of(b)
    if comp_a is not None and comp_b is not None and comp_a.name == comp_b.name:
        floor = 0.75
    if not src_a or not src_b:
        return floor
    if len(src_a) + len(src_b) > 4000:  # long cells: compare lines, not characters
        matcher = SequenceMatcher(None, src_a.splitlines(), src_b.splitlines(), autojunk=False)
    else:
        matcher = SequenceMatcher(None, src_a, src_b, autojunk=False)
    if matcher.real_quick_ratio() < SIMILAR or matcher.quick_ratio() < SIMILAR:
        return floor
    return max(floor, matcher.ratio())


def _content_id(cell: Mapping[str, Any], used: set[str], tried: dict[str, int]) -> str:
    """A deterministic id from the cell's type and source, suffixed -2, -3... when taken
    (`tried` remembers the last suffix per content, so n equal cells cost n, not n^2)."""
    digest = hashlib.sha1("\0".join(_content_key(cell)).encode()).hexdigest()[:8]
    n = tried.get(digest, 1)
    cid = digest if n == 1 else f"{digest}-{n}"
    while cid in used:
        n += 1
        cid = f"{digest}-{n}"
    tried[digest] = n
    return cid


def match_ids(reference: Sequence[Mapping[str, Any]] | None, target: LoadedNotebook) -> None:
    """Give target's cells marked missing_id an id: the id of the reference cell they align
    with (same content, or similar content between matched cells), else one from their content.

    A marked cell that has an id of its own keeps it when no reference cell matches.
    Deterministic: the same files give the same ids, run after run.
    """
    cells = target.nb["cells"]
    if not any(target.missing_id):
        return
    used = {str(c["id"]) for c, m in zip(cells, target.missing_id, strict=True) if not m}
    paired: dict[int, str] = {}
    if reference:
        refs = list(reference)
        pairs = align(
            [_content_key(c) for c in refs], [_content_key(c) for c in cells],
            lambda i, j: cell_similarity(refs[i], cells[j]), SIMILAR)
        paired = {j: str(refs[i].get("id")) for i, j in pairs}
    avoid = used | {str(c.get("id")) for c in reference or ()}
    tried: dict[str, int] = {}
    for i, cell in enumerate(cells):
        if not target.missing_id[i]:
            continue
        cid = paired.get(i)
        own = cell.get("id")
        if cid is None or cid in used:
            if isinstance(own, str) and own and own not in avoid:
                cid = own
            else:
                cid = _content_id(cell, avoid, tried)
        cell["id"] = cid
        used.add(cid)
        avoid.add(cid)
    target.missing_id = [False] * len(cells)


def align_pair(old: LoadedNotebook, new: LoadedNotebook) -> None:
    """Make cell ids comparable between two versions of a notebook (in place), for a diff."""
    if any(old.missing_id) and not any(new.missing_id):
        match_ids(new.nb["cells"], old)  # e.g. the commit that upgraded the file to 4.5
        return
    match_ids(None, old)
    match_ids(old.nb["cells"], new)


def align_ids(base: LoadedNotebook, ours: LoadedNotebook, theirs: LoadedNotebook) -> None:
    """Make cell ids comparable across the three versions of a merge (in place).

    When the base has no ids, it takes those of a side that has them (ours first); a side
    that got its ids elsewhere (each side upgraded to 4.5 on its own gets random ones) is
    aligned by content like a side without ids, keeping its own ids for cells it added.
    """
    donor = None
    if any(base.missing_id):
        donor = next((s for s in (ours, theirs) if not any(s.missing_id)), None)
        match_ids(donor.nb["cells"] if donor else None, base)
    for side in (ours, theirs):
        if donor is not None and side is not donor:
            side.missing_id = [True] * len(side.nb["cells"])
        match_ids(base.nb["cells"], side)
