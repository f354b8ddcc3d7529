"""cellpipe: notebook cells as the components of a cached pipeline (DAG)."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext cellpipe`: magics, the front-end comm and the component runner."""
    from cellpipe.kernel.extension import load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from cellpipe.kernel.extension import unload

    unload(ipython)


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "cellpipe"}]


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "cellpipe.server"}]
