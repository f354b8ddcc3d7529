import { describe, expect, it } from 'vitest';

import { statusLabel } from '../components/GraphView';
import { EVENT_STATUSES, STATE_STATUSES } from '../protocol';
import { graphStatuses, ownStatus } from '../status';
import { NodeStatus } from '../tokens';

const trans = { __: (text: string, ...args: unknown[]) => text.replace('%1', String(args[0])) };

describe('ownStatus', () => {
  it('shows live events while a run goes on', () => {
    expect(ownStatus('running', 'stale', true)).toBe('running');
    expect(ownStatus('queued', 'not-run', true)).toBe('queued');
  });

  it('shows the kernel state once the run is over', () => {
    expect(ownStatus('queued', 'stale', false)).toBe('stale');
    expect(ownStatus('error', 'error', false)).toBe('error');
    expect(ownStatus(undefined, 'invalid', false)).toBe('invalid');
    expect(ownStatus(undefined, undefined, false)).toBe('not-run');
  });

  it('keeps done/cached while the kernel says the result is current', () => {
    expect(ownStatus('done', 'cached', false)).toBe('done');
    expect(ownStatus('cached', 'cached', false)).toBe('cached');
    expect(ownStatus('done', 'stale', false)).toBe('stale');
  });

  it('keeps interrupted until the result is current', () => {
    expect(ownStatus('interrupted', 'stale', false)).toBe('interrupted');
    expect(ownStatus('interrupted', 'cached', false)).toBe('cached');
  });
});

describe('graphStatuses', () => {
  const chain = [
    { id: 'a', name: 'A', parents: [] },
    { id: 'b', name: 'B', parents: ['a'] },
    { id: 'c', name: 'C', parents: ['b'] },
    { id: 'd', name: 'D', parents: ['c', 'x'] },
    { id: 'x', name: 'X', parents: [] }
  ];
  const of = (statuses: { [id: string]: NodeStatus }) => (id: string) => statuses[id];

  it('blocks every descendant of a failed component that has no current result', () => {
    const result = graphStatuses(
      chain,
      of({ a: 'done', b: 'error', c: 'stale', d: 'not-run', x: 'cached' })
    );
    expect(result.get('a')).toEqual({ status: 'done' });
    expect(result.get('b')).toEqual({ status: 'error' });
    expect(result.get('c')).toEqual({ status: 'blocked', blockedBy: 'B' });
    expect(result.get('d')).toEqual({ status: 'blocked', blockedBy: 'B' });
    expect(result.get('x')).toEqual({ status: 'cached' });
  });

  it('names the nearest failed ancestor', () => {
    const result = graphStatuses(
      chain,
      of({ a: 'error', b: 'stale', c: 'error', d: 'queued', x: 'cached' })
    );
    expect(result.get('b')?.blockedBy).toBe('A');
    expect(result.get('d')?.blockedBy).toBe('C');
  });

  it('leaves running, invalid and current components alone', () => {
    const result = graphStatuses(
      chain,
      of({ a: 'error', b: 'running', c: 'invalid', d: 'cached', x: 'not-run' })
    );
    expect(result.get('b')?.status).toBe('running');
    expect(result.get('c')?.status).toBe('invalid');
    expect(result.get('d')?.status).toBe('cached');
    expect(result.get('x')?.status).toBe('not-run');
  });

  it('survives a cycle and parents that are not components', () => {
    const cyclic = [
      { id: 'p', name: 'P', parents: ['q', 'gone'] },
      { id: 'q', name: 'Q', parents: ['p'] }
    ];
    const result = graphStatuses(cyclic, of({ p: 'invalid', q: 'invalid' }));
    expect(result.get('p')?.status).toBe('invalid');
  });
});

describe('statusLabel', () => {
  it('has a label for every status the kernel sends and the front end derives', () => {
    for (const status of [...STATE_STATUSES, ...EVENT_STATUSES, 'blocked'] as NodeStatus[]) {
      expect(statusLabel(trans as any, status)).toMatch(/\w/);
    }
    expect(statusLabel(trans as any, 'invalid')).toBe('invalid');
  });
});
