"""`cellpipe run` takes one path: the notebook is read once, each target planned once (by
the kernel, from the protocol's run request), with the parameters as typed values."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections import Counter

import nbformat
from nbutil import make_notebook

# imported into the CLI and the kernel (sitecustomize, on PYTHONPATH): each function named
# here is wrapped, as its module is loaded and before anyone imports it by name, to append
# one line per call to $CELLPIPE_TEST_CALLS
COUNTING = textwrap.dedent('''
    import functools, importlib.abc, importlib.util, os, sys

    COUNTED = {"cellpipe.engine.plan": ["plan_run"],
               "cellpipe.model.notebook": ["read_notebook", "pipeline_from_notebook"]}

    def _wrap(module, name):
        original = getattr(module, name)

        @functools.wraps(original)
        def counted(*args, **kwargs):
            with open(os.environ["CELLPIPE_TEST_CALLS"], "a") as f:
                f.write(f"{name} {os.getpid()}\\n")
            return original(*args, **kwargs)

        setattr(module, name, counted)

    class _Finder(importlib.abc.MetaPathFinder):
        def find_spec(self, fullname, path, target=None):
            if fullname not in COUNTED:
                return None
            sys.meta_path.remove(self)
            try:
                spec = importlib.util.find_spec(fullname)
            finally:
                sys.meta_path.insert(0, self)
            run = spec.loader.exec_module

            def exec_module(module):
                run(module)
                for name in COUNTED[fullname]:
                    _wrap(module, name)

            spec.loader.exec_module = exec_module
            return spec

    sys.meta_path.insert(0, _Finder())
''')


def test_a_ten_component_chain_is_read_once_and_planned_once(tmp_path):
    cells = [("x = lr", "c0", [])] + [(f"x = x + 1  # {i}", f"c{i}", [f"c{i - 1}"])
                                      for i in range(1, 10)]
    cells[-1] = ("print(type(x).__name__, x)", "c9", ["c8"])
    nb = make_notebook(cells, parameters={"lr": {"type": "float", "value": 0.5}})
    path = tmp_path / "chain.ipynb"
    nbformat.write(nb, str(path))
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(COUNTING)
    calls = tmp_path / "calls.txt"
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site"), "CELLPIPE_TEST_CALLS": str(calls),
           "CELLPIPE_CACHE_DIR": str(tmp_path / "cache"),
           "CELLPIPE_CONFIG_DIR": str(tmp_path / "config")}
    r = subprocess.run([sys.executable, "-m", "cellpipe.cli", "run", str(path), "-p", "lr=2"],
                       env=env, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    assert "float 10.0" in r.stdout  # lr reached the kernel typed (2 -> 2.0), plus 8
    lines = [line.split() for line in calls.read_text().splitlines()]
    counts = Counter(name for name, _pid in lines)
    assert counts["read_notebook"] == 1 and counts["plan_run"] == 1, counts
    pids = {name: pid for name, pid in lines}
    assert pids["read_notebook"] != pids["plan_run"]  # the CLI reads, the kernel plans
    # the pipeline is built once in each process: the CLI's for its checks, the kernel's
    # from the synced cells (as from JupyterLab's)
    assert counts["pipeline_from_notebook"] == 2, counts
