/** Automatic layout of the pipeline graph with dagre (layout is computed, never stored). */
import dagre from '@dagrejs/dagre';

export const NODE_WIDTH = 184;
export const NODE_HEIGHT = 66;

export interface IPoint {
  x: number;
  y: number;
}

/** Top-left positions of the nodes, parents above their children. */
export function layoutGraph(
  ids: string[],
  edges: { source: string; target: string }[],
  direction: 'TB' | 'LR' = 'TB'
): Map<string, IPoint> {
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
  return positions;
}
