"""Aligning two sequences whose items carry no ids: which item of `a` is which item of `b`.

Two passes, as nbdime's multilevel sequence diff does, without its quadratic grid:
1. equal items: common ends, then items that occur once on each side taken in increasing
   order as anchors (a patience diff), recursively between anchors; a gap holding only
   repeated items gets an exact longest-common-subsequence when it is small;
2. in each gap left between matched items, similar items are paired by a small dynamic
   program (best total similarity, order kept); gaps too big for it are paired greedily
   within a window.
Apart from the bounded gap steps everything is n log n, so thousands of items align fast.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Hashable, Sequence

Pair = tuple[int, int]

LCS_BUDGET = 40_000  # cells of an exact LCS table (a gap of repeated items)
SIMILAR_BUDGET = 2_500  # similarity comparisons for one gap's dynamic program
WINDOW = 8  # look-ahead of the greedy pairing in bigger gaps


def longest_increasing(values: Sequence[int]) -> list[int]:
    """Indices of a longest strictly increasing subsequence of values (n log n)."""
    tails: list[int] = []  # smallest last value of an increasing run of length k+1
    tail_index: list[int] = []
    previous = [-1] * len(values)
    for i, value in enumerate(values):
        k = bisect_left(tails, value)
        if k == len(tails):
            tails.append(value)
            tail_index.append(i)
        else:
            tails[k] = value
            tail_index[k] = i
        previous[i] = tail_index[k - 1] if k else -1
    out: list[int] = []
    i = tail_index[-1] if tail_index else -1
    while i >= 0:
        out.append(i)
        i = previous[i]
    return out[::-1]


def _unique_anchors(a: Sequence[Hashable], alo: int, ahi: int, b: Sequence[Hashable], blo: int,
                    bhi: int) -> list[Pair]:
    """Pairs of items that occur exactly once in a[alo:ahi] and once in b[blo:bhi], in order."""
    count_a = Counter(a[alo:ahi])
    count_b = Counter(b[blo:bhi])
    where_b = {b[j]: j for j in range(blo, bhi) if count_b[b[j]] == 1}
    candidates = [(i, where_b[a[i]]) for i in range(alo, ahi)
                  if count_a[a[i]] == 1 and a[i] in where_b]
    return [candidates[k] for k in longest_increasing([j for _, j in candidates])]


def _lcs(a: Sequence[Hashable], alo: int, ahi: int, b: Sequence[Hashable], blo: int,
         bhi: int) -> list[Pair]:
    """An exact longest common subsequence of two small ranges (dynamic program)."""
    n, m = ahi - alo, bhi - blo
    table = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        row, below = table[i], table[i + 1]
        for j in range(m - 1, -1, -1):
            row[j] = below[j + 1] + 1 if a[alo + i] == b[blo + j] else max(below[j], row[j + 1])
    pairs, i, j = [], 0, 0
    while i < n and j < m:
        if a[alo + i] == b[blo + j]:
            pairs.append((alo + i, blo + j))
            i, j = i + 1, j + 1
        elif table[i + 1][j] >= table[i][j + 1]:
            i += 1
        else:
            j += 1
    return pairs


def match_equal(a: Sequence[Hashable], b: Sequence[Hashable]) -> list[Pair]:
    """Pairs (i, j) with a[i] == b[j], increasing in both, found as a patience diff does."""
    pairs: list[Pair] = []
    stack = [(0, len(a), 0, len(b))]
    while stack:
        alo, ahi, blo, bhi = stack.pop()
        while alo < ahi and blo < bhi and a[alo] == b[blo]:
            pairs.append((alo, blo))
            alo, blo = alo + 1, blo + 1
        while alo < ahi and blo < bhi and a[ahi - 1] == b[bhi - 1]:
            ahi, bhi = ahi - 1, bhi - 1
            pairs.append((ahi, bhi))
        if alo >= ahi or blo >= bhi:
            continue
        anchors = _unique_anchors(a, alo, ahi, b, blo, bhi)
        if anchors:
            prev_a, prev_b = alo, blo
            for i, j in anchors:
                pairs.append((i, j))
                stack.append((prev_a, i, prev_b, j))
                prev_a, prev_b = i + 1, j + 1
            stack.append((prev_a, ahi, prev_b, bhi))
        elif (ahi - alo) * (bhi - blo) <= LCS_BUDGET:
            pairs += _lcs(a, alo, ahi, b, blo, bhi)
        # else: only repeated items in a huge gap; the similarity pass pairs them in order
    return sorted(pairs)


def _pair_similar_dp(alo: int, ahi: int, blo: int, bhi: int,
                     similarity: Callable[[int, int], float], threshold: float) -> list[Pair]:
    """Order-keeping pairs of the gap with the greatest total similarity (each >= threshold)."""
    n, m = ahi - alo, bhi - blo
    score = [[similarity(alo + i, blo + j) for j in range(m)] for i in range(n)]
    best = [[0.0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            s = score[i][j]
            take = best[i + 1][j + 1] + s if s >= threshold else -1.0
            best[i][j] = max(take, best[i + 1][j], best[i][j + 1])
    pairs, i, j = [], 0, 0
    while i < n and j < m:
        s = score[i][j]
        if s >= threshold and best[i][j] == best[i + 1][j + 1] + s:
            pairs.append((alo + i, blo + j))
            i, j = i + 1, j + 1
        elif best[i][j] == best[i + 1][j]:
            i += 1
        else:
            j += 1
    return pairs


def _pair_similar_greedy(alo: int, ahi: int, blo: int, bhi: int,
                         similarity: Callable[[int, int], float], threshold: float) -> list[Pair]:
    """Pairs for a big gap: the next similar item within a small window, in order."""
    pairs: list[Pair] = []
    i, j = alo, blo
    while i < ahi and j < bhi:
        if similarity(i, j) >= threshold:
            pairs.append((i, j))
            i, j = i + 1, j + 1
            continue
        ahead_b = next((k for k in range(j + 1, min(bhi, j + 1 + WINDOW))
                        if similarity(i, k) >= threshold), None)
        ahead_a = next((k for k in range(i + 1, min(ahi, i + 1 + WINDOW))
                        if similarity(k, j) >= threshold), None)
        if ahead_b is not None and (ahead_a is None or ahead_b - j <= ahead_a - i):
            pairs.append((i, ahead_b))
            i, j = i + 1, ahead_b + 1
        elif ahead_a is not None:
            pairs.append((ahead_a, j))
            i, j = ahead_a + 1, j + 1
        else:
            i, j = i + 1, j + 1
    return pairs


def align(a: Sequence[Hashable], b: Sequence[Hashable],
          similarity: Callable[[int, int], float], threshold: float = 0.5) -> list[Pair]:
    """Pairs (i, j) saying a[i] and b[j] are one item, increasing in both.

    `a`/`b` are the items' keys (equal keys: equal items); `similarity(i, j)` in [0, 1]
    compares two unequal items, which pair only from `threshold` on. An item rewritten
    beyond that is another item, even where it stood: only content tells id-less items
    apart, and guessing by place would turn "deleted here, replaced there" into a conflict.
    """
    equal = match_equal(a, b)
    pairs: list[Pair] = []
    prev_a, prev_b = 0, 0
    for i, j in [*equal, (len(a), len(b))]:
        if i > prev_a and j > prev_b:
            gap = (prev_a, i, prev_b, j)
            if (i - prev_a) * (j - prev_b) <= SIMILAR_BUDGET:
                found = _pair_similar_dp(*gap, similarity, threshold)
            else:
                found = _pair_similar_greedy(*gap, similarity, threshold)
            pairs += found
        if i < len(a):
            pairs.append((i, j))
        prev_a, prev_b = i + 1, j + 1
    return pairs
