/**
 * What the graph shows for a component, from what the kernel said: its `state` (the
 * status of the result for the current code and inputs) and the live events of a run.
 * Pure functions, so the rules are tested without a kernel (src/__tests__/status.spec.ts).
 */
import { EventStatus, NodeStatus, StateStatus } from './tokens';

/**
 * One component's status: live run events win while a run goes on and while the
 * kernel says the result is current; otherwise the kernel's state.
 */
export function ownStatus(
  live: EventStatus | undefined,
  state: StateStatus | undefined,
  running: boolean
): NodeStatus {
  if (live && (running || state === undefined)) {
    return live;
  }
  if (live && state === 'cached' && (live === 'done' || live === 'cached')) {
    return live;
  }
  if (live === 'interrupted' && state !== 'cached') {
    return live; // until the next state after an edit
  }
  return state ?? 'not-run';
}

/** Statuses a failed ancestor turns into `blocked`: the component has no current result. */
const BLOCKABLE: ReadonlySet<NodeStatus> = new Set<NodeStatus>(['not-run', 'stale', 'queued']);

export interface IGraphStatus {
  status: NodeStatus;
  /** For `blocked`: the name of the failed ancestor nearest to the component. */
  blockedBy?: string;
}

/**
 * Every component's status, with `blocked` for a component without a current result
 * whose ancestor's last run failed (`error`): it cannot run until that is fixed.
 *
 * @param components id, name and parent ids of each component
 * @param own the component's own status (ownStatus)
 */
export function graphStatuses(
  components: ReadonlyArray<{ id: string; name: string; parents: string[] }>,
  own: (id: string) => NodeStatus
): Map<string, IGraphStatus> {
  const byId = new Map(components.map(c => [c.id, c]));
  const mine = new Map(components.map(c => [c.id, own(c.id)]));
  const result = new Map<string, IGraphStatus>();
  for (const component of components) {
    const status = mine.get(component.id)!;
    const failed = BLOCKABLE.has(status) ? nearestFailed(component.id, byId, mine) : null;
    result.set(
      component.id,
      failed ? { status: 'blocked', blockedBy: byId.get(failed)!.name } : { status }
    );
  }
  return result;
}

/** Breadth-first up the parents: the closest ancestor whose status is `error`. */
function nearestFailed(
  id: string,
  byId: Map<string, { parents: string[] }>,
  status: Map<string, NodeStatus>
): string | null {
  const seen = new Set<string>([id]);
  let frontier = byId.get(id)?.parents ?? [];
  while (frontier.length) {
    const next: string[] = [];
    for (const parent of frontier) {
      if (seen.has(parent) || !byId.has(parent)) {
        continue;
      }
      seen.add(parent);
      if (status.get(parent) === 'error') {
        return parent;
      }
      next.push(...byId.get(parent)!.parents);
    }
    frontier = next;
  }
  return null;
}
