"""A picture of a DAG diff as a self-contained SVG: layered layout, changes coloured.

Layers are longest-path depths over the union of both graphs (parents above children);
inside a layer nodes keep notebook order. No graphviz needed.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from cellpipe.gitnb.diff import NotebookDiff
from cellpipe.gitnb.render import cell_facts

NODE_W, NODE_H, GAP_X, GAP_Y, MARGIN = 170, 38, 28, 64, 24

NODE_STYLE = {  # fill, stroke, dash
    "added": ("#dafbe1", "#1a7f37", ""),
    "removed": ("#ffebe9", "#cf222e", "5,3"),
    "changed": ("#fff8c5", "#9a6700", ""),
    "same": ("#f6f8fa", "#8c959f", ""),
}
EDGE_STYLE = {"added": ("#1a7f37", ""), "removed": ("#cf222e", "6,4"), "same": ("#8c959f", "")}


def _attr(value: str) -> str:
    return escape(value, {'"': "&quot;"})


def _layers(nodes: list[str], parents: dict[str, set[str]]) -> dict[str, int]:
    """Longest-path depth of each node; nodes on a cycle (a broken merge) still get one."""
    depth: dict[str, int] = {}
    children: dict[str, list[str]] = {n: [] for n in nodes}
    indegree = {n: 0 for n in nodes}
    for n in nodes:
        for p in parents[n]:
            children[p].append(n)
            indegree[n] += 1
    ready = [n for n in nodes if indegree[n] == 0]
    for n in ready:
        depth[n] = 0
    while ready:
        node = ready.pop()
        for child in children[node]:
            depth[child] = max(depth.get(child, 0), depth[node] + 1)
            indegree[child] -= 1
            if indegree[child] == 0:
                ready.append(child)
    for n in nodes:  # left over: on a cycle
        if n not in depth:
            depth[n] = 1 + max((depth[p] for p in parents[n] if p in depth), default=-1)
    return depth


def dag_diff_svg(diff: NotebookDiff, title: str = "") -> str:
    """The SVG text of the pipeline change: added green, removed red dashed, changed yellow."""
    status: dict[str, str] = {}
    facts: dict[str, str] = {}
    for c in diff.cells:
        if not c.is_component:
            continue
        if c.component == (True, False):
            status[c.id] = "removed"
        elif c.component == (False, True):
            status[c.id] = "added"
        else:
            status[c.id] = "changed" if c.status == "changed" else "same"
        facts[c.id] = ", ".join(cell_facts(diff, c)) or "unchanged"
    nodes = list(status)
    old_edges = {(p, c) for c, ps in diff.old_graph.items() for p in ps}
    new_edges = {(p, c) for c, ps in diff.new_graph.items() for p in ps}
    edges = {e: "same" for e in old_edges & new_edges}
    edges.update({e: "added" for e in new_edges - old_edges})
    edges.update({e: "removed" for e in old_edges - new_edges})
    edges = {e: s for e, s in edges.items() if e[0] in status and e[1] in status}
    parents: dict[str, set[str]] = {n: set() for n in nodes}
    for p, c in edges:
        parents[c].add(p)
    depth = _layers(nodes, parents)
    rows: dict[int, list[str]] = {}
    for n in nodes:
        rows.setdefault(depth[n], []).append(n)
    widest = max((len(r) for r in rows.values()), default=1)
    width = max(2 * MARGIN + widest * (NODE_W + GAP_X) - GAP_X, 420)
    top = MARGIN + (28 if title else 0)
    pos: dict[str, tuple[float, float]] = {}
    for level, row in sorted(rows.items()):
        row_w = len(row) * (NODE_W + GAP_X) - GAP_X
        x0 = (width - row_w) / 2
        for i, n in enumerate(row):
            pos[n] = (x0 + i * (NODE_W + GAP_X), top + level * (NODE_H + GAP_Y))
    height = top + (max(rows, default=0) + 1) * (NODE_H + GAP_Y) - GAP_Y + MARGIN + 30
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif" font-size="13">',
        "<defs>",
    ]
    for name, (colour, _) in EDGE_STYLE.items():
        out.append(
            f'<marker id="arrow-{name}" viewBox="0 0 10 10" refX="10" refY="5" '
            f'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
            f'<path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>'
        )
    out.append("</defs>")
    out.append('<rect width="100%" height="100%" fill="white"/>')
    if title:
        out.append(f'<text x="{MARGIN}" y="{MARGIN + 6}" font-weight="bold">{escape(title)}</text>')
    for (p, c), s in sorted(edges.items(), key=lambda item: item[1] != "same"):
        colour, dash = EDGE_STYLE[s]
        x1, y1 = pos[p][0] + NODE_W / 2, pos[p][1] + NODE_H
        x2, y2 = pos[c][0] + NODE_W / 2, pos[c][1]
        if y2 <= y1:  # an edge closing a cycle: route it around
            y2 = pos[c][1] + NODE_H / 2
            x2 = pos[c][0] + NODE_W
        mid = (y1 + y2) / 2
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(
            f'<path class="edge edge-{s}" d="M{x1:.1f},{y1:.1f} C{x1:.1f},{mid:.1f} '
            f'{x2:.1f},{mid:.1f} {x2:.1f},{y2:.1f}" fill="none" stroke="{colour}" '
            f'stroke-width="{2 if s != "same" else 1.3}"{dash_attr} marker-end="url(#arrow-{s})">'
            f"<title>{escape(diff.name(p))} -&gt; {escape(diff.name(c))}: {s}</title></path>"
        )
    for n in nodes:
        x, y = pos[n]
        fill, stroke, dash = NODE_STYLE[status[n]]
        label = diff.name(n)
        shown = label if len(label) <= 22 else label[:21] + "…"
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(
            f'<g class="node node-{status[n]}" data-id="{_attr(n)}">'
            f"<title>{escape(label)} ({escape(n)}): {escape(facts[n])}</title>"
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{NODE_W}" height="{NODE_H}" rx="7" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="1.6"{dash_attr}/>'
            f'<text x="{x + NODE_W / 2:.1f}" y="{y + NODE_H / 2 + 4.5:.1f}" '
            f'text-anchor="middle">{escape(shown)}</text></g>'
        )
    legend_y = height - MARGIN + 4
    x = MARGIN
    for name in ("added", "removed", "changed", "same"):
        fill, stroke, dash = NODE_STYLE[name]
        out.append(f'<rect x="{x}" y="{legend_y - 11}" width="14" height="14" rx="3" '
                   f'fill="{fill}" stroke="{stroke}"/>'
                   f'<text x="{x + 20}" y="{legend_y}" font-size="11">{name}</text>')
        x += 90
    out.append("</svg>")
    return "\n".join(out) + "\n"
