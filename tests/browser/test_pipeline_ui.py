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
