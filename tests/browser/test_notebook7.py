"""In Jupyter Notebook 7 (one notebook per page, no JupyterLab shell) the pipeline view opens."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
pytest.importorskip("notebook", reason="Jupyter Notebook 7 is not installed")


def test_the_pipeline_view_opens_in_notebook_7(lab, page):
    lab.write_notebook("nb7.ipynb", ["a7 = 1", "b7 = a7 + 1", "print(b7)"],
                       components={0: ("A", []), 1: ("B", [0]), 2: ("C", [1])})
    page.goto(f"{lab.url}/notebooks/nb7.ipynb?token={lab.token}")
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=60_000)
    # Notebook 7's own page, not JupyterLab's
    expect(page.locator("#main-panel, .jp-NotebookShell, #jp-main-split-panel").first).to_be_attached()
    page.locator('.jp-NotebookPanel-toolbar [data-command="cellpipe:show-graph"]').first.click()
    view = page.locator("#cellpipe-graph-sidebar")
    expect(view).to_be_visible()
    expect(view.locator(".react-flow__node")).to_have_count(3)
    expect(view.locator(".react-flow__edge")).to_have_count(2)
    expect(view.locator(".jp-cellpipe-link-ready")).to_be_visible(timeout=60_000)
    # it runs from there: only the target's output, in its cell
    view.locator(".react-flow__node", has=page.locator(".jp-cellpipe-node-name:text-is('C')")
                 ).locator(".jp-cellpipe-node-run").click()
    cell = page.locator('.jp-Notebook .jp-Cell[data-cellpipe-name="C"]')
    expect(cell.locator(".jp-OutputArea-output")).to_contain_text("2", timeout=60_000)
    # the ancestors ran or came from the cache (the lab's kernels share one cache)
    expect(view.locator('.jp-cellpipe-node[data-status="done"], '
                        '.jp-cellpipe-node[data-status="cached"]')).to_have_count(3, timeout=30_000)
    expect(view.locator('.jp-cellpipe-node[data-status="done"]', has_text="C")).to_have_count(1)
    page.screenshot(path="test-artifacts/browser/notebook7-pipeline.png")
