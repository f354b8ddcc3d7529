"""Driving a real kernel with cellpipe loaded over the Jupyter protocol (`cellpipe run`, tests).

This is the same path JupyterLab takes: `%load_ext cellpipe`, a `cellpipe` comm for
sync/plan/captured and run events, and the protocol's run request executed like a cell.
"""

from __future__ import annotations

import json
import queue
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import nbformat
from jupyter_client.manager import KernelManager

from cellpipe.kernel.protocol import COMM_TARGET, RunRequest, run_code


class KernelFailure(RuntimeError):
    """The kernel died, or did not answer in time."""


@dataclass
class Execution:
    """What one execute request produced, as the client saw it."""

    reply: dict[str, Any]
    outputs: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> str:
        return str(self.reply.get("status"))

    @property
    def error(self) -> dict[str, Any] | None:
        return next((o for o in self.outputs if o["output_type"] == "error"), None)


MessageSink = Callable[[dict[str, Any]], None]


class PipelineKernel:
    """A started kernel with cellpipe loaded and a comm open. Use as a context manager."""

    def __init__(self, cwd: str | None = None, env: Mapping[str, str] | None = None,
                 kernel_name: str = "python3", timeout: float = 600) -> None:
        self.cwd = cwd
        self.env = dict(env) if env is not None else None
        self.kernel_name = kernel_name
        self.timeout = timeout
        self.comm_id = uuid.uuid4().hex
        self.events: list[dict[str, Any]] = []

    def __enter__(self) -> PipelineKernel:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def start(self) -> None:
        self.km = KernelManager(kernel_name=self.kernel_name)
        # the kernel's own TCP notice is noise on a loopback-only connection
        kwargs: dict[str, Any] = {"extra_arguments": ["--IPKernelApp.log_level=ERROR"]}
        if self.cwd:
            kwargs["cwd"] = self.cwd
        if self.env is not None:
            kwargs["env"] = self.env
        self.km.start_kernel(**kwargs)
        self.kc = self.km.blocking_client()
        self.kc.start_channels()
        try:
            self.kc.wait_for_ready(timeout=60)
        except RuntimeError as exc:
            self.shutdown()
            raise KernelFailure(f"the kernel did not start: {exc}") from None
        loaded = self.execute("%load_ext cellpipe", silent=True)
        if loaded.status != "ok":
            raise KernelFailure(f"could not load cellpipe in the kernel: {loaded.reply}")
        msg = self.kc.session.msg("comm_open", {"comm_id": self.comm_id,
                                                "target_name": COMM_TARGET, "data": {}})
        self.kc.shell_channel.send(msg)
        self._wait_idle(msg["header"]["msg_id"], None, [])

    def shutdown(self) -> None:
        kc = getattr(self, "kc", None)
        if kc is not None:
            kc.stop_channels()
        km = getattr(self, "km", None)
        if km is not None and km.has_kernel:
            # graceful, so the kernel finishes its background cache writes (atexit)
            # cache writes run after each run, in the background: give them time to finish
            # (jupyter_client kills a kernel that has not exited after shutdown_wait_time)
            km.shutdown_wait_time = max(km.shutdown_wait_time, 300.0)
            km.shutdown_kernel(now=False)

    def interrupt(self) -> None:
        self.km.interrupt_kernel()

    def stop_busy(self, wait: float = 10.0) -> None:
        """Interrupt what the kernel is running (after a timeout) and wait until it is idle,
        so the shutdown that follows is clean (finished results still get written)."""
        if not self.km.is_alive():
            return
        self.interrupt()
        deadline = time.monotonic() + wait
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                msg = self.kc.get_iopub_msg(timeout=min(remaining, 1.0))
            except queue.Empty:
                if not self.km.is_alive():
                    return
                continue
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                return

    # --- protocol -----------------------------------------------------------
    def _wait_idle(self, msg_id: str, on_message: MessageSink | None,
                   sink: list[dict[str, Any]]) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise KernelFailure(f"no answer from the kernel in {self.timeout:.0f} s")
            try:
                msg = self.kc.get_iopub_msg(timeout=min(remaining, 1.0))
            except queue.Empty:
                if not self.km.is_alive():
                    raise KernelFailure("the kernel died (out of memory, killed, or its "
                                        "process exited)") from None
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                if msg["msg_type"] == "comm_msg":  # events of a run started elsewhere
                    self.events.append(msg["content"]["data"])
                continue
            sink.append(msg)
            if msg["msg_type"] == "comm_msg":
                self.events.append(msg["content"]["data"])
            if on_message is not None:
                on_message(msg)
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                return

    def execute(self, code: str, silent: bool = False,
                on_message: MessageSink | None = None) -> Execution:
        """Execute code as a cell; collect its iopub messages and outputs."""
        msg_id = self.kc.execute(code, silent=silent, store_history=not silent)
        messages: list[dict[str, Any]] = []
        self._wait_idle(msg_id, on_message, messages)
        reply = self.kc.get_shell_msg(timeout=self.timeout)
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = self.kc.get_shell_msg(timeout=self.timeout)
        outputs = []
        for msg in messages:
            if msg["msg_type"] in ("stream", "display_data", "execute_result", "error"):
                outputs.append(nbformat.v4.output_from_msg(msg))
            elif msg["msg_type"] == "clear_output":
                outputs.clear()
        return Execution(reply["content"], outputs, messages)

    def request(self, data: dict[str, Any], on_message: MessageSink | None = None) -> dict[str, Any]:
        """Send one comm request and return its reply."""
        request_id = uuid.uuid4().hex
        msg = self.kc.session.msg("comm_msg", {"comm_id": self.comm_id,
                                               "data": {**data, "request_id": request_id}})
        self.kc.shell_channel.send(msg)
        messages: list[dict[str, Any]] = []
        self._wait_idle(msg["header"]["msg_id"], on_message, messages)
        for m in messages:
            if m["msg_type"] == "comm_msg" and m["content"]["data"].get("request_id") == request_id:
                return dict(m["content"]["data"])
        raise KernelFailure(f"the kernel did not answer the {data.get('op')!r} request")

    def sync(self, nb: Mapping[str, Any]) -> dict[str, Any]:
        """Send a notebook (dict or NotebookNode) as the pipeline to run."""
        cells = [
            {"id": c["id"], "cell_type": c["cell_type"], "source": c["source"],
             "metadata": dict(c.get("metadata", {}))}
            for c in nb["cells"]
        ]
        notebook = json.loads(json.dumps({"metadata": dict(nb.get("metadata", {})),
                                          "cells": cells}))
        return self.request({"op": "sync", "notebook": notebook})

    def run(self, component_id: str, *, force: bool = False, rerun_target: bool = False,
            parameters: Mapping[str, Any] | None = None,
            on_message: MessageSink | None = None) -> Execution:
        """The protocol's run request executed like a cell (parameters: typed values)."""
        request: RunRequest = {"op": "run", "target": component_id}
        if parameters:
            request["parameters"] = dict(parameters)
        if force:
            request["force"] = True
        if rerun_target:
            request["rerun_target"] = True
        return self.execute(run_code(request), on_message=on_message)
