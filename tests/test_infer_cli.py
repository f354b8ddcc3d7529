"""`cellpipe convert` of plain notebooks, and the edge checks of `plan` and `run` (no kernel)."""

from __future__ import annotations

import json
import time

import nbformat
from click.testing import CliRunner
from nbutil import make_notebook

from cellpipe.cli import main
from cellpipe.model import read_pipeline

MISSING = ("'train' reads X_train, bound by 'split', which is not an ancestor of 'train' "
           "(add it as a parent?)")


def drawn(tmp_path, train_parents=("load",)):
    nb = make_notebook([
        ("import numpy as np\nraw = np.arange(10)", "load", []),
        ("X_train = raw[:8]", "split", ["load"]),
        ("model = X_train.sum() + lr", "train", list(train_parents)),
    ], parameters={"lr": {"type": "float", "value": 0.1}})
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    return path


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_plan_warns_about_a_missing_edge_in_one_line(tmp_path):
    result = invoke("plan", drawn(tmp_path))
    assert result.exit_code == 0, result.output
    assert f"warning: {MISSING}" in result.output
    assert result.output.count("warning:") == 1


def test_strict_makes_it_an_error_for_plan_and_run(tmp_path):
    path = drawn(tmp_path)
    for command in ("plan", "run"):
        start = time.perf_counter()
        result = invoke(command, path, "--strict")
        assert result.exit_code != 0
        assert f"error: {MISSING}" in result.output
        assert "--strict" in result.output
        assert time.perf_counter() - start < 10  # refused before any kernel starts


def test_no_false_alarm_when_the_edges_are_there(tmp_path):
    # builtins, a parameter (lr), an import in the cell, names bound before they are read
    path = drawn(tmp_path, train_parents=("split",))
    result = invoke("plan", path, "--strict")
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output and "error" not in result.output


def test_plan_json_lists_the_names_behind_each_edge(tmp_path):
    result = invoke("plan", drawn(tmp_path, train_parents=("split",)), "--json")
    assert result.exit_code == 0, result.output
    [plan] = json.loads(result.output)
    edges = {s["name"]: s["edges"] for s in plan["steps"]}
    assert edges["train"] == [{"parent": "split", "names": ["X_train"]}]
    assert edges["split"] == [{"parent": "load", "names": ["raw"]}]
    assert edges["load"] == []


def plain_notebook(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.nbformat_minor = 4  # no cell ids, as older notebooks
    nb.cells = [nbformat.v4.new_markdown_cell("# Load the data"),
                nbformat.v4.new_code_cell("import pandas as pd\ndf = pd.DataFrame({'a': [1, 2]})"),
                nbformat.v4.new_code_cell("# add a column\ndf['b'] = df.a * 2"),
                nbformat.v4.new_code_cell("df.describe()"),
                nbformat.v4.new_code_cell("total = df.b.sum()\ntotal")]
    for cell in nb.cells:
        cell.pop("id", None)
    path = tmp_path / "plain.ipynb"
    path.write_text(json.dumps(nb))
    return path


def test_convert_plain_notebook_infers_and_explains(tmp_path):
    path = plain_notebook(tmp_path)
    out = tmp_path / "out.ipynb"
    result = invoke("convert", path, "-o", out, "--explain")
    assert result.exit_code == 0, result.output
    assert "4 components, 3 edges" in result.output
    assert "'add a column' <- 'Load the data': df" in result.output
    _, pipeline, _ = read_pipeline(out)
    parents = {c.name: sorted(pipeline.get(p).name for p in c.parents)
               for c in pipeline.components}
    assert parents == {"Load the data": [], "add a column": ["Load the data"],
                       "df.describe()": ["add a column"], "total": ["add a column"]}
    again = invoke("plan", out, "--strict")  # an inferred pipeline passes its own check
    assert again.exit_code == 0, again.output


def test_convert_infer_replaces_drawn_edges_and_link_still_converts(tmp_path):
    path = drawn(tmp_path)
    out = tmp_path / "out.ipynb"
    assert invoke("convert", path, "-o", out).exit_code == 0  # has components: kept as drawn
    _, kept, _ = read_pipeline(out)
    assert kept.get("train").parents == ("load",)
    assert invoke("convert", path, "-o", out, "--infer").exit_code == 0
    _, inferred, _ = read_pipeline(out)
    assert set(inferred.get("train").parents) == {"split"}
