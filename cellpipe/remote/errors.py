"""Errors of remote execution, each naming the worker alias so a user knows where to look."""

from __future__ import annotations


class RemoteError(Exception):
    """Base of remote-execution errors."""


class RegistryError(RemoteError):
    """A worker registration is malformed (alias, URL, option) or cannot be stored."""


class UnknownWorker(RemoteError):
    """A component names a worker alias that is not registered."""

    def __init__(self, alias: str, component: str | None = None) -> None:
        what = (f"component {component!r} is bound to worker {alias!r}, which is"
                if component else f"worker {alias!r} is")  # a whole sentence either way
        super().__init__(
            f"{what} not registered here: register it with "
            f"`cellpipe workers add {alias} --queue URL --store URL` (or pick another worker; "
            "`cellpipe workers list` shows them)"
        )
        self.alias = alias


class WorkerUnavailable(RemoteError):
    """The alias's queue, store or workers cannot be reached."""

    def __init__(self, alias: str, why: str) -> None:
        super().__init__(f"worker {alias!r} is unavailable: {why}")
        self.alias = alias
        self.why = why


class TaskLost(RemoteError):
    """A task ended without a result (its worker died, was stopped, or timed out)."""

    def __init__(self, alias: str, component: str, why: str) -> None:
        super().__init__(f"component {component!r} on worker {alias!r}: {why}")
        self.alias = alias
        self.component = component
        self.why = why


class DataStoreError(RemoteError):
    """The data store lacks an entry a task needs, or holds a damaged one."""
