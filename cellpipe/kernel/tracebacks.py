"""Tracebacks that show the user's frames only, rendered by IPython's own formatter."""

from __future__ import annotations

import sys
from types import TracebackType

from IPython.core.interactiveshell import InteractiveShell


def user_traceback(tb: TracebackType | None, filename: str) -> TracebackType | None:
    """tb from the first frame of the component's code on (cellpipe's frames dropped)."""
    while tb is not None and tb.tb_frame.f_code.co_filename != filename:
        tb = tb.tb_next
    return tb


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
