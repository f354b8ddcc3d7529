"""Capturing a component's outputs inside IPython, in nbformat output form.

While an ancestor runs, stream writes, `display()`/`update_display`, `clear_output` and
matplotlib inline figures are recorded instead of reaching the client; for the target
they are recorded *and* passed through. Everything is restored on exit, also after an
error or an interrupt.
"""

from __future__ import annotations

import sys
from typing import Any

from IPython.core.displaypub import DisplayPublisher
from IPython.core.interactiveshell import InteractiveShell

from cellpipe.engine.capture import CapturedStreams, StreamRecorder


class RecordingDisplayPublisher(DisplayPublisher):
    """A DisplayPublisher that appends display_data outputs (and optionally forwards)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reset([], None)

    def reset(self, outputs: list[dict[str, Any]], forward: DisplayPublisher | None,
              streams: tuple[StreamRecorder, ...] = ()) -> None:
        """Record into outputs from now on (a publisher is costly to make: reuse it)."""
        self._streams = streams
        self._outputs = outputs
        self._forward = forward
        self._clear_pending = False

    def publish(self, data: dict[str, Any], metadata: dict[str, Any] | None = None,
                source: str | None = None, *, transient: dict[str, Any] | None = None,
                update: bool = False, **kwargs: Any) -> None:
        for stream in self._streams:  # as ipykernel flushes stdout/stderr before a display
            stream.flush_pending()
        if self._clear_pending:
            self._outputs.clear()
            self._clear_pending = False
        display_id = (transient or {}).get("display_id")
        output = {"output_type": "display_data", "data": dict(data),
                  "metadata": dict(metadata or {})}
        replaced = False
        if display_id is not None:
            for i, old in enumerate(self._outputs):
                if old.get("_display_id") == display_id and update:
                    self._outputs[i] = {**output, "_display_id": display_id}
                    replaced = True
            if not update:
                self._outputs.append({**output, "_display_id": display_id})
                replaced = True
        if not replaced and not update:
            self._outputs.append(output)
        if self._forward is not None:
            self._forward.publish(data, metadata, transient=transient, update=update, **kwargs)

    def clear_output(self, wait: bool = False) -> None:
        for stream in self._streams:
            stream.flush_pending()
        if wait:
            self._clear_pending = True
        else:
            self._outputs.clear()
        if self._forward is not None:
            self._forward.clear_output(wait)


class CaptureOutputs:
    """Record everything a piece of code shows; with echo, also let it through."""

    def __init__(self, shell: InteractiveShell, echo: bool = False,
                 publisher: RecordingDisplayPublisher | None = None) -> None:
        self.shell = shell
        self.echo = echo
        self.outputs: list[dict[str, Any]] = []
        self.publisher = publisher or RecordingDisplayPublisher(shell=shell)

    def __enter__(self) -> CaptureOutputs:
        self._saved_pub = self.shell.display_pub
        self._swap = CapturedStreams(self.outputs, self.echo)
        self._streams = self._swap.__enter__()
        self.publisher.reset(self.outputs, self._saved_pub if self.echo else None, self._streams)
        self.shell.display_pub = self.publisher
        return self

    def show_value(self, value: Any) -> None:
        """The last expression's value: recorded as execute_result (and shown, with echo)."""
        if value is None:
            return
        data, metadata = self.shell.display_formatter.format(value)
        for stream in self._streams:
            stream.flush_pending()
        self.outputs.append({"output_type": "execute_result", "data": data,
                             "metadata": metadata, "execution_count": None})
        if self.echo:
            self.shell.displayhook(value)

    def flush_figures(self) -> None:
        """Show matplotlib inline figures now, as Jupyter does at the end of a cell."""
        backend = sys.modules.get("matplotlib_inline.backend_inline")
        if backend is not None:
            backend.flush_figures()

    def __exit__(self, *exc: object) -> None:
        self.shell.display_pub = self._saved_pub
        self._swap.__exit__(*exc)
        self.publisher.reset([], None)
        for out in self.outputs:
            out.pop("_display_id", None)


def replay(shell: InteractiveShell, outputs: list[dict[str, Any]]) -> None:
    """Show recorded outputs again (a target served from the cache)."""
    for out in outputs:
        kind = out.get("output_type")
        if kind == "stream":
            stream = sys.stdout if out.get("name") == "stdout" else sys.stderr
            text = out.get("text", "")
            stream.write("".join(text) if isinstance(text, list) else text)
            stream.flush()
        elif kind in ("display_data", "execute_result"):
            shell.display_pub.publish(out.get("data", {}), out.get("metadata", {}))
