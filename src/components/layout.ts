/**
 * Automatic layout of the pipeline graph (computed, never stored): ELK's layered
 * algorithm with orthogonal edge routing. Every edge leaves its source at one port and
 * enters its target at one port, so edges of one source share their first run and
 * edges between distant levels run in channels between the nodes, not behind them.
 */
import ELK from 'elkjs/lib/elk.bundled.js';
import type { ElkExtendedEdge, ElkNode } from 'elkjs/lib/elk-api';

export const NODE_WIDTH = 160;
export const NODE_HEIGHT = 66;

export interface IPoint {
  x: number;
  y: number;
}

export interface ILayout {
  /** Top-left positions of the nodes, parents above (or left of) their children. */
  positions: Map<string, IPoint>;
  /** Every edge (`source->target`) as the points it runs through, source port to target port. */
  routes: Map<string, IPoint[]>;
  /** The size of the whole drawing. */
  width: number;
  height: number;
}

/** The id of an edge in `routes` (and in the graph view). */
export function edgeId(source: string, target: string): string {
  return `${source}->${target}`;
}

/** ELK's options: compact levels, straight long edges (linear segments), bundled ports. */
const OPTIONS = {
  'elk.algorithm': 'layered',
  // a component one level below its lowest parent: sources on top, as the notebook reads
  'elk.layered.layering.strategy': 'LONGEST_PATH_SOURCE',
  'elk.edgeRouting': 'ORTHOGONAL',
  'elk.layered.nodePlacement.strategy': 'LINEAR_SEGMENTS',
  'elk.layered.mergeEdges': 'true',
  'elk.layered.spacing.nodeNodeBetweenLayers': '40',
  'elk.spacing.nodeNode': '20',
  'elk.spacing.edgeEdge': '6',
  'elk.spacing.edgeNode': '10',
  'elk.layered.spacing.edgeNodeBetweenLayers': '10',
  'elk.layered.spacing.edgeEdgeBetweenLayers': '6',
  'elk.layered.considerModelOrder.strategy': 'NODES_AND_EDGES',
  'elk.padding': '[top=8,left=8,bottom=8,right=8]'
};

let elk: InstanceType<typeof ELK> | null = null;

/** Layouts by graph, newest last: the views of one notebook (beside it and in the sidebar)
 * and a view opened again share one computation. */
const recent = new Map<string, Promise<ILayout>>();
const RECENT = 8;

/**
 * Lay out `ids` (in notebook order) and `edges`. Edges to unknown ids are ignored; a
 * cycle (an invalid pipeline) is still drawn. The same graph asked again gets the same
 * (pending or finished) layout.
 */
export function layoutGraph(
  ids: string[],
  edges: { source: string; target: string }[],
  direction: 'TB' | 'LR' = 'TB'
): Promise<ILayout> {
  const key = JSON.stringify([ids, edges.map(e => [e.source, e.target]), direction]);
  let layout = recent.get(key);
  if (layout) {
    recent.delete(key); // newest last
  } else {
    layout = computeLayout(ids, edges, direction);
    layout.catch(() => recent.delete(key));
  }
  recent.set(key, layout);
  while (recent.size > RECENT) {
    recent.delete(recent.keys().next().value as string);
  }
  return layout;
}

async function computeLayout(
  ids: string[],
  edges: { source: string; target: string }[],
  direction: 'TB' | 'LR' = 'TB'
): Promise<ILayout> {
  const vertical = direction === 'TB';
  const known = new Set(ids);
  const kept = edges.filter(e => known.has(e.source) && known.has(e.target));
  const children: ElkNode[] = ids.map(id => ({
    id,
    width: NODE_WIDTH,
    height: NODE_HEIGHT,
    layoutOptions: { 'elk.portConstraints': 'FIXED_POS' },
    // one port in, one out, where React Flow draws the node's handles
    ports: [
      {
        id: `${id}:in`,
        x: vertical ? NODE_WIDTH / 2 : 0,
        y: vertical ? 0 : NODE_HEIGHT / 2,
        width: 0,
        height: 0,
        layoutOptions: { 'elk.port.side': vertical ? 'NORTH' : 'WEST' }
      },
      {
        id: `${id}:out`,
        x: vertical ? NODE_WIDTH / 2 : NODE_WIDTH,
        y: vertical ? NODE_HEIGHT : NODE_HEIGHT / 2,
        width: 0,
        height: 0,
        layoutOptions: { 'elk.port.side': vertical ? 'SOUTH' : 'EAST' }
      }
    ]
  }));
  const elkEdges: ElkExtendedEdge[] = kept.map(e => ({
    id: edgeId(e.source, e.target),
    sources: [`${e.source}:out`],
    targets: [`${e.target}:in`]
  }));
  elk = elk ?? new ELK();
  const result = await elk.layout({
    id: 'root',
    layoutOptions: {
      ...OPTIONS,
      'elk.direction': vertical ? 'DOWN' : 'RIGHT',
      // fewer crossing-minimisation passes for a large graph: drawn in time, nearly as tidy
      'elk.layered.thoroughness': ids.length > 100 ? '2' : '7'
    },
    children,
    edges: elkEdges
  });
  const positions = new Map<string, IPoint>();
  for (const node of result.children ?? []) {
    positions.set(node.id, { x: node.x ?? 0, y: node.y ?? 0 });
  }
  const routes = new Map<string, IPoint[]>();
  for (const edge of (result.edges ?? []) as ElkExtendedEdge[]) {
    const section = edge.sections?.[0];
    if (section) {
      routes.set(edge.id, [section.startPoint, ...(section.bendPoints ?? []), section.endPoint]);
    }
  }
  return { positions, routes, width: result.width ?? 0, height: result.height ?? 0 };
}

/**
 * `points` moved so that they start at `from` and end at `to` (where React Flow put the
 * handles), keeping the first and last runs straight.
 */
export function snapEnds(points: IPoint[], from: IPoint, to: IPoint, vertical: boolean): IPoint[] {
  if (points.length < 2) {
    return [from, to];
  }
  const out = points.map(p => ({ ...p }));
  const along = vertical ? 'x' : 'y';
  const last = out.length - 1;
  if (out.length > 2) {
    if (Math.abs(out[1][along] - out[0][along]) < 0.5) {
      out[1][along] = from[along];
    }
    if (Math.abs(out[last - 1][along] - out[last][along]) < 0.5) {
      out[last - 1][along] = to[along];
    }
  }
  out[0] = from;
  out[last] = to;
  return out;
}

/** An SVG path along `points` (orthogonal runs) with corners rounded by `radius`. */
export function roundedPath(points: IPoint[], radius = 6): string {
  if (points.length === 0) {
    return '';
  }
  let path = `M ${points[0].x},${points[0].y}`;
  for (let i = 1; i < points.length; i++) {
    const p = points[i];
    if (i === points.length - 1) {
      path += ` L ${p.x},${p.y}`;
      break;
    }
    const prev = points[i - 1];
    const next = points[i + 1];
    const lenIn = Math.hypot(p.x - prev.x, p.y - prev.y);
    const lenOut = Math.hypot(next.x - p.x, next.y - p.y);
    const r = Math.min(radius, lenIn / 2, lenOut / 2);
    if (r < 0.5) {
      path += ` L ${p.x},${p.y}`;
      continue;
    }
    const a = { x: p.x + ((prev.x - p.x) * r) / lenIn, y: p.y + ((prev.y - p.y) * r) / lenIn };
    const b = { x: p.x + ((next.x - p.x) * r) / lenOut, y: p.y + ((next.y - p.y) * r) / lenOut };
    path += ` L ${a.x},${a.y} Q ${p.x},${p.y} ${b.x},${b.y}`;
  }
  return path;
}
