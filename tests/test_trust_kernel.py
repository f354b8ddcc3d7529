"""Issue 11 items 1 and 7 in a real kernel: `%cellpipe` fails as a cell fails, and captured
output is recorded as Jupyter records it."""

import json
import os
import subprocess
import sys

import nbformat
import pytest
from kernelutil import plain
from nbutil import make_notebook

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def shared_kernel(tmp_path_factory):
    """One kernel for the tests that only sync and run (each syncs its own notebook)."""
    from kernelutil import kernel_env

    from cellpipe.cli.kernel_driver import PipelineKernel

    tmp = tmp_path_factory.mktemp("trust-kernel")
    with PipelineKernel(cwd=str(tmp), env=kernel_env(tmp / "cache"), timeout=120) as k:
        yield k


def cellpipe(*args, cache):
    env = {**os.environ, "CELLPIPE_CACHE_DIR": str(cache)}
    return subprocess.run([sys.executable, "-m", "cellpipe.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=300, env=env)


@pytest.mark.parametrize("line, ename, message", [
    ("%cellpipe run nope", "UnknownComponentError", "no component named 'nope'"),
    ("%cellpipe run b", "DanglingParentError", "has parent 'gone'"),
    ("%cellpipe plan b", "DanglingParentError", "has parent 'gone'"),
    ("%cellpipe frobnicate", "PipelineError", "invalid choice"),
])
def test_magic_errors_fail_the_cell_in_one_line(shared_kernel, line, ename, message):
    kernel = shared_kernel
    kernel.sync(make_notebook([("x = 1", "a", []), ("y = 2", "b", ["a", "gone"])]))
    run = kernel.execute(line)
    assert run.status == "error" and run.reply["ename"] == ename
    error = run.error
    assert error is not None and message in error["evalue"]
    shown = plain(error["traceback"])
    assert shown[0].startswith(f"{ename}: ")
    assert len(shown) == 1 or shown[1] == "usage:"  # a mistyped magic also shows its usage
    assert "cellpipe/" not in "\n".join(shown)


def test_an_ancestor_that_pauses_gets_two_stream_outputs_as_in_jupyter(shared_kernel):
    kernel = shared_kernel
    code = "import time\nprint('first')\ntime.sleep(0.6)\nprint('second')"
    plain_cell = kernel.execute(code)  # the same code as a plain Jupyter cell
    jupyter = [(o["name"], o["text"]) for o in plain_cell.outputs if o["output_type"] == "stream"]
    assert jupyter == [("stdout", "first\n"), ("stdout", "second\n")]
    kernel.sync(make_notebook([(code, "slow", []), ("z = 1", "child", ["slow"])]))
    assert kernel.run("child").status == "ok"
    captured = kernel.request({"op": "captured", "id": "slow"})["outputs"]
    assert [(o["name"], o["text"]) for o in captured] == jupyter


def test_notices_go_to_the_cli_not_into_the_cells(tmp_path):
    nb = make_notebook([("gen = (i for i in range(3))\nprint('made')", "gen", []),
                        ("print('next', next(gen))", "use", ["gen"])])
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    proc = cellpipe("run", path, "--inplace", cache=tmp_path / "c")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "next 0\n"
    assert "note:" in proc.stderr and "'gen'" in proc.stderr and "not cached" in proc.stderr
    written = nbformat.read(path, 4)
    everything = json.dumps([c.outputs for c in written.cells])
    assert "cannot be pickled" not in everything and "not cached" not in everything
    assert [o["text"] for o in written.cells[1].outputs] == ["next 0\n"]


def test_output_file_shows_the_failing_ancestor_and_drops_stale_outputs(tmp_path):
    nb = make_notebook([
        ("x = 1\nprint('loading')", "load", []),
        ("print('before the error')\nraise ValueError('bad row 7')", "clean", ["load"]),
        ("print('never')", "report", ["clean"]),
        ("print('unrelated')", "other", []),
        "print('plain cell')",
    ])
    stale = nbformat.v4.new_output("stream", name="stdout", text="from last week\n")
    for cell in nb.cells:
        cell.outputs = [stale]
        cell.execution_count = 3
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    out = tmp_path / "out.ipynb"
    proc = cellpipe("run", path, "--target", "report", "-o", out, cache=tmp_path / "c")
    assert proc.returncode == 1
    cells = {c.id: c for c in nbformat.read(out, 4).cells}
    assert [o["text"] for o in cells["load"].outputs] == ["loading\n"]
    failing = cells["clean"].outputs
    assert [o["output_type"] for o in failing] == ["stream", "error"]
    assert failing[0]["text"] == "before the error\n"
    assert failing[1]["ename"] == "ValueError" and failing[1]["evalue"] == "bad row 7"
    own = "\n".join(plain(failing[1]["traceback"]))
    assert "raise ValueError('bad row 7')" in own
    assert "an ancestor of" not in own and "cellpipe/" not in own
    target = cells["report"].outputs
    assert target[-1]["output_type"] == "error" and "an ancestor of 'report'" in "\n".join(
        plain(target[-1]["traceback"]))
    assert "never" not in json.dumps(target)
    assert cells["other"].outputs == [] and cells["cell-4"].outputs == []  # did not run
    assert all(c.execution_count is None for c in cells.values())
