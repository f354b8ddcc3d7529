"""What a run tells the user beyond its outputs: cellpipe's notices in the panel, and a
component bound to the `local` worker streaming into its cell and stopping on Interrupt."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.labui import NotebookUI

pytestmark = pytest.mark.browser


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def test_run_notices_show_in_the_panel_not_in_the_cell(lab, page):
    lab.write_notebook(
        "notices.ipynb",
        [
            "import threading\nguard = threading.Lock()\nprint('made a lock for the notices test')",
            "def numbers():\n    yield 1\n\ngen = numbers()\nprint('made a generator', guard is not None)",
        ],
        components={0: ("lock maker", []), 1: ("gen maker", [0])},
    )
    ui = NotebookUI(page, lab, "notices.ipynb").open()
    ui.run_node("gen maker")
    log = ui.panel.locator('.jp-cellpipe-runlog-entry[data-name="gen maker"]')
    expect(log).to_have_attribute("data-status", "done", timeout=60_000)
    notices = ui.panel.locator(".jp-cellpipe-runlog-section .jp-cellpipe-notice")
    expect(notices).not_to_have_count(0)
    texts = notices.all_inner_texts()
    assert any("'guard'" in t and "cannot be pickled" in t and "lock maker" in t for t in texts), texts
    assert any("'gen'" in t and "cannot be pickled" in t and "gen maker" in t for t in texts), texts
    # the graph says why it would run again
    ui.expect_status("gen maker", "stale")
    assert "previous result could not be cached: 'gen'" in ui.node("gen maker").locator(
        ".jp-cellpipe-node").get_attribute("title")
    # the cells show what the code printed, and nothing of cellpipe's notes
    expect(ui.cell(1).locator(".jp-OutputArea-output")).to_contain_text("made a generator True")
    for index in (0, 1):
        assert "pickle" not in ui.outputs_text(ui.cell(index)).lower()
    ui.screenshot("notices")
    ui.save()
    for cell in ui.saved()["cells"]:
        assert "pickle" not in str(cell["outputs"]).lower()

    # the notices follow the theme (warn colours from the theme's variables)
    box = ui.panel.locator(".jp-cellpipe-notices")
    ui.use_theme(light=True)  # another test may have left the (persistent) dark theme on
    light_bg = box.evaluate("e => getComputedStyle(e).backgroundColor")
    ui.use_theme(light=False)
    expect(box).not_to_have_css("background-color", light_bg)
    ui.screenshot("notices-dark")
    ui.use_theme(light=True)

    # dismissed one by one, or all at once; the run log stays
    count = notices.count()
    notices.first.locator(".jp-cellpipe-notice-dismiss").click()
    expect(notices).to_have_count(count - 1)
    assert texts[0] not in notices.all_inner_texts()
    ui.panel.locator(".jp-cellpipe-notices-clear").click()
    expect(notices).to_have_count(0)
    assert ("gen maker", "done") in ui.run_log()


STREAM_CODE = (
    "import time\n"
    "print('first line from {where}', flush=True)\n"
    "time.sleep(4)\n"
    "print('second line from {where}')\n"
    "streamed = {value}"
)


def test_remote_stdout_streams_into_the_cell_and_ends_as_a_local_run_does(lab, page):
    lab.write_notebook(
        "stream.ipynb",
        [
            STREAM_CODE.format(where="the task", value="42"),
            # other code (a different cache key), the same outputs
            STREAM_CODE.format(where="the task", value="40 + 2"),
        ],
        components={0: ("on local worker", []), 1: ("here", [])},
        workers={0: "local"},
    )
    ui = NotebookUI(page, lab, "stream.ipynb").open()
    expect(ui.node("on local worker").locator(".jp-cellpipe-badge-remote")).to_contain_text("local")
    outputs = ui.cell(0).locator(".jp-OutputArea")
    ui.run_node("on local worker")
    # the first line is in the cell while the task still runs, before the second
    expect(outputs).to_contain_text("first line from the task", timeout=60_000)
    assert "second line" not in ui.outputs_text(ui.cell(0))
    assert ui.node("on local worker").locator(".jp-cellpipe-node").get_attribute(
        "data-status") == "running"
    ui.screenshot("stream-running")
    expect(outputs).to_contain_text("second line from the task", timeout=30_000)
    ui.expect_status("on local worker", "done")
    assert ("on local worker", "done") in ui.run_log()
    remote = [e for e in ui.panel.locator(".jp-cellpipe-runlog-entry").all()
              if e.get_attribute("data-name") == "on local worker"]
    expect(remote[0].locator(".jp-cellpipe-badge-remote")).to_contain_text("local")

    # the same code run here: the cell ends with the same outputs
    ui.run_node("here")
    ui.expect_status("here", "done")
    expect(ui.cell(1).locator(".jp-OutputArea-output")).to_contain_text("second line")
    assert ui.outputs_text(ui.cell(0)) == ui.outputs_text(ui.cell(1))
    ui.screenshot("stream-done")
    ui.save()
    cells = ui.saved()["cells"]

    def joined(outputs: list[dict]) -> list[tuple[str, str]]:
        return [(o["output_type"], o.get("name", "")) for o in outputs]

    assert joined(cells[0]["outputs"]) == joined(cells[1]["outputs"]) == [("stream", "stdout")]
    assert "".join(cells[0]["outputs"][0]["text"]) == "".join(cells[1]["outputs"][0]["text"]) == (
        "first line from the task\nsecond line from the task\n")


SLEEPER_CODE = (
    "import os, time\n"
    "print('task pid', os.getpid(), flush=True)\n"
    "time.sleep(120)\n"
    "print('{marker} was not interrupted')"
)


@pytest.mark.parametrize("how", ["panel", "notebook"])
def test_interrupt_cancels_the_remote_task(lab, page, how):
    name = f"sleep-{how}.ipynb"
    lab.write_notebook(
        name,
        ["x = 1", SLEEPER_CODE.format(marker=how)],
        components={0: ("x", []), 1: ("sleeper", [0])},
        workers={1: "local"},
    )
    ui = NotebookUI(page, lab, name).open()
    ui.run_node("sleeper")
    output = ui.cell(1).locator(".jp-OutputArea")
    expect(output).to_contain_text("task pid", timeout=60_000)
    pid = int(re.search(r"task pid (\d+)", ui.outputs_text(ui.cell(1)))[1])
    assert pid != os.getpid() and _alive(pid)
    ui.expect_status("sleeper", "running")
    if how == "panel":
        ui.panel.locator(".jp-cellpipe-interrupt").click()
    else:
        page.locator('.jp-NotebookPanel-toolbar [data-command="notebook:interrupt-kernel"]').click()
    expect(output).to_contain_text("KeyboardInterrupt", timeout=20_000)
    ui.expect_status("sleeper", re.compile("interrupted|not-run|stale"), timeout=20_000)
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid), f"the task's process {pid} is still running after the interrupt"
    assert "was not interrupted" not in ui.outputs_text(ui.cell(1))
    assert ("sleeper", "interrupted") in ui.run_log()
    expect(ui.panel.locator(".jp-cellpipe-interrupt")).to_be_disabled()
    ui.screenshot("interrupted")
