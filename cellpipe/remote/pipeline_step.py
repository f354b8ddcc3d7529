"""One step of an exported Kubeflow pipeline (`cellpipe export --format kfp`).

A step is a component run as a remote worker runs it: its cache key from its code, its
parents' keys and the parameters (DESIGN 3.3); its ancestors' entries from the data store;
cellpipe's task runner; what it changed stored back under its key. A key already in the
store is not run again, so steps, workers and notebooks sharing a store share results.
"""

from __future__ import annotations

import sys
import uuid
from typing import Any

from cellpipe.engine import cachekey
from cellpipe.engine.task import Task
from cellpipe.remote.datastore import DataStore
from cellpipe.remote.taskrun import run_task


class StepFailed(RuntimeError):
    """The component raised (its traceback is on stderr), or its task could not run."""


def run_step(store_url: str, component_id: str, name: str, code: str,
             parameters: dict[str, Any], parents: list[str], inputs: list[str],
             sources: dict[str, str] | None = None) -> str:
    """Run one component against the store; its cache key (raises StepFailed on an error).

    parents: the keys of its parents' steps; inputs: the keys of all its ancestors, in run
    order (the entries applied before it runs, as for a remote task); sources: the
    ancestors' names and code in that order, so their functions' frames show their lines."""
    store = DataStore(store_url)
    key = cachekey.cache_key(code, parents, parameters)
    if store.has(key):
        print(f"{name}: result {key[:12]} is in {store_url} already; not run again",
              file=sys.stderr, flush=True)
        return key
    # the ancestors' functions are labelled as this step's runner labels code it compiles
    named = {f"<component {n}>": text for n, text in (sources or {}).items()}
    task = Task(uuid.uuid4().hex, component_id, name, code, key, list(inputs),
                dict(parameters), sources=named,
                source_files=dict(zip(inputs, named, strict=False)))
    streams = {"stdout": sys.stdout, "stderr": sys.stderr}  # run_task replaces sys's

    def emit(stream: str, text: str) -> None:
        streams[stream].write(text)
        streams[stream].flush()

    result = run_task(task, store, emit)
    if result.status != "ok":
        lines = result.traceback
        sys.stderr.write("".join(ln if ln.endswith("\n") else ln + "\n" for ln in lines))
        sys.stderr.flush()
        raise StepFailed(f"component {name!r} failed: {result.ename}: {result.evalue}")
    print(f"{name}: stored its result {key[:12]} in {store_url}", file=sys.stderr, flush=True)
    return key

