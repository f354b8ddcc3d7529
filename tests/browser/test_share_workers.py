"""Workers panel, the per-component worker picker, and export/import from the pipeline panel."""

from __future__ import annotations

import json
import shutil
import tarfile

import pytest
from playwright.sync_api import expect
from processes import free_port

from tests.browser.labui import ARTIFACTS, NotebookUI

pytestmark = pytest.mark.browser


def test_workers_panel_adds_tests_and_removes_and_the_picker_lists_them(lab, page, tmp_path):
    lab.write_notebook("wk.ipynb", ["a = 1", "b = a"], components={0: ("A", []), 1: ("B", [0])})
    ui = NotebookUI(page, lab, "wk.ipynb").open()
    ui.panel.locator(".jp-cellpipe-share-section summary").click()
    ui.panel.locator(".jp-cellpipe-show-workers").click()
    panel = page.locator("#cellpipe-workers")
    expect(panel).to_be_visible()
    expect(panel.locator('.jp-cellpipe-worker[data-alias="local"]')).to_have_count(1)
    expect(panel.locator('.jp-cellpipe-worker[data-alias="local"] .jp-cellpipe-worker-remove')
           ).to_have_count(0)  # the builtin cannot be removed

    # a bad alias is refused with the server's message
    form = panel.locator(".jp-cellpipe-workers-add")
    form.locator('input[name="alias"]').fill("no spaces allowed")
    form.locator('input[name="queue"]').fill("redis://127.0.0.1:6379/0")
    form.locator('input[name="store"]').fill(f"file://{tmp_path}/store")
    form.locator("button").click()
    expect(panel.locator(".jp-cellpipe-workers-message.jp-mod-error")).to_contain_text("alias")

    # a worker whose queue nobody serves: added, and its test says why it fails
    port = free_port()  # nothing listens there
    form.locator('input[name="alias"]').fill("box")
    form.locator('input[name="queue"]').fill(f"redis://127.0.0.1:{port}/0")
    form.locator("button").click()
    row = panel.locator('.jp-cellpipe-worker[data-alias="box"]')
    expect(row).to_contain_text(f"127.0.0.1:{port}")
    row.locator(".jp-cellpipe-worker-test").click()
    status = row.locator(".jp-cellpipe-worker-status")
    expect(status).to_have_attribute("data-ok", "false", timeout=20_000)
    assert status.inner_text().startswith("✗")
    panel.screenshot(path=str(ARTIFACTS / "workers-panel.png"))

    # the picker (graph node menu) lists the registered workers
    ui.node_menu("B", "Set Component Worker")
    dialog = page.locator(".jp-Dialog")
    # this kernel, the built-in `local` worker (a fresh process), box
    expect(dialog.locator("select option")).to_have_count(3)
    options = dialog.locator("select option").all_inner_texts()
    assert options[:2] == ["this kernel (no worker)", "local (a fresh process on this machine)"]
    assert options[2].startswith("box")
    dialog.locator("select").select_option("box")
    dialog.locator(".jp-mod-accept").click()
    expect(ui.node("B").locator(".jp-cellpipe-badge-remote")).to_have_text("remote: box")
    expect(ui.component_cell("B")).to_contain_text("remote: box")
    ui.save()
    assert ui.saved()["cells"][1]["metadata"]["cellpipe"]["worker"] == "box"

    ui.run_palette("Show Workers")
    expect(panel).to_be_visible()
    row.locator(".jp-cellpipe-worker-remove").click()
    expect(row).to_have_count(0)
    registry = json.loads(next((lab.root.parent / "cellpipe-config").glob("*.json")).read_text())
    assert "box" not in json.dumps(registry)


def test_export_and_import_pipeline_and_cache_from_the_panel(lab, page, tmp_path):
    lab.write_notebook(
        "share_src.ipynb",
        ["base = 40", "print('answer', base + 2)"],
        components={0: ("base", []), 1: ("answer", [0])},
        parameters={"k": {"type": "int", "value": 3}},
    )
    ui = NotebookUI(page, lab, "share_src.ipynb").open()
    ui.run_node("answer")
    ui.expect_status("answer", "done")
    ui.panel.locator(".jp-cellpipe-share-section summary").click()

    # the pipeline as JSON: a download of the server's text
    with page.expect_download() as info:
        ui.panel.locator(".jp-cellpipe-export-pipeline").click()
    exported = tmp_path / info.value.suggested_filename
    info.value.save_as(exported)
    assert exported.name == "share_src.pipeline.json"
    data = json.loads(exported.read_text())
    assert sorted(c["name"] for c in data["components"]) == ["answer", "base"]

    # the pipeline as a standalone Python program (docs/production.md)
    with page.expect_download() as info:
        ui.panel.locator(".jp-cellpipe-export-program").click()
    program = tmp_path / info.value.suggested_filename
    info.value.save_as(program)
    assert program.name == "share_src.py"
    assert "def answer():" in program.read_text() and "import cellpipe" not in program.read_text()

    # the cache as an archive
    with page.expect_download() as info:
        ui.panel.locator(".jp-cellpipe-export-cache").click()
    archive = tmp_path / info.value.suggested_filename
    info.value.save_as(archive)
    assert archive.name.endswith(".cache.tar.gz") and tarfile.is_tarfile(archive)
    expect(ui.panel.locator(".jp-cellpipe-message")).to_contain_text("Exported 2 results")

    # into a new, empty notebook: the pipeline, then its results (asks first: unsigned).
    # The lab's kernels share one cache directory: as on another machine, the results
    # come only from the archive.
    for entry in (lab.root.parent / "cache" / "entries").glob("*"):
        shutil.rmtree(entry)
    lab.write_notebook("share_dst.ipynb", ["# empty"])
    dst = NotebookUI(page, lab, "share_dst.ipynb").open()
    dst.panel.locator(".jp-cellpipe-share-section summary").click()
    with page.expect_file_chooser() as chooser:
        dst.panel.locator(".jp-cellpipe-import-pipeline").click()
    chooser.value.set_files(str(exported))
    expect(dst.panel.locator(".react-flow__node")).to_have_count(2)
    expect(dst.panel.locator(".react-flow__edge")).to_have_count(1)
    expect(dst.panel.locator(".jp-cellpipe-message")).to_contain_text("Imported 2 components")
    dst.expect_status("answer", "not-run")
    dst.save()

    with page.expect_file_chooser() as chooser:
        dst.panel.locator(".jp-cellpipe-import-cache").click()
    chooser.value.set_files(str(archive))
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text("answer")
    dialog.locator(".jp-mod-accept").click()
    expect(dst.panel.locator(".jp-cellpipe-message")).to_contain_text("from the cache")
    dst.expect_status("answer", "cached")
    dst.expect_status("base", "cached")
    dst.screenshot("imported")
