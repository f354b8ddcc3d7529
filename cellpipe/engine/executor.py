"""The executor interface: how the engine runs one component's code, wherever that is.

The engine never knows the transport (DESIGN 5). In-process executors (`PythonExecutor`,
the kernel's `IPythonExecutor`) run code in the namespace they are given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from cellpipe.engine.errors import ComponentError
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

    # Optional: traceback_style(component, *, echo, label, files: file name -> component
    # name) -> dict, how execute would
    # render the component's error, so a task run elsewhere renders it the same way (see
    # cellpipe.engine.task.Task.traceback_style); without it a task renders as Python does.
