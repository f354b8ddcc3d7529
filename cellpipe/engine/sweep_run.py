"""Running a sweep's combinations as tasks, each shared component run once (DESIGN 8).

A combination is an ordinary run of the target with its parameter values: planned
against the cache, so a component whose key another combination already has (an ancestor
that reads no swept parameter) is not run again. The components to run become one graph
of tasks keyed by cache key; ready tasks go to the workers (the component's own alias,
else the sweep's: the target's alias or `local`), up to `jobs` at once, through the remote
steps the caller hands in (`engine.task.RemoteSteps`; the CLI and the server hand
`cellpipe.remote.WorkerSteps`: the engine never imports a transport).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from cellpipe.cache import CacheEntry, CacheStore, disk_cache_enabled
from cellpipe.engine.errors import ComponentError
from cellpipe.engine.plan import Plan, Step, key_inputs, plan_run
from cellpipe.engine.sweep import Axis, Row, grid, reported_values
from cellpipe.engine.task import RemoteEvent, RemoteSteps
from cellpipe.model import Component, Pipeline, dag


@dataclass
class _Task:
    """One component run the sweep needs, shared by every combination with its key."""

    step: Step
    component: Component  # as the task carries it: id = key, worker = the alias it runs on
    waits_for: set[str]  # keys of tasks that must finish first
    inputs: list[str]  # keys of its ancestors' results, in run order
    parent_keys: list[str]
    parameters: dict[str, Any]
    key_inputs: dict[str, Any]
    users: set[int] = field(default_factory=set)
    state: str = "pending"  # pending, running, done, error, dropped
    error: str = ""
    traceback: list[str] = field(default_factory=list)


@dataclass
class _Combination:
    row: Row
    plan: Plan
    waiting: set[str]
    ran: bool


class SweepRunner:
    """Runs combinations of one target; `add` plans one, `step` advances them all."""

    def __init__(self, pipeline: Pipeline, target_id: str, store: CacheStore,
                 remote: RemoteSteps, *, jobs: int = 1, alias: str | None = None,
                 report: Sequence[str] | None = None, also_report: Iterable[str] = ()) -> None:
        self.pipeline = pipeline
        self.target_id = target_id
        self.store = store
        self.remote = remote
        self.jobs = max(1, jobs)
        # where components without a worker run: the target's alias, else `local`
        self.alias = alias or pipeline.get(target_id).worker or "local"
        self.report = list(report) if report else None
        self.also_report = [n for n in also_report if n not in (self.report or [])]
        self.tasks: dict[str, _Task] = {}  # by key, in the order they were planned
        self.combinations: list[_Combination] = []
        self.executed: list[str] = []  # component ids of the tasks that ran, in order
        self._finished: list[Row] = []
        self._checked: set[str] = set()  # aliases whose backend answered
        self._persist = pipeline.persist and disk_cache_enabled()
        self._lineage: dict[str, set[str]] | None = None

    # --- planning -----------------------------------------------------------
    def add(self, values: Mapping[str, Any], params: Mapping[str, Any]) -> Row:
        """Plan the combination with parameter values (all typed); params is what its row
        shows. Raises PipelineError (bad plan) or ComponentError (a worker unreachable)."""
        plan = plan_run(self.pipeline, self.target_id, self.store, dict(values))
        for step in plan.steps:  # every alias answers before anything is planned to run
            if step.action == "run":
                self._check_alias(self.pipeline.get(step.id))
        row = Row(dict(params), status="running")
        combo = _Combination(row, plan, set(), False)
        index = len(self.combinations)
        self.combinations.append(combo)
        order = [s.id for s in plan.steps]
        if self._lineage is None:
            self._lineage = dag.ancestor_sets(self.pipeline.graph(), order)
        for step in plan.steps:
            if step.action != "run":
                continue
            task = self.tasks.get(step.key)
            if task is None:
                task = self._new_task(plan, step, order)
            elif task.state == "error":  # the same key failed in this sweep: so does this
                self._fail(combo, task.error, task.traceback)
                return row
            elif task.state == "dropped":
                task.state = "pending"
            if task.state != "done":
                task.users.add(index)
                combo.waiting.add(step.key)
            combo.ran = True
        if not combo.waiting:
            self._complete(combo)
        return row

    def _new_task(self, plan: Plan, step: Step, order: list[str]) -> _Task:
        assert self._lineage is not None
        comp = self.pipeline.get(step.id)
        alias = comp.worker or self.alias
        ancestors = self._lineage[step.id]
        task = _Task(
            step, replace(comp, id=step.key, worker=alias),
            {plan.keys[p] for p in comp.parents if plan.step(p).action == "run"},
            [plan.keys[c] for c in order if c in ancestors],
            [plan.keys[p] for p in comp.parents], dict(plan.parameters),
            key_inputs(self.pipeline, step.id, plan.keys, plan.parameters))
        self.tasks[step.key] = task
        return task

    def _check_alias(self, comp: Component) -> None:
        alias = comp.worker or self.alias
        if alias not in self._checked:
            self.remote.backend(alias, comp)
            self._checked.add(alias)

    # --- running ------------------------------------------------------------
    @property
    def unfinished(self) -> int:
        """Combinations not finished yet."""
        return sum(1 for c in self.combinations if c.row.status == "running")

    @property
    def running(self) -> list[str]:
        """Names of the components running now."""
        return [t.step.name for t in self.tasks.values() if t.state == "running"]

    def run(self, on_row: Callable[[Row], None] | None = None,
            stopped: Callable[[], bool] | None = None) -> list[Row]:
        """Run every combination added (until stopped() says so); the rows in the order
        they were added."""
        while self.unfinished and not (stopped is not None and stopped()):
            for row in self.step():
                if on_row is not None:
                    on_row(row)
        self.cancel()  # tasks of failed combinations that no other one needs
        return [c.row for c in self.combinations]

    def step(self, timeout: float = 0.2) -> list[Row]:
        """Submit what is ready, handle one task event; the rows finished meanwhile.
        On any exception (an interrupt included) every task in flight is stopped."""
        try:
            self._submit_ready()
            if not self._finished:
                if not self.remote.inflight:
                    if self.unfinished:
                        raise RuntimeError("sweep: combinations wait for nothing running")
                else:
                    event = self.remote.next_event(timeout)
                    if event is not None:
                        self._handle(event)
        except BaseException:
            self.cancel()
            raise
        finished, self._finished = self._finished, []
        return finished

    def cancel(self) -> None:
        """Stop every task in flight; their combinations stay unfinished."""
        self.remote.cancel_all()
        for task in self.tasks.values():
            if task.state == "running":
                task.state = "dropped"

    def _submit_ready(self) -> None:
        for task in self.tasks.values():
            if len(self.remote.inflight) >= self.jobs:
                return
            if task.state != "pending" or not task.users:
                continue
            if any(self.tasks[k].state != "done" for k in task.waits_for):
                continue
            if not self.remote.has_room(task.component.worker or ""):
                continue
            self.remote.submit(task.component, task.step.key, task.inputs, self.store,
                               task.parameters, {})
            task.state = "running"

    def _handle(self, event: RemoteEvent) -> None:
        task = self.tasks[event.step_id]
        if event.kind in ("output", "status"):
            return  # a combination's prints stay in its cache entry
        if event.kind == "failed":  # the transport went away
            self.remote.finish(event.step_id)
            exc = event.payload
            self._task_failed(task, f"worker {task.component.worker!r}: "
                                    f"{type(exc).__name__}: {exc}")
            return
        outcome = event.payload
        comp = self.pipeline.get(task.step.id)
        if outcome.status != "ok":
            self.remote.finish(event.step_id)
            self.store.record_failure(comp.id, task.step.key, task.key_inputs)
            where = f"worker {task.component.worker!r}: " if outcome.internal else ""
            task.traceback = list(outcome.traceback)
            self._task_failed(task, f"{where}{outcome.ename}: {outcome.evalue}")
            return
        try:
            entry = self.remote.import_result(task.component, outcome)
        except ComponentError as exc:
            self._task_failed(task, f"{exc.ename}: {exc.evalue}")
            return
        entry.component_id, entry.name = comp.id, comp.name
        entry.parent_keys = list(task.parent_keys)
        entry.inputs = task.key_inputs
        entry.run_of = self.pipeline.get(self.target_id).name
        self.store.put(entry, persist=self._persist and comp.persist)
        self.store.start_writes()
        task.state = "done"
        self.executed.append(comp.id)
        for index in sorted(task.users):
            combo = self.combinations[index]
            combo.waiting.discard(task.step.key)
            if not combo.waiting and combo.row.status == "running":
                self._complete(combo)

    def _task_failed(self, task: _Task, message: str) -> None:
        task.state = "error"
        task.error = f"{task.step.name}: {message.splitlines()[0] if message else ''}"
        for index in sorted(task.users):
            self._fail(self.combinations[index], task.error, task.traceback)

    def _fail(self, combo: _Combination, error: str, traceback: list[str] | None = None) -> None:
        if combo.row.status != "running":
            return
        combo.row.status, combo.row.error = "error", error
        combo.row.traceback = list(traceback or [])
        index = self.combinations.index(combo)
        for key in combo.waiting:  # no one else needs them: they do not start
            task = self.tasks[key]
            task.users.discard(index)
            if task.state == "pending" and not task.users:
                task.state = "dropped"
        combo.row.seconds = sum(e.elapsed for e in self._entries(combo.plan) if e is not None)
        self._finished.append(combo.row)

    def _complete(self, combo: _Combination) -> None:
        entries = self._entries(combo.plan)
        missing = [s.name for s, e in zip(combo.plan.steps, entries, strict=True) if e is None]
        if missing:
            self._fail(combo, f"the result of {missing[0]!r} is no longer in the cache")
            return
        found = [e for e in entries if e is not None]
        row = combo.row
        row.values = reported_values(found, self.report)
        for name, value in reported_values(found, self.also_report).items():
            row.values.setdefault(name, value)
        row.seconds = sum(e.elapsed for e in found)
        row.status = "done" if combo.ran else "cached"
        self._finished.append(row)

    def _entries(self, plan: Plan) -> list[CacheEntry | None]:
        return [self.store.get(s.key) for s in plan.steps]


def run_grid(runner: SweepRunner, swept: Sequence[Axis], fixed: Mapping[str, Any],
             on_row: Callable[[Row], None] | None = None,
             stopped: Callable[[], bool] | None = None) -> list[Row]:
    """Every combination of the swept lists (fixed values set in each), run by runner."""
    for combo in grid(swept):
        runner.add(runner.pipeline.parameter_values({**fixed, **combo}), combo)
    return runner.run(on_row, stopped)


def open_sweep_store(notebook: str) -> CacheStore:
    """The user's cache for a sweep of notebook, refused when others can write it (as every
    command opens it); memory only when the disk cache is off ($CELLPIPE_CACHE=memory)."""
    from cellpipe.engine.sharing import open_store

    return open_store(notebook) if disk_cache_enabled() else CacheStore(None)


def failure_line(exc: Exception) -> str:
    """Why a whole sweep could not go on, in one line (a ComponentError names its component)."""
    if isinstance(exc, ComponentError):
        return f"{exc.component_name}: {exc.evalue}"
    return str(exc)
