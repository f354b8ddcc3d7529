"""The graph is readable, never blank, and its statuses say what happened (real JupyterLab)."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from tests.browser.labui import ARTIFACTS, NotebookUI

pytestmark = pytest.mark.browser

LONG = "Import packages and read the raw measurements"

# The on-screen size of each node name: its CSS font size times the graph's zoom.
ON_SCREEN_FONT = """
panel => [...panel.querySelectorAll('.jp-cellpipe-node-name')].map(el => {
  const scale = el.getBoundingClientRect().width / el.offsetWidth;
  const box = el.getBoundingClientRect();
  const view = panel.querySelector('.react-flow').getBoundingClientRect();
  return {
    name: el.textContent,
    px: parseFloat(getComputedStyle(el).fontSize) * scale,
    lines: Math.round(box.height / (parseFloat(getComputedStyle(el).lineHeight) * scale)),
    inside: box.right > view.left && box.left < view.right
            && box.bottom > view.top && box.top < view.bottom,
  };
})
"""


def six_nodes(lab, name: str) -> None:
    lab.write_notebook(
        name,
        ["import math", "raw = [1, 2, 3]", "clean = [x for x in raw if x]",
         "features = [math.sqrt(x) for x in clean]", "model = sum(features)",
         "report = f'{model:.2f}'"],
        components={0: (LONG, []), 1: ("load", [0]), 2: ("clean", [1]), 3: ("features", [0, 2]),
                    4: ("train the model", [3]), 5: ("report", [4])},
    )


def test_labels_are_readable_for_six_nodes(lab, page):
    six_nodes(lab, "six.ipynb")
    ui = NotebookUI(page, lab, "six.ipynb").open(hide_files=False)  # JupyterLab's default
    expect(ui.panel.locator(".react-flow__node")).to_have_count(6)
    ui.node("report").wait_for()
    page.wait_for_timeout(300)  # the fit after the first layout
    ui.screenshot("readable-beside")

    # the view opened beside the notebook, not squeezed into a sidebar
    panel_box = ui.panel.bounding_box()
    notebook_box = page.locator(".jp-NotebookPanel").first.bounding_box()
    assert panel_box["width"] >= 450, panel_box
    assert panel_box["x"] >= notebook_box["x"] + notebook_box["width"] - 5  # to its right

    sizes = ui.panel.evaluate(ON_SCREEN_FONT)
    assert len(sizes) == 6
    for s in sizes:
        assert s["px"] >= 11, f"{s['name']!r} renders at {s['px']:.1f} px"
    # the long name wraps (at most two lines) and shows in full on hover
    long = next(s for s in sizes if s["name"] == LONG)
    assert 2 <= long["lines"] <= 2, long
    assert LONG in ui.node(LONG).locator(".jp-cellpipe-node").get_attribute("title")

    # the compact sidebar view keeps the same size: it pans (minimap) instead of shrinking
    ui.show_sidebar_graph()
    side = ui.sidebar_panel
    expect(side.locator(".react-flow__node")).to_have_count(6)
    page.wait_for_timeout(300)
    sizes = side.evaluate(ON_SCREEN_FONT)
    assert min(s["px"] for s in sizes) >= 11, sizes
    if not all(s["inside"] for s in sizes):
        expect(side.locator(".jp-cellpipe-minimap")).to_be_visible()
    ui.screenshot("readable-sidebar")
    side.screenshot(path=str(ARTIFACTS / "six-readable-sidebar-only.png"))


# Counts, on every animation frame, graph nodes that are hidden while the panel is shown.
WATCH_HIDDEN = """
panel => {
  window.__cellpipeHidden = 0;
  window.__cellpipeFrames = 0;
  const tick = () => {
    window.__cellpipeFrames += 1;
    for (const node of panel.querySelectorAll('.react-flow__node')) {
      if (getComputedStyle(node).visibility === 'hidden') {
        window.__cellpipeHidden += 1;
      }
    }
    window.__cellpipeWatch = requestAnimationFrame(tick);
  };
  tick();
}
"""


def test_nodes_stay_visible_over_five_runs(lab, page):
    lab.write_notebook(
        "repeat.ipynb",
        ["a = 1", "b = a + 1", "print('c is', a + b)"],
        components={0: ("A", []), 1: ("B", [0]), 2: ("C", [1])},
    )
    ui = NotebookUI(page, lab, "repeat.ipynb").open()
    expect(ui.panel.locator(".react-flow__node")).to_have_count(3)
    ui.panel.evaluate(WATCH_HIDDEN)
    for run in range(5):
        ui.select_cell(2)
        ui.cell(2).locator('.jp-cell-toolbar [data-command="cellpipe:force-run"]').click()
        expect(ui.cell(2).locator(".jp-InputPrompt")).to_contain_text(
            str(run + 1), timeout=60_000)
        for name in "ABC":
            ui.expect_status(name, "done")
            expect(ui.node(name)).to_be_visible()
        assert ui.panel.locator(".react-flow__node").evaluate_all(
            "ns => ns.filter(n => getComputedStyle(n).visibility !== 'visible').length") == 0
    hidden, frames = page.evaluate("[window.__cellpipeHidden, window.__cellpipeFrames]")
    page.evaluate("cancelAnimationFrame(window.__cellpipeWatch)")
    assert frames > 20, "the watcher did not run"
    assert hidden == 0, f"graph nodes were hidden in {hidden} node-frames over 5 runs"
    ui.screenshot("after-5-runs")


# Every text the kernel link label shows, in order.
WATCH_LINK = """
panel => {
  window.__cellpipeLink = [];
  const record = () => {
    const el = panel.querySelector('.jp-cellpipe-link');
    const text = el ? el.textContent : '(none)';
    if (window.__cellpipeLink[window.__cellpipeLink.length - 1] !== text) {
      window.__cellpipeLink.push(text);
    }
  };
  record();
  new MutationObserver(record).observe(panel, {subtree: true, childList: true,
                                               characterData: true});
}
"""


def test_blocked_invalid_and_restart_statuses(lab, page):
    lab.write_notebook(
        "blocked.ipynb",
        ["a = 1", "b = a / 0", "c = b + 1", "d = c", "x = 'blocked.ipynb'", "y = 2"],
        components={0: ("A", []), 1: ("B", [0]), 2: ("C", [1]), 3: ("D", [2]),
                    4: ("X", [5]), 5: ("Y", [4])},
    )
    ui = NotebookUI(page, lab, "blocked.ipynb").open()
    # a cycle: both components are invalid, with a label
    ui.expect_status("X", "invalid")
    expect(ui.node("X").locator(".jp-cellpipe-badge-status")).to_have_text("invalid")
    expect(ui.node("Y").locator(".jp-cellpipe-badge-status")).to_have_text("invalid")
    expect(ui.component_cell("X")).to_contain_text("invalid")
    ui.screenshot("invalid")
    # a pipeline with a cycle does not run: break it (X loses its parent Y)
    ui.node_menu("X", "Edit Component Parents")
    dialog = ui.page.locator(".jp-Dialog")
    dialog.locator("label", has_text="Y").locator("input").uncheck()
    dialog.locator(".jp-mod-accept").click()
    ui.expect_status("X", "not-run")

    ui.run_node("D")
    ui.expect_status("B", "error")
    ui.expect_status("C", "blocked")
    ui.expect_status("D", "blocked")
    expect(ui.node("C").locator(".jp-cellpipe-badge-status")).to_have_text("blocked by B")
    expect(ui.node("D").locator(".jp-cellpipe-badge-status")).to_have_text("blocked by B")
    ui.expect_status("A", re.compile("done|cached"))
    expect(ui.component_cell("C")).to_contain_text("blocked by B")
    ui.screenshot("blocked")

    # fixing B unblocks its descendants: they are simply not run yet
    ui.type_in_cell(1, "b = a / 1", replace=True)
    ui.expect_status("C", re.compile("not-run|stale"))
    ui.expect_status("D", re.compile("not-run|stale"))

    # restart: the panel says it reconnects, never "no kernel"
    ui.panel.evaluate(WATCH_LINK)
    ui.page.keyboard.press("Escape")
    ui.run_palette("Restart Kernel…")
    ui.page.locator(".jp-Dialog .jp-mod-accept").click()
    expect(ui.panel.locator(".jp-cellpipe-link-ready")).to_have_count(0, timeout=10_000)
    expect(ui.panel.locator(".jp-cellpipe-link-ready")).to_have_count(1, timeout=60_000)
    seen = page.evaluate("window.__cellpipeLink")
    assert "no kernel" not in seen, seen
    assert seen[-1] == "kernel connected" and len(seen) >= 2, seen


# How many points along the edge source->target (sampled on its SVG path, in screen
# coordinates) lie inside the node `middle`.
EDGE_THROUGH_NODE = """
(panel, [source, target, middle]) => {
  const nodeOf = name => [...panel.querySelectorAll('.react-flow__node')].find(
    n => n.querySelector('.jp-cellpipe-node-name').textContent === name);
  const idOf = name => nodeOf(name).getAttribute('data-id');
  const edge = panel.querySelector(
    `.react-flow__edge[data-id="${idOf(source)}->${idOf(target)}"] .react-flow__edge-path`);
  const box = nodeOf(middle).getBoundingClientRect();
  const ctm = edge.getScreenCTM();
  const length = edge.getTotalLength();
  let inside = 0, points = 0;
  for (let d = 0; d <= length; d += 2, points++) {
    const p = edge.getPointAtLength(d).matrixTransform(ctm);
    if (p.x > box.left && p.x < box.right && p.y > box.top && p.y < box.bottom) inside++;
  }
  return {points, inside};
}
"""


def write_link_notebook(lab, name: str) -> None:
    """A notebook as MakinaRocks Link writes it: `canvas` metadata whose ids are not the
    cells' ids, parents by canvas id, parameters with string values."""
    cells = [
        ("c-setup", "k1", "setup", [], "rate_used = float(rate)"),
        ("c-load", "k2", "load", ["k1"], "data = [rate_used] * 3"),
        ("c-plot", "k3", "plot", ["k1", "k2"], "print(len(data))"),
    ]
    nb = {
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "canvas": {"version": "1.0",
                       "parameters": [{"name": "rate", "type": "float", "value": "0.5"}]},
        },
        "cells": [
            {"cell_type": "code", "id": cid, "source": src, "outputs": [],
             "execution_count": None,
             "metadata": {"canvas": {"id": kid, "name": cname, "isComponent": True,
                                     "headerColor": colour,
                                     "parents": [{"id": p, "name": p} for p in parents]}}}
            for (cid, kid, cname, parents, src), colour in zip(cells, ["inherit", "#e91e63", 2], strict=True)
        ],
    }
    nb["metadata"]["canvas"]["colorPalette"] = ["inherit", "inherit", "rgb(0, 150, 136)"]
    (lab.root / name).write_text(json.dumps(nb, indent=1))


def test_link_notebook_shows_its_graph_and_converts(lab, page):
    write_link_notebook(lab, "linknb.ipynb")
    ui = NotebookUI(page, lab, "linknb.ipynb").open()
    # the graph comes from Link's metadata (canvas ids mapped to cells by Python)
    expect(ui.panel.locator(".react-flow__node")).to_have_count(3)
    expect(ui.panel.locator(".react-flow__edge")).to_have_count(3)
    for name in ("setup", "load", "plot"):
        ui.expect_status(name, "not-run")
    bar = ui.panel.locator(".jp-cellpipe-linkbar")
    expect(bar).to_contain_text("MakinaRocks Link")
    # Link's parameters are shown before conversion (read only), its header colours as accents
    value = ui.panel.locator('.jp-cellpipe-param[data-name="rate"] .jp-cellpipe-param-value')
    expect(value).to_have_value("0.5")
    expect(value).to_have_attribute("readonly", "")
    expect(ui.panel.locator(".jp-cellpipe-param-add")).to_have_count(0)
    accents = {name: ui.node(name).locator(".jp-cellpipe-node-accent") for name in
               ("setup", "load", "plot")}
    expect(accents["setup"]).to_have_count(0)  # "inherit": no colour of its own
    expect(accents["load"]).to_have_css("background-color", "rgb(233, 30, 99)")
    expect(accents["plot"]).to_have_css("background-color", "rgb(0, 150, 136)")  # palette[2]
    # setup -> plot skips a level: it is drawn beside load, not behind it
    crossing = ui.panel.evaluate(EDGE_THROUGH_NODE, ["setup", "plot", "load"])
    assert crossing == {"points": crossing["points"], "inside": 0} and crossing["points"] > 20
    ui.screenshot("link-before")

    ui.panel.locator(".jp-cellpipe-convert").click()
    expect(ui.panel.locator(".jp-cellpipe-message")).to_contain_text(
        "3 components, 3 edges, 1 parameters")
    expect(ui.panel.locator(".jp-cellpipe-undo-convert")).to_be_visible()
    expect(ui.panel.locator(".react-flow__edge")).to_have_count(3)
    expect(ui.panel.locator('.jp-cellpipe-param[data-name="rate"] .jp-cellpipe-param-value')
           ).to_have_value("0.5")
    ui.screenshot("link-converted")
    ui.save()
    saved = ui.saved()
    meta = {c["id"]: c["metadata"] for c in saved["cells"]}
    assert meta["c-plot"] == {"cellpipe": {"name": "plot", "parents": ["c-load", "c-setup"]}}
    assert saved["metadata"]["cellpipe"]["parameters"] == {"rate": {"type": "float", "value": 0.5}}
    assert "canvas" not in saved["metadata"]

    # one click takes it back: Link's metadata as it was
    ui.panel.locator(".jp-cellpipe-undo-convert").click()
    expect(bar).to_be_visible()
    ui.save()
    again = ui.saved()
    assert again["metadata"]["canvas"]["parameters"][0]["value"] == "0.5"
    assert "cellpipe" not in again["metadata"]
    assert all("cellpipe" not in c["metadata"] and "canvas" in c["metadata"]
               for c in again["cells"])

    # converted, it runs like any cellpipe pipeline
    ui.panel.locator(".jp-cellpipe-convert").click()
    ui.run_node("plot")
    expect(ui.component_cell("plot").locator(".jp-OutputArea-output")).to_contain_text(
        "3", timeout=60_000)
    ui.expect_status("plot", "done")
