"""Running one Task (DESIGN 5): the code every backend's task process calls.

A fresh namespace gets the parameters and the task's input entries from the data store,
in order; the component runs with the plain Python executor; what it changed is stored in
the data store under the task's key (manifest last). Stream writes go to `emit` as they
happen, so a client can show remote stdout while the task runs.
"""

from __future__ import annotations

import os
import pickle
import socket
import sys
import time
from collections.abc import Iterable
from typing import Any

from cellpipe.cache import CacheEntry, StoredValue
from cellpipe.cache.values import (
    fingerprint_parts,
    load_value,
    load_values,
    pickle_parts,
    watch,
)
from cellpipe.engine import cachekey, rng
from cellpipe.engine.errors import RunInterrupted
from cellpipe.engine.namespace import RunNamespace
from cellpipe.engine.python_executor import PythonExecutor
from cellpipe.engine.task import PROTOCOL_VERSION, OnOutput, Task, TaskResult
from cellpipe.engine.tracebacks import register_source, renderer
from cellpipe.model import Component
from cellpipe.remote.datastore import DataStore
from cellpipe.remote.errors import RemoteError


class _EmitStream:
    """A text stream that hands every write to emit (the executor echoes into it)."""

    def __init__(self, name: str, emit: OnOutput) -> None:
        self.name = name
        self.emit = emit

    def write(self, text: str) -> int:
        if text:
            self.emit(self.name, text)
        return len(text)

    def flush(self) -> None:
        pass


def run_task(task: Task, store: DataStore, emit: OnOutput | None = None) -> TaskResult:
    """Run task against store; the result says ok (entry stored) or error (never raises
    for the user's code; an interrupt becomes an error result named KeyboardInterrupt)."""
    started = time.time()
    result = TaskResult(task.task_id, "error", started=started, host=socket.gethostname(),
                        pid=os.getpid())
    if task.protocol != PROTOCOL_VERSION:
        return _failed(result, "VersionMismatch",
                       f"the client speaks task protocol {task.protocol}, this worker "
                       f"{PROTOCOL_VERSION}: install the same cellpipe version on both")
    for filename, code in task.sources.items():
        register_source(filename, cachekey.transform(code))
    try:
        live = RunNamespace(dict(task.parameters))
        for key in task.inputs:
            entry = store.get(key, private=True)
            entry.source_file = task.source_files.get(key, entry.source_file)
            _apply_private(live, entry)
    except (RemoteError, OSError) as exc:
        return _failed(result, type(exc).__name__, f"cannot load the inputs: {exc}")
    component = Component(task.component_id, task.component_name, task.code)
    before = live.before()
    saved = sys.stdout, sys.stderr
    if emit is not None:
        sys.stdout, sys.stderr = _EmitStream("stdout", emit), _EmitStream("stderr", emit)
    try:
        executor = PythonExecutor(renderer(task.traceback_style),
                                  task.traceback_style.get("filename"))
        outcome = executor.execute(component, live.ns, echo=emit is not None,
                                   label=component.name)
    except RunInterrupted as exc:
        result.traceback = list(exc.traceback)
        return _failed(result, "KeyboardInterrupt", "the task was interrupted")
    finally:
        sys.stdout, sys.stderr = saved
    result.outputs = outcome.outputs
    result.elapsed = outcome.elapsed
    if outcome.error is not None:
        err = outcome.error
        result.ename, result.evalue, result.traceback = err.ename, err.evalue, err.traceback
        result.finished = time.time()
        return result
    variables, deleted, alone = _changes(live, before, cachekey.names_used(task.code))
    entry = CacheEntry(key=task.key, component_id=task.component_id, name=task.component_name,
                       parent_keys=[], variables=variables, deleted=deleted,
                       outputs=outcome.outputs, elapsed=outcome.elapsed, created=time.time(),
                       source_file=outcome.source_file)
    if entry.not_cacheable_reasons:
        return _failed(result, "NotPicklable",
                       f"{entry.not_cacheable_reasons[0]}; a remote component's results must "
                       "be picklable to come back")
    try:
        # this process ends with the task: the arrays it alone holds are dead once stored
        store.put(entry, dead=alone)
    except (RemoteError, OSError) as exc:
        return _failed(result, type(exc).__name__, f"cannot store the result: {exc}")
    result.status = "ok"
    result.output_key = task.key
    result.finished = time.time()
    return result


def _changes(live: RunNamespace, before: dict[str, Any], mentioned: Iterable[str],
             ) -> tuple[dict[str, StoredValue], list[str], list[str]]:
    """RunNamespace.changes, except that big numpy arrays the task bound are stored as they
    are: a long-lived namespace must copy them, but this process ends with the task.
    Returns (variables, deleted, the names of those arrays: nothing else holds them)."""
    # (held by the namespace alone: one another variable refers to is kept with it)
    big = {name: live.ns[name] for name in list(live.ns)
           if _plain_array(live.ns[name])
           and (name not in before or before[name] is not live.ns[name])
           and _held_once(live.ns, name)}
    for name in big:
        del live.ns[name]
    try:
        variables, deleted = live.changes(before, mentioned)
    finally:
        live.ns.update(big)
    deleted = [name for name in deleted if name not in big]
    for name, arr in big.items():
        data, pbuffers = pickle_parts(arr)
        variables[name] = StoredValue("pickle", fingerprint_parts(data, pbuffers), data=data,
                                      buffers=[b.raw() for b in pbuffers],
                                      type_name=f"{type(arr).__module__}.{type(arr).__qualname__}")
    return variables, deleted, list(big)


def _held_once(ns: dict[str, Any], name: str) -> bool:
    """Whether nothing but ns refers to the value of name (references: ns and getrefcount's
    argument; a loop over ns.items() would add its own, the items tuple it reuses)."""
    return sys.getrefcount(ns[name]) <= 2


def _plain_array(value: Any) -> bool:
    """A numpy array of 1 MB or more whose bytes pickle out of band."""
    return (type(value).__name__ == "ndarray" and type(value).__module__ == "numpy"
            and value.nbytes >= 1 << 20 and not value.dtype.hasobject)


def _apply_private(live: RunNamespace, entry: CacheEntry) -> None:
    """RunNamespace.apply without the consumer's copy: these buffers were read for this
    process alone, so arrays are unpickled on them directly."""
    def load(stored: StoredValue, ns: dict[str, Any], source_file: str | None) -> Any:
        if stored.kind in ("pickle", "group") and all(
                isinstance(b, memoryview) and not b.readonly for b in stored.buffers):
            return pickle.loads(stored.data, buffers=stored.buffers)
        return load_value(stored, ns, source_file)

    values = load_values(entry.variables, live.ns, entry.source_file, load)
    for name, stored in entry.variables.items():
        value = values[name]
        if name == rng.RNG_NAME:  # the random generators as running it left them
            rng.restore(value)
            continue
        live.ns[name] = value
        live.fingerprints[name] = watch(value, live.ns, stored)
    live._note_groups(entry.variables)
    for name in entry.deleted:
        live.ns.pop(name, None)
        live.fingerprints.pop(name, None)
    live.applied.append(entry.component_id)


def _failed(result: TaskResult, ename: str, evalue: str) -> TaskResult:
    result.status = "error"
    result.internal = ename != "KeyboardInterrupt"
    result.ename, result.evalue = ename, evalue
    if not result.traceback:
        result.traceback = [f"{ename}: {evalue}"]
    result.finished = time.time()
    return result
