"""The `cellpipe` comm: requests from the front end, replies and run events back.

The message shapes are defined in cellpipe/kernel/protocol.py (docs/protocol.md).
"""

from __future__ import annotations

from typing import Any

from cellpipe.kernel import protocol
from cellpipe.kernel.protocol import COMM_TARGET, KernelMessage
from cellpipe.kernel.session import KernelSession
from cellpipe.model import check_edge

__all__ = ["COMM_TARGET", "handle_request", "register", "unregister"]


def handle_request(session: KernelSession, data: dict[str, Any]) -> KernelMessage:
    """One request -> its reply (errors become {"op": "error"} naming what to do)."""
    op = data.get("op")
    reply: KernelMessage
    try:
        if op == "sync":
            session.sync(data["notebook"])
            reply = session.state()
        elif op == "state":
            reply = session.state(flush=data.get("flush") is True)
        elif op == "plan":
            reply = session.plan(data["target"], force=bool(data.get("force")),
                                 rerun_target=bool(data.get("rerun_target")))
        elif op == "targets":
            reply = {"op": "targets", "ids": session.targets(data["mode"], data.get("id"))}
        elif op == "captured":
            reply = session.captured(data["id"])
        elif op == "check_edge":
            check_edge(session.require_pipeline(), data["parent"], data["child"])
            reply = {"op": "edge_ok"}
        elif op == "run":  # its output belongs to a cell: it comes as an execute request
            reply = protocol.error("UnknownRequest", "send a run request as the code of an "
                                   "execute request (protocol.run_code), not on the comm")
        else:
            reply = protocol.error("UnknownRequest", f"unknown request {op!r}")
    except KeyError as exc:
        reply = protocol.error(
            type(exc).__name__,
            str(exc) if type(exc) is not KeyError else f"missing field {exc}")
    except Exception as exc:  # every failure is answered, never dropped
        reply = protocol.error(type(exc).__name__, str(exc))
    if "request_id" in data:
        reply["request_id"] = data["request_id"]
    return reply


def register(session: KernelSession) -> None:
    """Accept `cellpipe` comms opened by front ends (JupyterLab, the CLI)."""
    import comm as comm_pkg

    manager = comm_pkg.get_comm_manager()

    def on_open(comm: Any, open_msg: dict[str, Any]) -> None:
        def send(message: KernelMessage) -> None:
            comm.send(message)

        session.listeners.append(send)

        def on_msg(msg: dict[str, Any]) -> None:
            comm.send(handle_request(session, msg["content"]["data"]))

        def on_close(_msg: dict[str, Any]) -> None:
            if send in session.listeners:
                session.listeners.remove(send)

        comm.on_msg(on_msg)
        comm.on_close(on_close)
        first = open_msg.get("content", {}).get("data") or {}
        if first.get("op"):
            comm.send(handle_request(session, first))

    manager.register_target(COMM_TARGET, on_open)


def unregister() -> None:
    import comm as comm_pkg

    comm_pkg.get_comm_manager().unregister_target(COMM_TARGET, None)
