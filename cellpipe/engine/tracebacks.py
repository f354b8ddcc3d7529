"""Tracebacks that start at the component's own code: cellpipe's frames are dropped.

The traceback renderer every executor uses: Python's format, or IPython's formatter as a
given shell (the kernel's) or a described style (a task process rendering as its client).
"""

from __future__ import annotations

import linecache
import os
import sys
import traceback
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

# renders an error raised by the code compiled under a file name, as traceback lines
Renderer = Callable[[BaseException, str], list[str]]


def register_source(filename: str, source: str) -> None:
    """Make tracebacks through code compiled under filename show source's lines."""
    lines = [line + "\n" for line in source.splitlines()]
    linecache.cache[filename] = (len(source), None, lines, filename)


def is_registered(filename: str) -> bool:
    """Whether tracebacks through filename already have its source lines."""
    return filename in linecache.cache


def user_traceback(tb: TracebackType | None, filename: str) -> TracebackType | None:
    """tb from the first frame of the component's code on (cellpipe's frames dropped)."""
    while tb is not None and tb.tb_frame.f_code.co_filename != filename:
        tb = tb.tb_next
    return tb


def format_user_frames(exc: BaseException, filename: str) -> list[str]:
    """exc formatted like Python does, from the component's first frame on."""
    tb = None if isinstance(exc, SyntaxError) else user_traceback(exc.__traceback__, filename)
    return traceback.format_exception(type(exc), exc, tb)


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


def renderer(style: dict[str, Any]) -> Renderer:
    """How a client's executor renders an error (its `traceback_style`): Python's format
    for {}; for {"kind": "ipython", ...} IPython's formatter with the client's mode, theme,
    ruler width and cell labels (in a task process, with a shell of its own)."""
    if style.get("kind") != "ipython":
        return format_user_frames

    def render_styled(exc: BaseException, filename: str) -> list[str]:
        from IPython.core.interactiveshell import InteractiveShell

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
