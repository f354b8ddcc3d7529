"""The pipeline panel and runs from the UI, in a real JupyterLab and chromium."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from tests.browser.labui import NotebookUI

pytestmark = pytest.mark.browser

A_CODE = "import pathlib\npathlib.Path('runs.log').open('a').write('A\\n')\nprint('A says hi')\na = 1"
B_CODE = "pathlib.Path('runs.log').open('a').write('B\\n')\nprint('B says hi')\nb = a + 10"
C_CODE = "pathlib.Path('runs.log').open('a').write('C\\n')\nprint('C sees', a + b)"


def runs(lab) -> list[str]:
    path = lab.root / "runs.log"
    return path.read_text().split() if path.exists() else []


def test_build_connect_run_and_cache(lab, page):
    lab.write_notebook("abc.ipynb", [""])
    ui = NotebookUI(page, lab, "abc.ipynb").open()
    ui.screenshot("00-open")

    # three cells, typed in as a person would
    ui.type_in_cell(0, A_CODE)
    ui.add_cell_below()
    ui.type_in_cell(1, B_CODE)
    ui.add_cell_below()
    ui.type_in_cell(2, C_CODE)
    ui.make_component(0, "A")
    ui.make_component(1, "B")
    # names are unique: the dialog asks again
    ui.select_cell(2)
    ui.cell(2).locator('.jp-cell-toolbar [data-command="cellpipe:toggle-component"]').click()
    dialog = ui.page.locator(".jp-Dialog")
    dialog.locator("input").fill("A")
    dialog.locator(".jp-mod-accept").click()
    expect(dialog).to_contain_text("A is taken")
    dialog.locator("input").fill("C")
    dialog.locator(".jp-mod-accept").click()
    expect(ui.component_cell("C")).to_have_count(1)
    expect(ui.panel.locator(".react-flow__node")).to_have_count(3)
    ui.screenshot("01-components")

    ui.connect("A", "B")
    expect(ui.panel.locator(".react-flow__edge")).to_have_count(1)
    ui.connect("B", "C")
    expect(ui.panel.locator(".react-flow__edge")).to_have_count(2)
    ui.screenshot("02-connected")

    # run C from its graph node: only C's cell shows output
    ui.run_node("C")
    expect(ui.cell(2).locator(".jp-OutputArea-output")).to_contain_text("C sees 12", timeout=60_000)
    for name in "ABC":
        ui.expect_status(name, "done")
    assert ui.output_count(ui.cell(0)) == 0
    assert ui.output_count(ui.cell(1)) == 0
    assert runs(lab) == ["A", "B", "C"]
    ui.screenshot("03-ran-C")

    # the saved file has the components and the edges A -> B -> C
    ui.save()
    saved = ui.saved()
    ids = [c["id"] for c in saved["cells"]]
    meta = [c["metadata"]["cellpipe"] for c in saved["cells"]]
    assert [m["name"] for m in meta] == ["A", "B", "C"]
    assert meta[0]["parents"] == []
    assert meta[1]["parents"] == [ids[0]]
    assert meta[2]["parents"] == [ids[1]]
    assert "C sees 12" in "".join(saved["cells"][2]["outputs"][0]["text"])
    assert saved["cells"][0]["outputs"] == [] and saved["cells"][1]["outputs"] == []

    # edit A: A and everything downstream is stale
    ui.type_in_cell(0, A_CODE.replace("a = 1", "a = 2"), replace=True)
    for name in "ABC":
        ui.expect_status(name, "stale")
    ui.screenshot("04-stale")

    # run C again, from its cell toolbar: A and B re-run, C's output is updated
    ui.select_cell(2)
    ui.cell(2).locator('.jp-cell-toolbar [data-command="cellpipe:run-component"]').click()
    expect(ui.cell(2).locator(".jp-OutputArea-output")).to_contain_text("C sees 14", timeout=60_000)
    for name in "ABC":
        ui.expect_status(name, "done")
    assert runs(lab) == ["A", "B", "C"] * 2
    assert ui.output_count(ui.cell(0)) == 0
    assert ui.run_log() == [("A", "done"), ("B", "done"), ("C", "done")]

    # run C unchanged (keyboard shortcut P R): everything from the cache, nothing executes
    ui.select_cell(2)
    ui.page.keyboard.press("p")
    ui.page.keyboard.press("r")
    for name in "ABC":
        ui.expect_status(name, "cached")
    expect(ui.cell(2).locator(".jp-OutputArea-output")).to_contain_text("C sees 14")
    assert runs(lab) == ["A", "B", "C"] * 2
    assert ui.run_log() == [("A", "cached"), ("B", "cached"), ("C", "cached")]

    # force re-run (cell toolbar): nothing comes from the cache
    ui.select_cell(2)
    ui.cell(2).locator('.jp-cell-toolbar [data-command="cellpipe:force-run"]').click()
    for name in "ABC":
        ui.expect_status(name, "done")
    assert runs(lab) == ["A", "B", "C"] * 3
    ui.screenshot("05-cached")

    # an ancestor's captured output, on demand, in its own cell
    ui.node_menu("A", "Show Captured Output")
    expect(ui.cell(0).locator(".jp-OutputArea")).to_contain_text("A says hi")
    expect(ui.cell(0).locator(".jp-OutputArea")).to_contain_text("captured during the run of")
    ui.screenshot("06-captured")


def test_error_in_ancestor_shows_in_target_cell(lab, page):
    lab.write_notebook(
        "err.ipynb",
        ["a = 1", "def half(x):\n    return x / 0\n\nb = half(a)", "print('C', a + b)"],
        components={0: ("A", []), 1: ("B", [0]), 2: ("C", [1])},
    )
    ui = NotebookUI(page, lab, "err.ipynb").open()
    ui.select_cell(2)
    ui.run_palette("Run Component")
    error = ui.cell(2).locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
    expect(error).to_contain_text("ZeroDivisionError", timeout=60_000)
    text = error.inner_text()
    assert "B" in text.splitlines()[0] or "'B'" in text  # the traceback names B
    assert "return x / 0" in text and "half" in text  # B's own frames and source lines
    for internal in ("/cellpipe/", "cellpipe.engine", "cellpipe.kernel", "site-packages"):
        assert internal not in text, f"{internal} leaked into the traceback:\n{text}"
    ui.expect_status("B", "error")
    ui.expect_status("A", re.compile("done|cached"))  # `a = 1` may be cached by another test
    assert ui.output_count(ui.cell(0)) == 0 and ui.output_count(ui.cell(1)) == 0
    ui.screenshot("error")

    ui.save()
    outputs = ui.saved()["cells"][2]["outputs"]
    assert [o["output_type"] for o in outputs] == ["error"]
    assert outputs[0]["ename"] == "ZeroDivisionError"


def test_cycle_is_refused_and_notebook_unchanged(lab, page):
    path = lab.write_notebook(
        "cycle.ipynb",
        ["a = 1", "b = a", "c = b"],
        components={0: ("A", []), 1: ("B", [0]), 2: ("C", [1])},
    )
    before = [c["metadata"] for c in json.loads(path.read_text())["cells"]]
    ui = NotebookUI(page, lab, "cycle.ipynb").open()
    expect(ui.panel.locator(".react-flow__edge")).to_have_count(2)
    ui.connect("C", "A")
    message = ui.panel.locator(".jp-cellpipe-message-error")
    expect(message).to_contain_text("cycle")
    expect(message).to_contain_text("A")
    ui.screenshot("refused")
    expect(ui.panel.locator(".react-flow__edge")).to_have_count(2)
    ui.save()
    assert [c["metadata"] for c in ui.saved()["cells"]] == before

    # removing an edge: select it and press Delete
    ui.panel.locator(".react-flow__edge").first.click(force=True)
    ui.page.keyboard.press("Delete")
    expect(ui.panel.locator(".react-flow__edge")).to_have_count(1)
    ui.save()
    parents = [c["metadata"]["cellpipe"]["parents"] for c in ui.saved()["cells"]]
    assert parents.count([]) == 2

    # the notebook's undo (Z in command mode) brings the edge back; redo (Shift+Z) removes it
    ui.select_cell(0)
    ui.page.keyboard.press("z")
    expect(ui.panel.locator(".react-flow__edge")).to_have_count(2)
    ui.page.keyboard.press("Shift+z")
    expect(ui.panel.locator(".react-flow__edge")).to_have_count(1)


def test_parameter_change_marks_readers_stale(lab, page):
    lab.write_notebook(
        "params.ipynb",
        ["print('lr is', lr)", "x = 1"],
        components={0: ("train", []), 1: ("other", [])},
        parameters={"lr": {"type": "float", "value": 0.1}},
    )
    ui = NotebookUI(page, lab, "params.ipynb").open()
    ui.panel.locator(".jp-cellpipe-run-pipeline").click()
    expect(ui.cell(0).locator(".jp-OutputArea-output")).to_contain_text("lr is 0.1", timeout=60_000)
    ui.expect_status("train", "done")
    ui.expect_status("other", re.compile("done|cached"))  # `x = 1` may be cached already
    assert ("train", "done") in ui.run_log() and len(ui.run_log()) == 2

    value = ui.panel.locator('.jp-cellpipe-param[data-name="lr"] .jp-cellpipe-param-value')
    value.fill("0.5")
    value.press("Enter")
    ui.expect_status("train", "stale")
    ui.expect_status("other", re.compile("done|cached"))
    ui.screenshot("param-stale")
    ui.save()
    assert ui.saved()["metadata"]["cellpipe"]["parameters"]["lr"] == {"type": "float", "value": 0.5}

    # run it again while editing it (Ctrl+Alt+Enter): it sees the new value
    ui.cell(0).locator(".cm-content").click()
    ui.page.keyboard.press("Control+Alt+Enter")
    expect(ui.cell(0).locator(".jp-OutputArea-output")).to_contain_text("lr is 0.5", timeout=60_000)
    ui.expect_status("train", "done")

    # restart the kernel: the front end loads cellpipe into the new kernel by itself,
    # and the result comes back from the disk cache
    ui.page.keyboard.press("Escape")
    ui.run_palette("Restart Kernel…")
    ui.page.locator(".jp-Dialog .jp-mod-accept").click()
    expect(ui.panel.locator(".jp-cellpipe-link-ready")).to_have_count(0, timeout=10_000)
    expect(ui.panel.locator(".jp-cellpipe-link-ready")).to_have_count(1, timeout=60_000)
    ui.expect_status("train", "cached")
    ui.run_node("train")
    expect(ui.panel.locator('.jp-cellpipe-runlog-entry[data-name="train"]')).to_have_attribute(
        "data-status", "cached", timeout=60_000
    )
    assert ui.run_log() == [("train", "cached")]
    expect(ui.cell(0).locator(".jp-OutputArea-output")).to_contain_text("lr is 0.5")


def test_interrupt_stops_a_running_component(lab, page):
    lab.write_notebook(
        "slow.ipynb",
        ["import time\nprint('waiting')\ntime.sleep(60)\nw = 1", "print('after', w)"],
        components={0: ("wait", []), 1: ("after", [0])},
    )
    ui = NotebookUI(page, lab, "slow.ipynb").open()
    ui.run_node("after")
    ui.expect_status("wait", "running", timeout=30_000)
    ui.expect_status("after", "queued", timeout=5_000)
    ui.screenshot("running")
    ui.panel.locator(".jp-cellpipe-interrupt").click()
    expect(ui.cell(1).locator(".jp-OutputArea-output")).to_contain_text(
        "KeyboardInterrupt", timeout=20_000
    )
    ui.expect_status("wait", "interrupted", timeout=10_000)
    expect(ui.panel.locator(".jp-cellpipe-interrupt")).to_be_disabled()
    ui.screenshot("interrupted")
    # the kernel is usable again: the graph reports the state after the run
    expect(ui.page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")).to_have_count(
        1, timeout=10_000
    )


def test_edges_survive_reload_cut_paste_and_copy(lab, page):
    lab.write_notebook(
        "moves.ipynb",
        ["a = 1", "b = a", "c = b"],
        components={0: ("A", []), 1: ("B", [0]), 2: ("C", [1])},
    )
    ui = NotebookUI(page, lab, "moves.ipynb").open()
    expect(ui.panel.locator(".react-flow__edge")).to_have_count(2)

    # clicking a node makes its cell the active one
    ui.click_node("C")
    expect(ui.cell(2)).to_have_class(re.compile("jp-mod-active"))

    # cut A and paste it at the end: the moved cell keeps its id, so B keeps its parent
    ui.select_cell(0)
    ui.page.keyboard.press("x")
    ui.select_cell(1)
    ui.page.keyboard.press("v")
    expect(ui.component_cell("A")).to_have_count(1)
    expect(ui.panel.locator(".react-flow__edge")).to_have_count(2)

    # copy B and paste it: the copy is a new component with a unique name and B's parents
    ui.select_cell(0)
    ui.page.keyboard.press("c")
    ui.page.keyboard.press("v")
    expect(ui.component_cell("B (copy)")).to_have_count(1)
    expect(ui.panel.locator(".react-flow__node")).to_have_count(4)
    expect(ui.panel.locator(".react-flow__edge")).to_have_count(3)
    ui.screenshot("pasted")
    ui.save()

    saved = ui.saved()
    by_name = {c["metadata"]["cellpipe"]["name"]: c for c in saved["cells"]}
    assert set(by_name) == {"A", "B", "C", "B (copy)"}
    assert by_name["A"]["id"] == "cell0"
    assert by_name["B"]["metadata"]["cellpipe"]["parents"] == ["cell0"]
    assert by_name["B (copy)"]["metadata"]["cellpipe"]["parents"] == ["cell0"]
    assert by_name["B (copy)"]["id"] not in ("cell0", "cell1", "cell2")

    # reopen: the graph is the same
    ui.page.reload()
    ui.page.wait_for_selector(".jp-NotebookPanel .jp-Cell")
    ui.show_graph()
    expect(ui.panel.locator(".react-flow__node")).to_have_count(4)
    expect(ui.panel.locator(".react-flow__edge")).to_have_count(3)


def test_parents_rename_downstream_remove_and_dark_theme(lab, page):
    lab.write_notebook(
        "edit.ipynb",
        ["print('A ran')\na = 1", "print('B ran', a)", "print('not a component')", "r = 1"],
        components={0: ("A", []), 1: ("B", []), 3: ("R", [])},
        workers={3: "gpu-box"},
    )
    ui = NotebookUI(page, lab, "edit.ipynb").open()
    expect(ui.node("R").locator(".jp-cellpipe-badge-remote")).to_have_text("remote: gpu-box")
    expect(ui.component_cell("R")).to_contain_text("remote: gpu-box")
    expect(ui.panel.locator(".react-flow__node")).to_have_count(3)
    expect(ui.panel.locator(".react-flow__edge")).to_have_count(0)

    # parents from a checklist
    ui.node_menu("B", "Edit Component Parents")
    dialog = ui.page.locator(".jp-Dialog")
    dialog.locator("label", has_text="A").locator("input").check()
    dialog.locator(".jp-mod-accept").click()
    expect(ui.panel.locator(".react-flow__edge")).to_have_count(1)

    # a worker from the node menu; empty again means local
    ui.node_menu("B", "Set Component Worker")
    dialog.locator("input").fill("big-box")
    dialog.locator(".jp-mod-accept").click()
    expect(ui.node("B").locator(".jp-cellpipe-badge-remote")).to_have_text("remote: big-box")
    ui.node_menu("B", "Set Component Worker")
    dialog.locator("select").select_option("")  # this kernel (no worker)
    dialog.locator(".jp-mod-accept").click()
    expect(ui.node("B").locator(".jp-cellpipe-badge-remote")).to_have_count(0)

    # rename
    ui.node_menu("B", "Rename Component")
    dialog.locator("input").fill("B2")
    dialog.locator(".jp-mod-accept").click()
    expect(ui.node("B2")).to_have_count(1)
    ui.save()
    meta = ui.saved()["cells"][1]["metadata"]["cellpipe"]
    assert meta == {"name": "B2", "parents": ["cell0"]}

    # run A and everything downstream: each target shows its output in its own cell
    ui.node_menu("A", "Run Component and Downstream")
    expect(ui.cell(1).locator(".jp-OutputArea-output")).to_contain_text("B ran 1", timeout=60_000)
    expect(ui.cell(0).locator(".jp-OutputArea-output")).to_contain_text("A ran")
    ui.expect_status("A", "cached")  # B2's run took A from the cache A's own run made
    ui.expect_status("B2", "done")
    assert ui.output_count(ui.cell(2)) == 0

    # A stops being a component: B2 loses it as a parent
    ui.select_cell(0)
    ui.cell(0).locator('.jp-cell-toolbar [data-command="cellpipe:toggle-component"]').click()
    expect(ui.panel.locator(".react-flow__node")).to_have_count(2)
    expect(ui.panel.locator(".react-flow__edge")).to_have_count(0)
    ui.save()
    cells = ui.saved()["cells"]
    assert "cellpipe" not in cells[0]["metadata"]
    assert cells[1]["metadata"]["cellpipe"]["parents"] == []

    # the dark theme: colours come from the theme's variables
    ui.run_palette("Use Theme: JupyterLab Dark")
    expect(ui.page.locator("body[data-jp-theme-light='false']")).to_have_count(1, timeout=30_000)
    expect(ui.page.locator("#jupyterlab-splash")).to_have_count(0, timeout=30_000)
    ui.show_graph()
    ui.screenshot("dark")
    background = ui.node("B2").locator(".jp-cellpipe-node").evaluate(
        "el => getComputedStyle(el).backgroundColor"
    )
    assert background not in ("rgb(255, 255, 255)", "rgba(0, 0, 0, 0)"), background
    ui.use_theme(light=True)  # the theme is a user setting: later tests expect the default
