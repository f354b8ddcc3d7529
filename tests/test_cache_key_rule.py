"""One rule for cache keys: `cellpipe diff`'s "caches invalidated" is exactly the set of
components whose engine cache key changes."""

import pytest
from nbutil import make_notebook

from cellpipe.engine.plan import compute_keys
from cellpipe.gitnb.diff import diff_notebooks
from cellpipe.model import dag, pipeline_from_notebook

BASE_CELLS = [
    ("data = list(range(n))  # load", "load", []),
    ("clean = [x for x in data if x]", "clean", ["load"]),
    ("model = sum(clean) * lr", "train", ["clean"]),
    ("report = len(data) if verbose else 0", "report", ["load"]),
    ("final = (model, report)", "final", ["train", "report"]),
]
BASE_PARAMS = {"n": {"type": "int", "value": 10}, "lr": {"type": "float", "value": 0.1},
               "verbose": {"type": "bool", "value": True},
               "unused": {"type": "str", "value": "x"}}


def engine_keys(nb):
    pipeline = pipeline_from_notebook(nb)
    order = dag.topological_order(pipeline.graph())
    return compute_keys(pipeline, order, pipeline.parameter_values())


def edit(cells=None, params=None):
    return make_notebook(cells or BASE_CELLS, parameters=params or BASE_PARAMS)


def replace_cell(name, code=None, parents=None):
    return [(code if c[1] == name and code is not None else c[0], c[1],
             parents if c[1] == name and parents is not None else c[2]) for c in BASE_CELLS]


CASES = {
    "comment only": edit(replace_cell("load", "data = list(range(n))  # loads the data")),
    "formatting only": edit(replace_cell("clean", "clean = [ x  for x in data if x ]")),
    "code change": edit(replace_cell("clean", "clean = [x for x in data if x > 1]")),
    "parameter read": edit(params={**BASE_PARAMS, "lr": {"type": "float", "value": 0.5}}),
    "parameter not read": edit(params={**BASE_PARAMS, "unused": {"type": "str", "value": "y"}}),
    "same value, written as text": edit(params={**BASE_PARAMS, "verbose": {"type": "bool",
                                                                           "value": "true"}}),
    "type changed": edit(params={**BASE_PARAMS, "lr": {"type": "str", "value": "0.1"}}),
    "parent removed": edit(replace_cell("final", parents=["train"])),
    "new parameter read": edit(replace_cell("report", "report = len(data) + extra if verbose else 0"),
                               params={**BASE_PARAMS, "extra": {"type": "int", "value": 1}}),
}


@pytest.mark.parametrize("name", list(CASES))
def test_diff_invalidates_exactly_what_the_engine_rekeys(name):
    old, new = edit(), CASES[name]
    keys_old, keys_new = engine_keys(old), engine_keys(new)
    rekeyed = {cid for cid in keys_new if cid in keys_old and keys_old[cid] != keys_new[cid]}
    assert set(diff_notebooks(old, new).invalidated) == rekeyed


def test_the_cases_cover_both_outcomes():
    changed = {name for name, nb in CASES.items()
               if diff_notebooks(edit(), nb).invalidated}
    assert not {"comment only", "parameter not read", "same value, written as text"} & changed
    assert {"code change", "parameter read", "parent removed", "type changed"} <= changed
