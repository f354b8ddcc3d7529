"""A component's error reads as plain IPython shows the same cell, to the last detail."""

import re

import pytest
from kernelutil import ANSI, streams
from nbutil import make_notebook

pytestmark = pytest.mark.kernel


def text(lines: list[str]) -> str:
    return ANSI.sub("", "\n".join(lines))


def test_cell_label_is_the_cells_prompt_number(kernel):
    code = "def f(v):\n    return 1 / v\n\nf(0)\n"
    plain_run = kernel.execute(code)
    prompt = plain_run.reply["execution_count"]
    expected = text(plain_run.error["traceback"])
    assert f"Cell In[{prompt}]" in expected

    kernel.sync(make_notebook([(code, "boom", [])]))
    run = kernel.run("boom")
    prompt = run.reply["execution_count"]
    got = text(run.error["traceback"])
    labels = set(re.findall(r"Cell In\[(\d+)\]", got))
    assert labels == {str(prompt)}, (prompt, got)
    # all else as plain IPython has it, once the numbers are the same
    assert got == re.sub(r"Cell In\[\d+\]", f"Cell In[{prompt}]", expected)


def test_a_line_magics_usage_error_shows_as_ipython_shows_it(kernel):
    # `store` is not defined: IPython's automagic makes the line `%store ["x"]`
    code = 'store["x"]'
    plain_run = kernel.execute(code)
    expected = streams(plain_run, "stderr")
    assert plain_run.status == "error" and plain_run.error is None
    assert expected.startswith("UsageError: ")

    kernel.sync(make_notebook([(code, "magic", []), ("y = 1", "child", ["magic"])]))
    run = kernel.run("magic")
    assert run.status == "error"
    assert run.error is None  # no error output, as in plain IPython
    assert streams(run, "stderr") == expected and streams(run) == ""
    state = kernel.request({"op": "state"})["components"]
    assert state["magic"]["status"] == "error"  # still a failed component
    assert kernel.request({"op": "captured", "id": "magic"})["outputs"][-1] == {
        "output_type": "stream", "name": "stderr", "text": expected}

    # as the ancestor of the target: the child's cell says which component failed, and how
    below = kernel.run("child")
    assert below.status == "error"
    lines = text(below.error["traceback"]).splitlines()
    assert lines == ["Error in component 'magic', an ancestor of 'child':", expected.strip()]
