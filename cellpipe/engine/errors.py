"""Errors raised while running a pipeline."""

from __future__ import annotations

from typing import Any


def one_line(ename: str, message: object) -> str:
    """An error that is not the user's code's, as one red line (`Name: message`)."""
    return f"\x1b[1;31m{ename}\x1b[0m: {message}"


class ComponentError(Exception):
    """A component's code raised; carries the user-frames-only rendered traceback.

    IPython shows `_render_traceback_()` instead of its own traceback, so the user sees
    exactly what Jupyter would show for that cell's code, with no cellpipe frames.
    """

    def __init__(
        self,
        component_id: str,
        component_name: str,
        ename: str,
        evalue: str,
        traceback: list[str],
        target_name: str | None = None,
    ) -> None:
        super().__init__(evalue)
        self.component_id = component_id
        self.component_name = component_name
        self.ename = ename
        self.evalue = evalue
        self.traceback = traceback
        self.target_name = target_name
        # what the component showed before it raised, and its traceback as its own cell
        # would show it (traceback may carry a first line naming it for its descendant)
        self.outputs: list[dict[str, Any]] = []
        self.own_traceback: list[str] = traceback
        # IPython shows a magic's UsageError as one line on stderr, not as an error output
        self.on_stderr = False

    def error_output(self) -> dict[str, Any]:
        """The error as an nbformat output of the component's own cell."""
        if self.on_stderr:
            return {"output_type": "stream", "name": "stderr",
                    "text": f"{self.ename}: {self.evalue}\n"}
        return {"output_type": "error", "ename": self.ename, "evalue": self.evalue,
                "traceback": list(self.own_traceback)}

    def _render_traceback_(self) -> list[str]:
        return self.traceback

    def __str__(self) -> str:
        return self.evalue

    @classmethod
    def one_line(cls, component_id: str, component_name: str, ename: str,
                 evalue: str) -> ComponentError:
        """A failure around the component (a worker, a transport) as its error, one line."""
        return cls(component_id, component_name, ename, evalue, [one_line(ename, evalue)])

    def as_named(self) -> ComponentError:
        """The same error as an instance of a subclass named like the user's exception
        (so Jupyter's error message says `ZeroDivisionError`, not `ComponentError`)."""
        cls = type(self.ename, (ComponentError,), {"__module__": "builtins"})
        named = cls(self.component_id, self.component_name, self.ename, self.evalue,
                    self.traceback, self.target_name)
        named.outputs, named.own_traceback = self.outputs, self.own_traceback
        named.on_stderr = self.on_stderr
        return named


class RunInterrupted(KeyboardInterrupt):
    """The run was interrupted (SIGINT); completed components keep their results."""

    def __init__(self, component_name: str, traceback: list[str] | None = None) -> None:
        super().__init__(f"interrupted while running component {component_name!r}")
        self.component_name = component_name
        self.traceback = traceback or [f"KeyboardInterrupt: {self.args[0]}"]

    def _render_traceback_(self) -> list[str]:
        return self.traceback

    def as_named(self) -> RunInterrupted:
        """The same interrupt as a class named KeyboardInterrupt, as Jupyter reports it."""
        cls = type("KeyboardInterrupt", (RunInterrupted,), {"__module__": "builtins"})
        return cls(self.component_name, self.traceback)
