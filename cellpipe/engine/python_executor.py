"""Running a component in plain Python, no IPython: headless use, task processes, fast tests."""

from __future__ import annotations

import time
from typing import Any

from cellpipe.engine import cachekey
from cellpipe.engine.capture import CapturedStreams
from cellpipe.engine.cellcode import run_cell_code
from cellpipe.engine.errors import ComponentError, RunInterrupted
from cellpipe.engine.executor import ExecutionResult
from cellpipe.engine.tracebacks import (
    Renderer,
    format_user_frames,
    is_registered,
    register_source,
)
from cellpipe.model import Component


class PythonExecutor:
    """Executes components in this process with exec/eval; streams are captured.

    render formats an error raised by the code compiled under a file name (default: as
    Python does, from the component's first frame on), filename is the name the code is
    compiled under (default `<component NAME>`); a task process passes those the client's
    executor would use, so a remote error reads as a local one.
    """

    def __init__(self, render: Renderer | None = None,
                 filename: str | None = None) -> None:
        self.render = render or format_user_frames
        self.filename = filename

    def execute(
        self, component: Component, namespace: dict[str, Any], *, echo: bool, label: str
    ) -> ExecutionResult:
        outputs: list[dict[str, Any]] = []
        filename = self.filename or f"<component {component.name}>"
        source = cachekey.transform(component.code)
        register_source(filename, source)
        start = time.perf_counter()
        try:
            with CapturedStreams(outputs, echo) as streams:
                value = run_cell_code(source, filename, namespace)
                if value is not None:
                    for stream in streams:
                        stream.flush_pending()
                    text = repr(value)
                    outputs.append({"output_type": "execute_result", "execution_count": None,
                                    "data": {"text/plain": text}, "metadata": {}})
                    if echo:
                        streams[0].echo.write(text + "\n")
        except KeyboardInterrupt as exc:
            raise RunInterrupted(component.name, self.render(exc, filename)) from None
        except BaseException as exc:  # noqa: BLE001 - user code may raise anything
            lines = self.render(exc, filename)
            return ExecutionResult(
                outputs,
                ComponentError(component.id, component.name, type(exc).__name__, str(exc), lines),
                time.perf_counter() - start,
            )
        return ExecutionResult(outputs, None, time.perf_counter() - start, filename)

    def restore_source(self, component: Component, source_file: str) -> None:
        if not is_registered(source_file):
            register_source(source_file, cachekey.transform(component.code))
