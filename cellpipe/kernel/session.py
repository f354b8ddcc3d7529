"""The kernel's cellpipe state: the synced pipeline, the runner, and run bookkeeping.

The comm, the magics and the CLI all go through one KernelSession per kernel.
"""

from __future__ import annotations

import os
import re
import time
import types
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any, cast

from IPython.core.interactiveshell import InteractiveShell

from cellpipe.cache import CacheStore, default_cache_dir, disk_cache_enabled, rebind_function
from cellpipe.engine import (
    ComponentError,
    Event,
    PipelineRunner,
    RunResult,
    Step,
    component_status,
)
from cellpipe.kernel import protocol
from cellpipe.kernel.capture import replay
from cellpipe.kernel.executor import IPythonExecutor
from cellpipe.model import Pipeline, dag, pipeline_from_dict, pipeline_from_notebook, read_notebook
from cellpipe.model.errors import PipelineError
from cellpipe.model.validate import problems
from cellpipe.remote import WorkerSteps

Listener = Callable[[protocol.KernelMessage], None]


class NoPipelineError(PipelineError):
    """The kernel has not been given a notebook yet."""


class KernelSession:
    """One per kernel: what the front end synced, and how to run it."""

    def __init__(self, shell: InteractiveShell, store: CacheStore | None = None) -> None:
        self.shell = shell
        if store is None:
            store = CacheStore(default_cache_dir() if disk_cache_enabled() else None)
        self.runner = PipelineRunner(store, IPythonExecutor(shell),
                                     remote=WorkerSteps(_jobs_from_env()))
        # jupyter_server tells a kernel which notebook it serves; copies share cell ids
        session_path = os.environ.get("JPY_SESSION_NAME", "")
        if session_path.endswith(".ipynb"):
            store.set_notebook(os.path.abspath(session_path))
        self.pipeline: Pipeline | None = None
        self.notices: list[str] = []
        self.listeners: list[Listener] = []
        self.running: str | None = None
        # per component: the key of its latest run in this kernel, and what a failed run
        # showed (its prints, then its error) under that key
        self.run_keys: dict[str, str] = {}
        self.outputs_of_failed_runs: dict[str, tuple[str, str, list[dict[str, Any]]]] = {}

    @property
    def store(self) -> CacheStore:
        return self.runner.store

    # --- the pipeline -------------------------------------------------------
    def sync(self, notebook: Mapping[str, Any]) -> None:
        """Take the live notebook (cells with ids and metadata) from the front end."""
        raw = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, **notebook}
        raw["cells"] = [
            {"metadata": {}, "source": "", **cell,
             **({"outputs": [], "execution_count": None} if cell.get("cell_type") == "code" else {})}
            for cell in notebook.get("cells", [])
        ]
        self.pipeline, self.notices = pipeline_from_dict(raw, source="the notebook")

    def load(self, path: str) -> None:
        """Read the pipeline from a notebook file (typed magics, the CLI)."""
        nb, self.notices = read_notebook(path)
        self.pipeline = pipeline_from_notebook(nb)
        self.store.set_notebook(os.path.abspath(path))

    def require_pipeline(self) -> Pipeline:
        if self.pipeline is None:
            path = os.environ.get("JPY_SESSION_NAME")
            if path and path.endswith(".ipynb") and os.path.exists(path):
                self.load(path)
            else:
                raise NoPipelineError(
                    "cellpipe has no pipeline in this kernel yet: open the notebook in JupyterLab "
                    "with cellpipe installed, or use %cellpipe run NAME --notebook PATH.ipynb"
                )
        assert self.pipeline is not None
        return self.pipeline

    # --- queries ------------------------------------------------------------
    def state(self, flush: bool = False) -> protocol.StateMessage:
        """The state message; flush: wait for the cache's disk writes first."""
        pipeline = self.require_pipeline()
        unwritten = self.store.unwritten(wait=flush)
        try:
            components = component_status(pipeline, self.store)
        except PipelineError as exc:
            components = {c.id: {"name": c.name, "parents": list(c.parents), "status": "invalid",
                                 "reason": str(exc)} for c in pipeline.components}
        for cid, info in components.items():
            if self.running == cid:
                info["status"] = "running"
                info.pop("blocked_by", None)
        state: protocol.StateMessage = {
            "op": "state",
            "components": cast(dict[str, protocol.ComponentState], components),
            "problems": [str(p) for p in problems(pipeline)],
            "notices": self.notices,
            "parameters": {n: {"type": cast(protocol.ParameterType, p.type), "value": p.value}
                           for n, p in pipeline.parameters.items()},
        }
        if unwritten is not None:
            state["cache_unwritten"] = {"results": unwritten.results,
                                        "bytes": unwritten.nbytes, "message": unwritten.message}
        return state

    def plan(self, ref: str, force: bool = False, rerun_target: bool = False,
             parameters: Mapping[str, Any] | None = None) -> protocol.PlanMessage:
        pipeline = self.require_pipeline()
        plan = self.runner.plan(pipeline, ref, parameters, force=force, rerun_target=rerun_target)
        return {"op": "plan", "target": plan.target, "steps": _steps(plan.steps)}

    def targets(self, mode: str, ref: str | None = None) -> list[str]:
        """Components to run one after another: every sink, or ref and its descendants."""
        pipeline = self.require_pipeline()
        graph = pipeline.graph()
        if mode == "pipeline":
            return dag.sinks(graph)
        if mode == "downstream" and ref is not None:
            return dag.topological_order(graph, dag.downstream(graph, [pipeline.find(ref).id]))
        raise ValueError(f"unknown targets mode {mode!r}; use 'pipeline' or 'downstream'")

    def captured(self, ref: str) -> protocol.CapturedMessage:
        """The outputs a component produced in its latest result (captured or shown)."""
        pipeline = self.require_pipeline()
        comp = pipeline.find(ref)
        key = self.run_keys.get(comp.id)
        if key is None:
            previous = self.store.previous(comp.id)
            key = previous[0] if previous else None
        failed = self.outputs_of_failed_runs.get(comp.id)
        if key is not None and failed is not None and failed[0] == key:
            return {"op": "captured", "id": comp.id, "outputs": failed[2], "run_of": failed[1],
                    "cached_at": None, "failed": True}
        entry = self.store.get(key) if key is not None else None
        if entry is None:  # no history for this notebook (moved, or an imported cache)
            key = component_status(pipeline, self.store).get(comp.id, {}).get("key")
            entry = self.store.get(key) if key else None
        if entry is None:
            return {"op": "captured", "id": comp.id, "outputs": [], "run_of": None,
                    "cached_at": None}
        return {
            "op": "captured", "id": comp.id, "outputs": entry.outputs, "run_of": entry.run_of,
            "cached_at": datetime.fromtimestamp(entry.created, timezone.utc).isoformat(),
        }

    # --- running ------------------------------------------------------------
    def broadcast(self, message: protocol.KernelMessage) -> None:
        for listener in list(self.listeners):
            try:
                listener(message)
            except Exception:  # a closed comm must not stop a run
                self.listeners.remove(listener)

    def run(self, ref: str, *, force: bool = False, rerun_target: bool = False,
            parameters: Mapping[str, Any] | None = None, publish: bool = True) -> RunResult:
        """Run a component; show only its output; publish its state to the user namespace."""
        pipeline = self.require_pipeline()
        target = pipeline.find(ref)
        run_id = uuid.uuid4().hex[:12]
        started = time.perf_counter()
        plan = self.runner.plan(pipeline, target.id, parameters, force=force,
                                rerun_target=rerun_target)
        self.broadcast({"op": "run", "run_id": run_id, "target": target.id, "phase": "start",
                        "steps": _steps(plan.steps)})

        def on_event(event: Event) -> None:
            self.running = event.component_id if event.status == "running" else None
            self.broadcast({"op": "event", "run_id": run_id, "target": target.id,
                            "id": event.component_id, "name": event.name,
                            "status": cast(protocol.EventStatus, event.status),
                            "elapsed": event.elapsed,
                            "reason": event.reason, "worker": event.worker})

        status: protocol.RunStatus = "error"
        self.run_keys.update(plan.keys)
        notices: list[str] = []
        try:
            result = self.runner.run_plan(pipeline, plan, on_event=on_event)
            status = "ok"
            # the run ends once its results are in memory; they reach disk in the background
            # and a kernel shutting down (or restarting) finishes those writes first (atexit)
            result.warnings.extend(self.store.take_write_errors())
            notices = result.warnings
        except ComponentError as error:
            self._hint_missing_name(error)
            self.outputs_of_failed_runs[error.component_id] = (
                plan.keys[error.component_id], target.name,
                [*error.outputs, error.error_output()])
            raise
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        finally:
            self.running = None
            end: protocol.RunEndMessage = {
                "op": "run", "run_id": run_id, "target": target.id, "phase": "end",
                "status": status, "elapsed": time.perf_counter() - started}
            if notices:  # cellpipe's own notes are for the panel and the CLI, not the cell
                end["notices"] = notices
            self.broadcast(end)
            self.broadcast(self.state())
        if result.target_from_cache:
            replay(self.shell, result.target_outputs)
        elif result.target_remote:
            # its streams were shown as they came, its value's repr with them (a task
            # process echoes it like plain Python): only its displays are left to show
            replay(self.shell, [o for o in result.target_outputs
                                if o.get("output_type") == "display_data"])
        if publish:
            self.publish(result)
        return result

    def _hint_missing_name(self, error: ComponentError) -> None:
        """A NameError for a name the notebook has, but no ancestor defines: say so."""
        match = re.search(r"name '(\w+)' is not defined", error.evalue)
        if error.ename != "NameError" or match is None or match[1] not in self.shell.user_ns:
            return
        name = match[1]
        error.traceback = [*error.traceback, (
            f"\x1b[33mcellpipe: {name!r} exists in the notebook, but no ancestor of component "
            f"{error.component_name!r} defines it (components run on their ancestors' state "
            f"only). Make the cell that defines {name!r} a component and a parent of "
            f"{error.component_name!r}.\x1b[0m")]

    def publish(self, result: RunResult) -> None:
        """Put the target's state in the user namespace, so a scratch cell can inspect it."""
        user_ns = self.shell.user_ns
        for name, value in result.namespace.items():
            if isinstance(value, types.FunctionType) and value.__globals__ is result.globals_dict:
                value = rebind_function(value, user_ns)
            user_ns[name] = value


def _steps(steps: list[Step]) -> list[protocol.PlanStep]:
    return [cast(protocol.PlanStep, s.as_json()) for s in steps]


def _jobs_from_env() -> int:
    """$CELLPIPE_JOBS: how many tasks the `local` worker runs at once (default 1)."""
    try:
        return max(1, int(os.environ.get("CELLPIPE_JOBS", "1")))
    except ValueError:
        return 1

