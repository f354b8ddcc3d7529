/**
 * The front end <-> kernel protocol (docs/protocol.md).
 *
 * GENERATED from cellpipe/kernel/protocol.py, do not edit:
 *   python -m cellpipe.kernel.protocol_gen --typescript > src/protocol.ts
 */

/* eslint-disable */

export const COMM_TARGET = 'cellpipe';

/** A component's status in a `state` message. */
export type StateStatus = 'not-run' | 'cached' | 'stale' | 'error' | 'invalid' | 'running';
export const STATE_STATUSES: readonly StateStatus[] = ['not-run', 'cached', 'stale', 'error', 'invalid', 'running'];

/** A component's status in a run's `event` messages. */
export type EventStatus = 'queued' | 'running' | 'cached' | 'done' | 'error' | 'interrupted';
export const EVENT_STATUSES: readonly EventStatus[] = ['queued', 'running', 'cached', 'done', 'error', 'interrupted'];

/** How a run ended. */
export type RunStatus = 'ok' | 'error' | 'interrupted';
export const RUN_STATUSES: readonly RunStatus[] = ['ok', 'error', 'interrupted'];

/** What a run does with a component: execute it, or take its result from the cache. */
export type PlanAction = 'run' | 'cache';
export const PLAN_ACTIONS: readonly PlanAction[] = ['run', 'cache'];

/** The type of a pipeline parameter. */
export type ParameterType = 'int' | 'float' | 'str' | 'bool' | 'json';
export const PARAMETER_TYPES: readonly ParameterType[] = ['int', 'float', 'str', 'bool', 'json'];

/** `pipeline`: every sink; `downstream`: a component and its descendants. */
export type TargetsMode = 'pipeline' | 'downstream';
export const TARGETS_MODES: readonly TargetsMode[] = ['pipeline', 'downstream'];

/** The op of a request (front end -> kernel). */
export type RequestOp = 'sync' | 'state' | 'plan' | 'targets' | 'captured' | 'check_edge' | 'run';
export const REQUEST_OPS: readonly RequestOp[] = ['sync', 'state', 'plan', 'targets', 'captured', 'check_edge', 'run'];

/** The op of a message the kernel sends (a reply or an event). */
export type MessageOp = 'state' | 'plan' | 'targets' | 'captured' | 'edge_ok' | 'error' | 'run' | 'event';
export const MESSAGE_OPS: readonly MessageOp[] = ['state', 'plan', 'targets', 'captured', 'edge_ok', 'error', 'run', 'event'];

/** One component in a `state` message (`parents` are component ids). `blocked_by`: for a component without a current result (`not-run`, `stale`), the id of the nearest ancestor whose last run failed: it cannot run until that is fixed. */
export interface IComponentState {
  name: string;
  status: StateStatus;
  reason: string | null;
  parents: string[];
  key?: string;
  blocked_by?: string;
}

/** A pipeline parameter and its current value. */
export interface IParameter {
  type: ParameterType;
  value: any;
}

/** One component of a run's plan, in run order (ancestors first, the target last). */
export interface IPlanStep {
  id: string;
  name: string;
  action: PlanAction;
  reason: string;
}

/** Results of this kernel that a full disk refused and that are still not on disk: how many, their bytes, and the sentence to show. */
export interface ICacheUnwritten {
  results: number;
  bytes: number;
  message: string;
}

/** A cell of the live notebook, as the front end sends it (outputs are left out). */
export interface ISyncCell {
  id: string;
  cell_type: string;
  source: string;
  metadata: { [key: string]: any };
}

/** The live notebook, unsaved edits included. */
export interface ISyncNotebook {
  metadata: { [key: string]: any };
  cells: ISyncCell[];
}

/** Take the live notebook; sent on open, after edits (debounced) and before every run. Reply: `state`. */
export interface ISyncRequest {
  op: 'sync';
  notebook: ISyncNotebook;
  request_id?: string;
}

/** Reply: `state`. `flush`: first wait for the cache's disk writes (the CLI asks so before it stops the kernel, to report results a full disk refused). */
export interface IStateRequest {
  op: 'state';
  flush?: boolean;
  request_id?: string;
}

/** What a run of `target` would do. Reply: `plan`. */
export interface IPlanRequest {
  op: 'plan';
  target: string;
  force?: boolean;
  rerun_target?: boolean;
  request_id?: string;
}

/** The components to run one after another, in topological order. Reply: `targets`. */
export interface ITargetsRequest {
  op: 'targets';
  mode: TargetsMode;
  id?: string;
  request_id?: string;
}

/** The outputs a component produced in its latest result. Reply: `captured`. */
export interface ICapturedRequest {
  op: 'captured';
  id: string;
  request_id?: string;
}

/** Would parent -> child be a valid edge? Reply: `edge_ok`, or an `error` naming the cycle. */
export interface ICheckEdgeRequest {
  op: 'check_edge';
  parent: string;
  child: string;
  request_id?: string;
}

/** Run `target` (a component id): its ancestors first, only its own output shown. Sent as the code of an execute request (`run_code`; `runCode` in src/protocol.ts), so the output reaches the cell being run; `parameters` are typed values (name -> value) for this run. Events: `run`, `event`, then `state`; a failure is the cell's error. */
export interface IRunRequest {
  op: 'run';
  target: string;
  parameters?: { [key: string]: any };
  force?: boolean;
  rerun_target?: boolean;
  request_id?: string;
}

/** Every component's status (reply to `sync` and `state`, and sent after every run). `cache_unwritten`: results the cache's disk had no room for (absent when all fit). */
export interface IStateMessage {
  op: 'state';
  components: { [key: string]: IComponentState };
  problems: string[];
  notices: string[];
  parameters: { [key: string]: IParameter };
  cache_unwritten?: ICacheUnwritten;
  request_id?: string;
}

/** Reply to `plan`. */
export interface IPlanMessage {
  op: 'plan';
  target: string;
  steps: IPlanStep[];
  request_id?: string;
}

/** Reply to `targets`. */
export interface ITargetsMessage {
  op: 'targets';
  ids: string[];
  request_id?: string;
}

/** Reply to `captured`: nbformat output dicts; `run_of` names the target whose run made it; `failed`: the component's latest run failed (outputs end with its error). */
export interface ICapturedMessage {
  op: 'captured';
  id: string;
  outputs: { [key: string]: any }[];
  run_of: string | null;
  cached_at: string | null;
  failed?: boolean;
  request_id?: string;
}

/** Reply to `check_edge` when the edge is fine. */
export interface IEdgeOkMessage {
  op: 'edge_ok';
  request_id?: string;
}

/** Reply to any request that failed; `kind` is the Python exception's class name. */
export interface IErrorMessage {
  op: 'error';
  kind: string;
  message: string;
  request_id?: string;
}

/** Event: a run of `target` starts, with its plan. */
export interface IRunStartMessage {
  op: 'run';
  run_id: string;
  target: string;
  phase: 'start';
  steps: IPlanStep[];
  request_id?: string;
}

/** Event: a run ended (a fresh `state` follows). `notices`: cellpipe's own notes on the run (e.g. a value that cannot be pickled), for the panel; never in the cell's output. */
export interface IRunEndMessage {
  op: 'run';
  run_id: string;
  target: string;
  phase: 'end';
  status: RunStatus;
  elapsed: number;
  notices?: string[];
  request_id?: string;
}

/** Event: one component's status changed during a run (`elapsed` in seconds). */
export interface IEventMessage {
  op: 'event';
  run_id: string;
  target: string;
  id: string;
  name: string;
  status: EventStatus;
  elapsed: number | null;
  reason: string | null;
  worker: string | null;
  request_id?: string;
}

/** Any request the front end sends on the `cellpipe` comm. */
export type Request =
  | ISyncRequest
  | IStateRequest
  | IPlanRequest
  | ITargetsRequest
  | ICapturedRequest
  | ICheckEdgeRequest
  | IRunRequest;

/** Any message the kernel sends on the `cellpipe` comm. */
export type KernelMessage =
  | IStateMessage
  | IPlanMessage
  | ITargetsMessage
  | ICapturedMessage
  | IEdgeOkMessage
  | IErrorMessage
  | IRunStartMessage
  | IRunEndMessage
  | IEventMessage;

/** The magic that carries a run request as the code of an execute request. */
export const RUN_MAGIC = '%cellpipe_request';

/** The cell code that carries a run request: execute it in the cell being run. */
export function runCode(request: IRunRequest): string {
  return `${RUN_MAGIC} ${JSON.stringify(request)}`;
}
