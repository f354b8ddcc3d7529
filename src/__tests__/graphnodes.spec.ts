/** The graph keeps node objects whose data did not change (React Flow keeps their size). */
import { describe, expect, it } from 'vitest';

import { ComponentNodeData, nextNodes } from '../components/GraphView';

const data = (name: string, status: ComponentNodeData['status']): ComponentNodeData => ({
  name,
  status,
  statusLabel: status,
  reason: '',
  worker: '',
  workerLabel: '',
  runLabel: `Run ${name}`,
  vertical: true,
  mark: '',
  accent: ''
});

const wanted = (statusB: ComponentNodeData['status']) => [
  { id: 'a', position: { x: 0, y: 0 }, data: data('A', 'done') },
  { id: 'b', position: { x: 0, y: 100 }, data: data('B', statusB) }
];

describe('nextNodes', () => {
  it('returns the same array when nothing changed', () => {
    const first = nextNodes([], wanted('queued'));
    expect(nextNodes(first, wanted('queued'))).toBe(first);
  });

  it('replaces only the node whose status changed, keeping what React Flow measured', () => {
    const first = nextNodes([], wanted('queued'));
    const measured = first.map(n => ({ ...n, measured: { width: 184, height: 66 } }));
    const next = nextNodes(measured, wanted('running'));
    expect(next).not.toBe(measured);
    expect(next[0]).toBe(measured[0]);
    expect(next[1]).not.toBe(measured[1]);
    expect(next[1].data.status).toBe('running');
    expect(next[1].measured).toEqual({ width: 184, height: 66 });
  });

  it('adds and drops nodes with the components', () => {
    const first = nextNodes([], wanted('queued'));
    const fewer = nextNodes(first, wanted('queued').slice(0, 1));
    expect(fewer.map(n => n.id)).toEqual(['a']);
    expect(fewer[0]).toBe(first[0]);
  });
});
