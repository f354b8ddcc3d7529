"""In a shared room (jupyter-collaboration): pipeline edits and run statuses reach the other
users live, and opening a notebook never marks it modified. Two pages, one server."""

from __future__ import annotations

import json
import re
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import run_lab
from tests.browser.labui import NotebookUI

pytestmark = pytest.mark.browser
pytest.importorskip("jupyter_collaboration", reason="jupyter-collaboration is not installed")

ROOT = Path(__file__).resolve().parents[2]
DIRTY = ".jp-NotebookPanel .jp-mod-dirty, #jp-main-dock-panel .lm-TabBar-tab.jp-mod-dirty"


@pytest.fixture(scope="module")
def room(tmp_path_factory):
    """A JupyterLab server with real-time collaboration on, for this module."""
    with run_lab(tmp_path_factory.mktemp("collab")) as running:
        yield running


@contextmanager
def two_users(browser, lab, name: str):
    users = []
    try:
        for _ in range(2):
            context = browser.new_context(viewport={"width": 1500, "height": 950})
            page = context.new_page()
            page.set_default_timeout(30_000)
            users.append(NotebookUI(page, lab, name).open())
        yield users
    finally:
        for ui in users:
            ui.page.context.close()


def test_edges_and_names_reach_a_second_user(room, browser):
    room.write_notebook("shared.ipynb", ["a = 1", "b = a"], components={0: ("A", []), 1: ("B", [])})
    with two_users(browser, room, "shared.ipynb") as (one, two):
        expect(two.panel.locator(".react-flow__edge")).to_have_count(0)
        one.connect("A", "B")
        expect(two.panel.locator(".react-flow__edge")).to_have_count(1, timeout=15_000)
        one.node_menu("B", "Rename Component")
        dialog = one.page.locator(".jp-Dialog")
        dialog.locator("input").fill("B shared")
        dialog.locator(".jp-mod-accept").click()
        expect(two.node("B shared")).to_have_count(1, timeout=15_000)
        expect(two.component_cell("B shared")).to_contain_text("B shared")
        two.screenshot("second-user")


def test_run_statuses_of_a_twelve_component_pipeline_reach_a_collaborator(room, browser):
    components = room.write_layered("layered12.ipynb", 12)
    target = components[11][0]
    with two_users(browser, room, "layered12.ipynb") as (one, two):
        one.run_node(target)
        one.expect_status(target, "done")
        expect(two.component_cell(target).locator(".jp-OutputArea-output")).to_have_count(
            0)  # an assignment shows nothing; its status is what the second user sees
        two.expect_status(target, "done", timeout=15_000)
        for parent in components[11][1]:
            two.expect_status(components[parent][0], re.compile("done|cached"), timeout=15_000)
        two.screenshot("collaborator-statuses-12")


def test_run_statuses_reach_every_collaborator(room, browser):
    room.write_notebook(
        "statuses.ipynb", ["a = 2", "print('b is', a * 21)", "c = 1 / 0"],
        components={0: ("A", []), 1: ("B", [0]), 2: ("C", [0])},
    )
    with two_users(browser, room, "statuses.ipynb") as (one, two):
        one.run_node("B")
        one.expect_status("B", "done")
        # the second user sees the new output and the statuses beside it
        expect(two.component_cell("B").locator(".jp-OutputArea-output")).to_contain_text(
            "b is 42", timeout=30_000)
        two.expect_status("B", "done", timeout=15_000)
        two.expect_status("A", re.compile("done|cached"), timeout=15_000)
        one.run_node("C")
        two.expect_status("C", "error", timeout=15_000)
        two.screenshot("collaborator-statuses")


@pytest.fixture(scope="module")
def kernel_metadata() -> dict:
    """The kernelspec and language_info this machine's python3 kernel reports: what
    JupyterLab writes into a notebook it opens (a notebook that differs is modified by
    JupyterLab itself, cellpipe or not: the demo had a bare language_info)."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3")
    try:
        info = client.kernel_info(reply=True, timeout=60)["content"]["language_info"]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    spec = KernelSpecManager().get_kernel_spec("python3")
    return {"kernelspec": {"display_name": spec.display_name, "language": spec.language,
                           "name": "python3"},
            "language_info": info}


@pytest.mark.parametrize("shared", [True, False], ids=["shared-room", "own-copy"])
def test_opening_a_notebook_never_marks_it_modified(lab, room, browser, kernel_metadata, shared):
    server = room if shared else lab
    for name, source in (("demo.ipynb", ROOT / "examples" / "demo.ipynb"),
                         ("link.ipynb", ROOT / "tests" / "fixtures" / "link_nbformat45.ipynb")):
        notebook = json.loads(source.read_text())
        notebook["metadata"].update(kernel_metadata)
        (server.root / name).write_text(json.dumps(notebook, indent=1))
        context = browser.new_context(viewport={"width": 1500, "height": 950})
        page = context.new_page()
        page.set_default_timeout(30_000)
        try:
            ui = NotebookUI(page, server, name).open()  # graph, kernel link, sync, state
            expect(ui.panel.locator(".react-flow__node").first).to_be_visible()
            page.wait_for_timeout(2500)  # syncs, state and badges have come and gone
            assert page.locator(DIRTY).count() == 0, f"{name} is marked modified on open"
            ui.screenshot(f"opened-clean-{'shared' if shared else 'own'}")
        finally:
            context.close()
