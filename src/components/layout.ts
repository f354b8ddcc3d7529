/** Automatic layout of the pipeline graph with dagre (layout is computed, never stored). */
import dagre from '@dagrejs/dagre';

export const NODE_WIDTH = 184;
export const NODE_HEIGHT = 66;

export interface IPoint {
  x: number;
  y: number;
}

export interface ILayout {
  /** Top-left positions of the nodes, parents above (or left of) their children. */
  positions: Map<string, IPoint>;
  /**
   * For an edge that skips a level (`source->target`): the points dagre routes it
   * through between the two nodes, beside the nodes of the levels it crosses (a straight
   * line would run behind them).
   */
  routes: Map<string, IPoint[]>;
}

/** The id of an edge in `routes` (and in the graph view). */
export function edgeId(source: string, target: string): string {
  return `${source}->${target}`;
}

export function layoutGraph(
  ids: string[],
  edges: { source: string; target: string }[],
  direction: 'TB' | 'LR' = 'TB'
): ILayout {
  const graph = new dagre.graphlib.Graph();
  graph.setGraph({ rankdir: direction, nodesep: 24, ranksep: 48, marginx: 8, marginy: 8 });
  graph.setDefaultEdgeLabel(() => ({}));
  for (const id of ids) {
    graph.setNode(id, { width: NODE_WIDTH, height: NODE_HEIGHT });
  }
  for (const edge of edges) {
    graph.setEdge(edge.source, edge.target);
  }
  dagre.layout(graph);
  const positions = new Map<string, IPoint>();
  for (const id of ids) {
    const node = graph.node(id);
    positions.set(id, { x: node.x - NODE_WIDTH / 2, y: node.y - NODE_HEIGHT / 2 });
  }
  // A node's level is its place along the flow (its centre's y, or x left to right).
  const along = (p: IPoint) => (direction === 'TB' ? p.y : p.x);
  const levels = [...new Set(ids.map(id => along(graph.node(id))))].sort((a, b) => a - b);
  const level = (id: string) => levels.indexOf(along(graph.node(id)));
  const routes = new Map<string, IPoint[]>();
  for (const edge of edges) {
    if (Math.abs(level(edge.target) - level(edge.source)) < 2) {
      continue;
    }
    const start = along(graph.node(edge.source));
    const end = along(graph.node(edge.target));
    const lo = Math.min(start, end) + NODE_HEIGHT / 2;
    const hi = Math.max(start, end) - NODE_HEIGHT / 2;
    // dagre's points run from the source's border to the target's: keep those between
    const points = (graph.edge(edge.source, edge.target)?.points ?? [])
      .filter(p => along(p) > lo && along(p) < hi)
      .map(p => ({ x: p.x, y: p.y }));
    if (points.length) {
      routes.set(edgeId(edge.source, edge.target), points);
    }
  }
  return { positions, routes };
}

/**
 * An SVG path from `from` through `via` to `to`: a smooth curve (Catmull-Rom turned into
 * cubic Béziers) that passes through every point. With `lead` (a vector along the flow),
 * it leaves `from` and enters `to` along that direction, as the other edges do.
 */
export function routedPath(from: IPoint, via: IPoint[], to: IPoint, lead?: IPoint): string {
  const ends = lead
    ? [
        { x: from.x + lead.x, y: from.y + lead.y },
        { x: to.x - lead.x, y: to.y - lead.y }
      ]
    : [];
  const points = lead ? [from, ends[0], ...via, ends[1], to] : [from, ...via, to];
  let path = `M ${from.x},${from.y}`;
  for (let i = 0; i < points.length - 1; i++) {
    const p0 = points[Math.max(i - 1, 0)];
    const p1 = points[i];
    const p2 = points[i + 1];
    const p3 = points[Math.min(i + 2, points.length - 1)];
    const c1 = { x: p1.x + (p2.x - p0.x) / 6, y: p1.y + (p2.y - p0.y) / 6 };
    const c2 = { x: p2.x - (p3.x - p1.x) / 6, y: p2.y - (p3.y - p1.y) / 6 };
    path += ` C ${c1.x},${c1.y} ${c2.x},${c2.y} ${p2.x},${p2.y}`;
  }
  return path;
}
