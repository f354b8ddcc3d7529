"""With jupyter-collaboration installed, pipeline edits reach the other users live."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.labui import NotebookUI

pytestmark = pytest.mark.browser
pytest.importorskip("jupyter_collaboration", reason="jupyter-collaboration is not installed")


def test_edges_and_names_reach_a_second_user(lab, browser):
    lab.write_notebook("shared.ipynb", ["a = 1", "b = a"], components={0: ("A", []), 1: ("B", [])})
    users = []
    for _ in range(2):
        context = browser.new_context(viewport={"width": 1500, "height": 950})
        page = context.new_page()
        page.set_default_timeout(30_000)
        users.append(NotebookUI(page, lab, "shared.ipynb").open())
    one, two = users
    try:
        expect(two.panel.locator(".react-flow__edge")).to_have_count(0)
        one.connect("A", "B")
        expect(two.panel.locator(".react-flow__edge")).to_have_count(1, timeout=15_000)
        one.node_menu("B", "Rename Component")
        dialog = one.page.locator(".jp-Dialog")
        dialog.locator("input").fill("B shared")
        dialog.locator(".jp-mod-accept").click()
        expect(two.node("B shared")).to_have_count(1, timeout=15_000)
        expect(two.component_cell("B shared")).to_have_count(1)
        two.screenshot("second-user")
    finally:
        for ui in users:
            ui.page.context.close()
