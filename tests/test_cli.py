"""`cellpipe run|plan|cache` as a user types them (real kernel where one is needed)."""

import json
import os
import subprocess
import sys

import nbformat
import pytest
from click.testing import CliRunner
from nbutil import make_notebook

from cellpipe.cli import main


def cellpipe(*args, cache, cwd=None):
    env = {**os.environ, "CELLPIPE_CACHE_DIR": str(cache)}
    return subprocess.run([sys.executable, "-m", "cellpipe.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=300, env=env, cwd=cwd)


def write(nb, path):
    nbformat.write(nb, path)
    return path


@pytest.mark.kernel
def test_run_shows_target_output_and_writes_captured_outputs(tmp_path):
    nb = make_notebook([
        ("x = 2\nprint('loading')", "load", []),
        ("y = x * factor\nprint('y is', y)", "scale", ["load"]),
        "print('not a component')",
    ], parameters={"factor": {"type": "int", "value": 3}})
    path = write(nb, tmp_path / "nb.ipynb")
    proc = cellpipe("run", path, "-p", "factor=5", "--inplace", cache=tmp_path / "c")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "y is 10\n"  # only the target's output
    assert "done" in proc.stderr and "load" in proc.stderr
    ran = nbformat.read(path, 4)
    assert ran.cells[0].outputs[0]["text"] == "loading\n"
    assert ran.cells[1].outputs[0]["text"] == "y is 10\n"
    assert ran.cells[2].outputs == []
    assert ran.metadata["cellpipe"]["parameters"]["factor"]["value"] == 3  # -p is per run
    again = cellpipe("run", path, "-p", "factor=5", cache=tmp_path / "c")
    assert again.returncode == 0 and again.stdout == "y is 10\n"
    assert again.stderr.count("cached") >= 2  # load and scale both from the cache


@pytest.mark.kernel
def test_run_error_exits_nonzero_with_clean_traceback(tmp_path):
    nb = make_notebook([("x = 1", "a", []), ("def f():\n    return {}['missing']\nf()", "b", ["a"]),
                        ("print('never')", "c", ["b"])])
    path = write(nb, tmp_path / "nb.ipynb")
    out = tmp_path / "out.ipynb"
    proc = cellpipe("run", path, "-o", out, cache=tmp_path / "c")
    assert proc.returncode == 1
    assert "Error in component 'b', an ancestor of 'c'" in proc.stderr
    assert "KeyError" in proc.stderr and "return {}['missing']" in proc.stderr
    assert "cellpipe/" not in proc.stderr.split("Error in component")[1]
    assert "never" not in proc.stdout
    written = nbformat.read(out, 4)
    assert written.cells[2].outputs[0]["output_type"] == "error"
    assert [c.source for c in written.cells] == [c.source for c in nb.cells]  # no lost cell


@pytest.mark.kernel
def test_targets_and_no_cache(tmp_path):
    nb = make_notebook([("print('A')", "a", []), ("print('B')", "b", []), ("print('C')", "c", ["a"])])
    path = write(nb, tmp_path / "nb.ipynb")
    proc = cellpipe("run", path, "--target", "b", "--target", "c", cache=tmp_path / "c")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "B\nC\n"
    proc = cellpipe("run", path, "--no-cache", "--target", "c", cache=tmp_path / "nocache")
    assert proc.returncode == 0 and not (tmp_path / "nocache").exists()


@pytest.mark.kernel
def test_no_cache_with_two_targets_runs_each_lineage_live(tmp_path):
    """A view of an array changed by a descendant is seen by every sink with --no-cache:
    the second target does not take the first one's ancestors back from a cache."""
    nb = make_notebook([
        ("import numpy as np\nx = np.arange(4)", "make", []),
        ("v = x[:2]", "view", ["make"]),
        ("v[0] = 99", "change", ["view"]),
        ("print('first', x.tolist())", "first", ["change"]),
        ("print('second', x.tolist())", "second", ["change"]),
    ])
    path = write(nb, tmp_path / "nb.ipynb")
    proc = cellpipe("run", path, "--no-cache", "-t", "first", "-t", "second",
                    cache=tmp_path / "nocache")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "first [99, 1, 2, 3]\nsecond [99, 1, 2, 3]\n"


@pytest.mark.parametrize(
    "notebook, message",
    [
        ('{"cells": [', "not valid JSON"),
        ("[]", "not a Jupyter notebook"),
    ],
)
def test_malformed_notebooks_are_refused_and_left_alone(tmp_path, notebook, message):
    path = tmp_path / "bad.ipynb"
    path.write_text(notebook)
    result = CliRunner().invoke(main, ["run", str(path)])
    assert result.exit_code == 1 and message in result.output
    assert path.read_text() == notebook


def test_structural_problems_are_named_before_anything_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("CELLPIPE_CACHE_DIR", str(tmp_path / "c"))
    cyc = write(make_notebook([("x=1", "a", ["b"]), ("y=1", "b", ["a"])]), tmp_path / "cyc.ipynb")
    result = CliRunner().invoke(main, ["plan", str(cyc), "--target", "a"])
    assert result.exit_code == 1 and "cycle: a -> b -> a" in result.output
    dup = make_notebook([("x=1", "a", []), ("y=1", "a", [])])
    dup.cells[1].id = "second"
    result = CliRunner().invoke(main, ["plan", str(write(dup, tmp_path / "dup.ipynb")),
                                       "--target", "a"])
    assert result.exit_code == 1 and "2 components are named 'a'" in result.output
    unknown = CliRunner().invoke(main, ["plan", str(cyc), "--target", "nope"])
    assert unknown.exit_code == 1 and "no component named 'nope'" in unknown.output


def test_plan_json_explains_each_step(tmp_path, monkeypatch):
    monkeypatch.setenv("CELLPIPE_CACHE_DIR", str(tmp_path / "c"))
    path = write(make_notebook([("x=1", "a", []), ("y=x", "b", ["a"])]), tmp_path / "nb.ipynb")
    result = CliRunner().invoke(main, ["plan", str(path), "--json"])
    assert result.exit_code == 0, result.output
    plans = json.loads(result.output)
    assert [(s["name"], s["action"], s["reason"]) for s in plans[0]["steps"]] == [
        ("a", "run", "never run"), ("b", "run", "never run")]


def test_notebook_without_ids_is_upgraded_with_a_notice(tmp_path, monkeypatch):
    monkeypatch.setenv("CELLPIPE_CACHE_DIR", str(tmp_path / "c"))
    raw = {"nbformat": 4, "nbformat_minor": 4, "metadata": {}, "cells": [
        {"cell_type": "code", "source": "x = 1", "metadata": {"cellpipe": {"name": "a"}},
         "outputs": [], "execution_count": None}]}
    path = tmp_path / "old.ipynb"
    path.write_text(json.dumps(raw))
    result = CliRunner().invoke(main, ["plan", str(path)])
    assert result.exit_code == 0, result.output
    assert "upgraded from nbformat 4.4" in result.output and "new id" in result.output


def test_cache_ls_gc_clear(tmp_path, monkeypatch):
    from cellpipe.cache import CacheStore
    from cellpipe.engine import PipelineRunner, PythonExecutor
    from cellpipe.model import pipeline_from_notebook

    monkeypatch.setenv("CELLPIPE_CACHE_DIR", str(tmp_path / "c"))
    runner = PipelineRunner(CacheStore(tmp_path / "c"), PythonExecutor())
    runner.run(pipeline_from_notebook(make_notebook([("data = list(range(5))", "load", [])])), "load")
    runner.run(pipeline_from_notebook(make_notebook([("data = list(range(6))", "load", [])])), "load")
    runner.store.flush()
    (tmp_path / "c" / "tmp" / "leftover").mkdir(parents=True)
    cli = CliRunner()
    listing = cli.invoke(main, ["cache", "ls"])
    assert listing.exit_code == 0 and "2 entries" in listing.output and "data" in listing.output
    gc = cli.invoke(main, ["cache", "gc"])
    assert "removed 1 entries" in gc.output  # the superseded result of 'load'
    assert not (tmp_path / "c" / "tmp").exists()
    assert "1 entries" in cli.invoke(main, ["cache", "ls"]).output
    assert "removed 1 entries" in cli.invoke(main, ["cache", "clear", "--yes"]).output
    assert "0 entries" in cli.invoke(main, ["cache", "ls"]).output


@pytest.mark.kernel
def test_the_demo_notebook_runs(tmp_path):
    demo = os.path.join(os.path.dirname(__file__), "..", "examples", "demo.ipynb")
    out = tmp_path / "demo_out.ipynb"
    proc = cellpipe("run", demo, "-p", "n_rows=300", "-o", out, cache=tmp_path / "c")
    assert proc.returncode == 0, proc.stderr
    assert "best model:" in proc.stdout and "loaded" not in proc.stdout
    ran = {c.id: c for c in nbformat.read(out, 4).cells}
    assert ran["load"].outputs[0]["text"] == "loaded 300 rows\n"
    assert any("image/png" in o.get("data", {}) for o in ran["compare"].outputs)
    assert ran["scratch"].outputs == []


def test_convert_a_link_notebook(tmp_path):
    nb = make_notebook(["import os", "x = 1", "print('plain')"])
    del nb.metadata["cellpipe"]
    a, b = nb.cells[0].id, nb.cells[1].id
    nb.cells[0].metadata["canvas"] = {"id": a, "name": "setup", "isComponent": True, "parents": []}
    nb.cells[1].metadata["canvas"] = {"id": b, "name": "use", "isComponent": True,
                                      "parents": [{"id": a, "name": "setup"}]}
    nb.cells[2].metadata["canvas"] = {"id": nb.cells[2].id, "isComponent": False, "parents": []}
    nb.metadata["canvas"] = {"version": "1.0", "parameters": [
        {"name": "rate", "type": "float", "value": 0.5}]}
    path = write(nb, tmp_path / "link.ipynb")
    out = tmp_path / "converted.ipynb"
    result = CliRunner().invoke(main, ["convert", str(path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 components, 1 edges, 1 parameters" in result.output
    converted = nbformat.read(out, 4)
    assert converted.cells[1].metadata["cellpipe"] == {"name": "use", "parents": [a]}
    assert "canvas" not in converted.cells[1].metadata
    assert converted.metadata["cellpipe"]["parameters"] == {"rate": {"type": "float", "value": 0.5}}
    assert [c.source for c in converted.cells] == [c.source for c in nb.cells]
