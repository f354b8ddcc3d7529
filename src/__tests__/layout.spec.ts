/** The layout routes edges around the nodes they pass, and stays compact and quick. */
import { describe, expect, it } from 'vitest';

import {
  IPoint,
  layoutGraph,
  NODE_HEIGHT,
  NODE_WIDTH,
  roundedPath,
  snapEnds
} from '../components/layout';

/** Points along a path of straight segments through `points`, every `step` px. */
function sample(points: IPoint[], step = 2): IPoint[] {
  const out: IPoint[] = [];
  for (let i = 0; i < points.length - 1; i++) {
    const [a, b] = [points[i], points[i + 1]];
    const n = Math.max(1, Math.ceil(Math.hypot(b.x - a.x, b.y - a.y) / step));
    for (let k = 0; k <= n; k++) {
      out.push({ x: a.x + ((b.x - a.x) * k) / n, y: a.y + ((b.y - a.y) * k) / n });
    }
  }
  return out;
}

function inside(p: IPoint, topLeft: IPoint): boolean {
  return (
    p.x > topLeft.x + 1 &&
    p.x < topLeft.x + NODE_WIDTH - 1 &&
    p.y > topLeft.y + 1 &&
    p.y < topLeft.y + NODE_HEIGHT - 1
  );
}

/** A layered DAG of n nodes, `width` per level, each with 1-3 parents in the 3 levels above. */
function layered(
  n: number,
  width: number
): { ids: string[]; edges: { source: string; target: string }[] } {
  let seed = 7;
  const random = () => (seed = (seed * 1664525 + 1013904223) >>> 0) / 4294967296;
  const ids = Array.from({ length: n }, (_, i) => `c${i}`);
  const edges: { source: string; target: string }[] = [];
  for (let i = width; i < n; i++) {
    const level = Math.floor(i / width);
    const parents = new Set<number>();
    const count = 1 + Math.floor(random() * 3);
    parents.add((level - 1) * width + Math.floor(random() * width));
    while (parents.size < count) {
      const up = Math.max(0, level - 1 - Math.floor(random() * 3));
      parents.add(up * width + Math.floor(random() * width));
    }
    for (const p of parents) {
      edges.push({ source: `c${p}`, target: `c${i}` });
    }
  }
  return { ids, edges };
}

describe('layoutGraph', () => {
  const edges = [
    { source: 'a', target: 'b' },
    { source: 'b', target: 'c' },
    { source: 'a', target: 'c' }
  ];

  for (const direction of ['TB', 'LR'] as const) {
    it(`routes a -> c beside b, not through it (${direction})`, async () => {
      const { positions, routes } = await layoutGraph(['a', 'b', 'c'], edges, direction);
      expect([...routes.keys()].sort()).toEqual(['a->b', 'a->c', 'b->c']);
      const [a, b, c] = ['a', 'b', 'c'].map(id => positions.get(id)!);
      const vertical = direction === 'TB';
      // parents before children along the flow
      const along = (p: IPoint) => (vertical ? p.y : p.x);
      expect(along(a)).toBeLessThan(along(b));
      expect(along(b)).toBeLessThan(along(c));
      const route = routes.get('a->c')!;
      expect(sample(route).some(p => inside(p, b))).toBe(false);
      // it leaves a at its out port and enters c at its in port
      const out = vertical
        ? { x: a.x + NODE_WIDTH / 2, y: a.y + NODE_HEIGHT }
        : { x: a.x + NODE_WIDTH, y: a.y + NODE_HEIGHT / 2 };
      expect(route[0].x).toBeCloseTo(out.x, 0);
      expect(route[0].y).toBeCloseTo(out.y, 0);
      const into = vertical
        ? { x: c.x + NODE_WIDTH / 2, y: c.y }
        : { x: c.x, y: c.y + NODE_HEIGHT / 2 };
      expect(route[route.length - 1].x).toBeCloseTo(into.x, 0);
      expect(route[route.length - 1].y).toBeCloseTo(into.y, 0);
    });
  }

  it('draws 60 nodes with no edge through a node, and no node over another', async () => {
    const { ids, edges: many } = layered(60, 6);
    const { positions, routes, width } = await layoutGraph(ids, many);
    expect(positions.size).toBe(60);
    for (const [id, route] of routes) {
      const [source, target] = id.split('->');
      for (const other of ids) {
        if (other !== source && other !== target) {
          expect(sample(route).some(p => inside(p, positions.get(other)!))).toBe(false);
        }
      }
    }
    const boxes = [...positions.values()];
    for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) {
        const overlap =
          Math.abs(boxes[i].x - boxes[j].x) < NODE_WIDTH &&
          Math.abs(boxes[i].y - boxes[j].y) < NODE_HEIGHT;
        expect(overlap).toBe(false);
      }
    }
    // compact: within twice a level's nodes (dagre drew this 3.5 times as wide)
    expect(width).toBeLessThan(6 * NODE_WIDTH * 2);
  });

  it('still lays out a cycle (an invalid pipeline is drawn too)', async () => {
    const { positions } = await layoutGraph(
      ['x', 'y'],
      [
        { source: 'x', target: 'y' },
        { source: 'y', target: 'x' }
      ]
    );
    expect(positions.size).toBe(2);
  });
});

describe('snapEnds and roundedPath', () => {
  it('moves the ends to the handles and keeps the first and last runs straight', () => {
    const points = [
      { x: 10, y: 0 },
      { x: 10, y: 20 },
      { x: 50, y: 20 },
      { x: 50, y: 40 }
    ];
    const snapped = snapEnds(points, { x: 12, y: 1 }, { x: 48, y: 41 }, true);
    expect(snapped).toEqual([
      { x: 12, y: 1 },
      { x: 12, y: 20 },
      { x: 48, y: 20 },
      { x: 48, y: 41 }
    ]);
  });

  it('rounds the corners and ends at the last point', () => {
    const path = roundedPath([
      { x: 0, y: 0 },
      { x: 0, y: 20 },
      { x: 30, y: 20 }
    ]);
    expect(path.startsWith('M 0,0 L 0,14 Q 0,20 6,20')).toBe(true);
    expect(path.endsWith('L 30,20')).toBe(true);
  });
});
