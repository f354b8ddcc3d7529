"""The generic three-way algorithms: orderings with moves, sets, dicts, text."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from cellpipe.gitnb.sequence import merge_order, moved_items, stable_items
from cellpipe.gitnb.threeway import MISSING, merge_dicts, merge_sets, merge_text, merge_value


def order(base: str, ours: str, theirs: str, **kw: object) -> str:
    return "".join(merge_order(list(base), list(ours), list(theirs), **kw).order)


def test_moved_items_is_minimal():
    assert moved_items("abcdef", "bcdefa") == {"a"}
    assert moved_items("abcdef", "abcdef") == set()
    assert moved_items("abcdef", "afbcde") == {"f"}
    assert len(moved_items("ab", "ba")) == 1
    assert stable_items("abc", "xcb") in ({"b"}, {"c"})


def test_unchanged_and_one_sided_changes():
    assert order("abc", "abc", "abc") == "abc"
    assert order("abc", "axbc", "abc") == "axbc"
    assert order("abc", "abc", "ac") == "ac"
    assert order("abc", "bca", "abc") == "bca"


def test_both_sides_insert_at_the_same_place_keeps_both_ours_first():
    assert order("ab", "axb", "ayb") == "axyb"
    assert order("ab", "ayb", "axb") == "ayxb"
    assert order("", "xy", "z") == "xyz"


def test_move_on_one_side_and_insert_on_the_other():
    assert order("abcd", "bcda", "abxcd") == "bxcda"
    assert order("abcd", "abxcd", "bcda") == "bxcda"


def test_move_and_delete():
    assert order("abcd", "bcda", "bcd") == "bcd"
    assert order("abcd", "dabc", "abd") == "dab"


def test_both_moved_prefers_a_side_and_reports_it():
    merged = merge_order(list("abcd"), list("bcda"), list("bcad"))
    assert "".join(merged.order) == "bcda"
    assert merged.moved_by_both == ["a"]
    theirs_first = merge_order(list("abcd"), list("bcda"), list("bcad"), prefer="theirs")
    assert "".join(theirs_first.order) == "bcad"


def test_keep_revives_an_item_one_side_deleted():
    assert order("abc", "ac", "abc", keep=["b"]) == "abc"
    assert order("abc", "ac", "ac", keep=["b"]) == "ac"  # deleted on both: nothing to keep


def test_insert_after_an_item_the_other_side_deleted():
    assert order("abc", "abxc", "ac") == "axc"


@given(
    st.permutations(list(range(12))),
    st.data(),
)
def test_order_merge_keeps_every_survivor_exactly_once(base, data):
    rnd = random.Random(data.draw(st.integers(0, 10**6)))

    def edit(seq: list[int], fresh: int) -> list[int]:
        seq = [x for x in seq if rnd.random() > 0.2]
        for _ in range(rnd.randint(0, 3)):
            if seq and rnd.random() < 0.5:
                x = seq.pop(rnd.randrange(len(seq)))
                seq.insert(rnd.randrange(len(seq) + 1), x)
            seq.insert(rnd.randrange(len(seq) + 1), fresh)
            fresh += 1
        return seq

    ours, theirs = edit(list(base), 100), edit(list(base), 200)
    merged = merge_order(base, ours, theirs).order
    expected = (set(ours) & set(theirs)) | (set(ours) - set(base)) | (set(theirs) - set(base))
    assert sorted(merged) == sorted(expected)
    # one side's own relative order of what it added is kept
    for side in (ours, theirs):
        added = [x for x in side if x not in base]
        assert [x for x in merged if x in added] == added


def test_order_merge_is_fast_for_large_orderings():
    import time

    base = [f"c{i}" for i in range(20000)]
    ours = base[1:10000] + ["new1"] + base[10000:] + [base[0]]
    theirs = base[:500] + ["new2"] + base[500:19000]
    start = time.perf_counter()
    merged = merge_order(base, ours, theirs).order
    assert time.perf_counter() - start < 0.5
    assert merged[-1] == "c0" and "new1" in merged and "new2" in merged
    assert len(merged) == 19000 + 2


def test_merge_value():
    assert merge_value(1, 1, 2) == (2, False)
    assert merge_value(1, 3, 1) == (3, False)
    assert merge_value(1, 3, 3) == (3, False)
    assert merge_value(1, 2, 3) == (2, True)
    assert merge_value(1, 2, 3, prefer="theirs") == (3, False)


def test_merge_sets_keeps_both_additions_and_applies_removals():
    assert merge_sets({"a"}, {"a", "b"}, {"a", "c"}) == {"a", "b", "c"}
    assert merge_sets({"a", "b"}, {"b"}, {"a", "b", "c"}) == {"b", "c"}
    assert merge_sets(set(), {"x"}, {"x"}) == {"x"}


def test_merge_dicts_recurses_and_keeps_both_sides_of_a_conflict():
    base = {"tags": ["a"], "cellpipe": {"name": "x", "w": 1}, "gone": 1}
    ours = {"tags": ["b"], "cellpipe": {"name": "y", "w": 1}}
    theirs = {"tags": ["c"], "cellpipe": {"name": "x", "w": 2}, "gone": 1, "new": True}
    merged, conflicts = merge_dicts(base, ours, theirs)
    assert merged == {"tags": ["b"], "cellpipe": {"name": "y", "w": 2}, "new": True}
    assert len(conflicts) == 1
    c = conflicts[0]
    assert (c.path, c.base, c.ours, c.theirs) == (("tags",), ["a"], ["b"], ["c"])
    merged, conflicts = merge_dicts(base, ours, theirs, prefer="theirs")
    assert merged["tags"] == ["c"] and conflicts == []


def test_merge_dicts_delete_versus_modify_conflicts():
    merged, conflicts = merge_dicts({"k": 1}, {}, {"k": 2})
    assert merged == {} and conflicts[0].ours is MISSING and conflicts[0].theirs == 2


def test_merge_text_clean_and_conflicting():
    base = "a\nb\nc\n"
    assert merge_text(base, "A\nb\nc\n", "a\nb\nC\n").text == "A\nb\nC\n"
    result = merge_text(base, "a\nB1\nc\n", "a\nB2\nc\n")
    assert result.conflicts == 1
    assert result.text == "a\n<<<<<<< ours\nB1\n=======\nB2\n>>>>>>> theirs\nc\n"
    assert merge_text(base, "a\nB1\nc\n", "a\nB2\nc\n", prefer="theirs").text == "a\nB2\nc\n"


def test_merge_text_without_final_newline_keeps_markers_on_their_own_lines():
    result = merge_text("x = 1", "x = 2", "x = 3", marker_size=3)
    assert result.text == "<<< ours\nx = 2\n===\nx = 3\n>>> theirs\n"
