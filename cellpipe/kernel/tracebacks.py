"""Tracebacks that show the user's frames only, rendered by IPython's own formatter."""

from __future__ import annotations

import sys

from IPython.core.interactiveshell import InteractiveShell

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
