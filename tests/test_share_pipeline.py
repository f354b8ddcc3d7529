"""Pipeline JSON (DESIGN 3.2): `cellpipe export|import` as a user types them."""

import json
import os
import subprocess
import sys

import nbformat
import pytest
from click.testing import CliRunner
from nbutil import make_notebook

from cellpipe.cli import main


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def write(nb, path):
    nbformat.write(nb, path)
    return path


def error_line(result):
    """The one line a failed command printed (click's 'Error: ...')."""
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1, result.output
    return lines[0]


def pipeline_nb():
    return make_notebook([
        ("import json\nrows = [1, 2, 3]\nprint('loaded', len(rows))", "load", []),
        "# a plain cell: not exported",
        ("scale = [r * factor for r in rows]", "scale", ["load"]),
        ("total = sum(rows)", "count", ["load"]),
        ("print('report', scale, total)", "report", ["scale", "count"]),
    ], parameters={"factor": {"type": "int", "value": 3}})


# The format as DESIGN 3.2 describes it, written by hand (not by our writer).
EXPECTED = {
    "components": [
        {"code": "import json\nrows = [1, 2, 3]\nprint('loaded', len(rows))", "id": "load",
         "name": "load", "parents": []},
        {"code": "scale = [r * factor for r in rows]", "id": "scale", "name": "scale",
         "parents": ["load"]},
        {"code": "total = sum(rows)", "id": "count", "name": "count", "parents": ["load"]},
        {"code": "print('report', scale, total)", "id": "report", "name": "report",
         "parents": ["count", "scale"]},
    ],
    "format": "cellpipe.pipeline",
    "parameters": {"factor": {"type": "int", "value": 3}},
    "version": 1,
}


def test_export_is_the_documented_format_in_notebook_order_with_sorted_keys(tmp_path):
    nb = write(pipeline_nb(), tmp_path / "nb.ipynb")
    result = cli("export", nb)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == EXPECTED
    assert result.output == json.dumps(EXPECTED, sort_keys=True, indent=2) + "\n"


def test_export_subset_keeps_only_inside_edges_and_with_ancestors_adds_them(tmp_path):
    nb = write(pipeline_nb(), tmp_path / "nb.ipynb")
    out = tmp_path / "p.json"
    assert cli("export", nb, "--components", "report,scale", "-o", out).exit_code == 0
    doc = json.loads(out.read_text())
    assert [(c["id"], c["parents"]) for c in doc["components"]] == [
        ("scale", []), ("report", ["scale"])]
    result = cli("export", nb, "-c", "report", "--with-ancestors")
    doc = json.loads(result.output)
    assert [(c["id"], c["parents"]) for c in doc["components"]] == [
        (c["id"], c["parents"]) for c in EXPECTED["components"]]
    bad = cli("export", nb, "-c", "nope")
    assert bad.exit_code == 1 and "no component named 'nope'" in error_line(bad)


def test_round_trip_export_import_export_is_byte_identical(tmp_path):
    nb = pipeline_nb()
    nb.cells[2].metadata["cellpipe"]["worker"] = "gpu-box"
    path = write(nb, tmp_path / "nb.ipynb")
    first = tmp_path / "first.json"
    assert cli("export", path, "-o", first).exit_code == 0
    imported = tmp_path / "copy.ipynb"
    result = cli("import", first, "-o", imported)
    assert result.exit_code == 0, result.output
    second = tmp_path / "second.json"
    assert cli("export", imported, "-o", second).exit_code == 0
    assert second.read_bytes() == first.read_bytes()
    copy = nbformat.read(imported, 4)
    nbformat.validate(copy)
    assert [c.id for c in copy.cells] == ["load", "scale", "count", "report"]
    assert copy.cells[1].metadata["cellpipe"] == {"name": "scale", "parents": ["load"],
                                                  "worker": "gpu-box"}


def test_import_as_new_notebook_refuses_to_overwrite_a_file(tmp_path, monkeypatch):
    (tmp_path / "p.json").write_text(json.dumps(EXPECTED))
    (tmp_path / "p.ipynb").write_text("precious")
    monkeypatch.chdir(tmp_path)
    result = cli("import", "p.json")
    assert result.exit_code == 1 and "p.ipynb exists" in error_line(result)
    assert (tmp_path / "p.ipynb").read_text() == "precious"


def test_import_into_a_notebook_remaps_ids_renames_and_keeps_edges(tmp_path):
    target = write(pipeline_nb(), tmp_path / "target.ipynb")
    before = nbformat.read(target, 4)
    (tmp_path / "p.json").write_text(json.dumps(EXPECTED))
    result = cli("import", tmp_path / "p.json", "--into", target)
    assert result.exit_code == 0, result.output
    assert "'load' imported as 'load (2)'" in result.output
    after = nbformat.read(target, 4)
    assert [c.source for c in after.cells[:5]] == [c.source for c in before.cells]  # kept
    added = after.cells[5:]
    assert [c.metadata["cellpipe"]["name"] for c in added] == [
        "load (2)", "scale (2)", "count (2)", "report (2)"]
    ids = [c.id for c in added]
    assert len(set(ids) | {c.id for c in before.cells}) == 9  # every id unique
    new = dict(zip(["load", "scale", "count", "report"], ids, strict=True))
    assert added[3].metadata["cellpipe"]["parents"] == sorted([new["scale"], new["count"]])
    assert added[1].metadata["cellpipe"]["parents"] == [new["load"]]
    # the notebook still reads as a valid pipeline with eight components
    assert cli("plan", target, "--json").exit_code == 0


def test_parameters_merge_and_a_clash_is_an_error_unless_overwrite(tmp_path, monkeypatch):
    monkeypatch.setenv("CELLPIPE_CACHE_DIR", str(tmp_path / "c"))
    nb = make_notebook([("y = 1", "other", [])], parameters={
        "factor": {"type": "int", "value": 5}, "keep": {"type": "str", "value": "me"}})
    target = write(nb, tmp_path / "t.ipynb")
    original = target.read_bytes()
    (tmp_path / "p.json").write_text(json.dumps(EXPECTED))
    result = cli("import", tmp_path / "p.json", "--into", target)
    assert result.exit_code == 1
    line = error_line(result)
    assert "parameter 'factor'" in line and "--overwrite-params" in line
    assert target.read_bytes() == original  # nothing written
    result = cli("import", tmp_path / "p.json", "--into", target, "--overwrite-params")
    assert result.exit_code == 0, result.output
    params = nbformat.read(target, 4).metadata["cellpipe"]["parameters"]
    assert params == {"factor": {"type": "int", "value": 3}, "keep": {"type": "str", "value": "me"}}
    # the same value is no clash
    same = write(make_notebook([("y = 1", "x", [])],
                               parameters={"factor": {"type": "int", "value": 3}}),
                 tmp_path / "same.ipynb")
    assert cli("import", tmp_path / "p.json", "--into", same).exit_code == 0


def _doc(**changes):
    doc = json.loads(json.dumps(EXPECTED))
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = doc
        for p in parents:
            node = node[int(p)] if p.isdigit() else node[p]
        if value is DELETE:
            del node[int(last) if last.isdigit() else last]
        else:
            node[int(last) if last.isdigit() else last] = value
    return doc


DELETE = object()


@pytest.mark.parametrize("doc, where, says", [
    (_doc(components__1__parents=["load", "../etc"]), "components[1].parents[1]",
     "does not match"),
    (_doc(components__2__name=""), "components[2].name", "should be non-empty"),
    (_doc(components__0__code=DELETE), "components[0]", "'code' is a required property"),
    (_doc(components__0__parent=[]), "components[0]", "'parent' was unexpected"),
    (_doc(parameters__factor__type="integer"), "parameters.factor.type", "is not one of"),
    (_doc(parameters__factor__value="many"), "parameters.factor.value", "expects int"),
    (_doc(components__3__parents=["ghost"]), "components[3].parents[0]",
     "'ghost' is not the id of a component"),
    (_doc(components__2__id="scale"), "components[2].id", "also the id of components[1]"),
    (_doc(components__3__name="load"), "components[3].name", "also the name of components[0]"),
    (_doc(components__0__parents=["report"]), "components", "cycle"),
    (_doc(components="none"), "components", "is not of type 'array'"),
])
def test_schema_violations_are_one_line_errors_naming_the_field(tmp_path, doc, where, says):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    result = cli("import", path, "-o", tmp_path / "out.ipynb")
    assert result.exit_code == 1
    line = error_line(result)
    assert f"{path}: {where}" in line and says in line, line
    assert not (tmp_path / "out.ipynb").exists()


def test_future_version_notebook_and_garbage_are_clear_errors_in_a_real_process(tmp_path):
    future = tmp_path / "future.json"
    future.write_text(json.dumps({**EXPECTED, "version": 2, "new_field": {}}))
    notebook = write(pipeline_nb(), tmp_path / "nb.ipynb")
    garbage = tmp_path / "garbage.json"
    garbage.write_text('{"format": "cellpipe.pipeline", ')
    other = tmp_path / "other.json"
    other.write_text('{"hello": 1}')
    cases = [
        (future, "version 2 was written by a newer cellpipe; this one reads version 1"),
        (notebook, "is a Jupyter notebook, not a pipeline JSON"),
        (garbage, "not valid JSON (line 1"),
        (other, "not a cellpipe pipeline JSON"),
    ]
    for path, says in cases:
        proc = subprocess.run([sys.executable, "-m", "cellpipe.cli", "import", str(path),
                               "-o", str(tmp_path / "out.ipynb")],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 1, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and says in lines[0] and str(path) in lines[0], proc.stderr
        assert not (tmp_path / "out.ipynb").exists()


@pytest.mark.kernel
def test_pipeline_imported_into_another_notebook_runs_with_the_same_outputs(tmp_path):
    src = write(pipeline_nb(), tmp_path / "src.ipynb")
    other = make_notebook([("print('unrelated')", "load", [])])
    dst = write(other, tmp_path / "dst.ipynb")
    exported = tmp_path / "p.json"
    assert cli("export", src, "-o", exported).exit_code == 0
    assert cli("import", exported, "--into", dst).exit_code == 0
    def run(path, target):  # a cache per notebook: the imported pipeline really runs
        env = {**os.environ, "CELLPIPE_CACHE_DIR": str(path.with_suffix(".cache"))}
        return subprocess.run([sys.executable, "-m", "cellpipe.cli", "run", str(path),
                               "--target", target, "-o", str(path.with_suffix(".out.ipynb"))],
                              capture_output=True, text=True, timeout=300, env=env)

    original = run(src, "report")
    assert original.returncode == 0, original.stderr
    assert original.stdout == "report [3, 6, 9] 6\n"
    imported = run(dst, "report")
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout == original.stdout
    assert "cached" not in imported.stderr  # it ran, in its own cache
    # captured ancestor output matches too (written back into the imported cells)
    out = nbformat.read(dst.with_suffix(".out.ipynb"), 4)
    load_copy = next(c for c in out.cells if c.metadata.get("cellpipe", {}).get("name")
                     == "load (2)")
    assert load_copy.outputs[0]["text"] == "loaded 3\n"


def test_a_part_with_a_cycle_or_duplicate_names_is_not_exported(tmp_path):
    cyc = write(make_notebook([("x = 1", "a", ["b"]), ("y = 1", "b", ["a"]), ("z = 1", "c", [])]),
                tmp_path / "cyc.ipynb")
    result = cli("export", cyc, "-o", tmp_path / "p.json")
    assert result.exit_code == 1 and "cycle: a -> b -> a" in error_line(result)
    assert not (tmp_path / "p.json").exists()
    ok = cli("export", cyc, "-c", "c")  # the part without the cycle is fine
    assert ok.exit_code == 0 and [c["id"] for c in json.loads(ok.output)["components"]] == ["c"]
