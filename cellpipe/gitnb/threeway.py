"""Three-way merges of values, sets, dicts and text: the generic decisions, nothing notebook.

Every merge returns the merged value *and* its conflicts; a conflict never drops a side:
the merged value takes the preferred side and the conflict record keeps all three.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from merge3 import Merge3


class _Missing:
    """An absent dict key or list item (distinct from None, which is a value)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()

SIDES = ("ours", "theirs")


def check_prefer(prefer: str | None) -> None:
    """Raise ValueError unless prefer is 'ours', 'theirs' or None."""
    if prefer not in (None, *SIDES):
        raise ValueError(f"prefer must be 'ours', 'theirs' or None, not {prefer!r}")


def merge_value(base: Any, ours: Any, theirs: Any, prefer: str | None = None) -> tuple[Any, bool]:
    """(merged, conflicted): the side that changed wins; both changed differently conflicts."""
    if ours == theirs or theirs == base:
        return ours, False
    if ours == base:
        return theirs, False
    return (theirs if prefer == "theirs" else ours), prefer is None


def merge_sets(base: Iterable[Any], ours: Iterable[Any], theirs: Iterable[Any]) -> set[Any]:
    """Additions of either side are kept, removals of either side applied; never conflicts."""
    base_set, ours_set, theirs_set = set(base), set(ours), set(theirs)
    return (ours_set & theirs_set) | (ours_set - base_set) | (theirs_set - base_set)


@dataclass(frozen=True)
class ValueConflict:
    """Both sides changed the value at `path` differently (MISSING = key absent)."""

    path: tuple[str, ...]
    base: Any
    ours: Any
    theirs: Any


def merge_dicts(
    base: Mapping[str, Any] | None,
    ours: Mapping[str, Any] | None,
    theirs: Mapping[str, Any] | None,
    prefer: str | None = None,
    path: tuple[str, ...] = (),
) -> tuple[dict[str, Any], list[ValueConflict]]:
    """Key-by-key three-way merge, recursing into dicts all sides agree are dicts.

    Keys keep ours' order, then theirs' new keys. A conflicting key takes the preferred
    side (ours when prefer is None) and is reported with all three values.
    """
    base, ours, theirs = base or {}, ours or {}, theirs or {}
    merged: dict[str, Any] = {}
    conflicts: list[ValueConflict] = []
    for key in dict.fromkeys([*ours, *theirs, *base]):
        b, o, t = base.get(key, MISSING), ours.get(key, MISSING), theirs.get(key, MISSING)
        if isinstance(o, dict) and isinstance(t, dict) and isinstance(b, (dict, _Missing)):
            value, inner = merge_dicts(b or {}, o, t, prefer, (*path, key))
            conflicts += inner
        else:
            value, conflicted = merge_value(b, o, t, prefer)
            if conflicted:
                conflicts.append(ValueConflict((*path, key), b, o, t))
        if value is not MISSING:
            merged[key] = value
    return merged, conflicts


@dataclass(frozen=True)
class TextMerge:
    """A merged text and how many conflict regions it holds (written as markers)."""

    text: str
    conflicts: int


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _ended(lines: list[str]) -> list[str]:
    """lines with a newline after the last one, so a marker that follows starts a line."""
    if lines and not lines[-1].endswith(("\n", "\r")):
        return [*lines[:-1], lines[-1] + "\n"]
    return lines


def merge_text(
    base: str,
    ours: str,
    theirs: str,
    prefer: str | None = None,
    labels: tuple[str, str] = SIDES,
    marker_size: int = 7,
) -> TextMerge:
    """Line-wise three-way merge (merge3); conflicts become git-style markers unless prefer."""
    if ours == theirs or theirs == base:
        return TextMerge(ours, 0)
    if ours == base:
        return TextMerge(theirs, 0)
    base_lines, ours_lines, theirs_lines = _lines(base), _lines(ours), _lines(theirs)
    merger = Merge3(base_lines, ours_lines, theirs_lines)
    out: list[str] = []
    conflicts = 0
    for region in merger.reprocess_merge_regions(merger.merge_regions()):
        kind = region[0]
        if kind == "unchanged":
            out += base_lines[region[1] : region[2]]
        elif kind in ("a", "same"):
            out += ours_lines[region[1] : region[2]]
        elif kind == "b":
            out += theirs_lines[region[1] : region[2]]
        else:
            a_part = ours_lines[region[3] : region[4]]
            b_part = theirs_lines[region[5] : region[6]]
            if prefer is not None:
                out += a_part if prefer == "ours" else b_part
                continue
            conflicts += 1
            out = _ended(out)
            out += conflict_block(a_part, b_part, labels, marker_size)
    text = "".join(out)
    return TextMerge(text, conflicts)


def conflict_block(
    ours_lines: list[str],
    theirs_lines: list[str],
    labels: tuple[str, str] = SIDES,
    marker_size: int = 7,
) -> list[str]:
    """The lines of one git-style conflict region: <<<<<<< ours / ======= / >>>>>>> theirs."""
    return [
        "<" * marker_size + f" {labels[0]}\n",
        *_ended(ours_lines),
        "=" * marker_size + "\n",
        *_ended(theirs_lines),
        ">" * marker_size + f" {labels[1]}\n",
    ]
