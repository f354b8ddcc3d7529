"""Tracebacks that start at the component's own code: cellpipe's frames are dropped."""

from __future__ import annotations

import traceback
from types import TracebackType


def user_traceback(tb: TracebackType | None, filename: str) -> TracebackType | None:
    """tb from the first frame of the component's code on (cellpipe's frames dropped)."""
    while tb is not None and tb.tb_frame.f_code.co_filename != filename:
        tb = tb.tb_next
    return tb


def format_user_frames(exc: BaseException, filename: str) -> list[str]:
    """exc formatted like Python does, from the component's first frame on."""
    tb = None if isinstance(exc, SyntaxError) else user_traceback(exc.__traceback__, filename)
    return traceback.format_exception(type(exc), exc, tb)
