"""The Sweep… dialog and the sweep table in the pipeline panel, in a real JupyterLab."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import psutil
import pytest
from playwright.sync_api import expect

from tests.browser.labui import ARTIFACTS, NotebookUI

pytestmark = pytest.mark.browser


def test_sweep_dialog_table_sorting_best_row_and_choosing_a_row(lab, page):
    lab.write_notebook(
        "sw.ipynb",
        ["base = 3", "loss = (x - base) ** 2\nprint('x is', x)\nloss"],
        components={0: ("prep", []), 1: ("fit", [0])},
        parameters={"x": {"type": "int", "value": 0}},
    )
    ui = NotebookUI(page, lab, "sw.ipynb").open()
    section = ui.panel.locator(".jp-cellpipe-sweep-section")
    section.locator(".jp-cellpipe-sweep-start").click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog.locator('select[name="target"]')).to_have_value("cell1")  # the sink
    dialog.locator('input[name="param-x"]').fill("1,2,3,4,5")
    dialog.locator('input[name="objective"]').fill("loss")
    dialog.locator('input[name="jobs"]').fill("2")
    dialog.locator(".jp-Dialog-button.jp-mod-accept").click()

    table = section.locator(".jp-cellpipe-sweep-table")
    expect(section.locator('.jp-cellpipe-sweep-state[data-state="done"]')).to_be_visible(
        timeout=60_000)
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(5)
    assert [r.get_attribute("data-status") for r in rows.all()] == ["done"] * 5
    best = table.locator("tr.jp-mod-best")
    expect(best).to_have_count(1)
    expect(best).to_have_attribute("data-index", "2")  # x = 3: loss 0
    assert best.locator("td").first.inner_text() == "3"

    # sorting by loss, descending on the second click
    table.locator('th[data-column="loss"]').click()
    assert rows.first.get_attribute("data-index") == "2"
    table.locator('th[data-column="loss"]').click()
    assert [r.locator("td").first.inner_text() for r in rows.all()][:2] in (
        ["1", "5"], ["5", "1"])
    section.screenshot(path=str(ARTIFACTS / "sweep-table.png"))

    # choosing a row: its parameter goes into the form, its outputs into the cells
    table.locator('tr[data-index="4"]').click()
    expect(table.locator("tr.jp-mod-selected")).to_have_attribute("data-index", "4")
    value = ui.panel.locator('.jp-cellpipe-param[data-name="x"] .jp-cellpipe-param-value')
    expect(value).to_have_value("5")
    expect(ui.cell(1).locator(".jp-OutputArea-output").first).to_contain_text("x is 5")
    assert "4" in ui.outputs_text(ui.cell(1))


def call(lab, method: str, path: str, body=None) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{lab.url}/cellpipe/sweeps{path}", method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"token {lab.token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_sweep_endpoint_refuses_what_cannot_run_and_stop_ends_running_combinations(lab):
    pids = lab.root / "sweep-pids"
    notebook = {"metadata": {"cellpipe": {"version": 1, "parameters": {
        "x": {"type": "int", "value": 0}}}}, "cells": [
        {"id": "s", "cell_type": "code", "metadata": {"cellpipe": {"name": "slow", "parents": []}},
         "source": f"import os, time\nopen({str(pids)!r}, 'a').write(f'{{os.getpid()}}\\n')\n"
                   "time.sleep(60)\ny = x"}]}
    status, reply = call(lab, "POST", "", {"notebook": notebook, "target": "slow",
                                           "params": {"x": "1,nope"}})
    assert status == 400 and "expects int" in reply["message"]
    status, reply = call(lab, "POST", "", {"notebook": notebook, "target": "slow",
                                           "params": {"x": "1..5"}})
    assert status == 400 and "--trials" in reply["message"]
    status, sweep = call(lab, "POST", "", {"notebook": notebook, "target": "slow",
                                           "params": {"x": "1,2,3"}, "jobs": 2})
    assert status == 200 and sweep["state"] == "running"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(_read(pids)) < 2:
        time.sleep(0.1)
    running = _read(pids)
    assert len(running) == 2  # two combinations at once
    assert call(lab, "DELETE", f"/{sweep['id']}")[0] == 200
    while time.monotonic() < deadline:
        status, sweep = call(lab, "GET", f"/{sweep['id']}")
        if sweep["state"] != "running":
            break
        time.sleep(0.1)
    assert sweep["state"] == "stopped"
    assert [r["status"] for r in sweep["rows"]] == ["running"] * 3
    for pid in running:  # their task processes were killed
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"
    assert len(_read(pids)) == 2  # the third never started
    assert call(lab, "GET", "/0123abcd")[0] == 404


def _read(path):
    return [int(p) for p in path.read_text().split()] if path.exists() else []
