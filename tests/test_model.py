import json

import nbformat
import pytest
from hypothesis import given
from hypothesis import strategies as st
from nbutil import make_notebook

from cellpipe.model import (
    Component,
    CycleError,
    DanglingParentError,
    DuplicateNameError,
    MetadataError,
    NotebookFormatError,
    Parameter,
    ParameterError,
    Pipeline,
    ancestors,
    check_edge,
    descendants,
    find_cycle,
    notebook_from_dict,
    pipeline_from_notebook,
    problems,
    read_notebook,
    topological_order,
    validate,
    write_pipeline,
)


def diamond() -> Pipeline:
    nb = make_notebook(
        [
            ("x = 1", "load", []),
            "print('not a component')",
            ("y = x + 1", "left", ["load"]),
            ("z = x + 2", "right", ["load"]),
            ("w = y + z", "join", ["right", "left"]),
        ]
    )
    return pipeline_from_notebook(nb)


def test_notebook_to_model_and_back_round_trips():
    nb = make_notebook(
        [("a = 1", "a", []), ("b = a", "b", ["a"])],
        parameters={"lr": {"type": "float", "value": 0.1}},
    )
    p = pipeline_from_notebook(nb)
    assert [c.name for c in p.components] == ["a", "b"]
    assert p.get("b").parents == ("a",)
    assert p.parameters["lr"] == Parameter("lr", "float", 0.1)
    nb2 = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c.source) for c in nb.cells])
    for new, old in zip(nb2.cells, nb.cells, strict=True):
        new.id = old.id
    write_pipeline(nb2, p)
    assert nb2.cells[1].metadata["cellpipe"] == {"name": "b", "parents": ["a"]}
    assert nb2.metadata["cellpipe"] == {
        "version": 1,
        "parameters": {"lr": {"type": "float", "value": 0.1}},
    }
    assert pipeline_from_notebook(nb2) == p
    nbformat.validate(nb2)


def test_ancestors_descendants_and_order_are_deterministic():
    p = diamond()
    g = p.graph()
    assert ancestors(g, "join") == {"load", "left", "right"}
    assert descendants(g, "load") == {"left", "right", "join"}
    assert descendants(g, "join") == set()
    assert topological_order(g) == ["load", "left", "right", "join"]
    assert topological_order(g, {"join", "right", "load"}) == ["load", "right", "join"]


def test_topological_ties_follow_notebook_order_not_ids():
    p = Pipeline(
        (
            Component("zz", "first", "", ()),
            Component("aa", "second", "", ()),
            Component("mm", "third", "", ("zz", "aa")),
        )
    )
    assert topological_order(p.graph()) == ["zz", "aa", "mm"]


def test_cycle_is_named():
    nb = make_notebook([("a=1", "a", ["c"]), ("b=1", "b", ["a"]), ("c=1", "c", ["b"])])
    p = pipeline_from_notebook(nb)
    cycle = find_cycle(p.graph())
    assert cycle is not None and set(cycle) == {"a", "b", "c"}
    with pytest.raises(CycleError) as err:
        validate(p)
    assert "cycle" in str(err.value) and "a" in err.value.cycle and "Remove" in str(err.value)


def test_self_edge_is_a_cycle():
    p = Pipeline((Component("a", "a", "", ("a",)),))
    with pytest.raises(CycleError):
        validate(p)


def test_check_edge_refuses_a_closing_edge():
    p = diamond()
    check_edge(p, "left", "join")  # already implied, fine
    with pytest.raises(CycleError) as err:
        check_edge(p, "join", "load")
    assert err.value.cycle[0] == "load" and err.value.cycle[-1] == "join"


def test_dangling_parent_and_duplicates_are_reported_with_names():
    nb = make_notebook([("a=1", "a", []), ("b=1", "b", ["ghost"]), ("c=1", "a", [])])
    nb.cells[2].id = "other"
    p = pipeline_from_notebook(nb)
    found = problems(p)
    kinds = {type(e) for e in found}
    assert kinds == {DanglingParentError, DuplicateNameError}
    dangling = next(e for e in found if isinstance(e, DanglingParentError))
    assert "'b'" in str(dangling) and "ghost" in str(dangling)


@pytest.mark.parametrize(
    "meta, fragment",
    [
        ("not a dict", "must be an object"),
        ({"parents": []}, "non-empty 'name'"),
        ({"name": "x", "parents": "a"}, "'parents' must be a list"),
        ({"name": "x", "parents": [1]}, "'parents' must be a list"),
        ({"name": "x", "worker": 3}, "'worker'"),
    ],
)
def test_malformed_cell_metadata_names_the_cell(meta, fragment):
    nb = make_notebook(["x = 1"])
    nb.cells[0].metadata["cellpipe"] = meta
    with pytest.raises(MetadataError) as err:
        pipeline_from_notebook(nb)
    assert fragment in str(err.value) and "cell 1" in str(err.value)


def test_markdown_component_is_refused():
    nb = make_notebook([])
    cell = nbformat.v4.new_markdown_cell("# hi")
    cell.metadata["cellpipe"] = {"name": "x", "parents": []}
    nb.cells.append(cell)
    with pytest.raises(MetadataError, match="only code cells"):
        pipeline_from_notebook(nb)


def test_unknown_format_version_is_refused():
    nb = make_notebook([])
    nb.metadata["cellpipe"]["version"] = 7
    with pytest.raises(MetadataError, match="version 7"):
        pipeline_from_notebook(nb)


def test_parameters_are_typed():
    assert Parameter("n", "int", "3").value == 3
    assert Parameter("flag", "bool", "false").value is False
    assert Parameter("cfg", "json", '{"a": [1]}').value == {"a": [1]}
    with pytest.raises(ParameterError, match="'n' expects int"):
        Parameter("n", "int", "three")
    with pytest.raises(ParameterError, match="whole number"):
        Parameter("n", "int", 2.5)
    p = Pipeline((), {"lr": Parameter("lr", "float", 0.1)})
    assert p.parameter_values({"lr": "0.5"}) == {"lr": 0.5}
    with pytest.raises(ParameterError, match="unknown parameter 'lrr'"):
        p.parameter_values({"lrr": "1"})


def test_notebook_without_ids_is_upgraded_and_says_so(tmp_path):
    raw = {
        "nbformat": 4,
        "nbformat_minor": 2,
        "metadata": {},
        "cells": [
            {"cell_type": "code", "source": "x=1", "metadata": {}, "outputs": [],
             "execution_count": None},
            {"cell_type": "markdown", "source": "hi", "metadata": {}},
        ],
    }
    path = tmp_path / "old.ipynb"
    path.write_text(json.dumps(raw))
    nb, notices = read_notebook(path)
    assert all(c.id for c in nb.cells) and len({c.id for c in nb.cells}) == 2
    assert any("upgraded" in n for n in notices) and any("new id" in n for n in notices)
    assert nb.cells[0].source == "x=1"  # nothing lost
    nbformat.validate(nb)


def test_malformed_json_and_non_notebooks_are_clear(tmp_path):
    path = tmp_path / "bad.ipynb"
    path.write_text('{"cells": [')
    with pytest.raises(NotebookFormatError, match="not valid JSON"):
        read_notebook(path)
    assert path.read_text() == '{"cells": ['
    with pytest.raises(NotebookFormatError, match="not a Jupyter notebook"):
        notebook_from_dict([1, 2])
    with pytest.raises(NotebookFormatError, match="nbformat 9"):
        notebook_from_dict({"nbformat": 9, "cells": []})


def test_makinarocks_link_metadata_is_read():
    nb = make_notebook(["import os", "x = 1"])
    nb.cells[0].metadata["canvas"] = {"id": nb.cells[0].id, "name": "load", "isComponent": True,
                                      "parents": []}
    nb.cells[1].metadata["canvas"] = {
        "id": nb.cells[1].id, "name": "use", "isComponent": True,
        "parents": [{"id": nb.cells[0].id, "name": "load"}],
    }
    del nb.metadata["cellpipe"]
    nb.metadata["canvas"] = {"version": "1", "parameters": [{"name": "k", "type": "int", "value": 3}]}
    p = pipeline_from_notebook(nb)
    assert [c.name for c in p.components] == ["load", "use"]
    assert p.get(nb.cells[1].id).parents == (nb.cells[0].id,)
    assert p.parameter_values() == {"k": 3}


@st.composite
def random_dags(draw):
    n = draw(st.integers(1, 12))
    parents = [
        sorted(draw(st.sets(st.integers(0, i - 1), max_size=i)) if i else []) for i in range(n)
    ]
    order = draw(st.permutations(range(n)))
    return {f"c{i}": tuple(f"c{p}" for p in parents[i]) for i in order}


@given(random_dags())
def test_topological_order_respects_every_edge(graph):
    order = topological_order(graph)
    pos = {n: i for i, n in enumerate(order)}
    assert sorted(order) == sorted(graph)
    assert all(pos[p] < pos[n] for n, ps in graph.items() for p in ps)
    assert find_cycle(graph) is None
    for node in graph:
        assert all(node in descendants(graph, a) for a in ancestors(graph, node))


def test_sinks_downstream_and_ancestor_sets():
    from cellpipe.model import dag

    graph = {"a": (), "b": ("a",), "c": ("a",), "d": ("b", "c"), "e": ()}
    assert dag.sinks(graph) == ["d", "e"]
    assert dag.downstream(graph, ["b"]) == {"b", "d"}
    assert dag.downstream(graph, ["a", "e"]) == set(graph)
    assert dag.ancestor_sets(graph, ["a", "c", "b", "d"]) == {
        "a": set(), "c": {"a"}, "b": {"a"}, "d": {"a", "b", "c"}}


def test_parameter_assignments_parse_once_for_every_front_end():
    from cellpipe.model import ParameterError, parse_assignments

    assert parse_assignments(["lr=0.1", " n =a=b", "s="]) == {"lr": "0.1", "n": "a=b", "s": ""}
    with pytest.raises(ParameterError, match="'lr' must be NAME=VALUE"):
        parse_assignments(["lr"])


def test_nearest_ancestor_is_found_breadth_first():
    from cellpipe.model import dag

    graph = {"a": [], "b": ["a"], "c": ["b"], "d": ["a"], "e": ["c", "d"]}
    assert dag.nearest_ancestor(graph, "e", lambda n: n in ("a", "b")) == "b"
    assert dag.nearest_ancestor(graph, "e", lambda n: n == "a") == "a"
    assert dag.nearest_ancestor(graph, "a", lambda n: True) is None


@pytest.mark.parametrize("content", [b'{"cells": [], "title": "caf\xe9"}', b'{"cells": [1',
                                     b'{"cells": ' + b"[" * 200 + b"]" * 200 + b"}"])
def test_a_notebook_file_and_a_git_side_are_refused_in_the_same_words(tmp_path, content):
    from cellpipe.gitnb.load import NotebookInputError, parse_notebook
    from cellpipe.model import read_notebook

    path = tmp_path / "nb.ipynb"
    path.write_bytes(content)
    with pytest.raises(NotebookFormatError) as from_file:
        read_notebook(path)
    with pytest.raises(NotebookInputError) as from_git:
        parse_notebook(content, str(path))
    assert str(from_file.value) == f"{from_git.value}; the file is left as it is"
