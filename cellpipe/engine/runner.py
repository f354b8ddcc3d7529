"""Running a target: ancestors from the cache or executed, then the target (DESIGN 4)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cellpipe.cache import CacheEntry, CacheStore, disk_cache_enabled
from cellpipe.engine import cachekey
from cellpipe.engine.errors import ComponentError, RunInterrupted, one_line
from cellpipe.engine.executor import Executor
from cellpipe.engine.namespace import RunNamespace
from cellpipe.engine.plan import Plan, Step, key_inputs, plan_run
from cellpipe.engine.task import RemoteEvent, RemoteSteps
from cellpipe.model import Pipeline, dag


@dataclass
class Event:
    """A status change of one component during a run."""

    component_id: str
    name: str
    status: str  # queued, running, cached, done, error, interrupted
    reason: str = ""
    elapsed: float | None = None
    worker: str | None = None


@dataclass
class RunResult:
    """What a run produced: the target's outputs and state, and what ran or was reused."""

    plan: Plan
    target_outputs: list[dict[str, Any]]
    target_from_cache: bool
    namespace: dict[str, Any]
    globals_dict: dict[str, Any] = field(default_factory=dict)
    executed: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    target_remote: bool = False  # the target ran on a worker (its streams were echoed)
    # step id -> (start, end) wall-clock time of the components that ran
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)


@dataclass
class _RunContext:
    """What the steps of one run share."""

    pipeline: Pipeline
    plan: Plan
    lineage: dict[str, set[str]]
    order: list[str]
    live: RunNamespace
    result: RunResult
    emit: Callable[[Event], None]
    persist_all: bool


EventSink = Callable[[Event], None]


class _Unusable(Exception):
    """A result the plan counted on cannot be used; the run is planned again without it."""


class _NoRemote:
    """Remote steps of a runner built without any: a step bound to a worker fails."""

    inflight: dict[str, Any] = {}

    def backend(self, alias: str, component: Any) -> Any:
        raise ComponentError.one_line(
            component.id, component.name, "WorkerUnavailable",
            f"component {component.name!r} is bound to worker {alias!r}, but this runner "
            "runs no remote steps (build it with remote=cellpipe.remote.WorkerSteps())")

    def next_event(self, timeout: float) -> RemoteEvent | None:
        return None

    def cancel_all(self) -> None:
        pass


class PipelineRunner:
    """Runs targets of a pipeline against one cache store with one executor; steps bound
    to a worker alias go to remote (the kernel session hands `cellpipe.remote.WorkerSteps`)."""

    def __init__(self, store: CacheStore, executor: Executor,
                 remote: RemoteSteps | None = None) -> None:
        self.store = store
        self.executor = executor
        self.remote: RemoteSteps = remote if remote is not None else _NoRemote()  # type: ignore[assignment]
        self._names: dict[str, str] = {}  # key -> component name, to name damaged entries

    def plan(self, pipeline: Pipeline, target: str, parameters: Mapping[str, Any] | None = None,
             *, force: bool = False, rerun_target: bool = False) -> Plan:
        params = pipeline.parameter_values(parameters)
        return plan_run(pipeline, pipeline.find(target).id, self.store, params,
                        force=force, rerun_target=rerun_target)

    def run(
        self,
        pipeline: Pipeline,
        target: str,
        parameters: Mapping[str, Any] | None = None,
        *,
        force: bool = False,
        rerun_target: bool = False,
        on_event: EventSink | None = None,
        materialize: bool = True,
    ) -> RunResult:
        """Plan target (name or id), then run that plan (see run_plan)."""
        plan = self.plan(pipeline, target, parameters, force=force, rerun_target=rerun_target)
        return self.run_plan(pipeline, plan, on_event=on_event, materialize=materialize)

    def run_plan(self, pipeline: Pipeline, plan: Plan, *, on_event: EventSink | None = None,
                 materialize: bool = True) -> RunResult:
        """Run a plan made by plan(). Raises ComponentError (user frames only) or
        RunInterrupted; components finished before either keep their results."""
        notices: list[str] = []
        try:
            # a cached result that turns out damaged (or cannot be loaded) is dropped and the
            # run planned again: that component now runs, so each retry drops one entry
            for _ in range(len(pipeline.components) + 1):
                try:
                    result = self._run(pipeline, plan, on_event=on_event,
                                       materialize=materialize)
                except _Unusable as exc:
                    notices.extend(self._take_notices() or [str(exc)])
                    plan = self._replan(pipeline, plan)
                    continue
                result.warnings[:0] = notices + self._take_notices()
                return result
            raise RuntimeError(f"cached results kept failing to load: {'; '.join(notices)}")
        finally:
            self.store.pin(())  # lets memory trim to its limit
            self.store.start_writes()  # disk writes begin once the run is over

    def _run(self, pipeline: Pipeline, plan: Plan, *, on_event: EventSink | None,
             materialize: bool) -> RunResult:
        started = time.perf_counter()
        self.store.pin(plan.keys.values())
        self._names = {s.key: s.name for s in plan.steps}  # to name damaged entries
        emit = on_event or (lambda _e: None)
        target_id = plan.target
        order = [s.id for s in plan.steps]
        lineage = dag.ancestor_sets(pipeline.graph(), order)  # each step's ancestors
        persist_all = pipeline.persist and disk_cache_enabled()
        for step in plan.steps:
            emit(Event(step.id, step.name, "queued", step.reason))
        live = RunNamespace(plan.parameters)
        result = RunResult(plan, [], False, {})
        ctx = _RunContext(pipeline, plan, lineage, order, live, result, emit, persist_all)
        to_run = []
        for step in plan.steps:
            if step.action == "cache":
                result.reused.append(step.id)
                emit(Event(step.id, step.name, "cached", step.reason))
            else:
                to_run.append(step)
        # every alias a step needs is checked before anything runs: an unknown or
        # unreachable worker fails the run at once, and nothing runs locally in its place
        for step in to_run:
            comp = pipeline.get(step.id)
            if comp.worker:
                self.remote.backend(comp.worker, comp)
        self._schedule(ctx, to_run)
        if target_id in result.reused:
            cached = self.store.get(plan.step(target_id).key)
            if cached is None:
                raise _Unusable(f"cached result of component {plan.step(target_id).name!r} "
                                "vanished during the run: it is computed again")
            result.target_outputs = cached.outputs
            result.target_from_cache = True
        if materialize:
            self._bring_in(live, order, plan, pipeline)
            result.namespace = live.user_items()
            result.globals_dict = live.ns
        result.warnings.extend(self.store.take_write_errors())
        spill = getattr(self.store, "take_spill_notice", lambda: None)()
        if spill:
            result.warnings.append(spill)
        result.elapsed = time.perf_counter() - started
        return result

    def _schedule(self, ctx: _RunContext, to_run: list[Step]) -> None:
        """Run the steps as their parents finish: every ready step bound to a worker is
        submitted at once (up to its alias's capacity); ready local steps run here, one
        at a time, meanwhile. An error stops new work and cancels what is in flight."""
        graph = ctx.pipeline.graph()
        finished = set(ctx.result.reused)
        pending = list(to_run)
        try:
            while pending or self.remote.inflight:
                ready = [s for s in pending if all(p in finished for p in graph[s.id])]
                for step in ready:
                    comp = ctx.pipeline.get(step.id)
                    if comp.worker and self.remote.has_room(comp.worker):
                        pending.remove(step)
                        inputs = [ctx.plan.keys[c] for c in ctx.order if c in ctx.lineage[step.id]]
                        ctx.emit(Event(step.id, step.name, "running", step.reason,
                                       worker=comp.worker))
                        sources, files = self._sources(ctx, inputs)
                        self.remote.submit(comp, step.key, inputs, self.store,
                                           ctx.plan.parameters, sources,
                                           self._traceback_style(ctx, step, files), files)
                local = [s for s in ready if not ctx.pipeline.get(s.id).worker]
                if local:
                    pending.remove(local[0])
                    self._run_local(ctx, local[0])
                    finished.add(local[0].id)
                    continue
                event = self.remote.next_event(0.2)
                if event is not None:
                    done = self._remote_event(ctx, event)
                    if done:
                        finished.add(event.step_id)
        except BaseException as exc:
            running = list(self.remote.inflight)
            self.remote.cancel_all()
            if isinstance(exc, KeyboardInterrupt):
                for sid in running:
                    ctx.emit(Event(sid, ctx.pipeline.get(sid).name, "interrupted"))
                if not isinstance(exc, RunInterrupted):
                    raise RunInterrupted(ctx.pipeline.get(running[0]).name
                                         if running else "?") from None
            raise

    def _sources(self, ctx: _RunContext,
                 inputs: list[str]) -> tuple[dict[str, str], dict[str, str]]:
        """file name -> code of the components whose entries a task applies, and input key
        -> that file name (the names this process's tracebacks use)."""
        by_key = {k: c for c, k in ctx.plan.keys.items()}
        sources, files = {}, {}
        for key in inputs:
            entry = self.store.get(key)
            if entry is not None and entry.source_file:
                sources[entry.source_file] = ctx.pipeline.get(by_key[key]).code
                files[key] = entry.source_file
        return sources, files

    def _traceback_style(self, ctx: _RunContext, step: Step,
                         files: dict[str, str]) -> dict[str, Any]:
        """How this runner's executor would render the step's error (the task renders a
        remote error the same way, so it reads as a local one)."""
        style = getattr(self.executor, "traceback_style", None)
        if style is None:
            return {}
        comp = ctx.pipeline.get(step.id)
        by_key = {k: c for c, k in ctx.plan.keys.items()}
        names = {f: ctx.pipeline.get(by_key[k]).name for k, f in files.items()}
        result: dict[str, Any] = style(comp, echo=step.id == ctx.plan.target, label=comp.name,
                                       files=names)
        return result

    def _remote_event(self, ctx: _RunContext, event: Any) -> bool:
        """Handle what a task reported; True when its step is done."""
        comp = ctx.pipeline.get(event.step_id)
        step = ctx.plan.step(event.step_id)
        is_target = step.id == ctx.plan.target
        if event.kind == "output":
            if is_target:  # only the target's output reaches the user, as it comes
                name, text = event.payload
                (sys.stdout if name == "stdout" else sys.stderr).write(text)
            return False
        if event.kind == "status":
            ctx.emit(Event(step.id, step.name, "running", f"worker {comp.worker!r}: "
                           f"{event.payload}", worker=comp.worker))
            return False
        if event.kind == "failed":
            self.remote.finish(step.id)
            ctx.emit(Event(step.id, step.name, "error", type(event.payload).__name__,
                           worker=comp.worker))
            exc = event.payload
            raise ComponentError.one_line(comp.id, comp.name, type(exc).__name__, str(exc))
        outcome = event.payload
        inputs = key_inputs(ctx.pipeline, step.id, ctx.plan.keys, ctx.plan.parameters)
        if outcome.status != "ok":
            self.remote.finish(step.id)
            self.store.record_failure(step.id, step.key, inputs)
            ctx.emit(Event(step.id, step.name, "error", outcome.ename, outcome.elapsed,
                           worker=comp.worker))
            if outcome.status != "error" or outcome.internal:
                # not the user's code: say which worker, as one line
                outcome.evalue = f"worker {comp.worker!r}: {outcome.evalue}"
                outcome.traceback = [one_line(outcome.ename, outcome.evalue)]
            error = ComponentError(step.id, comp.name, outcome.ename, outcome.evalue,
                                   outcome.traceback or [f"{outcome.ename}: {outcome.evalue}"])
            error.outputs = outcome.outputs
            raise self._error_for(error, comp.name, ctx.pipeline.get(ctx.plan.target).name,
                                  is_target)
        entry = self.remote.import_result(comp, outcome)
        entry.component_id, entry.name = step.id, comp.name
        entry.parent_keys = [ctx.plan.keys[p] for p in comp.parents]
        entry.inputs = inputs
        entry.run_of = ctx.pipeline.get(ctx.plan.target).name
        self.store.put(entry, persist=ctx.persist_all and comp.persist)
        ctx.result.executed.append(step.id)
        ctx.result.intervals[step.id] = (outcome.started, outcome.finished)
        ctx.result.warnings.extend(getattr(outcome, "notes", []))  # e.g. a retry elsewhere
        ctx.emit(Event(step.id, step.name, "done", step.reason, outcome.elapsed,
                       worker=comp.worker))
        if is_target:
            ctx.result.target_outputs = outcome.outputs
            ctx.result.target_remote = True
        return True

    def _run_local(self, ctx: _RunContext, step: Step) -> None:
        """Run one step in this process, in the live namespace."""
        pipeline, plan, live = ctx.pipeline, ctx.plan, ctx.live
        comp = pipeline.get(step.id)
        needed = ctx.lineage[step.id]
        if set(live.applied) != needed or len(live.applied) != len(needed):
            self._bring_in(live, [c for c in ctx.order if c in needed], plan, pipeline)
        ctx.emit(Event(step.id, step.name, "running", step.reason))
        before = live.before()
        is_target = step.id == plan.target
        started = time.time()
        try:
            outcome = self.executor.execute(comp, live.ns, echo=is_target, label=comp.name)
        except KeyboardInterrupt as exc:
            ctx.emit(Event(step.id, step.name, "interrupted"))
            if isinstance(exc, RunInterrupted):
                raise
            raise RunInterrupted(comp.name) from None
        inputs = key_inputs(pipeline, step.id, plan.keys, plan.parameters)
        if outcome.error is not None:
            self.store.record_failure(step.id, step.key, inputs)
            ctx.emit(Event(step.id, step.name, "error", outcome.error.ename, outcome.elapsed))
            outcome.error.outputs = outcome.outputs  # what it showed before raising
            raise self._error_for(outcome.error, comp.name, pipeline.get(plan.target).name,
                                  is_target)
        variables, deleted = live.changes(before, cachekey.names_used(comp.code))
        before = {}  # no reference to values the namespace has let go of
        entry = CacheEntry(
            key=step.key, component_id=step.id, name=comp.name,
            parent_keys=[plan.keys[p] for p in comp.parents], variables=variables,
            deleted=deleted, outputs=outcome.outputs, elapsed=outcome.elapsed,
            created=time.time(), run_of=pipeline.get(plan.target).name, inputs=inputs,
            source_file=outcome.source_file,
        )
        self.store.put(entry, persist=ctx.persist_all and comp.persist)
        live.applied.append(step.id)
        ctx.result.executed.append(step.id)
        ctx.result.intervals[step.id] = (started, time.time())
        ctx.result.warnings.extend(
            f"component {comp.name!r}: {r}" for r in entry.not_cacheable_reasons
        )
        ctx.emit(Event(step.id, step.name, "done", step.reason, outcome.elapsed))
        if is_target:
            ctx.result.target_outputs = outcome.outputs

    def _bring_in(self, live: RunNamespace, required: list[str], plan: Plan,
                  pipeline: Pipeline) -> None:
        """Make live hold exactly the effects of required (in order), reusing what it has."""
        have = live.applied
        if have != required[: len(have)]:
            live.reset()
        for cid in required[len(live.applied):]:
            name = plan.step(cid).name
            entry = self.store.get(plan.keys[cid])
            if entry is None:  # damaged (the store says why), or removed meanwhile
                raise _Unusable(f"cached result of component {name!r} vanished during the "
                                "run: it is computed again")
            try:
                live.apply(entry)
            except Exception as exc:  # noqa: BLE001 - unpickling can raise anything
                self.store.discard(plan.keys[cid])
                raise _Unusable(f"cached result of component {name!r} cannot be loaded "
                                f"({type(exc).__name__}: {exc}): it is computed again") from None
            if entry.source_file:
                self.executor.restore_source(pipeline.get(cid), entry.source_file)

    def _replan(self, pipeline: Pipeline, plan: Plan) -> Plan:
        """plan again after a result was dropped: what was to run still runs."""
        fresh = plan_run(pipeline, plan.target, self.store, plan.parameters)
        steps = [old if old.action == "run" else new
                 for old, new in zip(plan.steps, fresh.steps, strict=True)]
        return Plan(plan.target, steps, plan.parameters)

    def _take_notices(self) -> list[str]:
        return self.store.take_notices(self._names)

    @staticmethod
    def _error_for(error: ComponentError, name: str, target_name: str,
                   is_target: bool) -> ComponentError:
        error.target_name = target_name
        error.own_traceback = list(error.traceback)
        if not is_target:
            header = (f"\x1b[1;31mError in component {name!r}, an ancestor of "
                      f"{target_name!r}:\x1b[0m")
            error.traceback = [header, *error.traceback]
        return error
