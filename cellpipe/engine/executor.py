"""The executor interface: how the engine runs one component's code, wherever that is.

The engine never knows the transport (DESIGN 5). In-process executors run code in the
namespace they are given; remote executors (later) ship the inputs and return a result.
"""

from __future__ import annotations

import ast
import linecache
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol

from cellpipe.engine import cachekey
from cellpipe.engine.errors import ComponentError, RunInterrupted
from cellpipe.model import Component


@dataclass
class ExecutionResult:
    """What running one component produced besides the namespace changes."""

    outputs: list[dict[str, Any]] = field(default_factory=list)
    error: ComponentError | None = None
    elapsed: float = 0.0
    source_file: str | None = None  # the file name the code was compiled under


class Executor(Protocol):
    """Runs a component's code in a namespace, capturing its outputs."""

    def execute(
        self, component: Component, namespace: dict[str, Any], *, echo: bool, label: str
    ) -> ExecutionResult:
        """Run component.code in namespace. Outputs are always recorded; with echo they
        also reach the user (the target), otherwise they are captured only (ancestors).
        An interrupt raises RunInterrupted, after capture is undone."""
        ...

    def restore_source(self, component: Component, source_file: str) -> None:
        """Make tracebacks through code restored from the cache (functions a cached
        component defined) show that component's source again."""
        ...


def split_last_expression(tree: ast.Module) -> tuple[ast.Module, ast.Expression | None]:
    """(body without a trailing expression, that expression) — the displayed value."""
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = tree.body[-1]
        body = ast.Module(body=tree.body[:-1], type_ignores=[])
        return body, ast.Expression(body=last.value)
    return tree, None


def ends_with_semicolon(code: str) -> bool:
    """IPython's rule: a trailing ';' on the last line hides the expression's value."""
    lines = [ln for ln in code.rstrip().splitlines() if ln.strip()]
    return bool(lines) and lines[-1].split("#")[0].rstrip().endswith(";")


class StreamRecorder:
    """A text stream that appends to nbformat stream outputs (and optionally echoes).

    Like ipykernel's OutStream it buffers: pending text becomes an output when it is older
    than the flush interval, before a display output, and at the end — so stdout and
    stderr interleave as a Jupyter client would record them.
    """

    flush_interval = 0.2

    def __init__(self, name: str, outputs: list[dict[str, Any]], echo: Any | None) -> None:
        self.name = name
        self.outputs = outputs
        self.echo = echo
        self._pending: list[str] = []
        self._since = 0.0

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if text:
            now = time.monotonic()
            if self._pending and now - self._since > self.flush_interval:
                self.flush_pending()
            if not self._pending:
                self._since = now
            self._pending.append(text)
            if self.echo is not None:
                self.echo.write(text)
        return len(text)

    def flush_pending(self) -> None:
        """Turn buffered text into (or onto) a stream output."""
        if not self._pending:
            return
        text = "".join(self._pending)
        self._pending = []
        last = self.outputs[-1] if self.outputs else None
        if last and last.get("output_type") == "stream" and last.get("name") == self.name:
            last["text"] += text
        else:
            self.outputs.append({"output_type": "stream", "name": self.name, "text": text})

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self.echo is not None:
            self.echo.flush()

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:
        return "utf-8"


@contextmanager
def captured_streams(
    outputs: list[dict[str, Any]], echo: bool
) -> Iterator[tuple[StreamRecorder, StreamRecorder]]:
    """sys.stdout/sys.stderr into outputs for the duration (restored on any exit)."""
    saved = sys.stdout, sys.stderr
    out = StreamRecorder("stdout", outputs, saved[0] if echo else None)
    errs = StreamRecorder("stderr", outputs, saved[1] if echo else None)
    sys.stdout, sys.stderr = out, errs  # type: ignore[assignment]
    try:
        yield out, errs
    finally:
        sys.stdout, sys.stderr = saved
        out.flush_pending()
        errs.flush_pending()


class PythonExecutor:
    """Plain Python, no IPython: for headless use, workers and fast tests."""

    def execute(
        self, component: Component, namespace: dict[str, Any], *, echo: bool, label: str
    ) -> ExecutionResult:
        outputs: list[dict[str, Any]] = []
        filename = f"<component {component.name}>"
        source = cachekey.transform(component.code)
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        start = time.perf_counter()
        try:
            tree = ast.parse(source, filename)
            body, last = split_last_expression(tree)
            if ends_with_semicolon(source):
                body, last = tree, None
            with captured_streams(outputs, echo) as streams:
                exec(compile(body, filename, "exec"), namespace)
                if last is not None:
                    value = eval(compile(last, filename, "eval"), namespace)
                    if value is not None:
                        for stream in streams:
                            stream.flush_pending()
                        text = repr(value)
                        outputs.append({"output_type": "execute_result", "execution_count": None,
                                        "data": {"text/plain": text}, "metadata": {}})
                        if echo:
                            streams[0].echo.write(text + "\n")
        except KeyboardInterrupt as exc:
            raise RunInterrupted(component.name, _user_frames_only(exc, filename)) from None
        except BaseException as exc:  # noqa: BLE001 - user code may raise anything
            lines = _user_frames_only(exc, filename)
            return ExecutionResult(
                outputs,
                ComponentError(component.id, component.name, type(exc).__name__, str(exc), lines),
                time.perf_counter() - start,
            )
        return ExecutionResult(outputs, None, time.perf_counter() - start, filename)

    def restore_source(self, component: Component, source_file: str) -> None:
        if source_file not in linecache.cache:
            source = cachekey.transform(component.code)
            linecache.cache[source_file] = (len(source), None, source.splitlines(True),
                                            source_file)


def user_traceback(tb: TracebackType | None, filename: str) -> TracebackType | None:
    """tb from the first frame of the component's code on (cellpipe's frames dropped)."""
    while tb is not None and tb.tb_frame.f_code.co_filename != filename:
        tb = tb.tb_next
    return tb


def _user_frames_only(exc: BaseException, filename: str) -> list[str]:
    tb = None if isinstance(exc, SyntaxError) else user_traceback(exc.__traceback__, filename)
    return traceback.format_exception(type(exc), exc, tb)
