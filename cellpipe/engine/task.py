"""The task interface (DESIGN 5): what a remote step is, and what the runner asks of remote steps.

A task is a small message and so is its result: values never travel with them (inputs and
outputs are cache keys in the alias's data store). `cellpipe.remote` implements
`RemoteSteps` (backends, the task runner) and whoever builds a runner hands it one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from cellpipe.cache import CacheEntry, CacheStore
    from cellpipe.model import Component

OnOutput = Callable[[str, str], None]  # (stream name, text) as the task writes it

PROTOCOL_VERSION = 1


@dataclass
class Task:
    """One component to run: its code, the keys of the entries to apply first, in order."""

    task_id: str
    component_id: str
    component_name: str
    code: str
    key: str  # the cache key the result is stored under
    inputs: list[str]  # cache keys of its ancestors' entries, in run order
    parameters: dict[str, Any] = field(default_factory=dict)
    deadline: float = 86400.0  # seconds the task may run
    # file name -> code of the inputs' components, so tracebacks through functions they
    # defined show their source lines on the worker too
    sources: dict[str, str] = field(default_factory=dict)
    # input key -> the file name the client's entry says its functions were compiled under
    # (the data store's copy may come from an earlier client process, with another name)
    source_files: dict[str, str] = field(default_factory=dict)
    # how the client's executor renders a traceback, so a remote error reads as a local one:
    # {} is plain Python; {"kind": "ipython", "mode", "theme", "columns", "label", "labels",
    # "filename"} is IPython's formatter with the client's "Cell In[...]" labels (file name
    # -> label) and the file name the client would compile the code under
    traceback_style: dict[str, Any] = field(default_factory=dict)
    protocol: int = PROTOCOL_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | bytes) -> Task:
        raw = json.loads(text)
        return cls(**{k: raw[k] for k in cls.__dataclass_fields__ if k in raw})


@dataclass
class TaskResult:
    """How a task ended: status ok (entry stored under output_key), error or lost."""

    task_id: str
    status: str  # ok, error, lost
    output_key: str | None = None
    outputs: list[dict[str, Any]] = field(default_factory=list)
    ename: str = ""
    evalue: str = ""
    traceback: list[str] = field(default_factory=list)
    started: float = 0.0  # wall clock (time.time()) on the worker
    finished: float = 0.0
    elapsed: float = 0.0  # the component's own run time
    internal: bool = False  # the error is the task process's own (inputs, store, version)
    host: str = ""
    pid: int = 0  # the process that ran the task
    notes: list[str] = field(default_factory=list)  # what the client should know (a retry)
    protocol: int = PROTOCOL_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=repr)

    @classmethod
    def from_json(cls, text: str | bytes) -> TaskResult:
        raw = json.loads(text)
        return cls(**{k: raw[k] for k in cls.__dataclass_fields__ if k in raw})


@dataclass
class RemoteEvent:
    """What a followed task reported: ('output', (name, text)), ('status', words),
    ('result', TaskResult) or ('failed', exception)."""

    step_id: str
    task_id: str
    kind: str
    payload: Any


class RemoteSteps(Protocol):
    """Steps bound to a worker alias, as the runner drives them: check the alias, submit a
    task, follow the events of the tasks in flight, import a result, cancel."""

    inflight: Mapping[str, Any]  # step id -> what follows its task

    def backend(self, alias: str, component: Component) -> Any:
        """Open and check alias now (raises a ComponentError naming the alias)."""
        ...

    def has_room(self, alias: str) -> bool:
        ...

    def submit(self, component: Component, key: str, inputs: list[str], store: CacheStore,
               parameters: dict[str, Any], sources: dict[str, str],
               traceback_style: dict[str, Any] | None = None,
               source_files: dict[str, str] | None = None) -> None:
        """Ship the inputs the alias lacks, submit the task, follow it."""
        ...

    def next_event(self, timeout: float) -> RemoteEvent | None:
        ...

    def import_result(self, component: Component, result: TaskResult) -> CacheEntry:
        ...

    def finish(self, step_id: str) -> None:
        ...

    def cancel_all(self) -> None:
        ...
