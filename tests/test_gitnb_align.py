"""Aligning sequences without ids (cells of nbformat < 4.5): equal items, then similar ones."""

from __future__ import annotations

from difflib import SequenceMatcher

from hypothesis import given
from hypothesis import strategies as st

from cellpipe.gitnb.align import align, longest_increasing, match_equal


def ratio(a: list[str], b: list[str]):
    return lambda i, j: SequenceMatcher(None, a[i], b[j]).ratio()


def pairs(a: list[str], b: list[str], **kw) -> list[tuple[str, str]]:
    return [(a[i], b[j]) for i, j in align(a, b, ratio(a, b), **kw)]


def test_equal_sequences_pair_in_place_even_when_items_repeat():
    a = ["x = 3", "f(x)", "x = 3", "f(x)"]
    assert align(a, list(a), ratio(a, a)) == [(0, 0), (1, 1), (2, 2), (3, 3)]


def test_an_edited_copy_of_a_repeated_item_pairs_with_its_own_place():
    base = ["x = 3", "f(x)", "x = 3", "f(x)"]
    assert align(base, ["x = 4", "f(x)", "x = 3", "f(x)"], ratio(base, base)) == [
        (0, 0), (1, 1), (2, 2), (3, 3)]
    theirs = ["x = 3", "f(x)", "x = 5", "f(x)"]
    assert pairs(base, theirs) == list(zip(base, theirs, strict=True))


def test_insertions_and_deletions_leave_items_unpaired():
    a = ["a", "b", "c", "d"]
    b = ["a", "new", "c", "d", "e"]
    assert align(a, b, lambda i, j: 0.0) == [(0, 0), (2, 2), (3, 3)]


def test_an_item_rewritten_in_place_is_another_item():
    a, b = ["load()", "x = 1", "save()"], ["load()", "something else entirely", "save()"]
    assert align(a, b, ratio(a, b)) == [(0, 0), (2, 2)]
    b[1] = "x = 2"
    assert align(a, b, ratio(a, b)) == [(0, 0), (1, 1), (2, 2)]


def test_similar_items_pair_across_an_insertion():
    a = ["# Title", "df = load('data.csv')", "plot(df)"]
    b = ["# Title", "import pandas", "df = load('data2.csv')", "plot(df)"]
    assert pairs(a, b) == [("# Title", "# Title"), ("df = load('data.csv')",
                                                   "df = load('data2.csv')"),
                           ("plot(df)", "plot(df)")]


def test_longest_increasing():
    assert longest_increasing([3, 1, 2, 5, 4, 6]) == [1, 2, 4, 5]
    assert longest_increasing([]) == []


def test_thousands_of_repeated_items_align_without_a_quadratic_table():
    a = ["df.head()", "", "plt.show()"] * 1500
    b = list(a)
    b[2001] = "df.tail()"  # was df.head()
    del b[3000]
    found = align(a, b, ratio(a, b))
    assert len(found) == len(b)  # every item of b but none lost: the edit pairs with its place
    assert (2001, 2001) in found


@given(st.lists(st.sampled_from("abcde"), max_size=30), st.data())
def test_pairs_increase_and_items_only_inserted_or_deleted_all_pair(a, data):
    inserted = list(a)
    for _ in range(data.draw(st.integers(0, 6))):
        where = data.draw(st.integers(0, len(inserted)))
        inserted.insert(where, data.draw(st.sampled_from("aefz")))
    for x, y in ((a, inserted), (inserted, a)):
        found = align(x, y, ratio(x, y))
        firsts, seconds = [i for i, _ in found], [j for _, j in found]
        assert firsts == sorted(set(firsts)) and seconds == sorted(set(seconds))
        assert all(x[i] == y[j] for i, j in match_equal(x, y))
        assert len(found) == len(a)  # every item a kept is paired with itself
