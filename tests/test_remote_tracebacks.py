"""A remote component's error reads exactly as the same error run locally: through a real
kernel's error message (`%cellpipe run`) and through `cellpipe run`'s stderr, on the
`local` alias and on an RQ worker (a real redis-server)."""

import os
import re
import subprocess
import sys

import nbformat
import pytest
from kernelutil import kernel_env
from processes import start_worker, stop
from remoteutil import pipe_with_workers

from cellpipe.cli.kernel_driver import PipelineKernel
from cellpipe.remote import WorkerRegistry, WorkerSpec

ANSI = re.compile(r"\x1b\[[0-9;]*m")

# `tools` (always local) defines a function; `direct` fails in its own code, `nested` in a
# function it defines, called from another one it defines, which calls the ancestor's
CELLS = [
    ("def ratio(a, b):\n    scale = a\n    return scale / b\n", "tools", []),
    ("n = 3\nm = n - 3\nvalue = n / m\n", "direct", ["tools"]),
    ("def inner(v):\n    w = v - v\n    return ratio(v, w)\n\n"
     "def outer(v):\n    return inner(v) + 1\n\nresult = outer(2)\n", "nested", ["tools"]),
]


@pytest.fixture(scope="module")
def setup(tmp_path_factory, redis_server):
    """A registry with alias 'tbw' (one `cellpipe worker` on the session's Redis), seen by a
    real kernel and by `cellpipe run`; all stopped afterwards."""
    root = tmp_path_factory.mktemp("tb")
    env = {**os.environ, "CELLPIPE_CONFIG_DIR": str(root / "config"),
           "CELLPIPE_CACHE_DIR": str(root / "cache")}
    saved = os.environ.get("CELLPIPE_CONFIG_DIR")
    os.environ["CELLPIPE_CONFIG_DIR"] = env["CELLPIPE_CONFIG_DIR"]
    try:
        store = (root / "store-tbw").as_uri()
        WorkerRegistry().add(WorkerSpec("tbw", redis_server.url, store, {"timeout": 120}))
    finally:
        if saved is None:
            del os.environ["CELLPIPE_CONFIG_DIR"]
        else:
            os.environ["CELLPIPE_CONFIG_DIR"] = saved
    worker = start_worker("tbw", redis_server.url, store, env=env, log=root / "tbw.log")
    kenv = {**kernel_env(root / "kcache"), "CELLPIPE_CONFIG_DIR": env["CELLPIPE_CONFIG_DIR"]}
    try:
        with PipelineKernel(cwd=str(root), env=kenv, timeout=120) as kernel:
            yield root, env, kernel
    finally:
        stop(worker)


def error_of(kernel, target, worker, workers=None):
    """The error message of `%cellpipe run target` with target bound to worker (or local)
    and the others as workers says, without colours; and the In[N] of the target."""
    _, nb = pipe_with_workers(CELLS, {**(workers or {}), **({target: worker} if worker else {})})
    assert kernel.sync(nb).get("op") != "error"
    execution = kernel.run(target, force=True)
    errors = [m["content"] for m in execution.messages if m["msg_type"] == "error"]
    assert len(errors) == 1, execution.outputs
    content = errors[0]
    text = ANSI.sub("", "\n".join(content["traceback"]))
    label = re.search(r"Cell In\[(\d+)\], line", text)
    assert label is not None, text  # the target, labelled as its cell
    return content["ename"], content["evalue"], text, label.group(1)


@pytest.mark.parametrize("target, ename, lines", [
    ("direct", "ZeroDivisionError", ["----> 3 value = n / m"]),
    ("nested", "ZeroDivisionError", ["----> 8 result = outer(2)", "----> 6     return inner(v) + 1",
                                     "----> 3     return ratio(v, w)",
                                     "----> 3     return scale / b"]),
])
def test_a_remote_error_in_the_kernel_reads_as_the_local_one(setup, target, ename, lines):
    _root, _env, kernel = setup
    here = error_of(kernel, target, None)
    assert here[0] == ename and here[1] == "division by zero"
    for line in lines:  # IPython's formatter, with the component's source lines
        assert line in here[2]
    if target == "nested":  # the ancestor's function keeps its cell's label
        assert "Cell In[tools], line 3" in here[2]
    assert "cellpipe" not in here[2] and "<component" not in here[2]  # user frames only
    for worker in ("local", "tbw"):
        there = error_of(kernel, target, worker)
        assert there[:2] == here[:2]
        # the same text; only the cell's own In[N] differs, as between any two runs
        assert there[2] == here[2].replace(f"In[{here[3]}]", f"In[{there[3]}]"), (worker, here[2], there[2])


def test_a_remote_error_on_cellpipe_run_stderr_reads_as_the_local_one(setup):
    root, env, _kernel = setup
    texts = {}
    # a fresh kernel each time: with both on a worker, `tools` never ran in it
    for worker, both in ((None, False), ("local", False), ("tbw", False), ("local", True),
                         ("tbw", True)):
        bound = {"nested": worker, **({"tools": worker} if both else {})} if worker else {}
        _, nb = pipe_with_workers(CELLS, bound)
        path = root / f"nb-{worker}-{both}.ipynb"
        nbformat.write(nb, str(path))
        r = subprocess.run([sys.executable, "-m", "cellpipe.cli", "run", str(path),
                            "-t", "nested", "--no-cache"], env=env, capture_output=True,
                           text=True, timeout=180)
        assert r.returncode == 1, r.stderr
        start = r.stderr.index("ZeroDivisionError")
        texts[worker, both] = r.stderr[start:r.stderr.index("division by zero", start) + 16]
    here = texts.pop((None, False))
    assert "----> 3     return scale / b" in here and "Cell In[tools], line 3" in here
    for (worker, both), text in texts.items():
        assert text == here, (worker, both)


def test_a_function_from_a_remote_ancestor_reads_as_from_a_local_one(setup):
    """`tools` ran on a worker too: its function's frame is labelled and shows its source
    lines as when it ran in the kernel."""
    _root, _env, kernel = setup
    here = error_of(kernel, "nested", None)
    for worker in ("local", "tbw"):
        there = error_of(kernel, "nested", worker, {"tools": worker})
        assert "Cell In[tools], line 3, in ratio(a, b)" in there[2]
        assert there[2] == here[2].replace(f"In[{here[3]}]", f"In[{there[3]}]"), worker
