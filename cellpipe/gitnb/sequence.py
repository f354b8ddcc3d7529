"""Diff and three-way merge of orderings of unique ids (a notebook's cell order), with moves.

Ids are unique, so items match by identity: no quadratic alignment is ever needed. The only
non-linear step is one longest-increasing-subsequence pass (n log n) that tells which items
kept their place and which moved.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from cellpipe.gitnb.align import longest_increasing

H = TypeVar("H", bound=Hashable)


def stable_items(base: Sequence[H], side: Sequence[H]) -> set[H]:
    """The largest set of items common to both whose relative order side left unchanged."""
    position = {item: i for i, item in enumerate(base)}
    common = [item for item in side if item in position]
    return {common[k] for k in longest_increasing([position[item] for item in common])}


def moved_items(base: Sequence[H], side: Sequence[H]) -> set[H]:
    """Items present in both whose place relative to the others changed (a minimal set)."""
    in_side = set(side)
    stable = stable_items(base, side)
    return {item for item in base if item in in_side and item not in stable}


@dataclass
class OrderMerge(Generic[H]):
    """The merged order, and the items both sides moved (placed where `prefer` put them)."""

    order: list[H]
    moved_by_both: list[H] = field(default_factory=list)


def merge_order(
    base: Sequence[H],
    ours: Sequence[H],
    theirs: Sequence[H],
    keep: Iterable[H] = (),
    prefer: str = "ours",
) -> OrderMerge[H]:
    """Three-way merge of unique-id orderings: deletions, insertions and moves of both sides.

    An item survives unless a side deleted it (items in `keep` survive anyway, e.g. a cell
    one side deleted and the other edited). Items that neither side moved form the spine, in
    base order; every other item is placed right after the item that precedes it on the side
    that put it there (skipping items that side does not place), so both sides' insertions
    are kept, ours first, and moves are applied. Linear apart from `stable_items`.
    """
    base_set, ours_set, theirs_set = set(base), set(ours), set(theirs)
    keep_set = {item for item in keep if item in ours_set or item in theirs_set}
    survives = {
        item
        for item in (*ours, *theirs)
        if (item in ours_set and item in theirs_set) or item not in base_set or item in keep_set
    }
    moved_ours = moved_items(base, ours)
    moved_theirs = moved_items(base, theirs)
    placed_by: dict[H, str] = {}
    moved_by_both: list[H] = []
    for item in survives:
        if item in base_set:
            if item in moved_ours and item in moved_theirs:
                placed_by[item] = prefer
                moved_by_both.append(item)
            elif item in moved_ours:
                placed_by[item] = "ours"
            elif item in moved_theirs:
                placed_by[item] = "theirs"
        elif item in ours_set and item in theirs_set:
            placed_by[item] = prefer
        else:
            placed_by[item] = "ours" if item in ours_set else "theirs"
    spine = [item for item in base if item in survives and item not in placed_by]

    root = object()  # anchor of whatever comes first
    hung: dict[object, list[H]] = {}
    for side_name, side in (("ours", ours), ("theirs", theirs)):
        anchor: object = root
        for item in side:
            if item not in survives:
                continue
            owner = placed_by.get(item)
            if owner == side_name:
                hung.setdefault(anchor, []).append(item)
                anchor = item
            elif owner is None:
                anchor = item
    order: list[H] = []
    next_spine = dict(zip([root, *spine], spine, strict=False))
    stack: list[object] = [root]
    while stack:  # depth first: an anchor, what hangs on it (recursively), then the spine
        node = stack.pop()
        if node is not root:
            order.append(node)  # type: ignore[arg-type]
        following = list(hung.get(node, ()))
        if node in next_spine:
            following.append(next_spine[node])
        stack.extend(reversed(following))
    position = {item: i for i, item in enumerate(ours)}
    moved_by_both.sort(key=lambda item: position.get(item, 0))
    return OrderMerge(order, moved_by_both)
