"""Loading cellpipe into IPython: one KernelSession, the magics and the comm target."""

from __future__ import annotations

from typing import Any

from cellpipe.kernel.magics import CellpipeMagics
from cellpipe.kernel.session import KernelSession

_SESSIONS: dict[int, KernelSession] = {}


def session_for(shell: Any) -> KernelSession:
    """The KernelSession of this shell (made on first use)."""
    key = id(shell)
    if key not in _SESSIONS:
        _SESSIONS[key] = KernelSession(shell)
    return _SESSIONS[key]


def load(shell: Any) -> None:
    """Idempotent: loading twice keeps the same session."""
    first = id(shell) not in _SESSIONS
    session = session_for(shell)
    shell.register_magics(CellpipeMagics(shell, session))
    if first and getattr(shell, "kernel", None) is not None:
        from cellpipe.kernel import comm

        comm.register(session)


def unload(shell: Any) -> None:
    session = _SESSIONS.pop(id(shell), None)
    if session is not None and getattr(shell, "kernel", None) is not None:
        from cellpipe.kernel import comm

        comm.unregister()
