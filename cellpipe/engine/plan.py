"""Planning a run: which components run, which come from the cache, and why."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from cellpipe.cache import ResultLookup
from cellpipe.engine import cachekey
from cellpipe.model import Pipeline, dag
from cellpipe.model.errors import CycleError


@dataclass(frozen=True)
class Step:
    """One component of a plan."""

    id: str
    name: str
    key: str
    action: Literal["run", "cache"]
    reason: str

    def as_json(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "action": self.action, "reason": self.reason}


@dataclass
class Plan:
    """The steps to run a target: its ancestors in topological order, then the target."""

    target: str
    steps: list[Step]
    parameters: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.keys: dict[str, str] = {s.id: s.key for s in self.steps}
        self._by_id = {s.id: s for s in self.steps}

    def step(self, component_id: str) -> Step:
        return self._by_id[component_id]


def check_runnable(pipeline: Pipeline, target_id: str) -> list[str]:
    """The target's ancestors and itself in run order; raises on cycles or dangling parents."""
    graph = pipeline.graph()
    needed = dag.ancestors(graph, target_id) | {target_id}
    for node in needed:
        for parent in graph[node]:
            if parent not in graph:
                raise pipeline.missing_parent(node, parent)
    sub = {n: tuple(p for p in graph[n] if p in needed) for n in graph if n in needed}
    cycle = dag.find_cycle(sub)
    if cycle:
        raise CycleError([pipeline.get(n).name for n in cycle])
    return dag.topological_order(graph, needed)


def key_inputs(pipeline: Pipeline, component_id: str, keys: Mapping[str, str],
               parameters: Mapping[str, Any]) -> dict[str, Any]:
    """What a component's key is made of, kept to explain later why it re-ran."""
    comp = pipeline.get(component_id)
    return {
        "code": cachekey.code_hash(comp.code),
        "parents": {p: keys[p] for p in comp.parents},
        "parameters": cachekey.parameters_read(comp.code, parameters),
    }


def compute_keys(pipeline: Pipeline, order: list[str], parameters: Mapping[str, Any]) -> dict[str, str]:
    """Merkle keys for the components in order (parents before children)."""
    keys: dict[str, str] = {}
    for cid in order:
        comp = pipeline.get(cid)
        keys[cid] = cachekey.cache_key(comp.code, [keys[p] for p in comp.parents], parameters)
    return keys


def explain_miss(
    pipeline: Pipeline, component_id: str, inputs: dict[str, Any], results: ResultLookup
) -> str:
    """Why a component has no usable result: never run, code changed, an input changed..."""
    previous = results.previous(component_id)
    if previous is None:
        return "never run"
    old_key, old = previous
    reasons = []
    if old.get("code") != inputs["code"]:
        reasons.append("code changed")
    old_parents = old.get("parents", {})
    changed = [p for p, k in inputs["parents"].items() if old_parents.get(p) != k]
    if changed:
        names = ", ".join(repr(pipeline.get(p).name) for p in changed)
        reasons.append(f"parent {names} changed")
    old_params = old.get("parameters", {})
    for name, value in inputs["parameters"].items():
        if name in old_params and old_params[name] != value:
            reasons.append(f"parameter {name} changed ({old_params[name]!r} -> {value!r})")
        elif name not in old_params:
            reasons.append(f"now reads parameter {name}")
    if reasons:
        return "; ".join(reasons)
    if results.last_failed_key(component_id) == old_key:
        return "last run failed"
    return "result no longer in the cache"


def plan_run(
    pipeline: Pipeline,
    target_id: str,
    results: ResultLookup,
    parameters: Mapping[str, Any] | None = None,
    *,
    force: bool = False,
    rerun_target: bool = False,
) -> Plan:
    """What running target_id will do. Raises CycleError/DanglingParentError first."""
    params = dict(parameters if parameters is not None else pipeline.parameter_values())
    order = check_runnable(pipeline, target_id)
    keys = compute_keys(pipeline, order, params)
    steps = []
    for cid in order:
        if cid == target_id and rerun_target and not force:
            steps.append(Step(cid, pipeline.get(cid).name, keys[cid], "run",
                              "target: re-run on request"))
        else:
            steps.append(_step(pipeline, cid, keys, params, results, force))
    return Plan(target_id, steps, params)


def plan_runs(
    pipeline: Pipeline,
    target_ids: list[str],
    results: ResultLookup,
    parameters: Mapping[str, Any] | None = None,
    *,
    force: bool = False,
) -> list[Plan]:
    """plan_run for each target, in time linear in the plans' size: the graph is checked and
    keys are computed once for all targets (5,000 sinks of one root: 5,000 small plans)."""
    params = dict(parameters if parameters is not None else pipeline.parameter_values())
    graph = pipeline.graph()
    needed: dict[str, set[str]] = {t: dag.ancestors(graph, t) | {t} for t in target_ids}
    union = set().union(*needed.values()) if needed else set()
    try:
        order = dag.topological_order(graph, union & set(graph))
    except ValueError:
        order = []
    if not order or any(n not in graph or any(p not in graph for p in graph[n]) for n in union):
        # a cycle or a dangling parent somewhere: plan_run raises it for the right target
        return [plan_run(pipeline, t, results, params, force=force) for t in target_ids]
    position = {cid: i for i, cid in enumerate(order)}
    keys = compute_keys(pipeline, order, params)
    steps: dict[str, Step] = {}
    plans = []
    for target in target_ids:
        for cid in needed[target]:
            if cid not in steps:
                steps[cid] = _step(pipeline, cid, keys, params, results, force)
        ordered = sorted(needed[target], key=position.__getitem__)
        plans.append(Plan(target, [steps[cid] for cid in ordered], params))
    return plans


def _step(pipeline: Pipeline, cid: str, keys: Mapping[str, str], params: Mapping[str, Any],
          results: ResultLookup, force: bool) -> Step:
    """What a run does with one component whose key is keys[cid] (plan_run's rule)."""
    key = keys[cid]
    action: Literal["run", "cache"] = "run"
    if force:
        reason = "forced: cache ignored"
    elif (not_cacheable := results.not_cacheable_reason(key)) is not None:
        reason = "previous result could not be cached: " + not_cacheable
    elif results.has(key):
        action, reason = "cache", "cached: same code, inputs and parameters"
    elif results.previous(cid) is None:  # what explain_miss says, without analysing the code
        reason = "never run"
    else:
        reason = explain_miss(pipeline, cid, key_inputs(pipeline, cid, keys, params), results)
    return Step(cid, pipeline.get(cid).name, key, action, reason)


def component_status(
    pipeline: Pipeline, results: ResultLookup, parameters: Mapping[str, Any] | None = None
) -> dict[str, dict[str, Any]]:
    """Per component: status (not-run, cached, stale, error, invalid) and the reason;
    `blocked_by`: the nearest ancestor whose last run failed, when that stops it."""
    params = dict(parameters if parameters is not None else pipeline.parameter_values())
    graph = pipeline.graph()
    bad: set[str] = {n for n, _ in dag.dangling_parents(graph)}
    cycle = dag.find_cycle(graph)
    if cycle:
        bad |= set(cycle)
    bad = dag.downstream(graph, bad)
    good = dag.topological_order(graph, set(graph) - bad)
    keys = compute_keys(pipeline, good, params)
    result: dict[str, dict[str, Any]] = {}
    for comp in pipeline.components:
        info: dict[str, Any] = {"name": comp.name, "parents": list(comp.parents)}
        if comp.id in bad:
            info.update(status="invalid", reason="part of a cycle or depends on a missing parent")
        else:
            key = keys[comp.id]
            inputs = key_inputs(pipeline, comp.id, keys, params)
            if results.last_failed_key(comp.id) == key:
                info.update(status="error", reason="last run failed")
            elif results.has(key) and results.not_cacheable_reason(key) is None:
                info.update(status="cached", reason="result is up to date")
            elif (not_cacheable := results.not_cacheable_reason(key)) is not None:
                # it ran with this code and inputs, but its result is not reusable
                info.update(status="stale",
                            reason="previous result could not be cached: " + not_cacheable)
            elif results.previous(comp.id) is not None:
                info.update(status="stale",
                            reason=explain_miss(pipeline, comp.id, inputs, results))
            else:
                info.update(status="not-run", reason="never run")
            info["key"] = key
        result[comp.id] = info
    # a component without a current result whose ancestor's last run failed cannot run
    # until that is fixed: it is blocked by the nearest such ancestor
    for cid, info in result.items():
        if info["status"] in ("not-run", "stale"):
            blocker = dag.nearest_ancestor(graph, cid,
                                           lambda p: result[p]["status"] == "error")
            if blocker is not None:
                info["blocked_by"] = blocker
    return result
