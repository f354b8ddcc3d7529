"""Running a target: ancestors from the cache or executed, then the target (DESIGN 4)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cellpipe.cache import CacheEntry, CacheStore, disk_cache_enabled
from cellpipe.engine import cachekey
from cellpipe.engine.errors import ComponentError, RunInterrupted
from cellpipe.engine.executor import Executor
from cellpipe.engine.namespace import RunNamespace
from cellpipe.engine.plan import Plan, key_inputs, plan_run
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


EventSink = Callable[[Event], None]


class PipelineRunner:
    """Runs targets of a pipeline against one cache store with one executor."""

    def __init__(self, store: CacheStore, executor: Executor) -> None:
        self.store = store
        self.executor = executor

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
        try:
            return self._run(pipeline, plan, on_event=on_event, materialize=materialize)
        finally:
            self.store.pin(())  # lets memory trim to its limit
            self.store.start_writes()  # disk writes begin once the run is over

    def _run(self, pipeline: Pipeline, plan: Plan, *, on_event: EventSink | None,
             materialize: bool) -> RunResult:
        started = time.perf_counter()
        self.store.pin(plan.keys.values())
        emit = on_event or (lambda _e: None)
        target_id = plan.target
        order = [s.id for s in plan.steps]
        lineage = dag.ancestor_sets(pipeline.graph(), order)  # each step's ancestors
        persist_all = pipeline.persist and disk_cache_enabled()
        for step in plan.steps:
            emit(Event(step.id, step.name, "queued", step.reason))
        live = RunNamespace(plan.parameters)
        result = RunResult(plan, [], False, {})
        for step in plan.steps:
            comp = pipeline.get(step.id)
            if step.action == "cache":
                result.reused.append(step.id)
                emit(Event(step.id, step.name, "cached", step.reason))
                continue
            needed = lineage[step.id]
            if set(live.applied) != needed or len(live.applied) != len(needed):
                self._bring_in(live, [c for c in order if c in needed], plan, pipeline)
            emit(Event(step.id, step.name, "running", step.reason))
            before = live.before()
            is_target = step.id == target_id
            try:
                outcome = self.executor.execute(comp, live.ns, echo=is_target, label=comp.name)
            except KeyboardInterrupt as exc:
                emit(Event(step.id, step.name, "interrupted"))
                if isinstance(exc, RunInterrupted):
                    raise
                raise RunInterrupted(comp.name) from None
            inputs = key_inputs(pipeline, step.id, plan.keys, plan.parameters)
            if outcome.error is not None:
                self.store.record_failure(step.id, step.key, inputs)
                emit(Event(step.id, step.name, "error", outcome.error.ename, outcome.elapsed))
                outcome.error.outputs = outcome.outputs  # what it showed before raising
                raise self._error_for(outcome.error, comp.name, pipeline.get(target_id).name,
                                      is_target)
            variables, deleted = live.changes(before, cachekey.names_used(comp.code))
            before = {}  # no reference to values the namespace has let go of
            entry = CacheEntry(
                key=step.key, component_id=step.id, name=comp.name,
                parent_keys=[plan.keys[p] for p in comp.parents], variables=variables,
                deleted=deleted, outputs=outcome.outputs, elapsed=outcome.elapsed,
                created=time.time(), run_of=pipeline.get(target_id).name, inputs=inputs,
                source_file=outcome.source_file,
            )
            self.store.put(entry, persist=persist_all and comp.persist)
            live.applied.append(step.id)
            result.executed.append(step.id)
            result.warnings.extend(
                f"component {comp.name!r}: {r}" for r in entry.not_cacheable_reasons
            )
            emit(Event(step.id, step.name, "done", step.reason, outcome.elapsed))
            if is_target:
                result.target_outputs = outcome.outputs
        if target_id in result.reused:
            cached = self.store.get(plan.step(target_id).key)
            result.target_outputs = cached.outputs if cached else []
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

    def _bring_in(self, live: RunNamespace, required: list[str], plan: Plan,
                  pipeline: Pipeline) -> None:
        """Make live hold exactly the effects of required (in order), reusing what it has."""
        have = live.applied
        if have != required[: len(have)]:
            live.reset()
        for cid in required[len(live.applied):]:
            entry = self.store.get(plan.keys[cid])
            if entry is None:
                raise RuntimeError(
                    f"cache entry of component {plan.step(cid).name!r} vanished during the run; "
                    "run again with force to rebuild it"
                )
            live.apply(entry)
            if entry.source_file:
                self.executor.restore_source(pipeline.get(cid), entry.source_file)

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
