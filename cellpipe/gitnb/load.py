"""Turning the bytes git hands us into notebooks whose cells carry ids that match across sides.

Cells without ids (nbformat < 4.5) are matched by content: first an identical cell, then
the cell at the same place between two matched neighbours; only what is left gets a new id.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cellpipe.gitnb.cells import CONFLICT_KEY, source_of
from cellpipe.model import NotebookFormatError, notebook_from_dict


class NotebookInputError(NotebookFormatError):
    """One of the files given to diff or merge cannot be read as a notebook."""


@dataclass
class LoadedNotebook:
    """A notebook as a plain dict, which of its cells had no id, and what was done to it."""

    nb: dict[str, Any]
    missing_id: list[bool]
    notices: list[str] = field(default_factory=list)


def parse_notebook(text: str | bytes, label: str) -> LoadedNotebook:
    """Parse a notebook file's text; upgrade old formats; mark cells that had no id."""
    try:
        raw = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if hasattr(exc, "lineno") else ""
        raise NotebookInputError(f"{label} is not valid JSON{where}: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("cells", raw.get("worksheets")), list):
        raise NotebookInputError(f"{label} is not a Jupyter notebook (no list of 'cells')")
    if raw.get("nbformat") == 4 and raw.get("nbformat_minor", 0) >= 5:
        cells = raw["cells"]
        if all(isinstance(c, dict) for c in cells):
            seen: set[str] = set()
            missing = []
            for cell in cells:
                cid = cell.get("id")
                missing.append(not isinstance(cid, str) or not cid or cid in seen)
                seen.add(cid)
            return LoadedNotebook(raw, missing)
    original = raw.get("cells") if raw.get("nbformat") == 4 else None
    try:
        nb, notices = notebook_from_dict(copy.deepcopy(raw), source=label)
    except NotebookFormatError as exc:
        raise NotebookInputError(str(exc)) from None
    nb = json.loads(json.dumps(nb))  # plain dicts
    if isinstance(original, list) and len(original) == len(nb["cells"]):
        missing = [not (isinstance(c, dict) and isinstance(c.get("id"), str)) for c in original]
    else:
        missing = [True] * len(nb["cells"])
    return LoadedNotebook(nb, missing, [n for n in notices if "new id" not in n])


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


def _content_id(cell: Mapping[str, Any], used: set[str]) -> str:
    digest = hashlib.sha1("\0".join(_content_key(cell)).encode()).hexdigest()
    cid, n = digest[:8], 1
    while cid in used:
        n += 1
        cid = f"{digest[:8]}-{n}"
    return cid


def match_ids(reference: Sequence[dict[str, Any]], target: LoadedNotebook) -> None:
    """Give target's id-less cells the ids of the reference cells they match, else new ones."""
    cells = target.nb["cells"]
    if not any(target.missing_id):
        return
    used = {c["id"] for c, m in zip(cells, target.missing_id, strict=True) if not m}
    free: dict[tuple[str, str], list[int]] = {}
    for j, ref in enumerate(reference):
        if ref.get("id") not in used:
            free.setdefault(_content_key(ref), []).append(j)
    ref_position = {ref.get("id"): j for j, ref in enumerate(reference)}
    matched: dict[int, int] = {}  # target index -> reference index
    taken: set[int] = set()
    for i, cell in enumerate(cells):
        if target.missing_id[i]:
            candidates = free.get(_content_key(cell))
            if candidates:
                matched[i] = candidates.pop(0)
                taken.add(matched[i])
        else:
            ref_index = ref_position.get(cell["id"])
            if ref_index is not None:
                matched[i] = ref_index
                taken.add(ref_index)
    # pair unmatched cells lying between the same two matched neighbours, in order
    prev_t, prev_r = -1, -1
    for i in [*sorted(matched), len(cells)]:
        r = matched.get(i, len(reference))
        if r > prev_r:
            gap_t = [k for k in range(prev_t + 1, i) if target.missing_id[k] and k not in matched]
            gap_r = [k for k in range(prev_r + 1, r) if k not in taken]
            for k, j in zip(gap_t, gap_r, strict=False):
                if cells[k].get("cell_type") == reference[j].get("cell_type"):
                    matched[k] = j
                    taken.add(j)
        prev_t, prev_r = i, max(prev_r, r)
    avoid = used | set(ref_position)
    for i, cell in enumerate(cells):
        if target.missing_id[i]:
            if i in matched and reference[matched[i]].get("id") not in used:
                cell["id"] = reference[matched[i]]["id"]
            else:
                cell["id"] = _content_id(cell, avoid)
            used.add(cell["id"])
            avoid.add(cell["id"])
    target.missing_id = [False] * len(cells)


def align_ids(base: LoadedNotebook, ours: LoadedNotebook, theirs: LoadedNotebook) -> None:
    """Make cell ids comparable across the three versions of a merge (in place)."""
    if any(base.missing_id):
        donor = next((s for s in (ours, theirs) if not any(s.missing_id)), None)
        match_ids(donor.nb["cells"] if donor else [], base)
    match_ids(base.nb["cells"], ours)
    match_ids(base.nb["cells"], theirs)
