"""DAG algorithms over `graph: id -> parent ids`, as pure functions.

Every order this module returns is deterministic: ties are broken by the order of the
graph's keys, which is notebook order.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Mapping, Sequence

Graph = Mapping[str, Sequence[str]]


def children_of(graph: Graph) -> dict[str, list[str]]:
    """id -> child ids (only edges whose both ends are in the graph)."""
    children: dict[str, list[str]] = {node: [] for node in graph}
    for node, parents in graph.items():
        for parent in parents:
            if parent in children:
                children[parent].append(node)
    return children


def _reach(start: Iterable[str], step: Mapping[str, Sequence[str]]) -> set[str]:
    seen: set[str] = set()
    stack = [n for s in start for n in step.get(s, ())]
    while stack:
        node = stack.pop()
        if node not in seen and node in step:
            seen.add(node)
            stack.extend(step[node])
    return seen


def ancestors(graph: Graph, node: str) -> set[str]:
    """Every id that node depends on, directly or not (node excluded)."""
    return _reach([node], graph)


def descendants(graph: Graph, node: str) -> set[str]:
    """Every id that depends on node, directly or not (node excluded)."""
    return _reach([node], children_of(graph))


def nearest_ancestor(graph: Graph, node: str, match: Callable[[str], bool]) -> str | None:
    """The closest ancestor of node for which match is true (breadth-first up the parents,
    each node's parents in their order), or None."""
    seen = {node}
    frontier = list(graph.get(node, ()))
    while frontier:
        following: list[str] = []
        for parent in frontier:
            if parent in seen or parent not in graph:
                continue
            seen.add(parent)
            if match(parent):
                return parent
            following.extend(graph[parent])
        frontier = following
    return None


def downstream(graph: Graph, nodes: Iterable[str]) -> set[str]:
    """nodes and every id that depends on any of them."""
    start = set(nodes)
    return start | _reach(start, children_of(graph))


def sinks(graph: Graph) -> list[str]:
    """Ids no other id has as a parent, in graph order (what "run the pipeline" runs)."""
    children = children_of(graph)
    return [node for node in graph if not children[node]]


def ancestor_sets(graph: Graph, order: Sequence[str]) -> dict[str, set[str]]:
    """For each id of order (parents before children), the ids of order it depends on."""
    within = set(order)
    found: dict[str, set[str]] = {}
    for node in order:
        found[node] = set().union(
            *({p} | found[p] for p in graph[node] if p in within and p in found))
    return found


def dangling_parents(graph: Graph) -> list[tuple[str, str]]:
    """(node, parent) pairs whose parent is not in the graph, in graph order."""
    return [(node, p) for node, parents in graph.items() for p in parents if p not in graph]


def find_cycle(graph: Graph) -> list[str] | None:
    """One cycle as a list of ids [a, b, ..., z] with edges a->b->...->z->a, or None."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = dict.fromkeys(graph, WHITE)
    children = children_of(graph)
    for root in graph:
        if colour[root] != WHITE:
            continue
        path: list[str] = [root]
        iters = [iter(children[root])]
        colour[root] = GREY
        while iters:
            child = next(iters[-1], None)
            if child is None:
                colour[path.pop()] = BLACK
                iters.pop()
            elif colour[child] == GREY:
                return path[path.index(child):]
            elif colour[child] == WHITE:
                colour[child] = GREY
                path.append(child)
                iters.append(iter(children[child]))
    return None


def topological_order(graph: Graph, nodes: Iterable[str] | None = None) -> list[str]:
    """nodes (default all) parents-first; ties by graph order. Raises ValueError on a cycle."""
    wanted = set(graph if nodes is None else nodes)
    rank = {node: i for i, node in enumerate(graph)}
    indegree = {n: sum(1 for p in graph[n] if p in wanted) for n in wanted}
    children = children_of(graph)
    ready = [(rank[n], n) for n in wanted if indegree[n] == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        _, node = heapq.heappop(ready)
        order.append(node)
        for child in children[node]:
            if child in wanted:
                indegree[child] -= 1
                if indegree[child] == 0:
                    heapq.heappush(ready, (rank[child], child))
    if len(order) != len(wanted):
        raise ValueError("graph has a cycle")
    return order


def would_create_cycle(graph: Graph, parent: str, child: str) -> list[str] | None:
    """The cycle that adding parent -> child would close (child ... parent), or None."""
    if parent == child:
        return [child]
    if child in ancestors(graph, parent):
        path = _path(graph, parent, child)
        return path
    return None


def _path(graph: Graph, start: str, goal: str) -> list[str]:
    """Ancestry path goal -> ... -> start following parent links from start (BFS)."""
    prev: dict[str, str] = {}
    queue = [start]
    seen = {start}
    while queue:
        node = queue.pop(0)
        if node == goal:
            break
        for parent in graph.get(node, ()):
            if parent not in seen and parent in graph:
                seen.add(parent)
                prev[parent] = node
                queue.append(parent)
    path = [goal]
    while path[-1] != start:
        path.append(prev[path[-1]])
    return path
