"""How this kernel's shell renders tracebacks, described for a task that renders elsewhere."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.terminal import get_terminal_size


def style_of(shell: InteractiveShell, label: Any, files: Mapping[str, str]) -> dict[str, Any]:
    """How this shell renders a traceback, for a task process to render a component's error
    the same way (`engine.tracebacks.renderer`): label is its cell's In[...] label, files
    the source files of the functions it may call -> their component's name (those this
    shell labels keep their labels; the others get the name, as
    IPythonExecutor.restore_source labels them here)."""
    names = shell.compile._filename_map
    return {"kind": "ipython", "mode": shell.InteractiveTB.mode, "theme": shell.colors,
            "columns": get_terminal_size()[0], "label": label,
            "labels": {f: names.get(f, name) for f, name in files.items()}}
