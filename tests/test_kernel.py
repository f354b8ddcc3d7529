"""The kernel side with a real ipykernel over jupyter_client: what the client receives."""

import threading
import time

import pytest
from kernelutil import event_statuses, plain, streams
from nbutil import make_notebook

pytestmark = pytest.mark.kernel


def three_level(log: str, b_code: str = "y = x + [2]"):
    def logged(name, code):
        return f"open({log!r}, 'a').write({name!r} + '\\n')\n{code}"

    return make_notebook([
        (logged("a", "x = [1]\nprint('A out')\nfrom IPython.display import HTML, display\n"
                     "display(HTML('<b>A html</b>'))"), "a", []),
        (logged("b", f"{b_code}\nprint('B out')\ny"), "b", ["a"]),
        (logged("c", "z = y + [3]\nprint('C out', z)\nz"), "c", ["b"]),
    ])


def executed(log_path) -> list[str]:
    lines = log_path.read_text().split() if log_path.exists() else []
    log_path.write_text("")
    return lines


def test_only_the_target_output_reaches_the_client(kernel, tmp_path):
    log = tmp_path / "log.txt"
    kernel.sync(three_level(str(log)))
    run = kernel.run("c")
    assert run.status == "ok"
    sent = [m for m in run.messages if m["msg_type"] in ("stream", "display_data", "execute_result")]
    texts = [str(m["content"]) for m in sent]
    assert any("C out [1, 2, 3]" in t for t in texts)
    assert not any("A out" in t or "B out" in t or "A html" in t or "[1, 2]" in t for t in texts)
    assert run.outputs[-1]["output_type"] == "execute_result"
    assert run.outputs[-1]["data"]["text/plain"] == "[1, 2, 3]"
    assert executed(log) == ["a", "b", "c"]
    assert event_statuses(kernel.events, "c")[-3:] == [("b", "done"), ("c", "running"), ("c", "done")]

    # ancestors' outputs are retrievable afterwards
    a = kernel.request({"op": "captured", "id": "a"})
    assert a["run_of"] == "c"
    assert a["outputs"][0] == {"output_type": "stream", "name": "stdout", "text": "A out\n"}
    assert a["outputs"][1]["data"]["text/html"] == "<b>A html</b>"
    b = kernel.request({"op": "captured", "id": "b"})
    assert [o["output_type"] for o in b["outputs"]] == ["stream", "execute_result"]

    # unchanged: re-running the target executes nothing but the target
    kernel.events.clear()
    again = kernel.run("c", rerun_target=True)
    assert executed(log) == ["c"] and streams(again) == "C out [1, 2, 3]\n"
    assert ("a", "cached") in event_statuses(kernel.events) and ("b", "cached") in event_statuses(kernel.events)

    # default: a cached target shows its cached output without executing
    cached = kernel.run("c")
    assert executed(log) == [] and streams(cached) == "C out [1, 2, 3]\n"

    # editing one ancestor re-runs exactly it and its descendants on the path
    kernel.sync(three_level(str(log), b_code="y = x + [20]"))
    state = kernel.request({"op": "state"})["components"]
    assert [state[c]["status"] for c in "abc"] == ["cached", "stale", "stale"]
    edited = kernel.run("c")
    assert executed(log) == ["b", "c"] and "C out [1, 20, 3]" in streams(edited)


def test_state_is_published_to_the_user_namespace(kernel, tmp_path):
    kernel.sync(three_level(str(tmp_path / "log.txt")))
    kernel.run("b")
    scratch = kernel.execute("print(y, 'z' in dir())")
    assert streams(scratch) == "[1, 2] False\n"


def test_mutation_rules_in_the_kernel(kernel):
    nb = make_notebook([
        ("import pandas as pd\ndf = pd.DataFrame({'x': [1, 2]})", "load", []),
        ("df['y'] = df['x'] * 10", "add_y", ["load"]),
        ("print(sorted(df.columns))", "child", ["add_y"]),
        ("print(sorted(df.columns))", "sibling", ["load"]),
    ])
    kernel.sync(nb)
    assert streams(kernel.run("child")) == "['x', 'y']\n"
    assert streams(kernel.run("sibling")) == "['x']\n"
    assert streams(kernel.run("child", rerun_target=True)) == "['x', 'y']\n"


TRACEBACK_CODE = """\
def inner(v):
    return 1 / v

def outer(v):
    # a comment line
    return inner(v - 1)

print("before")
outer(1)
"""


@pytest.mark.parametrize("where", ["target", "ancestor"])
def test_tracebacks_match_plain_ipython(kernel, where):
    plain_run = kernel.execute(TRACEBACK_CODE)
    assert plain_run.status == "error"
    expected = plain(plain_run.error["traceback"])
    if where == "target":
        nb = make_notebook([("x = 1", "a", []), (TRACEBACK_CODE, "boom", ["a"])])
        target = "boom"
    else:
        nb = make_notebook([(TRACEBACK_CODE, "boom", []), ("y = 2", "child", ["boom"])])
        target = "child"
    kernel.sync(nb)
    run = kernel.run(target)
    assert run.status == "error"
    assert run.reply["ename"] == "ZeroDivisionError" and run.reply["evalue"] == "division by zero"
    error = run.error
    assert error["ename"] == "ZeroDivisionError"
    got = plain(error["traceback"])
    if where == "ancestor":
        assert got[0] == "Error in component 'boom', an ancestor of 'child':"
        got = got[1:]
        assert "before" not in streams(run)  # the ancestor's print stays captured
    else:
        assert streams(run) == "before\n"
    assert got == expected
    joined = "\n".join(got)
    assert "cellpipe" not in joined and "site-packages" not in joined and "interactiveshell" not in joined
    assert joined.count("Cell In[N]") == 3  # <module>, outer, inner — as in plain IPython
    state = kernel.request({"op": "state"})["components"]
    assert state["boom"]["status"] == "error"


def test_syntax_error_in_a_component_looks_like_jupyter(kernel):
    code = "x = (1,\ny = 2 +\n"
    expected = plain(kernel.execute(code).error["traceback"])
    kernel.sync(make_notebook([(code, "bad", [])]))
    run = kernel.run("bad")
    assert run.reply["ename"] == "SyntaxError"
    got = plain(run.error["traceback"])
    assert got[-1] == expected[-1] and not any("cellpipe" in line for line in got)


def test_interrupt_stops_the_run_cleanly(kernel, tmp_path):
    nb = make_notebook([
        ("x = 1\nprint('fast done')", "fast", []),
        ("import time\nfor i in range(600):\n    time.sleep(0.05)", "slow", ["fast"]),
        ("print('never')", "last", ["slow"]),
    ])
    kernel.sync(nb)
    timer = threading.Timer(0, lambda: None)
    result = {}

    def run():
        result["run"] = kernel.run("last")

    t = threading.Thread(target=run)
    t.start()
    deadline = time.time() + 30
    while time.time() < deadline and ("slow", "running") not in event_statuses(kernel.events):
        time.sleep(0.05)
    time.sleep(0.3)
    kernel.interrupt()
    t.join(60)
    timer.cancel()
    run = result["run"]
    assert run.status == "error" and run.reply["ename"] == "KeyboardInterrupt"
    assert "never" not in streams(run)
    assert ("slow", "interrupted") in event_statuses(kernel.events)
    # capture is undone: a plain cell's print reaches the client again
    after = kernel.execute("import sys\nprint('after', type(sys.stdout).__name__)")
    assert streams(after) == "after OutStream\n"
    # what finished before the interrupt keeps its result
    plan = kernel.request({"op": "plan", "target": "last"})
    assert [s["action"] for s in plan["steps"]] == ["cache", "run", "run"]


def test_unpicklable_output_works_and_is_not_cached(kernel, tmp_path):
    log = tmp_path / "log.txt"
    nb = make_notebook([
        (f"open({str(log)!r}, 'a').write('gen\\n')\ngen = (i for i in range(3))\nn = 3", "gen", []),
        ("print(n, next(gen))", "use", ["gen"]),
    ])
    kernel.sync(nb)
    run = kernel.run("use")
    assert streams(run) == "3 0\n"
    notices = [n for e in kernel.events if e.get("op") == "run" for n in e.get("notices", [])]
    assert any("'gen'" in n and "not cached" in n for n in notices)
    assert streams(run, "stderr") == ""  # cellpipe's notice is not the cell's output
    kernel.run("use")
    assert log.read_text().split() == ["gen", "gen"]


def test_results_survive_a_kernel_restart(tmp_path):
    from kernelutil import kernel_env

    from cellpipe.cli.kernel_driver import PipelineKernel

    log = tmp_path / "log.txt"
    nb = three_level(str(log))
    env = kernel_env(tmp_path / "cache")
    with PipelineKernel(cwd=str(tmp_path), env=env) as first:
        first.sync(nb)
        first.run("c")
    assert executed(log) == ["a", "b", "c"]
    with PipelineKernel(cwd=str(tmp_path), env=env) as second:
        second.sync(nb)
        run = second.run("c", rerun_target=True)
        assert executed(log) == ["c"] and "C out [1, 2, 3]" in streams(run)
        assert second.request({"op": "captured", "id": "a"})["outputs"][0]["text"] == "A out\n"


def test_magics_for_people_who_type(kernel, tmp_path):
    import nbformat

    path = tmp_path / "nb.ipynb"
    nbformat.write(three_level(str(tmp_path / "log.txt")), path)
    plan = kernel.execute(f"%cellpipe plan c --notebook {path}")
    assert streams(plan).splitlines() == ["  run  a  (never run)", "  run  b  (never run)",
                                          "  run  c  (never run)"]
    assert "C out" in streams(kernel.execute("%cellpipe run c"))
    status = streams(kernel.execute("%cellpipe status"))
    assert "  cached  a  (result is up to date)" in status.splitlines()
    bad = kernel.execute("%cellpipe run nope")
    assert bad.status == "error" and "no component named 'nope'" in bad.error["evalue"]


def test_magics_inside_components_use_the_component_namespace(kernel):
    nb = make_notebook([
        ("%%time\nbase = 21\nprint('timed')", "timed", []),
        ("doubled = base * 2\n!echo shell sees {doubled}\n%who_ls int", "use", ["timed"]),
    ])
    kernel.sync(nb)
    run = kernel.run("use")
    assert run.status == "ok", run.error
    assert "shell sees 42" in streams(run)
    result = [o for o in run.outputs if o["output_type"] == "execute_result"]
    assert result and "'base'" in result[0]["data"]["text/plain"]
    assert "'doubled'" in result[0]["data"]["text/plain"]
    timed = kernel.request({"op": "captured", "id": "timed"})
    text = "".join(o.get("text", "") for o in timed["outputs"])
    assert "timed" in text and "Wall time" in text
    assert streams(kernel.execute("print(doubled)")) == "42\n"


def test_name_from_a_non_component_cell_gets_a_hint(kernel):
    kernel.execute("import math")  # a plain cell, not a component
    kernel.sync(make_notebook(["import math", ("r = math.sqrt(4)", "uses_math", [])]))
    run = kernel.run("uses_math")
    assert run.reply["ename"] == "NameError"
    text = "\n".join(plain(run.error["traceback"]))
    assert "'math' exists in the notebook, but no ancestor of component 'uses_math'" in text


def test_comm_requests_for_the_front_end(kernel):
    nb = make_notebook([("x = 1", "a", []), ("y = 2", "b", ["a"]), ("z = 3", "c", ["a"]),
                        ("w = 4", "d", ["b", "c"]), ("v = 5", "e", [])])
    state = kernel.sync(nb)
    assert state["op"] == "state" and state["problems"] == []
    assert state["components"]["d"]["parents"] == ["b", "c"]
    assert kernel.request({"op": "targets", "mode": "pipeline"})["ids"] == ["d", "e"]
    assert kernel.request({"op": "targets", "mode": "downstream", "id": "b"})["ids"] == ["b", "d"]
    assert kernel.request({"op": "check_edge", "parent": "a", "child": "e"})["op"] == "edge_ok"
    refused = kernel.request({"op": "check_edge", "parent": "d", "child": "a"})
    assert refused["op"] == "error" and refused["kind"] == "CycleError"
    assert "the pipeline has a cycle: a -> b -> d -> a" in refused["message"]
    plan = kernel.request({"op": "plan", "target": "d"})
    assert [s["name"] for s in plan["steps"]] == ["a", "b", "c", "d"]
    unknown = kernel.request({"op": "frobnicate"})
    assert unknown["op"] == "error" and "unknown request" in unknown["message"]
    missing = kernel.request({"op": "captured"})
    assert missing["op"] == "error" and "missing field" in missing["message"]
    bad = nb.copy()
    bad["cells"] = [dict(c) for c in nb["cells"]]
    bad["cells"][0] = {**bad["cells"][0], "metadata": {"cellpipe": {"name": 3}}}
    broken = kernel.sync(bad)
    assert broken["op"] == "error" and "cell 1" in broken["message"]


def test_traceback_through_a_function_restored_from_disk_shows_its_source(tmp_path):
    from kernelutil import kernel_env

    from cellpipe.cli.kernel_driver import PipelineKernel

    nb = make_notebook([("def f(v):\n    # a comment\n    return 1 / v", "defs", []),
                        ("f(0)", "use", ["defs"])])
    env = kernel_env(tmp_path / "cache")
    with PipelineKernel(cwd=str(tmp_path), env=env) as first:
        first.sync(nb)
        before = plain(first.run("use").error["traceback"])
    with PipelineKernel(cwd=str(tmp_path), env=env) as second:  # defs now comes from disk
        second.sync(nb)
        run = second.run("use")
        assert ("defs", "cached") in event_statuses(second.events)
        after = plain(run.error["traceback"])
    assert "----> 3     return 1 / v" in after and "dynamic-code" not in "\n".join(after)
    # the same frames as before the restart; the function's cell is labelled by its name
    assert [line.replace("In[defs]", "In[N]") for line in after] == before


def test_loading_the_extension_skips_nbformat_and_its_schema_validator():
    """`%load_ext cellpipe` must stay fast (issue 12): the kernel reads the live notebook
    without nbformat, whose jsonschema import builds an IRI grammar for over a second."""
    import subprocess
    import sys

    code = ("import sys\nfrom IPython.core.interactiveshell import InteractiveShell\n"
            "InteractiveShell.instance().run_line_magic('load_ext', 'cellpipe')\n"
            "print(sorted(m for m in ('nbformat', 'jsonschema', 'rfc3987_syntax') "
            "if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_a_restart_right_after_a_run_with_big_results_serves_them_from_disk(tmp_path):
    """Runs end before their results reach disk; a kernel shutting down right away still
    finishes the writes, so the next kernel reuses them (and maps their buffers)."""
    from kernelutil import kernel_env
    from nbutil import make_notebook

    from cellpipe.cli.kernel_driver import PipelineKernel

    log = tmp_path / "log.txt"

    def logged(name, code):
        return f"open({str(log)!r}, 'a').write({name!r} + '\\n')\n{code}"

    nb = make_notebook([
        (logged("a", "import numpy as np, pandas as pd\narr = np.arange(20_000_000.0)\n"
                     "df = pd.DataFrame({'x': arr[:500_000], 's': ['v'] * 500_000})"), "a", []),
        (logged("b", "arr[1] = -1.0\ndf.loc[0, 's'] = 'w'"), "b", ["a"]),
        (logged("c", "print(arr[:3].tolist(), float(arr.sum()), df.loc[0, 's'], len(df))"),
         "c", ["b"]),
    ])
    env = kernel_env(tmp_path / "cache")
    expected = f"[0.0, -1.0, 2.0] {float(sum(range(20_000_000))) - 2.0} w 500000\n"
    with PipelineKernel(cwd=str(tmp_path), env=env) as first:
        first.sync(nb)
        assert streams(first.run("c")) == expected
    # the context manager shut the kernel down at once (160 MB still to write at that point)
    assert executed(log) == ["a", "b", "c"]
    with PipelineKernel(cwd=str(tmp_path), env=env) as second:
        second.sync(nb)
        assert streams(second.run("c", rerun_target=True)) == expected
        assert executed(log) == ["c"]


def test_a_small_memory_limit_in_the_kernel_gives_the_same_results_and_says_so(tmp_path):
    from kernelutil import kernel_env
    from nbutil import make_notebook

    from cellpipe.cli.kernel_driver import PipelineKernel

    cells = [("import numpy as np\na0 = np.arange(1_000_000.0)", "c0", [])]
    cells += [(f"a{i} = a{i - 1} * 2", f"c{i}", [f"c{i - 1}"]) for i in range(1, 5)]
    cells += [("a0[0] = 99.0", "w", ["c4"]),
              ("print(float(a0[0]), float(a0[1]), float(a4[1]), float(a4.sum()))", "r",
               ["c4"]),
              ("print(float(a0[0]))", "join", ["w", "r"])]
    nb = make_notebook(cells)
    expected = f"0.0 1.0 16.0 {16.0 * sum(range(1_000_000))}\n"
    env = kernel_env(tmp_path / "cache")
    env["CELLPIPE_MEMORY_LIMIT"] = "10M"  # five results of 8 MB
    with PipelineKernel(cwd=str(tmp_path), env=env) as kernel:
        kernel.sync(nb)
        assert streams(kernel.run("join")) == "99.0\n"
        ends = [e for e in kernel.events if e.get("op") == "run" and e.get("phase") == "end"]
        assert any("memory limit" in n for n in ends[-1].get("notices", []))
        assert streams(kernel.run("r", rerun_target=True)) == expected
