"""Inference in JupyterLab: Make Pipeline from Notebook (one undo takes it back), the check
warnings' badge and fix, the names on an edge, Suggest Parents; real server and chromium."""

from __future__ import annotations

import json
import re
import urllib.request

import pytest
from playwright.sync_api import expect

from tests.browser.labui import NotebookUI

pytestmark = pytest.mark.browser


def infer(lab, notebook: dict, only: str | None = None) -> dict:
    """What Python infers for a notebook (the endpoint the command calls)."""
    body = {"notebook": notebook, **({"only": only} if only else {})}
    request = urllib.request.Request(
        f"{lab.url}/cellpipe/pipeline/infer", data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"token {lab.token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def sixty_cells() -> list[str]:
    """A notebook as people write them: imports, settings, two strands of work that meet."""
    cells = ["import math\nimport statistics", "N = 12\nscale = 3"]
    for i in range(2, 60):
        if i % 10 == 0:
            cells.append(f"print('checkpoint', {i}, v{i - 2}, w{i - 1})")
        elif i % 2 == 0:
            prev = "N" if i < 4 else f"v{i - 2}" if (i - 2) % 10 else f"v{i - 4}"
            cells.append(f"v{i} = [x * scale for x in range({prev} if isinstance({prev}, int) "
                         f"else len({prev}))]")
        else:
            prev = "N" if i < 5 else f"w{i - 2}"
            cells.append(f"w{i} = math.sqrt({prev} if isinstance({prev}, (int, float)) "
                         f"else statistics.mean({prev}))")
    assert len(cells) == 60
    return cells


def command_mode_undo(ui: NotebookUI, index: int = 0) -> None:
    """The notebook's undo ("Undo Cell Operation", Z in command mode); JupyterLab's Ctrl+Z
    undoes the text of the active cell only."""
    ui.select_cell(index)
    ui.page.keyboard.press("Escape")
    ui.page.keyboard.press("z")


def source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def components(saved: dict) -> dict[str, dict]:
    return {c["id"]: c["metadata"]["cellpipe"] for c in saved["cells"]
            if "cellpipe" in c.get("metadata", {})}


def test_make_pipeline_from_notebook_and_undo(lab, page):
    path = lab.write_notebook("sixty.ipynb", sixty_cells())
    original = json.loads(path.read_text())
    ui = NotebookUI(page, lab, "sixty.ipynb").open()
    # offered in the panel while the notebook has no components
    offer = ui.panel.locator(".jp-cellpipe-make-pipeline")
    expect(offer).to_be_visible()
    ui.screenshot("00-offered")

    ui.run_palette("Make Pipeline from Notebook")
    expect(ui.panel.locator(".react-flow__node")).to_have_count(60, timeout=30_000)
    expect(ui.panel.locator(".jp-cellpipe-message-info")).to_contain_text(
        "Made a pipeline from the notebook")
    expect(offer).to_have_count(0)
    ui.screenshot("01-made")

    # exactly what Python infers, written into the cells
    ui.save()
    reply = infer(lab, original)
    want = {c["id"]: c["metadata"]["cellpipe"] for c in reply["cells"]}
    got = components(ui.saved())
    assert len(got) == 60
    assert {k: (v["name"], sorted(v["parents"])) for k, v in got.items()} == {
        k: (v["name"], sorted(v["parents"])) for k, v in want.items()}
    edges = sum(len(v["parents"]) for v in want.values())
    assert edges >= 59 - 6  # the strands are chains: far from 60 lonely components
    expect(ui.panel.locator(".react-flow__edge")).to_have_count(edges)

    # one undo takes the whole edit back
    command_mode_undo(ui)
    expect(ui.panel.locator(".react-flow__node")).to_have_count(0)
    expect(offer).to_be_visible()
    ui.screenshot("02-undone")
    ui.save()
    after = ui.saved()
    assert components(after) == {}
    assert [source(c) for c in after["cells"]] == [source(c) for c in original["cells"]]
    assert after["metadata"].get("cellpipe") == original["metadata"].get("cellpipe")


def test_check_warning_badge_fix_and_edge_names(lab, page):
    lab.write_notebook(
        "warned.ipynb",
        ["x = 1", "y = 2", "total = x + y\nprint(total)"],
        components={0: ("make x", []), 1: ("make y", []), 2: ("add", [1])},
    )
    ui = NotebookUI(page, lab, "warned.ipynb").open()
    badge = ui.node("add").locator(".jp-cellpipe-badge-warning")
    expect(badge).to_be_visible(timeout=30_000)
    expect(badge).to_have_attribute("title", re.compile(r"'add' reads x"))
    expect(ui.node("make y").locator(".jp-cellpipe-badge-warning")).to_have_count(0)

    # the edge make y -> add says what it carries while the pointer is on it
    edge = ui.panel.locator(".react-flow__edge").first
    expect(edge).to_have_attribute("aria-label", re.compile(r"\by\b"))
    box = ui._settled_box(edge.locator("path.react-flow__edge-path"))
    ui.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    expect(ui.panel.locator(".react-flow__edge-text")).to_have_text("y")
    ui.screenshot("01-warning-and-edge-names")

    # one click adds the missing parent; one undo takes it back
    badge.click()
    expect(ui.panel.locator(".react-flow__edge")).to_have_count(2)
    expect(badge).to_have_count(0, timeout=30_000)
    ui.screenshot("02-fixed")
    ui.save()
    ids = [c["id"] for c in ui.saved()["cells"]]
    assert components(ui.saved())[ids[2]]["parents"] == sorted([ids[0], ids[1]])
    command_mode_undo(ui, 0)
    expect(ui.panel.locator(".react-flow__edge")).to_have_count(1)
    expect(badge).to_be_visible(timeout=30_000)


def test_suggest_parents(lab, page):
    lab.write_notebook(
        "suggest.ipynb",
        ["import math", "x = 1", "y = 2", "total = math.floor(x + y)\nprint(total)"],
        components={1: ("make x", []), 2: ("make y", []), 3: ("add", [])},
    )
    ui = NotebookUI(page, lab, "suggest.ipynb").open()
    expect(ui.panel.locator(".react-flow__node")).to_have_count(3)
    expect(ui.panel.locator(".react-flow__edge")).to_have_count(0)
    ui.node_menu("add", "Suggest Parents")
    dialog = ui.page.locator(".jp-Dialog")
    expect(dialog).to_contain_text("Suggested parents of add")
    choices = dialog.locator(".jp-cellpipe-suggest-choice")
    expect(choices).to_have_count(3)
    expect(choices.filter(has_text="make x")).to_contain_text("gives x")
    expect(choices.filter(has_text="make y")).to_contain_text("gives y")
    # the import cell is not a component: it becomes one, under the name Python gives it
    imports = choices.filter(has_text="becomes a component")
    expect(imports).to_contain_text("gives math")
    assert all(c.locator("input").is_checked() for c in choices.all())
    ui.screenshot("01-dialog")
    dialog.locator(".jp-mod-accept").click()
    expect(dialog).to_have_count(0)
    expect(ui.panel.locator(".react-flow__node")).to_have_count(4)
    expect(ui.panel.locator(".react-flow__edge")).to_have_count(3)
    ui.screenshot("02-accepted")
    ui.save()
    saved = ui.saved()
    ids = [c["id"] for c in saved["cells"]]
    made = components(saved)
    assert made[ids[3]]["parents"] == sorted(ids[:3])
    assert made[ids[0]]["name"] not in ("", "cell 1") and made[ids[0]]["parents"] == []
    # one undo takes back the parents and the new component
    command_mode_undo(ui, 1)
    expect(ui.panel.locator(".react-flow__edge")).to_have_count(0)
    expect(ui.panel.locator(".react-flow__node")).to_have_count(3)
