"""Issue 11 items 1, 2, 6 through the CLI: every error exits non-zero with one line that names
the file or component, before any kernel starts; Link notebooks as Link writes them."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner

from cellpipe.cli import main

FIXTURES = Path(__file__).parent / "fixtures"


def cellpipe(*args, cache, cwd=None):
    env = {**os.environ, "CELLPIPE_CACHE_DIR": str(cache)}
    return subprocess.run([sys.executable, "-m", "cellpipe.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=300, env=env, cwd=cwd)


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def error_lines(result):
    return [line for line in result.output.splitlines() if line.strip()]


def code_cell(cid, source, meta=None):
    return {"id": cid, "cell_type": "code", "source": source, "metadata": meta or {},
            "outputs": [], "execution_count": None}


def nb45(cells, metadata=None):
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": metadata or {}, "cells": cells}


BAD_FILES = {
    "non-utf8": (b'{"cells": [], "metadata": {"title": "caf\xe9"}, "nbformat": 4}',
                 "is not valid UTF-8 (byte 0xe9"),
    "empty": (b"", "the file is empty"),
    "blank": (b"  \n", "the file is empty"),
    "cells-not-dicts": (json.dumps(nb45([1, "x"])).encode(), "cell 1 must be an object"),
    "parents-a-string": (json.dumps(nb45([code_cell("a", "x = 1", {"cellpipe": {
        "name": "a", "parents": "b"}})])).encode(), "'parents' must be a list"),
    "source-a-number": (json.dumps(nb45([code_cell("a", 5, {"cellpipe": {
        "name": "a", "parents": []}})])).encode(), "'source' must be text"),
    "source-list-with-number": (json.dumps(nb45([code_cell("a", ["x = 1\n", 2])])).encode(),
                                "a list holding a number"),
    "metadata-a-list": (json.dumps({**nb45([]), "metadata": []}).encode(),
                        "notebook 'metadata' must be an object"),
    "cell-metadata-a-string": (json.dumps(nb45([code_cell("a", "x", "oops")])).encode(),
                               "cell 1: 'metadata' must be an object"),
    "nbformat3-bad-input": (json.dumps({"nbformat": 3, "nbformat_minor": 0, "metadata": {},
                                        "worksheets": [{"cells": [{"cell_type": "code",
                                                                   "input": 7}]}]}).encode(),
                            "'input' must be text"),
    "nbformat3-worksheets-not-list": (json.dumps({"nbformat": 3, "worksheets": {}}).encode(),
                                      "'worksheets' must be a list"),
    "nbformat2": (json.dumps({"nbformat": 2, "cells": []}).encode(), "nbformat 2 is not supported"),
    "not-a-notebook": (b'{"hello": "world"}', "not a Jupyter notebook"),
    "truncated": (b'{"cells": [{"cell_type": "code", "sour', "not valid JSON"),
}


@pytest.mark.parametrize("command", ["run", "plan", "convert"])
@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_files_get_one_line_and_are_left_alone(tmp_path, monkeypatch, case, command):
    monkeypatch.setenv("CELLPIPE_CACHE_DIR", str(tmp_path / "c"))
    content, message = BAD_FILES[case]
    path = tmp_path / "bad.ipynb"
    path.write_bytes(content)
    extra = ["-o", tmp_path / "out.ipynb"] if command in ("run", "convert") else []
    result = invoke(command, path, *extra)
    assert result.exit_code == 1, result.output
    lines = error_lines(result)
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert message in lines[0] and "bad.ipynb" in lines[0]
    assert "Traceback" not in result.output
    assert path.read_bytes() == content  # nothing lost
    assert not (tmp_path / "out.ipynb").exists()
    assert not (tmp_path / "c").exists()  # nothing started


def test_a_well_formed_nbformat3_notebook_is_read(tmp_path, monkeypatch):
    monkeypatch.setenv("CELLPIPE_CACHE_DIR", str(tmp_path / "c"))
    v3 = {"nbformat": 3, "nbformat_minor": 0, "metadata": {"name": "old"}, "worksheets": [
        {"metadata": {}, "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": "# old"},
            {"cell_type": "code", "language": "python", "collapsed": False, "input": "x = 1",
             "metadata": {"cellpipe": {"name": "first", "parents": []}}, "outputs": [],
             "prompt_number": 1}]}]}
    path = tmp_path / "v3.ipynb"
    path.write_text(json.dumps(v3))
    result = invoke("plan", path, "--json")
    assert result.exit_code == 0, result.output
    assert "upgraded from nbformat 3.0" in result.output
    assert '"name": "first"' in result.output


# --- item 1: structural problems stop `run` before a kernel starts ------------------------

def _marker_notebook(tmp_path, extra_cells):
    """A healthy component that leaves a marker file when it runs, plus extra_cells."""
    marker = tmp_path / "ran.txt"
    ok = code_cell("ok", f"open({str(marker)!r}, 'w').write('ran')",
                   {"cellpipe": {"name": "ok", "parents": []}})
    return nb45([ok, *extra_cells]), marker


def _component(cid, name, parents, source="x = 1"):
    return code_cell(cid, source, {"cellpipe": {"name": name, "parents": parents}})


STRUCTURE = {
    "dangling": ([_component("b", "b", ["gone"])],
                 "component 'b' has parent 'gone', which is not a component"),
    "markdown-parent": ([{"id": "md", "cell_type": "markdown", "source": "# x", "metadata": {}},
                         _component("b", "b", ["md"])],
                        "parent 'md', which is a markdown cell"),
    "plain-code-parent": ([code_cell("plain", "y = 2"), _component("b", "b", ["plain"])],
                          "parent 'plain', which is a code cell that is not a component"),
    "cycle": ([_component("p", "p", ["q"]), _component("q", "q", ["p"]),
               _component("r", "r", ["q"])], "cycle: p -> q -> p"),
    "duplicate-names": ([_component("d1", "same", []), _component("d2", "same", [])],
                        "2 components are named 'same' (cells d1, d2)"),
}


@pytest.mark.parametrize("case", sorted(STRUCTURE))
def test_structural_problems_fail_run_before_any_code_runs(tmp_path, monkeypatch, case):
    monkeypatch.setenv("CELLPIPE_CACHE_DIR", str(tmp_path / "c"))
    cells, message = STRUCTURE[case]
    raw, marker = _marker_notebook(tmp_path, cells)
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(raw))
    for command in ("run", "plan"):
        result = invoke(command, path)
        assert result.exit_code == 1, (command, result.output)
        assert message in result.output
        assert "Traceback" not in result.output
    assert not marker.exists()  # no kernel ran the healthy component


def test_duplicate_names_fail_even_with_another_target(tmp_path, monkeypatch):
    monkeypatch.setenv("CELLPIPE_CACHE_DIR", str(tmp_path / "c"))
    raw, marker = _marker_notebook(tmp_path, STRUCTURE["duplicate-names"][0])
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(raw))
    result = invoke("run", path, "--target", "ok")
    assert result.exit_code == 1 and "cells d1, d2" in result.output
    assert not marker.exists()


def test_a_cycle_with_no_sink_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("CELLPIPE_CACHE_DIR", str(tmp_path / "c"))
    raw = nb45([_component("p", "p", ["q"]), _component("q", "q", ["p"])])
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(raw))
    for command in ("run", "plan"):
        result = invoke(command, path)
        assert result.exit_code == 1
        assert "no sink to run" in result.output and "p -> q -> p" in result.output


def test_unknown_target_and_parameter_fail(tmp_path, monkeypatch):
    monkeypatch.setenv("CELLPIPE_CACHE_DIR", str(tmp_path / "c"))
    raw, marker = _marker_notebook(tmp_path, [])
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(raw))
    unknown = invoke("run", path, "--target", "nope")
    assert unknown.exit_code == 1 and "no component named 'nope'" in unknown.output
    param = invoke("run", path, "-p", "nope=1")
    assert param.exit_code == 1 and "unknown parameter 'nope'" in param.output
    assert not marker.exists()


@pytest.mark.kernel
def test_a_problem_outside_the_targets_ancestry_is_a_warning(tmp_path):
    raw, marker = _marker_notebook(tmp_path, [_component("b", "b", ["gone"])])
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(raw))
    proc = cellpipe("run", path, "--target", "ok", cache=tmp_path / "c")
    assert proc.returncode == 0, proc.stderr
    assert "warning:" in proc.stderr and "'gone'" in proc.stderr
    assert marker.read_text() == "ran"
    failing = cellpipe("run", path, "--target", "b", cache=tmp_path / "c")
    assert failing.returncode == 1 and "parent 'gone'" in failing.stderr


# --- item 6: Link notebooks as Link writes them --------------------------------------------

def test_link_edges_follow_canvas_ids(tmp_path, monkeypatch):
    monkeypatch.setenv("CELLPIPE_CACHE_DIR", str(tmp_path / "c"))
    result = invoke("plan", FIXTURES / "link_nbformat45.ipynb", "--json")
    assert result.exit_code == 0, result.output
    plans = json.loads(result.output[result.output.index("["):])
    assert [[(s["id"], s["name"]) for s in p["steps"]] for p in plans] == [
        [("5c1f0a2e", "load data"), ("9a7d44b1", "scale"), ("71be2c08", "train")]]


def test_old_link_notebooks_without_cell_ids_use_canvas_ids(tmp_path, monkeypatch):
    monkeypatch.setenv("CELLPIPE_CACHE_DIR", str(tmp_path / "c"))
    result = invoke("plan", FIXTURES / "link_nbformat44.ipynb", "--json")
    assert result.exit_code == 0, result.output
    plans = json.loads(result.output[result.output.index("["):])
    assert [(s["id"], s["name"]) for s in plans[0]["steps"]] == [
        ("4d9b1a60-2f0c-4e38-a6c1-91a0d6e3f001", "make data"),
        ("b83e6c2d-91f4-4d07-b5a2-0c7e1f9d3002", "report")]


def test_convert_maps_canvas_ids_types_parameters_and_strips_canvas(tmp_path):
    source = FIXTURES / "link_nbformat45.ipynb"
    before = source.read_bytes()
    out = tmp_path / "converted.ipynb"
    result = invoke("convert", source, "-o", out)
    assert result.exit_code == 0, result.output
    assert "3 components, 3 edges, 3 parameters" in result.output
    assert source.read_bytes() == before
    raw = json.loads(out.read_text())
    by_id = {c["id"]: c for c in raw["cells"]}
    assert by_id["9a7d44b1"]["metadata"] == {"cellpipe": {"name": "scale",
                                                          "parents": ["5c1f0a2e"]}}
    assert by_id["71be2c08"]["metadata"]["cellpipe"]["parents"] == ["5c1f0a2e", "9a7d44b1"]
    assert all("canvas" not in c["metadata"] for c in raw["cells"])
    assert "cellpipe" not in by_id["d04e7b63"]["metadata"]  # isComponent: false
    assert "canvas" not in raw["metadata"]
    assert raw["metadata"]["cellpipe"]["parameters"] == {
        "ratio": {"type": "float", "value": 0.3}, "seed": {"type": "int", "value": 42},
        "lr": {"type": "float", "value": 0.001}}
    assert [c["source"] for c in raw["cells"]] == [
        c["source"] for c in json.loads(before)["cells"]]
    nbformat.validate(nbformat.reads(out.read_text(), 4))


def test_convert_an_old_link_notebook_keeps_its_canvas_ids_as_cell_ids(tmp_path):
    out = tmp_path / "converted.ipynb"
    result = invoke("convert", FIXTURES / "link_nbformat44.ipynb", "-o", out)
    assert result.exit_code == 0, result.output
    cells = json.loads(out.read_text())["cells"]
    assert cells[2]["id"] == "b83e6c2d-91f4-4d07-b5a2-0c7e1f9d3002"
    assert cells[2]["metadata"]["cellpipe"]["parents"] == ["4d9b1a60-2f0c-4e38-a6c1-91a0d6e3f001"]
    again = invoke("convert", out, "-o", tmp_path / "twice.ipynb")  # converting is idempotent
    assert again.exit_code == 0
    twice = json.loads((tmp_path / "twice.ipynb").read_text())["cells"]
    assert [c["metadata"] for c in twice] == [c["metadata"] for c in cells]


def test_convert_refuses_a_link_notebook_with_broken_parents(tmp_path):
    raw = json.loads((FIXTURES / "link_nbformat45.ipynb").read_text())
    raw["cells"][2]["metadata"]["canvas"]["parents"][0]["id"] = "not-a-canvas-id"
    path = tmp_path / "broken.ipynb"
    path.write_text(json.dumps(raw))
    before = path.read_bytes()
    result = invoke("convert", path)
    assert result.exit_code == 1
    assert "cannot convert" in result.output and "'not-a-canvas-id'" in result.output
    assert path.read_bytes() == before


@pytest.mark.kernel
def test_run_an_old_link_notebook_with_string_parameters(tmp_path):
    path = tmp_path / "link.ipynb"
    shutil.copy(FIXTURES / "link_nbformat44.ipynb", path)
    proc = cellpipe("run", path, cache=tmp_path / "c")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "total 3.0 3\n"  # 6 * 0.5 and int 3: values typed from "0.5", "3"
    proc = cellpipe("run", path, "-p", "threshold=1e-3", cache=tmp_path / "c")
    assert proc.returncode == 0 and proc.stdout == "total 0.006 3\n"
