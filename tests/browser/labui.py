"""What a person does in JupyterLab with cellpipe, as Playwright steps."""

from __future__ import annotations

import json
import time
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"


class NotebookUI:
    """One open notebook plus cellpipe's graph panel."""

    def __init__(self, page: Page, lab, name: str) -> None:
        self.page = page
        self.lab = lab
        self.name = name

    # --- opening -------------------------------------------------------------

    def open(self, hide_files: bool = True) -> NotebookUI:
        """Open the notebook and its pipeline view beside it; with hide_files, the file
        browser is collapsed first, so notebook and graph have room (JupyterLab hides a
        cell's toolbar when a narrow cell's text would run under it)."""
        self.page.goto(self.lab.notebook_url(self.name))
        self.page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=60_000)
        if hide_files:
            tab = self.page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
            if tab.count():
                tab.first.click()
                expect(self.page.locator("#filebrowser")).to_be_hidden()
        # the kernel is idle and the cellpipe kernel extension answered
        self.show_graph()
        expect(self.panel.locator(".jp-cellpipe-link-ready")).to_be_visible(timeout=60_000)
        return self

    def show_graph(self) -> None:
        """The notebook toolbar's pipeline button: the graph opens beside the notebook."""
        self.page.locator(
            '.jp-NotebookPanel-toolbar [data-command="cellpipe:show-graph"]'
        ).first.click()
        expect(self.panel).to_be_visible()

    def show_sidebar_graph(self) -> None:
        tab = self.page.locator('.jp-SideBar [data-id="cellpipe-graph-sidebar"]')
        if "lm-mod-current" not in (tab.get_attribute("class") or ""):
            tab.click()
        expect(self.sidebar_panel).to_be_visible()

    @property
    def panel(self) -> Locator:
        """The pipeline view beside the notebook."""
        return self.page.locator("#cellpipe-graph")

    @property
    def sidebar_panel(self) -> Locator:
        return self.page.locator("#cellpipe-graph-sidebar")

    # --- cells ---------------------------------------------------------------

    def cell(self, index: int) -> Locator:
        return self.page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").nth(index)

    def component_cell(self, name: str) -> Locator:
        return self.page.locator(f'.jp-Notebook .jp-Cell[data-cellpipe-name="{name}"]')

    def select_cell(self, index: int) -> None:
        self.cell(index).locator(".jp-InputPrompt").click()

    def type_in_cell(self, index: int, code: str, replace: bool = False) -> None:
        """Put code into a cell's editor as a person would (without auto-closing brackets)."""
        editor = self.cell(index).locator(".cm-content")
        editor.click()
        if replace:
            self.page.keyboard.press("Control+A")
            self.page.keyboard.press("Delete")
        self.page.keyboard.insert_text(code)
        self.page.keyboard.press("Escape")

    def add_cell_below(self) -> None:
        self.page.keyboard.press("Escape")
        self.page.keyboard.press("b")

    def outputs_text(self, locator: Locator) -> str:
        return " ".join(locator.locator(".jp-OutputArea-output").all_inner_texts())

    def output_count(self, locator: Locator) -> int:
        return locator.locator(".jp-OutputArea-output").count()

    def run_palette(self, label: str) -> None:
        self.page.keyboard.press("Control+Shift+C")
        box = self.page.locator(".lm-CommandPalette-input")
        box.fill(label)
        self.page.locator(".lm-CommandPalette-item.lm-mod-active").click()

    def use_theme(self, light: bool) -> None:
        """Switch JupyterLab's theme (a no-op when it is already the one asked for); the theme
        is a user setting, so it outlives the test that chose it."""
        want = "true" if light else "false"
        if self.page.locator(f"body[data-jp-theme-light='{want}']").count() == 0:
            self.run_palette("Use Theme: JupyterLab " + ("Light" if light else "Dark"))
        expect(self.page.locator(f"body[data-jp-theme-light='{want}']")).to_have_count(
            1, timeout=30_000)
        expect(self.page.locator("#jupyterlab-splash")).to_have_count(0, timeout=30_000)

    def make_component(self, index: int, name: str) -> None:
        """The cell toolbar's component button, then the name dialog."""
        self.select_cell(index)
        button = self.cell(index).locator(
            '.jp-cell-toolbar [data-command="cellpipe:toggle-component"]'
        )
        button.click()
        dialog = self.page.locator(".jp-Dialog")
        dialog.locator("input").fill(name)
        dialog.locator(".jp-mod-accept").click()
        expect(dialog).to_have_count(0)
        expect(self.component_cell(name)).to_have_count(1)

    def save(self) -> None:
        """Ctrl+S in the notebook (after the graph beside it had the focus, click its tab)."""
        self.page.locator("#jp-main-dock-panel .lm-DockPanel-tabBar .lm-TabBar-tab", has_text=self.name).click()
        self.page.keyboard.press("Control+s")
        time.sleep(0.3)
        expect(self.page.locator(".jp-NotebookPanel .jp-mod-dirty")).to_have_count(0)

    def saved(self) -> dict:
        return json.loads((self.lab.root / self.name).read_text())

    # --- graph ---------------------------------------------------------------

    def node(self, name: str) -> Locator:
        return self.panel.locator(
            ".react-flow__node", has=self.page.locator(f'.jp-cellpipe-node-name:text-is("{name}")')
        )

    def expect_status(self, name: str, status, timeout: float = 60_000) -> None:
        """Wait until a graph node shows `status` (a string or a compiled pattern)."""
        expect(self.node(name).locator(".jp-cellpipe-node")).to_have_attribute(
            "data-status", status, timeout=timeout
        )

    def connect(self, parent: str, child: str) -> None:
        """Drag from the parent's bottom handle to the child's top handle."""
        source = self._settled_box(self.node(parent).locator(".react-flow__handle.source"))
        target = self._settled_box(self.node(child).locator(".react-flow__handle.target"))
        mouse = self.page.mouse
        mouse.move(source["x"] + source["width"] / 2, source["y"] + source["height"] / 2)
        mouse.down()
        self.page.wait_for_timeout(100)
        tx, ty = target["x"] + target["width"] / 2, target["y"] + target["height"] / 2
        mouse.move((source["x"] + tx) / 2, (source["y"] + ty) / 2, steps=8)
        mouse.move(tx, ty, steps=8)
        # let React Flow see the pointer over the handle before the drop
        expect(self.panel.locator(".react-flow__connectionline")).to_have_count(1)
        self.page.wait_for_timeout(150)
        mouse.up()

    def _settled_box(self, locator: Locator) -> dict:
        """Where an element is once the graph stopped moving (layout and fit run after edits)."""
        last = None
        for _ in range(50):
            box = locator.bounding_box()
            if box is not None and box == last:
                return box
            last = box
            time.sleep(0.1)
        raise AssertionError(f"{locator} never settled")

    def edge_count(self) -> int:
        return self.panel.locator(".react-flow__edge").count()

    def run_log(self) -> list[tuple[str, str]]:
        """The panel's "Last run" list as (name, status)."""
        entries = self.panel.locator(".jp-cellpipe-runlog-entry")
        return [
            (e.get_attribute("data-name"), e.get_attribute("data-status"))
            for e in entries.all()
        ]

    def run_node(self, name: str) -> None:
        """Click a node's run button; click again if the graph moved under the first click
        (the cell's prompt shows whether the run reached the kernel)."""
        prompt = self.component_cell(name).locator(".jp-InputPrompt")
        before = prompt.inner_text()
        for _ in range(2):
            self._click(self.node(name).locator(".jp-cellpipe-node-run"))
            deadline = time.monotonic() + 15  # generous: a second run would skew counts
            while time.monotonic() < deadline:
                if prompt.inner_text() != before:
                    return
                time.sleep(0.1)

    def node_menu(self, name: str, item: str) -> None:
        """Right-click a graph node and pick an item of its menu."""
        self._click(self.node(name).locator(".jp-cellpipe-node-name"), button="right")
        self.page.locator(".jp-cellpipe-node-menu .lm-Menu-item", has_text=item).click()

    def click_node(self, name: str) -> None:
        self._click(self.node(name).locator(".jp-cellpipe-node-name"))

    def _click(self, locator: Locator, button: str = "left") -> None:
        box = self._settled_box(locator)
        self.page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, button=button)

    @property
    def canvas(self) -> Locator:
        return self.panel.locator(".jp-cellpipe-graph-canvas")

    def wait_layout(self, count: int, timeout: float = 30_000) -> None:
        """Until the graph shows `count` nodes, laid out for the current structure."""
        expect(self.canvas).to_have_attribute("data-layout", "ready", timeout=timeout)
        expect(self.panel.locator(".react-flow__node")).to_have_count(count, timeout=timeout)
        self._settled_box(self.panel.locator(".react-flow__viewport"))

    def search(self, text: str) -> None:
        box = self.panel.get_by_label("Search components")
        box.fill(text)
        box.press("Enter")

    def fit_view(self) -> None:
        self.panel.get_by_label("Fit View").click()
        self._settled_box(self.panel.locator(".react-flow__viewport"))

    def screenshot(self, step: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.name.removesuffix('.ipynb')}-{step}.png"
        self.page.screenshot(path=str(path))
        # and the graph panel alone
        self.panel.screenshot(path=str(path.with_name(path.stem + "-panel.png")))
        return path
