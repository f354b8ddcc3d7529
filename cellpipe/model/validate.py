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
