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
 * Every component's status, with `blocked` for a component without a current result whose
 * ancestor's last run failed: it cannot run until that is fixed. Which ancestor blocks it
 * is Python's answer (`blocked_by` in the kernel's state); the front end only shows it.
 *
 * @param components id and name of each component
 * @param own the component's own status (ownStatus)
 * @param blockedBy the id of the failed ancestor the kernel named for a component, if any
 */
export function graphStatuses(
  components: ReadonlyArray<{ id: string; name: string }>,
  own: (id: string) => NodeStatus,
  blockedBy: (id: string) => string | undefined
): Map<string, IGraphStatus> {
  const names = new Map(components.map(c => [c.id, c.name]));
  const result = new Map<string, IGraphStatus>();
  for (const component of components) {
    const status = own(component.id);
    const blocker = BLOCKABLE.has(status) ? blockedBy(component.id) : undefined;
    result.set(
      component.id,
      blocker && names.has(blocker)
        ? { status: 'blocked', blockedBy: names.get(blocker)! }
        : { status }
    );
  }
  return result;
}
