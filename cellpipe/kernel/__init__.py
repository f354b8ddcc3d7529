"""The IPython side: run components in the kernel, capture outputs, talk to the front end."""

from __future__ import annotations

from typing import Any

__all__ = ["load", "session_for", "unload"]


def __getattr__(name: str) -> Any:
    # lazily, so `python -m cellpipe.kernel.protocol` and the server need not import IPython
    if name in __all__:
        from cellpipe.kernel import extension

        return getattr(extension, name)
    raise AttributeError(f"module 'cellpipe.kernel' has no attribute {name!r}")
