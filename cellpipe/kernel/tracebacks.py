"""Tracebacks that show the user's frames only, rendered by IPython's own formatter."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.terminal import get_terminal_size

from cellpipe.engine.tracebacks import user_traceback


def render(shell: InteractiveShell, exc: BaseException, filename: str) -> list[str]:
    """The structured traceback Jupyter would show for exc raised by the cell's code."""
    etype = type(exc)
    if isinstance(exc, SyntaxError) and user_traceback(exc.__traceback__, filename) is None:
        return shell.SyntaxTB.structured_traceback(etype, exc, [])  # type: ignore[arg-type]
    tb = user_traceback(exc.__traceback__, filename)
    # so %debug and %tb look at the user's error, as after a plain cell
    sys.last_type, sys.last_value, sys.last_traceback = etype, exc, tb
    exc.__traceback__ = tb
    return shell.InteractiveTB.structured_traceback(etype, exc, tb, tb_offset=0)


def style_of(shell: InteractiveShell, label: Any, files: Mapping[str, str]) -> dict[str, Any]:
    """How this shell renders a traceback, for a task process to render a component's error
    the same way: label is its cell's In[...] label, files the source files of the functions
    it may call -> their component's name (those this shell labels keep their labels; the
    others get the name, as IPythonExecutor.restore_source labels them here)."""
    names = shell.compile._filename_map
    return {"kind": "ipython", "mode": shell.InteractiveTB.mode, "theme": shell.colors,
            "columns": get_terminal_size()[0], "label": label,
            "labels": {f: names.get(f, name) for f, name in files.items()}}


def renderer(style: dict[str, Any]) -> Callable[[BaseException, str], list[str]]:
    """A function rendering an error raised by the code compiled under a file name as the
    shell style_of described would (in a task process, with a shell of its own)."""

    def render_styled(exc: BaseException, filename: str) -> list[str]:
        shell = InteractiveShell.instance(colors=style.get("theme", "neutral"),
                                          xmode=style.get("mode", "Context"))
        shell.compile._filename_map.update(style.get("labels", {}))
        shell.compile._filename_map[filename] = style.get("label", filename)
        saved = os.environ.get("COLUMNS")
        os.environ["COLUMNS"] = str(style.get("columns", 80))  # the client's ruler width
        try:
            return render(shell, exc, filename)
        finally:
            if saved is None:
                del os.environ["COLUMNS"]
            else:
                os.environ["COLUMNS"] = saved

    return render_styled
