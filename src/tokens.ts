/**
 * Names the front end shares between its modules. The kernel protocol's types are
 * generated into ./protocol.ts from cellpipe/kernel/protocol.py (docs/protocol.md).
 */
import { EventStatus, IParameter, StateStatus } from './protocol';

export * from './protocol';

/**
 * Statuses the front end derives itself: `blocked` is a component that cannot run
 * because an ancestor's last run failed.
 */
export type FrontEndStatus = 'blocked';

/** What the graph shows for a component. */
export type NodeStatus = StateStatus | EventStatus | FrontEndStatus;

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
  export const showGraphSidebar = 'cellpipe:show-graph-sidebar';
  export const showWorkers = 'cellpipe:show-workers';
  export const focusComponent = 'cellpipe:focus-component';
  export const showAllComponents = 'cellpipe:show-all-components';
}
