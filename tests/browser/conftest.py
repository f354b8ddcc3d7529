"""A real `jupyter lab` (loopback, free port, token auth) and headless Debian chromium."""

from __future__ import annotations

import json
import os
import random
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from processes import JupyterServer

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM = os.environ.get("CELLPIPE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


class Lab:
    """A running JupyterLab server and where its files live."""

    def __init__(self, url: str, token: str, root: Path) -> None:
        self.url = url
        self.token = token
        self.root = root

    def notebook_url(self, name: str) -> str:
        return f"{self.url}/lab/tree/{name}?token={self.token}&reset"

    def write_notebook(
        self,
        name: str,
        sources: list[str],
        components: dict[int, tuple[str, list[int]]] | None = None,
        parameters: dict | None = None,
        workers: dict[int, str] | None = None,
    ) -> Path:
        """An nbformat 4.5 notebook; `components` maps a cell index to (name, parent indexes)."""
        components = components or {}
        cells = []
        for i, src in enumerate(sources):
            meta = {}
            if i in components:
                cname, parents = components[i]
                meta["cellpipe"] = {"name": cname, "parents": sorted(f"cell{p}" for p in parents)}
                if workers and i in workers:
                    meta["cellpipe"]["worker"] = workers[i]
            cells.append(
                {
                    "cell_type": "code",
                    "id": f"cell{i}",
                    "metadata": meta,
                    "source": src,
                    "outputs": [],
                    "execution_count": None,
                }
            )
        nb = {
            "nbformat": 4,
            "nbformat_minor": 5,
            "metadata": {
                "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
            },
            "cells": cells,
        }
        if parameters is not None:
            nb["metadata"]["cellpipe"] = {"version": 1, "parameters": parameters}
        path = self.root / name
        path.write_text(json.dumps(nb, indent=1))
        return path

    def write_layered(self, name: str, n: int, seed: int = 1) -> dict[int, tuple[str, list[int]]]:
        """A notebook of n components in levels (a layered DAG), each with 1-3 parents from
        the three levels above, one of them in the level right above; returns its components."""
        components = layered_dag(n, seed)
        sources = []
        for i in range(n):
            parents = components[i][1]
            sources.append(f"v{i} = " + (" + ".join(f"v{p}" for p in parents) + " + 1"
                                         if parents else "1"))
        self.write_notebook(name, sources, components)
        return components

    def read_notebook(self, name: str) -> dict:
        return json.loads((self.root / name).read_text())


WORDS = ["load", "clean", "join", "features", "split", "train", "score", "plot", "report",
         "export", "sample", "filter"]


def layered_dag(n: int, seed: int = 1) -> dict[int, tuple[str, list[int]]]:
    """index -> (name, parent indexes): levels of about 0.8 sqrt(n) components, each with
    1-3 parents from the three levels above (one in the level right above)."""
    rng = random.Random(seed)
    width = max(3, round(0.8 * n ** 0.5))
    components: dict[int, tuple[str, list[int]]] = {}
    for i in range(n):
        level = i // width
        name = f"{WORDS[i % len(WORDS)]} {i:03d}"
        if level == 0:
            components[i] = (name, [])
            continue
        above = range((level - 1) * width, level * width)
        parents = {rng.choice(above)}
        for _ in range(rng.randint(0, 2)):
            up = max(0, level - 1 - rng.randint(0, 2))
            parents.add(rng.randrange(up * width, (up + 1) * width))
        components[i] = (name, sorted(parents))
    return components


def _labextension_built() -> bool:
    return (ROOT / "cellpipe" / "labextension" / "package.json").exists()


def _link_labextension() -> None:
    """Serve this tree's build: an editable pip install leaves a copy that goes stale."""
    installed = Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "cellpipe"
    built = ROOT / "cellpipe" / "labextension"
    if installed.is_symlink() and installed.resolve() == built.resolve():
        return
    done = subprocess.run(
        [str(Path(sys.executable).parent / "jupyter-builder"), "develop", "--overwrite", str(ROOT)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.fail(
            f"could not link {built} into {installed} (install cellpipe with `pip install -e .`):\n"
            + done.stderr[-2000:]
        )


def _quiet_settings(settings: Path) -> None:
    """No news pop-up over the page."""
    target = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))


@contextmanager
def run_lab(base: Path, extra_args: tuple[str, ...] = ()) -> Iterator[Lab]:
    """A JupyterLab server with its own settings, workspaces, cache and notebooks under base;
    stopped (and its log kept in the artifacts) on exit."""
    if not _labextension_built():
        pytest.fail("the labextension is not built: run `bash scripts/setup.sh` (jlpm build)")
    _link_labextension()
    _quiet_settings(base / "settings")
    root = base / "notebooks"
    root.mkdir()
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(base / "config"),
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
        "CELLPIPE_CACHE_DIR": str(base / "cache"),
        "CELLPIPE_CONFIG_DIR": str(base / "cellpipe-config"),  # the worker registry
        "IPYTHONDIR": str(base / "ipython"),
        "PYTHONUNBUFFERED": "1",
    }
    args = [
        "--ServerApp.jpserver_extensions={'cellpipe': True}",
        f"--LabApp.user_settings_dir={base / 'settings'}",
        f"--LabApp.workspaces_dir={base / 'workspaces'}",
        "--LabApp.news_url=''",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        *extra_args,
    ]
    server = JupyterServer(root, env, base / "lab.log", token=secrets.token_hex(16),
                           app="jupyterlab", args=args, cwd=root)
    try:
        with server:
            yield Lab(server.url, server.token, root)
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(base / "lab.log", ARTIFACTS / f"{base.name}.log")


# Real-time collaboration off: each page has a notebook of its own (the collaboration tests
# start a server of their own with it on).
NO_COLLABORATION = ("--YDocExtension.disable_rtc=True",)


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    try:
        import jupyter_collaboration  # noqa: F401
        extra = NO_COLLABORATION
    except ImportError:
        extra = ()
    with run_lab(tmp_path_factory.mktemp("lab"), extra) as running:
        yield running


@pytest.fixture(scope="session")
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (scripts/setup.sh does)")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1500, "height": 950})
    page = context.new_page()
    page.set_default_timeout(30_000)
    messages: list[str] = []
    page.on("console", lambda m: messages.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: messages.append(f"pageerror: {e}"))
    yield page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = request.node.name
    try:
        page.screenshot(path=str(ARTIFACTS / f"{name}-final.png"))
    except Exception:  # the page may be gone after a failure
        pass
    (ARTIFACTS / f"{name}-console.log").write_text("\n".join(messages))
    context.close()
