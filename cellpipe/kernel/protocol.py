"""The kernel <-> front-end protocol on the `cellpipe` comm, defined once.

Every message the front end sends (a *request*) and every message the kernel sends (a *reply*
or an unsolicited *event*) is a TypedDict here; every closed set of strings (ops, statuses,
actions) is a Literal. The TypeScript types of the JupyterLab extension (`src/protocol.ts`)
and the message reference in `docs/protocol.md` are generated from this module
(`protocol_gen.py`):

    python -m cellpipe.kernel.protocol_gen --typescript > src/protocol.ts
    python -m cellpipe.kernel.protocol_gen --markdown   # the generated part of docs/protocol.md

and `tests/test_protocol.py` fails when either is out of date, when `src/` uses an op the
protocol does not know, or when the kernel sends a message that does not fit its type.
"""

from __future__ import annotations

import json
import sys
import types
import typing
from typing import Any, Literal, TypedDict, Union, cast, get_args, get_origin

COMM_TARGET = "cellpipe"

# --- closed sets of strings ---------------------------------------------------------------

StateStatus = Literal["not-run", "cached", "stale", "error", "invalid", "running"]

EventStatus = Literal["queued", "running", "cached", "done", "error", "interrupted"]

RunStatus = Literal["ok", "error", "interrupted"]

PlanAction = Literal["run", "cache"]

ParameterType = Literal["int", "float", "str", "bool", "json"]

TargetsMode = Literal["pipeline", "downstream"]

RequestOp = Literal["sync", "state", "plan", "targets", "captured", "check_edge", "run"]

MessageOp = Literal["state", "plan", "targets", "captured", "edge_ok", "error", "run", "event"]

STATE: Literal["state"] = "state"
RUN: Literal["run"] = "run"
EVENT: Literal["event"] = "event"
ERROR: Literal["error"] = "error"

# --- parts of messages ----------------------------------------------------------------------


class _ComponentState(TypedDict):
    name: str
    status: StateStatus
    reason: str | None
    parents: list[str]


class ComponentState(_ComponentState, total=False):
    """One component in a `state` message (`parents` are component ids). `blocked_by`: for
    a component without a current result (`not-run`, `stale`), the id of the nearest
    ancestor whose last run failed: it cannot run until that is fixed."""

    key: str
    blocked_by: str


class Parameter(TypedDict):
    """A pipeline parameter and its current value."""

    type: ParameterType
    value: Any


class PlanStep(TypedDict):
    """One component of a run's plan, in run order (ancestors first, the target last)."""

    id: str
    name: str
    action: PlanAction
    reason: str


class CacheUnwritten(TypedDict):
    """Results of this kernel that a full disk refused and that are still not on disk: how
    many, their bytes, and the sentence to show."""

    results: int
    bytes: int
    message: str


class SyncCell(TypedDict):
    """A cell of the live notebook, as the front end sends it (outputs are left out)."""

    id: str
    cell_type: str
    source: str
    metadata: dict[str, Any]


class SyncNotebook(TypedDict):
    """The live notebook, unsaved edits included."""

    metadata: dict[str, Any]
    cells: list[SyncCell]


# --- requests: front end -> kernel ----------------------------------------------------------


class _Request(TypedDict, total=False):
    request_id: str


class SyncRequest(_Request):
    """Take the live notebook; sent on open, after edits (debounced) and before every run.
    Reply: `state`."""

    op: Literal["sync"]
    notebook: SyncNotebook


class _StateRequest(_Request):
    op: Literal["state"]


class StateRequest(_StateRequest, total=False):
    """Reply: `state`. `flush`: first wait for the cache's disk writes (the CLI asks so
    before it stops the kernel, to report results a full disk refused)."""

    flush: bool


class _PlanRequest(_Request):
    op: Literal["plan"]
    target: str


class PlanRequest(_PlanRequest, total=False):
    """What a run of `target` would do. Reply: `plan`."""

    force: bool
    rerun_target: bool


class _TargetsRequest(_Request):
    op: Literal["targets"]
    mode: TargetsMode


class TargetsRequest(_TargetsRequest, total=False):
    """The components to run one after another, in topological order. Reply: `targets`."""

    id: str


class CapturedRequest(_Request):
    """The outputs a component produced in its latest result. Reply: `captured`."""

    op: Literal["captured"]
    id: str


class CheckEdgeRequest(_Request):
    """Would parent -> child be a valid edge? Reply: `edge_ok`, or an `error` naming the cycle."""

    op: Literal["check_edge"]
    parent: str
    child: str


class _RunRequest(_Request):
    op: Literal["run"]
    target: str


class RunRequest(_RunRequest, total=False):
    """Run `target` (a component id): its ancestors first, only its own output shown.
    Sent as the code of an execute request (`run_code`; `runCode` in src/protocol.ts), so
    the output reaches the cell being run; `parameters` are typed values (name -> value)
    for this run. Events: `run`, `event`, then `state`; a failure is the cell's error."""

    parameters: dict[str, Any]
    force: bool
    rerun_target: bool


# --- messages: kernel -> front end -------------------------------------------------------


class _Message(TypedDict, total=False):
    request_id: str


class _StateMessage(_Message):
    op: Literal["state"]
    components: dict[str, ComponentState]
    problems: list[str]
    notices: list[str]
    parameters: dict[str, Parameter]


class StateMessage(_StateMessage, total=False):
    """Every component's status (reply to `sync` and `state`, and sent after every run).
    `cache_unwritten`: results the cache's disk had no room for (absent when all fit)."""

    cache_unwritten: CacheUnwritten


class PlanMessage(_Message):
    """Reply to `plan`."""

    op: Literal["plan"]
    target: str
    steps: list[PlanStep]


class TargetsMessage(_Message):
    """Reply to `targets`."""

    op: Literal["targets"]
    ids: list[str]


class _CapturedMessage(_Message):
    op: Literal["captured"]
    id: str
    outputs: list[dict[str, Any]]
    run_of: str | None
    cached_at: str | None


class CapturedMessage(_CapturedMessage, total=False):
    """Reply to `captured`: nbformat output dicts; `run_of` names the target whose run made
    it; `failed`: the component's latest run failed (outputs end with its error)."""

    failed: bool


class EdgeOkMessage(_Message):
    """Reply to `check_edge` when the edge is fine."""

    op: Literal["edge_ok"]


class ErrorMessage(_Message):
    """Reply to any request that failed; `kind` is the Python exception's class name."""

    op: Literal["error"]
    kind: str
    message: str


class RunStartMessage(_Message):
    """Event: a run of `target` starts, with its plan."""

    op: Literal["run"]
    run_id: str
    target: str
    phase: Literal["start"]
    steps: list[PlanStep]


class _RunEndMessage(_Message):
    op: Literal["run"]
    run_id: str
    target: str
    phase: Literal["end"]
    status: RunStatus
    elapsed: float


class RunEndMessage(_RunEndMessage, total=False):
    """Event: a run ended (a fresh `state` follows). `notices`: cellpipe's own notes on the
    run (e.g. a value that cannot be pickled), for the panel; never in the cell's output."""

    notices: list[str]


class EventMessage(_Message):
    """Event: one component's status changed during a run (`elapsed` in seconds)."""

    op: Literal["event"]
    run_id: str
    target: str
    id: str
    name: str
    status: EventStatus
    elapsed: float | None
    reason: str | None
    worker: str | None


Request = Union[  # noqa: UP007 (a runtime union the generators read)
    SyncRequest, StateRequest, PlanRequest, TargetsRequest, CapturedRequest, CheckEdgeRequest,
    RunRequest,
]
KernelMessage = Union[  # noqa: UP007
    StateMessage, PlanMessage, TargetsMessage, CapturedMessage, EdgeOkMessage, ErrorMessage,
    RunStartMessage, RunEndMessage, EventMessage,
]

LITERALS: dict[str, tuple[Any, str]] = {
    "StateStatus": (StateStatus, "A component's status in a `state` message."),
    "EventStatus": (EventStatus, "A component's status in a run's `event` messages."),
    "RunStatus": (RunStatus, "How a run ended."),
    "PlanAction": (PlanAction, "What a run does with a component: execute it, or take its "
                               "result from the cache."),
    "ParameterType": (ParameterType, "The type of a pipeline parameter."),
    "TargetsMode": (TargetsMode, "`pipeline`: every sink; `downstream`: a component and its "
                                 "descendants."),
    "RequestOp": (RequestOp, "The op of a request (front end -> kernel)."),
    "MessageOp": (MessageOp, "The op of a message the kernel sends (a reply or an event)."),
}
PARTS: tuple[type, ...] = (ComponentState, Parameter, PlanStep, CacheUnwritten, SyncCell,
                           SyncNotebook)
REQUESTS: tuple[type, ...] = get_args(Request)
MESSAGES: tuple[type, ...] = get_args(KernelMessage)


# --- building messages (the kernel side) ---------------------------------------------------


def error(kind: str, message: str) -> ErrorMessage:
    return {"op": "error", "kind": kind, "message": message}


def request_op(data: dict[str, Any]) -> str | None:
    op = data.get("op")
    return op if isinstance(op, str) else None


# a run request travels as the code of an execute request: this magic, then its JSON
RUN_MAGIC = "%cellpipe_request"


def run_code(request: RunRequest) -> str:
    """The cell code that carries a run request (the front ends execute it like a cell)."""
    return f"{RUN_MAGIC} {json.dumps(request, separators=(',', ':'))}"


def read_run_request(text: str) -> RunRequest:
    """The run request in what follows the magic; ValueError naming what is wrong."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"a run request must be JSON: {exc}") from None
    found = (["not a run request"] if not isinstance(data, dict) or data.get("op") != "run"
             else problems_of(data, RunRequest))
    if found:
        raise ValueError("; ".join(found))
    return cast(RunRequest, data)


# --- checking messages ---------------------------------------------------------------------


def field_types(cls: type) -> dict[str, Any]:
    """A message type's fields -> their types (the forward references resolved)."""
    return typing.get_type_hints(cls, globalns=vars(sys.modules[__name__]))


def _fits(value: Any, tp: Any) -> bool:
    origin = get_origin(tp)
    if tp is Any:
        return True
    if tp is type(None) or tp is None:
        return value is None
    if origin is Literal:
        return value in get_args(tp)
    if origin in (Union, types.UnionType):
        return any(_fits(value, arg) for arg in get_args(tp))
    if origin is list:
        (item,) = get_args(tp)
        return isinstance(value, list) and all(_fits(v, item) for v in value)
    if origin is dict:
        key, item = get_args(tp)
        return isinstance(value, dict) and all(
            _fits(k, key) and _fits(v, item) for k, v in value.items()
        )
    if isinstance(tp, type) and hasattr(tp, "__required_keys__"):
        return not problems_of(value, tp)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(tp, type):
        return isinstance(value, tp)
    raise TypeError(f"protocol: cannot check type {tp!r}")


def problems_of(value: Any, cls: type) -> list[str]:
    """What makes value not a `cls` (a TypedDict): missing, unknown or ill-typed fields."""
    if not isinstance(value, dict):
        return [f"{cls.__name__}: not an object"]
    hints = field_types(cls)
    found = [f"{cls.__name__}: missing field {k!r}" for k in sorted(cls.__required_keys__)  # type: ignore[attr-defined]
             if k not in value]
    for k, v in value.items():
        if k not in hints:
            found.append(f"{cls.__name__}: unknown field {k!r}")
        elif not _fits(v, hints[k]):
            found.append(f"{cls.__name__}: field {k!r} = {v!r:.80} is not {_describe(hints[k])}")
    return found


def _describe(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _discriminators(cls: type) -> dict[str, Any]:
    """The Literal fields with one value (op, phase) that tell this message apart."""
    return {k: get_args(t)[0] for k, t in field_types(cls).items()
            if get_origin(t) is Literal and len(get_args(t)) == 1}


def classify(message: dict[str, Any], union: tuple[type, ...] = MESSAGES) -> type | None:
    for cls in union:
        if all(message.get(k) == v for k, v in _discriminators(cls).items()):
            return cls
    return None


def check_message(message: Any, union: tuple[type, ...] = MESSAGES) -> list[str]:
    """Problems of a message the kernel sends (or, with REQUESTS, the front end sends)."""
    if not isinstance(message, dict):
        return ["not an object"]
    cls = classify(message, union)
    if cls is None:
        return [f"unknown op {message.get('op')!r} (phase {message.get('phase')!r})"]
    return problems_of(message, cls)
