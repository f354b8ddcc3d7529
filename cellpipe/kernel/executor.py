"""Running a component's code inside IPython: compiled as a cell, outputs captured."""

from __future__ import annotations

import ast
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from cellpipe.engine.cellcode import run_cell_code
from cellpipe.engine.errors import ComponentError, RunInterrupted
from cellpipe.engine.executor import ExecutionResult
from cellpipe.engine.tracebacks import is_registered, register_source, render
from cellpipe.kernel.capture import CaptureOutputs, RecordingDisplayPublisher
from cellpipe.kernel.tracebacks import style_of
from cellpipe.model import Component


class IPythonExecutor:
    """Executes components in the kernel process, as Jupyter executes a cell."""

    def __init__(self, shell: InteractiveShell) -> None:
        self.shell = shell
        self.publisher = RecordingDisplayPublisher(shell=shell)

    def execute(
        self, component: Component, namespace: dict[str, Any], *, echo: bool, label: str
    ) -> ExecutionResult:
        shell = self.shell
        source = shell.transform_cell(component.code)
        # The target is labelled like the cell being run (In[N]); an ancestor by its name.
        number: Any = prompt_number(shell) if echo else label
        filename = shell.compile.cache(source, number, raw_code=component.code)
        start = time.perf_counter()
        capture = CaptureOutputs(shell, echo=echo, publisher=self.publisher)
        try:
            with capture, shell.builtin_trap:
                try:
                    with self._namespace_as_user_ns(namespace):
                        value = run_cell_code(source, filename, namespace,
                                              parse=self._parse, compiler=shell.compile)
                    capture.show_value(value)
                finally:
                    capture.flush_figures()
        except KeyboardInterrupt as exc:
            raise RunInterrupted(component.name, render(shell, exc, filename)) from None
        except UsageError as exc:  # a line magic's: IPython shows it as one line on stderr
            error = ComponentError(component.id, component.name, "UsageError", str(exc),
                                   [f"UsageError: {exc}"])
            error.on_stderr = True
            return ExecutionResult(capture.outputs, error, time.perf_counter() - start, filename)
        except BaseException as exc:  # noqa: BLE001 - user code may raise anything
            stb = render(shell, exc, filename)
            error = ComponentError(component.id, component.name, type(exc).__name__,
                                   str(exc), stb)
            return ExecutionResult(capture.outputs, error, time.perf_counter() - start, filename)
        return ExecutionResult(capture.outputs, None, time.perf_counter() - start, filename)

    def traceback_style(self, component: Component, *, echo: bool, label: str,
                        files: Mapping[str, str]) -> dict[str, Any]:
        """How execute would render this component's error (for a task that runs it
        elsewhere): its cell labelled as execute labels it, files as this shell does."""
        number: Any = prompt_number(self.shell) if echo else label
        style = style_of(self.shell, number, files)
        # the file name execute would compile it under (ipykernel's names end in .py, and
        # IPython's formatter then shows the blank lines around the failing one)
        code = component.code
        style["filename"] = self.shell.compile.get_code_name(code, self.shell.transform_cell(code),
                                                             number)
        return style

    def _parse(self, source: str, filename: str) -> ast.Module:
        return self.shell.compile.ast_parse(source, filename=filename)

    def restore_source(self, component: Component, source_file: str) -> None:
        """After a restart, functions from the disk cache still point at the file name their
        component was compiled under: register the source there, labelled by the name."""
        if not is_registered(source_file):
            register_source(source_file, self.shell.transform_cell(component.code))
        self.shell.compile._filename_map[source_file] = component.name

    @contextmanager
    def _namespace_as_user_ns(self, namespace: dict[str, Any]) -> Iterator[None]:
        """Magics (`%%time`, `%timeit`, `!cmd {var}`, `%who`) read and write shell.user_ns:
        point it at the component's namespace while its code runs."""
        shell = self.shell
        saved = shell.user_module, shell.user_ns
        module, shell.user_ns = shell.prepare_user_module(user_ns=namespace)
        shell.user_module = module
        try:
            yield
        finally:
            shell.user_module, shell.user_ns = saved
            _forget_namespace(module)


def prompt_number(shell: InteractiveShell) -> int:
    """The prompt number of the cell running now, the number IPython labels its frames with
    (IPython 9 counts the next cell already while one runs; its result has the right one)."""
    running = getattr(shell.displayhook, "exec_result", None)
    number = getattr(running, "execution_count", None)
    return number if isinstance(number, int) else shell.execution_count


def _forget_namespace(module: Any) -> None:
    """IPython makes a module class per namespace whose closure holds the namespace; classes
    sit in reference cycles, so only a garbage collection would free that namespace (and the
    run's values, big arrays included). Point the closure at an empty dict instead."""
    prop = type(module).__dict__.get("__dict__")
    fget = getattr(prop, "fget", None)
    for cell in getattr(fget, "__closure__", None) or ():
        if isinstance(cell.cell_contents, dict):
            cell.cell_contents = {}
