"""Recording sys.stdout/sys.stderr writes as nbformat stream outputs (optionally echoed)."""

from __future__ import annotations

import sys
import time
from typing import Any


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
        """Turn buffered text into a stream output: one per flush, as ipykernel sends one
        stream message per flush and Jupyter records each as an output."""
        if not self._pending:
            return
        text = "".join(self._pending)
        self._pending = []
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


class CapturedStreams:
    """sys.stdout/sys.stderr into outputs while open; with echo, also to the streams they
    replaced. Restored on any exit (an error, an interrupt), pending text recorded."""

    def __init__(self, outputs: list[dict[str, Any]], echo: bool) -> None:
        self.outputs = outputs
        self.echo = echo

    def __enter__(self) -> tuple[StreamRecorder, StreamRecorder]:
        self._saved = sys.stdout, sys.stderr
        self.streams = (
            StreamRecorder("stdout", self.outputs, self._saved[0] if self.echo else None),
            StreamRecorder("stderr", self.outputs, self._saved[1] if self.echo else None),
        )
        sys.stdout, sys.stderr = self.streams  # type: ignore[assignment]
        return self.streams

    def __exit__(self, *exc: object) -> None:
        sys.stdout, sys.stderr = self._saved
        for stream in self.streams:
            stream.flush_pending()


