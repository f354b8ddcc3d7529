"""The git History view and the conflict view in a real JupyterLab, driven in chromium."""

from __future__ import annotations

import copy
import json
import os
import subprocess

import pytest
from gitnbutil import by_id, cell, git_env, pipeline_notebook
from playwright.sync_api import expect

from cellpipe.gitnb.cells import dumps_notebook
from cellpipe.gitnb.files import merge_files
from tests.browser.conftest import ARTIFACTS
from tests.browser.labui import NotebookUI

KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}

pytestmark = pytest.mark.browser


def commit_two_versions(root, tmp_path) -> None:
    env = {**os.environ, **git_env(tmp_path)}
    v1 = pipeline_notebook()
    v1["metadata"]["kernelspec"] = KERNELSPEC
    v2 = copy.deepcopy(v1)
    v2["cells"].append(cell("plot", "plot(score)\n", "plot", ["train"]))
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, env=env, check=True)
    for nb, message in ((v1, "first pipeline"), (v2, "add plot")):
        (root / "hist.ipynb").write_text(dumps_notebook(nb))
        subprocess.run(["git", "add", "hist.ipynb"], cwd=root, env=env, check=True)
        subprocess.run(["git", "commit", "-q", "-m", message], cwd=root, env=env, check=True)


def test_history_view_lists_commits_shows_diffs_and_opens_an_old_version(lab, page, tmp_path):
    commit_two_versions(lab.root, tmp_path)
    history_steps(lab, page)
    copies = [p.name for p in lab.root.glob("hist@*.ipynb")]
    assert len(copies) == 1
    assert "plot" not in (lab.root / copies[0]).read_text()


def history_steps(lab, page) -> None:
    page.goto(lab.notebook_url("hist.ipynb"))
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=60_000)
    ui = NotebookUI(page, lab, "hist.ipynb")
    ui.select_cell(1)  # the notebook is the current widget: the command is enabled
    ui.cell(1).locator(".jp-InputPrompt").click(button="right")
    page.locator(".lm-Menu-item", has_text="Show Notebook History (git)").click()
    view = page.locator(".jp-cellpipe-git-history")
    commits = view.locator(".jp-cellpipe-git-commit")
    expect(commits).to_have_count(2)
    expect(commits.nth(0)).to_contain_text("add plot")
    expect(commits.nth(0)).to_contain_text("1 component(s) changed, edges +1/-0")
    detail = view.locator(".jp-cellpipe-git-detail")
    expect(detail.locator('g.node-added[data-id="plot"]')).to_have_count(1)
    expect(detail.locator(".jp-cellpipe-git-lines")).to_contain_text(
        '+ component "plot" (id plot): added')
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "gitnb-history-view.png"))
    commits.nth(1).click()
    expect(detail.locator("g.node-added")).to_have_count(4)
    expect(commits.nth(1)).to_have_class("jp-cellpipe-git-commit jp-mod-selected")
    detail.get_by_text("Open as new notebook").click()
    expect(page.locator(".lm-TabBar-tab", has_text="hist@")).to_have_count(1, timeout=30_000)


def test_conflicted_cell_shows_both_sides_and_keeps_theirs_in_one_click(lab, page):
    base = pipeline_notebook()
    base["metadata"]["kernelspec"] = KERNELSPEC
    base["metadata"]["cellpipe"]["parameters"] = {"lr": {"type": "float", "value": 0.1}}
    ours, theirs = copy.deepcopy(base), copy.deepcopy(base)
    by_id(ours)["train"]["source"] = "score = 4\n"
    by_id(theirs)["train"]["source"] = "score = 5\n"
    ours["metadata"]["cellpipe"]["parameters"]["lr"]["value"] = 0.2
    theirs["metadata"]["cellpipe"]["parameters"]["lr"]["value"] = 0.3
    merged = merge_files(*(dumps_notebook(nb) for nb in (base, ours, theirs)))
    assert merged.status == 1
    (lab.root / "conflict.ipynb").write_text(merged.text)
    conflict_steps(lab, page)
    saved_nb = json.loads((lab.root / "conflict.ipynb").read_text())
    assert saved_nb["metadata"]["cellpipe"]["parameters"]["lr"]["value"] == 0.3, saved_nb["metadata"]
    assert "cellpipe_merge" not in saved_nb["metadata"]
    saved = by_id(saved_nb)["train"]
    assert "".join(saved["source"]) == "score = 5\n"
    assert "cellpipe_merge" not in saved["metadata"]


def conflict_steps(lab, page) -> None:
    page.goto(lab.notebook_url("conflict.ipynb"))
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=60_000)
    notebook_bar = page.locator(".jp-cellpipe-notebook-conflict")
    expect(notebook_bar).to_contain_text("Both sides changed cellpipe.parameters.lr.value")
    notebook_bar.locator('button[data-choice="theirs"]').click()
    expect(notebook_bar).to_have_count(0)
    bar = page.locator(".jp-Cell .jp-cellpipe-conflict-bar")
    expect(bar).to_have_count(1)
    expect(page.locator(".jp-Cell.jp-cellpipe-conflict")).to_have_count(1)
    expect(bar).to_contain_text("Both sides changed the same lines of this cell.")
    expect(bar.locator("pre").nth(0)).to_have_text("score = 4\n")
    expect(bar.locator("pre").nth(1)).to_have_text("score = 5\n")
    bar.locator('button[data-choice="theirs"]').click()
    expect(bar).to_have_count(0)
    expect(page.locator(".jp-Cell.jp-cellpipe-conflict")).to_have_count(0)
    ui = NotebookUI(page, lab, "conflict.ipynb")
    ui.save()


# WCAG contrast ratio of an element's text colour against its background colour.
CONTRAST = """
el => {
  const rgb = s => s.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = c => {
    const [r, g, b] = c.map(v => { v /= 255; return v <= 0.03928 ? v / 12.92
                                   : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const style = getComputedStyle(el);
  const [a, b] = [lum(rgb(style.color)), lum(rgb(style.backgroundColor))];
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}
"""


# The on-screen font size of each text of an SVG: its font size times the SVG's scale.
SVG_TEXT_PX = """
texts => texts.map(t => {
  const svg = t.ownerSVGElement;
  const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
  return parseFloat(getComputedStyle(t).fontSize) * scale;
})
"""


def use_theme(page, theme: str) -> None:
    light = theme == "light"
    page.keyboard.press("Control+Shift+C")
    page.locator(".lm-CommandPalette-input").fill(
        "Use Theme: JupyterLab Light" if light else "Use Theme: JupyterLab Dark")
    page.locator(".lm-CommandPalette-item.lm-mod-active").click()
    expect(page.locator(f"body[data-jp-theme-light='{str(light).lower()}']")).to_have_count(
        1, timeout=30_000)
    expect(page.locator("#jupyterlab-splash")).to_have_count(0, timeout=30_000)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_history_and_conflicts_in_the_graph_in_each_theme(lab, page, tmp_path, theme):
    root = lab.root / f"repo-{theme}"
    root.mkdir()
    env = {**os.environ, **git_env(tmp_path)}
    v1 = pipeline_notebook()
    v1["metadata"]["kernelspec"] = KERNELSPEC
    v2 = copy.deepcopy(v1)
    by_id(v2)["train"]["source"] = "model = sum(data)\nscore = model / 3\nprint('trained')\n"
    v2["cells"].append(cell("plot", "plot(score)\n", "plot", ["train"]))
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, env=env, check=True)
    for nb, message in ((v1, "first pipeline"), (v2, "train divides by 3, add plot")):
        (root / "h.ipynb").write_text(dumps_notebook(nb))
        subprocess.run(["git", "add", "h.ipynb"], cwd=root, env=env, check=True)
        subprocess.run(["git", "commit", "-q", "-m", message], cwd=root, env=env, check=True)

    ui = NotebookUI(page, lab, f"repo-{theme}/h.ipynb").open()
    use_theme(page, theme)
    ui.select_cell(1)
    ui.run_palette("Show Notebook History (git)")
    view = page.locator(".jp-cellpipe-git-history")
    commits = view.locator(".jp-cellpipe-git-commit")
    expect(commits).to_have_count(2)
    # wide: a tab of its own in the notebook's area, not a column beside it
    assert view.bounding_box()["width"] > 780
    selected = view.locator(".jp-cellpipe-git-commit.jp-mod-selected")
    expect(selected).to_contain_text("train divides by 3")
    assert selected.evaluate(CONTRAST) >= 4.5
    # the DAG diff follows the theme (no white box in the dark theme)
    svg_bg = view.locator('.jp-cellpipe-git-svg svg > rect[width="100%"]').evaluate(
        "el => getComputedStyle(el).fill")
    panel_bg = view.evaluate("el => getComputedStyle(el).backgroundColor")
    if theme == "dark":
        assert svg_bg != "rgb(255, 255, 255)", svg_bg
    text_fill = view.locator(".jp-cellpipe-git-svg svg text").first.evaluate(
        "el => getComputedStyle(el).fill")
    assert text_fill != svg_bg
    # its labels read at 11 px or more at the view's default width
    label_px = view.locator(".jp-cellpipe-git-svg svg text").evaluate_all(SVG_TEXT_PX)
    assert label_px and min(label_px) >= 11, label_px
    # the changed code side by side, per cell
    train = view.locator('.jp-cellpipe-git-cell[data-cell="train"]')
    expect(train.locator(".cm-mergeView")).to_have_count(1)
    expect(train.locator(".cm-merge-a")).to_contain_text("score = model / 2")
    expect(train.locator(".cm-merge-b")).to_contain_text("score = model / 3")
    a_box = train.locator(".cm-merge-a").bounding_box()
    b_box = train.locator(".cm-merge-b").bounding_box()
    assert b_box["x"] >= a_box["x"] + a_box["width"] - 2 and a_box["width"] > 250
    view.screenshot(path=str(ARTIFACTS / f"git-history-{theme}.png"))
    train.scroll_into_view_if_needed()
    train.screenshot(path=str(ARTIFACTS / f"git-history-code-{theme}.png"))
    assert panel_bg

    # a merge conflict: the conflicted component is marked in the graph, and a click on it
    # brings its resolution bar into view
    base = pipeline_notebook()
    base["metadata"]["kernelspec"] = KERNELSPEC
    for extra in range(12):  # a long notebook: the conflicted cell starts out of view
        base["cells"].insert(1, cell(f"pad{extra}", f"pad_{extra} = {extra}\n" * 3))
    ours, theirs = copy.deepcopy(base), copy.deepcopy(base)
    by_id(ours)["report"]["source"] = "print('ours', score)\n"
    by_id(theirs)["report"]["source"] = "print('theirs', score)\n"
    merged = merge_files(*(dumps_notebook(nb) for nb in (base, ours, theirs)))
    assert merged.status == 1
    (root / "conflicted.ipynb").write_text(merged.text)
    ui2 = NotebookUI(page, lab, f"repo-{theme}/conflicted.ipynb")
    page.goto(lab.notebook_url(f"repo-{theme}/conflicted.ipynb"))
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=60_000)
    ui2.show_graph()
    expect(ui2.node("report").locator(".jp-cellpipe-node")).to_have_attribute(
        "data-mark", "conflict")
    expect(ui2.panel.locator('.jp-cellpipe-node[data-mark="conflict"]')).to_have_count(1)
    ui2.click_node("report")
    bar = page.locator(".jp-Cell .jp-cellpipe-conflict-bar")
    expect(bar).to_be_in_viewport()
    assert bar.evaluate(CONTRAST) >= 4.5  # readable in both themes
    ui2.screenshot(f"conflict-{theme}")
    bar.locator('button[data-choice="ours"]').click()
    expect(ui2.panel.locator('.jp-cellpipe-node[data-mark="conflict"]')).to_have_count(0)
    if theme == "dark":
        use_theme(page, "light")  # the next tests expect JupyterLab's default
