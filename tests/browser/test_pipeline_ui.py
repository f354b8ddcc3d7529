"""The pipeline panel and runs from the UI, in a real JupyterLab and chromium."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.labui import NotebookUI

import pytest

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
    for index, name in enumerate("ABC"):
        ui.make_component(index, name)
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

    # run C unchanged (keyboard shortcut P R): everything from the cache, nothing executes
    ui.select_cell(2)
    ui.page.keyboard.press("p")
    ui.page.keyboard.press("r")
    for name in "ABC":
        ui.expect_status(name, "cached")
    expect(ui.cell(2).locator(".jp-OutputArea-output")).to_contain_text("C sees 14")
    assert runs(lab) == ["A", "B", "C"] * 2
    ui.screenshot("05-cached")

    # an ancestor's captured output, on demand, in its own cell
    ui.node("A").click(button="right")
    ui.page.locator(".jp-cellpipe-node-menu .lm-Menu-item", has_text="Show Captured Output").click()
    expect(ui.cell(0).locator(".jp-OutputArea")).to_contain_text("A says hi")
    expect(ui.cell(0).locator(".jp-OutputArea")).to_contain_text("captured during the run of")
    ui.screenshot("06-captured")
