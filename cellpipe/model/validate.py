"""Structural checks of a pipeline: cycles, dangling parents, duplicate names."""

from __future__ import annotations

from collections import defaultdict

from cellpipe.model import dag
from cellpipe.model.errors import (
    CycleError,
    DuplicateNameError,
    PipelineError,
)
from cellpipe.model.pipeline import Pipeline


def problems(pipeline: Pipeline) -> list[PipelineError]:
    """Every structural problem of the pipeline, in notebook order (empty when it is a DAG)."""
    found: list[PipelineError] = []
    names: dict[str, list[str]] = defaultdict(list)
    for c in pipeline.components:
        names[c.name].append(c.id)
    found += [DuplicateNameError(n, ids) for n, ids in names.items() if len(ids) > 1]
    graph = pipeline.graph()
    found += [pipeline.missing_parent(node, parent) for node, parent in dag.dangling_parents(graph)]
    cycle = dag.find_cycle(graph)
    if cycle:
        found.append(CycleError([pipeline.get(n).name for n in cycle]))
    return found


def validate(pipeline: Pipeline) -> Pipeline:
    """Return the pipeline unchanged, or raise its first structural problem."""
    found = problems(pipeline)
    if found:
        raise found[0]
    return pipeline


def check_edge(pipeline: Pipeline, parent_id: str, child_id: str) -> None:
    """Raise CycleError if adding parent -> child would make a cycle."""
    pipeline.get(parent_id), pipeline.get(child_id)
    cycle = dag.would_create_cycle(pipeline.graph(), parent_id, child_id)
    if cycle is not None:
        raise CycleError([pipeline.get(n).name for n in cycle])


def check_run(pipeline: Pipeline, targets: list[str] | None) -> tuple[list[str], list[PipelineError]]:
    """What running targets (component ids; None: every sink) needs, checked before any code
    runs: (target ids, problems elsewhere that do not stop it). Raises RunCheckError naming
    every problem that does: duplicate names, and any problem when no target is named; a
    cycle, a dangling or non-component parent in a target's ancestry."""
    found = problems(pipeline)
    graph = pipeline.graph()
    if targets is None:
        targets = dag.sinks(graph)
        if pipeline.components and not targets:
            cycle = dag.find_cycle(graph) or []
            names = " -> ".join(pipeline.get(n).name for n in [*cycle, *cycle[:1]])
            raise RunCheckError([PipelineError(
                f"every component depends on another ({names}): the pipeline has no sink to "
                "run. Remove an edge of the cycle, or name a --target.")])
        if found:
            raise RunCheckError(found)
        return targets, []
    needed: set[str] = set()
    for target in targets:
        needed |= dag.ancestors(graph, target) | {target}
    blocking, elsewhere = [], []
    for problem in found:
        if isinstance(problem, DuplicateNameError) or _touches(problem, pipeline, needed):
            blocking.append(problem)
        else:
            elsewhere.append(problem)
    if blocking:
        raise RunCheckError(blocking)
    return targets, elsewhere


def _touches(problem: PipelineError, pipeline: Pipeline, needed: set[str]) -> bool:
    names = {pipeline.get(cid).name for cid in needed}
    if isinstance(problem, CycleError):
        return bool(names & set(problem.cycle))
    return getattr(problem, "component", None) in names


class RunCheckError(PipelineError):
    """One or more problems that stop a run; each is on its own line."""

    def __init__(self, found: list[PipelineError]) -> None:
        self.problems = found
        super().__init__("\n".join(str(p) for p in found))
