"""`cellpipe export --format kfp`: KFP v2 DSL compiled by the kfp SDK, run with kfp.local."""

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner
from nbutil import make_notebook

from cellpipe.cli import main

kfp = pytest.importorskip("kfp")

DEMO = Path(__file__).parent.parent / "examples" / "demo.ipynb"

# kfp.local in a process of its own (its session is global): SubprocessRunner in this
# environment, the parameters as JSON, the pipeline's outputs (sink keys) printed as JSON
RUN_LOCAL = """
import importlib.util, json, sys
from kfp import local
local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=sys.argv[2])
spec = importlib.util.spec_from_file_location("exported", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
task = module.pipeline(**json.loads(sys.argv[3]))
print("SINKS=" + json.dumps(dict(task.outputs)))
"""


def export(*args):
    return CliRunner().invoke(main, ["export", *map(str, args)], catch_exceptions=False)


def run_local(directory, tmp_path, **params):
    env = {**os.environ, "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-c", RUN_LOCAL, str(directory / "pipeline.py"),
                           str(tmp_path / "kfp-outputs"), json.dumps(params)],
                          capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)


def shown(entry):
    """What `cellpipe run` prints for a result's outputs (streams, then text/plain)."""
    text = ""
    for out in entry.outputs:
        if out["output_type"] == "stream" and out["name"] == "stdout":
            text += out["text"]
        elif out["output_type"] in ("execute_result", "display_data"):
            text += out["data"]["text/plain"] + "\n"
    return text


@pytest.mark.kernel
def test_the_demo_compiles_and_kfp_local_gives_cellpipe_runs_result(tmp_path):
    from cellpipe.engine.plan import compute_keys
    from cellpipe.model import read_pipeline
    from cellpipe.remote import DataStore

    out, store = tmp_path / "kfp", (tmp_path / "store").as_uri()
    result = export(DEMO, "--format", "kfp", "-o", out, "--store", store, "--image", "python:3.11")
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} == {"pipeline.py", "pipeline.yaml"}
    spec = (out / "pipeline.yaml").read_text()
    assert "name: demo" in spec and "parameterType: NUMBER_INTEGER" in spec
    assert "from cellpipe.remote.pipeline_step import run_step" in spec

    ran = run_local(out, tmp_path, n_rows=300)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    key = json.loads(ran.stdout.split("SINKS=")[1])["compare"]
    # the key cellpipe itself gives compare with that parameter: a store shared with
    # workers and notebooks holds the same entries
    _, pipeline, _ = read_pipeline(DEMO)
    keys = compute_keys(pipeline, pipeline.ids, pipeline.parameter_values({"n_rows": "300"}))
    assert key == keys["compare"]
    env = {**os.environ, "CELLPIPE_CACHE_DIR": str(tmp_path / "c"), "MPLBACKEND": "Agg"}
    cli = subprocess.run([sys.executable, "-m", "cellpipe.cli", "run", str(DEMO), "-t", "compare",
                          "-p", "n_rows=300"], capture_output=True, text=True, env=env,
                         timeout=300)
    assert cli.returncode == 0, cli.stderr
    assert shown(DataStore(store).get(key)) == cli.stdout
    assert "best model:" in cli.stdout


def test_a_failing_step_fails_the_run_with_the_users_error(tmp_path):
    nb = make_notebook([
        ("def ratio(a, b):\n    return a / b\nx = 1", "setup", []),
        ("print('dividing by', d)\ny = ratio(x, d)", "divide", ["setup"]),
        ("print('never', y)", "after", ["divide"]),
    ], parameters={"d": {"type": "int", "value": 1}})
    nbformat.write(nb, tmp_path / "nb.ipynb")
    out = tmp_path / "kfp"
    result = export(tmp_path / "nb.ipynb", "--format", "kfp", "-o", out, "--image", "python:3.11")
    assert result.exit_code == 0, result.output
    ran = run_local(out, tmp_path, d=0)
    assert ran.returncode != 0
    log = ran.stdout + ran.stderr
    assert "dividing by 0" in log
    assert "y = ratio(x, d)" in log and "return a / b" in log
    assert "ZeroDivisionError: division by zero" in log
    assert "component 'divide' failed: ZeroDivisionError: division by zero" in log
    assert "Inner task failed" in log and "never" not in log
    ok = run_local(out, tmp_path, d=2)  # the default store, in the export directory
    assert ok.returncode == 0, ok.stderr
    assert "never 0.5" in ok.stdout + ok.stderr


def test_gpus_come_from_the_worker_alias_and_parameters_are_typed(tmp_path, monkeypatch):
    from cellpipe.remote import WorkerRegistry, WorkerSpec

    monkeypatch.setenv("CELLPIPE_CONFIG_DIR", str(tmp_path / "config"))
    WorkerRegistry().add(WorkerSpec("gpu-box", "ray://127.0.0.1:10001", "file:///tmp/s",
                                    {"num_gpus": 2.0}))
    nb = make_notebook([("x = lr * 2", "prep", []), ("y = x + len(sizes)", "train", ["prep"])],
                       parameters={"lr": {"type": "float", "value": 0.1},
                                   "sizes": {"type": "json", "value": [1, 2]}})
    nb.cells[1].metadata["cellpipe"]["worker"] = "gpu-box"
    nbformat.write(nb, tmp_path / "nb.ipynb")
    out = tmp_path / "kfp"
    result = export(tmp_path / "nb.ipynb", "--format", "kfp", "-o", out, "-p", "lr=0.5")
    assert result.exit_code == 0, result.output
    source = (out / "pipeline.py").read_text()
    assert "lr: float = 0.5" in source and "sizes: str = '[1, 2]'" in source
    assert "PACKAGES = [" in source and "'cellpipe==" in source  # no --image: pip installs
    spec = (out / "pipeline.yaml").read_text()
    assert "accelerator:" in spec and "type: nvidia.com/gpu" in spec
    assert spec.count("accelerator:") == 1 and "count: '2'" in spec  # train's step only


def test_without_the_sdk_it_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "kfp", None)
    nbformat.write(make_notebook([("x = 1", "a", [])]), tmp_path / "nb.ipynb")
    result = export(tmp_path / "nb.ipynb", "--format", "kfp", "-o", tmp_path / "kfp")
    assert result.exit_code == 1
    assert "pip install 'cellpipe[kfp]'" in result.output
    assert not (tmp_path / "kfp").exists()


def test_a_broken_pipeline_writes_nothing(tmp_path):
    nbformat.write(make_notebook([("x = 1", "a", ["gone"])]), tmp_path / "nb.ipynb")
    result = export(tmp_path / "nb.ipynb", "--format", "kfp", "-o", tmp_path / "kfp")
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert result.exit_code == 1 and len(lines) == 1 and "not a component" in lines[0]
    assert not (tmp_path / "kfp").exists()
