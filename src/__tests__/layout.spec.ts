/** The layout routes an edge that skips a level around the nodes it passes. */
import { describe, expect, it } from 'vitest';

import { IPoint, layoutGraph, NODE_HEIGHT, NODE_WIDTH, routedPath } from '../components/layout';

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

/** The points of a path `M x,y C c1 c2 p ...` evaluated along its cubic curves. */
function curvePoints(path: string): IPoint[] {
  const nums = path.match(/-?[\d.]+(e-?\d+)?/g)!.map(Number);
  const pts: IPoint[] = [{ x: nums[0], y: nums[1] }];
  for (let i = 2; i + 5 < nums.length; i += 6) {
    const p0 = pts[pts.length - 1];
    const [c1, c2, p3] = [0, 2, 4].map(j => ({ x: nums[i + j], y: nums[i + j + 1] }));
    for (let t = 0.05; t <= 1.0001; t += 0.05) {
      const u = 1 - t;
      pts.push({
        x: u * u * u * p0.x + 3 * u * u * t * c1.x + 3 * u * t * t * c2.x + t * t * t * p3.x,
        y: u * u * u * p0.y + 3 * u * u * t * c1.y + 3 * u * t * t * c2.y + t * t * t * p3.y
      });
    }
  }
  return pts;
}

function inside(p: IPoint, topLeft: IPoint): boolean {
  return (
    p.x > topLeft.x &&
    p.x < topLeft.x + NODE_WIDTH &&
    p.y > topLeft.y &&
    p.y < topLeft.y + NODE_HEIGHT
  );
}

describe('layoutGraph', () => {
  const edges = [
    { source: 'a', target: 'b' },
    { source: 'b', target: 'c' },
    { source: 'a', target: 'c' }
  ];

  for (const direction of ['TB', 'LR'] as const) {
    it(`routes a -> c beside b, not through it (${direction})`, () => {
      const { positions, routes } = layoutGraph(['a', 'b', 'c'], edges, direction);
      expect([...routes.keys()]).toEqual(['a->c']); // only the edge that skips a level
      const [a, b, c] = ['a', 'b', 'c'].map(id => positions.get(id)!);
      const vertical = direction === 'TB';
      // from the source's handle to the target's, as React Flow places them
      const from = vertical
        ? { x: a.x + NODE_WIDTH / 2, y: a.y + NODE_HEIGHT }
        : { x: a.x + NODE_WIDTH, y: a.y + NODE_HEIGHT / 2 };
      const to = vertical
        ? { x: c.x + NODE_WIDTH / 2, y: c.y }
        : { x: c.x, y: c.y + NODE_HEIGHT / 2 };
      // the straight line would run behind b
      expect(sample([from, to]).some(p => inside(p, b))).toBe(true);
      const lead = vertical ? { x: 0, y: 14 } : { x: 14, y: 0 };
      for (const path of [
        routedPath(from, routes.get('a->c')!, to),
        routedPath(from, routes.get('a->c')!, to, lead)
      ]) {
        const curve = curvePoints(path);
        expect(sample(curve).some(p => inside(p, b))).toBe(false);
      }
    });
  }

  it('gives a chain of single-level edges no routes', () => {
    const { routes } = layoutGraph(['a', 'b', 'c'], edges.slice(0, 2));
    expect(routes.size).toBe(0);
  });
});

describe('routedPath', () => {
  it('passes through every point', () => {
    const path = routedPath({ x: 0, y: 0 }, [{ x: 10, y: 50 }], { x: 0, y: 100 });
    expect(path.startsWith('M 0,0 C ')).toBe(true);
    expect(path).toContain(' 10,50 C ');
    expect(path.endsWith(' 0,100')).toBe(true);
  });

  it('leaves and enters along the lead', () => {
    const path = routedPath({ x: 0, y: 0 }, [{ x: 50, y: 50 }], { x: 0, y: 100 }, { x: 0, y: 10 });
    expect(path).toContain(' 0,10 C ');
    expect(path).toContain(' 0,90 C ');
  });
});
