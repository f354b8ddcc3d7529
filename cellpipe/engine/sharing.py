"""Which cache entries a notebook's archive carries, and which an import serves: planning.

The archive format (`cache/archive.py`) knows entries by key; choosing the keys is the
planner's (the current key of each component, as a run would compute it). The CLI and the
server's share endpoints both call these, on a store opened here: the user's cache for a
notebook, refused when others could have written it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cellpipe.cache import CacheStore, archive
from cellpipe.engine.plan import component_status, plan_run, plan_runs
from cellpipe.model import Pipeline, dag


def open_store(notebook: str | Path | None = None) -> CacheStore:
    """The user's cache, scoped to notebook; UnsafeCacheError (one line) when others can
    write it, before anything is read from it or written to it."""
    store = archive.open_store(notebook)
    if store.disk is not None:
        store.disk.check_private()
    return store


def current_entries(pipeline: Pipeline, store: CacheStore, parameters: Mapping[str, Any],
                    refs: Iterable[str] | None = None) -> archive.Selection:
    """The current entry (key as the engine plans it) of each chosen component (default: all)
    and of its ancestors, in notebook order."""
    targets = list(dict.fromkeys([pipeline.find(r).id for r in refs] if refs else pipeline.ids))
    # plan only the targets no other target depends on: their plans hold the others (a
    # chain of 1,500 is one plan, not 1,500 growing ones)
    graph = pipeline.graph()
    below = set().union(*(dag.ancestors(graph, t) for t in targets)) if targets else set()
    outer = [t for t in targets if t not in below]
    steps = {s.id: s for plan in plan_runs(pipeline, outer, store, parameters)
             for s in plan.steps}
    for target in targets:  # only in a cycle: plan_run says so
        if target not in steps:
            plan_run(pipeline, target, store, parameters)
    return archive.selection(store, [steps[cid] for cid in pipeline.ids if cid in steps])


def planned_keys(pipeline: Pipeline, store: CacheStore,
                 parameters: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """component id -> (name, current key) as the engine computes them (valid components)."""
    status = component_status(pipeline, store, parameters)
    return {cid: (info["name"], info["key"]) for cid, info in status.items() if "key" in info}
