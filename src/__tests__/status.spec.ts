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
    { id: 'a', name: 'A' },
    { id: 'b', name: 'B' },
    { id: 'c', name: 'C' },
    { id: 'd', name: 'D' }
  ];
  const of =
    <T>(values: { [id: string]: T }) =>
    (id: string) =>
      values[id];

  it('shows blocked where Python named a failed ancestor, with its name', () => {
    const result = graphStatuses(
      chain,
      of<NodeStatus>({ a: 'done', b: 'error', c: 'stale', d: 'not-run' }),
      of({ c: 'b', d: 'b' })
    );
    expect(result.get('a')).toEqual({ status: 'done' });
    expect(result.get('b')).toEqual({ status: 'error' });
    expect(result.get('c')).toEqual({ status: 'blocked', blockedBy: 'B' });
    expect(result.get('d')).toEqual({ status: 'blocked', blockedBy: 'B' });
  });

  it('leaves running, invalid and current components alone, whatever the state says', () => {
    const result = graphStatuses(
      chain,
      of<NodeStatus>({ a: 'error', b: 'running', c: 'invalid', d: 'cached' }),
      of({ b: 'a', c: 'a', d: 'a' })
    );
    expect(result.get('b')?.status).toBe('running');
    expect(result.get('c')?.status).toBe('invalid');
    expect(result.get('d')?.status).toBe('cached');
  });

  it('ignores a blocker that is not a component (any more)', () => {
    const result = graphStatuses(chain, of<NodeStatus>({ c: 'stale' }), of({ c: 'gone' }));
    expect(result.get('c')).toEqual({ status: 'stale' });
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
