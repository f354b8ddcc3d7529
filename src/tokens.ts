/**
 * Types of the front end <-> kernel protocol (docs/protocol.md) and the names the
 * front end shares between its modules.
 */

/** Statuses the kernel's `state` reports for a component. */
export type StateStatus = 'not-run' | 'cached' | 'stale' | 'error';

/** Statuses a run's `event` messages report for a component. */
export type EventStatus =
  | 'queued'
  | 'running'
  | 'cached'
  | 'done'
  | 'error'
  | 'interrupted';

/** What the graph shows for a component. */
export type NodeStatus = StateStatus | EventStatus;

export interface IComponentState {
  name: string;
  status: StateStatus;
  reason?: string | null;
  parents: string[];
}

export interface IParameter {
  type: 'int' | 'float' | 'str' | 'bool' | 'json';
  value: unknown;
}

export interface IStateMessage {
  op: 'state';
  components: { [id: string]: IComponentState };
  problems: string[];
  parameters: { [name: string]: IParameter };
}

export interface IPlanStep {
  id: string;
  name: string;
  action: 'run' | 'cache';
  reason?: string;
}

export interface IRunMessage {
  op: 'run';
  run_id: string;
  target: string;
  phase: 'start' | 'end';
  steps?: IPlanStep[];
  status?: 'ok' | 'error' | 'interrupted';
  elapsed?: number | null;
}

export interface IEventMessage {
  op: 'event';
  run_id: string;
  target: string;
  id: string;
  name: string;
  status: EventStatus;
  elapsed?: number | null;
  reason?: string | null;
  worker?: string | null;
}

export interface ICapturedMessage {
  op: 'captured';
  id: string;
  outputs: any[];
  run_of: string | null;
  cached_at: string | null;
}

export interface IErrorMessage {
  op: 'error';
  request_id?: string;
  message: string;
  kind: string;
}

/** Any message the kernel sends on the `cellpipe` comm. */
export type KernelMessage =
  | IStateMessage
  | IRunMessage
  | IEventMessage
  | ICapturedMessage
  | IErrorMessage
  | { op: 'edge_ok' | 'plan' | 'targets'; [key: string]: any };

/** Cell metadata `cellpipe` (DESIGN 3.1). */
export interface IComponentMetadata {
  name: string;
  parents: string[];
  worker?: string;
}

/** Notebook metadata `cellpipe` (DESIGN 3.1). */
export interface IPipelineMetadata {
  version: number;
  parameters?: { [name: string]: IParameter };
  [key: string]: unknown;
}

/** Key of cellpipe's metadata, in cells and in the notebook. */
export const METADATA_KEY = 'cellpipe';

/** The comm target the kernel extension registers. */
export const COMM_TARGET = 'cellpipe';

/** Command ids. */
export namespace CommandIDs {
  export const toggleComponent = 'cellpipe:toggle-component';
  export const renameComponent = 'cellpipe:rename-component';
  export const editParents = 'cellpipe:edit-parents';
  export const setWorker = 'cellpipe:set-worker';
  export const runComponent = 'cellpipe:run-component';
  export const runPipeline = 'cellpipe:run-pipeline';
  export const runDownstream = 'cellpipe:run-downstream';
  export const forceRun = 'cellpipe:force-run';
  export const interrupt = 'cellpipe:interrupt';
  export const showCaptured = 'cellpipe:show-captured';
  export const showGraph = 'cellpipe:show-graph';
}
