/**
 * The pipeline of one open notebook as the views see it: the components the
 * notebook declares, the statuses the kernel reports (state and live run events),
 * and the actions (edit edges, run, show captured output). Python owns the logic;
 * this class only asks it and remembers the answers.
 */
import { Notification } from '@jupyterlab/apputils';
import { CodeCell } from '@jupyterlab/cells';
import * as nbformat from '@jupyterlab/nbformat';
import { NotebookPanel } from '@jupyterlab/notebook';
import { TranslationBundle } from '@jupyterlab/translation';
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { PipelineChecks } from './checks';
import { KernelLink } from './kernel';
import * as nb from './notebookpipeline';
import { IConverted, pipeline } from './rest';
import { executeInCell, runRequestCode } from './runner';
import { ServerError } from './server';
import { graphStatuses, IGraphStatus, ownStatus } from './status';
import {
  EventStatus,
  IParameter,
  IStateMessage,
  ITargetsRequest,
  KernelMessage,
  NodeStatus
} from './tokens';

/** One component's outcome in the last run. */
export interface IRunLogEntry {
  id: string;
  name: string;
  status: EventStatus;
  elapsed: number | null;
  reason: string;
  worker: string;
}

/** A message the panel shows above the graph. */
export interface IBanner {
  kind: 'error' | 'info';
  text: string;
}

export interface IPipelineModelOptions {
  panel: NotebookPanel;
  trans: TranslationBundle;
  /** Milliseconds to wait after an edit before syncing the kernel. */
  syncDelay?: number;
}

export class PipelineModel implements IDisposable {
  constructor(options: IPipelineModelOptions) {
    this.panel = options.panel;
    this._trans = options.trans;
    this._syncDelay = options.syncDelay ?? 400;
    this.link = new KernelLink(this.panel.sessionContext);
    this.checks = new PipelineChecks(this.panel.context.model);
    this.checks.changed.connect(this._emit, this);
    this.link.received.connect(this._onKernelMessage, this);
    this.link.statusChanged.connect(this._onLinkStatus, this);
    void this.panel.context.ready.then(() => {
      if (this._disposed) {
        return;
      }
      const model = this.panel.context.model;
      model.contentChanged.connect(this._onNotebookChanged, this);
      model.metadataChanged.connect(this._onNotebookChanged, this);
      model.cells.changed.connect(this._onCellsChanged, this);
      this._refreshComponents();
      void this.checks.refresh();
    });
  }

  readonly panel: NotebookPanel;
  readonly link: KernelLink;
  /** Python's check of the edges (warnings with fixes, the names each edge carries). */
  readonly checks: PipelineChecks;

  /** Emitted whenever anything a view shows changed. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get components(): nb.INotebookComponent[] {
    return this._components;
  }

  get state(): IStateMessage | null {
    return this._state;
  }

  get banner(): IBanner | null {
    return this._banner;
  }

  /** What happened to each component in the last run (all its targets), in order. */
  get runLog(): IRunLogEntry[] {
    return this._runLog;
  }

  /**
   * cellpipe's own notes on the last run (all its targets), from the kernel's run-end
   * messages: e.g. a value that cannot be pickled, a damaged cache entry recomputed.
   */
  get notices(): string[] {
    return this._notices;
  }

  /** Drop one notice (by its text), or all of them. */
  dismissNotice(text?: string): void {
    this._notices = text === undefined ? [] : this._notices.filter(n => n !== text);
    this._emit();
  }

  /** A MakinaRocks Link notebook: its graph comes from the kernel until it is converted. */
  get isLink(): boolean {
    return this._link;
  }

  /** Ids of the components (cells) with unresolved git merge conflicts. */
  get conflicts(): ReadonlySet<string> {
    return this._conflicts;
  }

  /** Whether "Undo conversion" can restore the Link metadata of the last conversion. */
  get canUndoConversion(): boolean {
    return this._beforeConversion !== null;
  }

  /**
   * Convert a Link notebook to cellpipe's format: Python (the server's convert endpoint)
   * maps Link's canvas ids and parameters; the result is applied as one edit.
   */
  async convertLink(): Promise<boolean> {
    const model = this.panel.context.model;
    let body: IConverted;
    try {
      body = await pipeline.convert(nb.syncPayload(model));
    } catch (error) {
      this._refuse(this._trans.__('Not converted: %1', (error as Error).message));
      return false;
    }
    const before = nb.metadataSnapshot(model);
    nb.applyMetadata(model, body as nb.IMetadataSnapshot);
    this._beforeConversion = before;
    const notices = body.notices ?? [];
    this.setBanner({
      kind: 'info',
      text: [this._trans.__('Converted to cellpipe format: %1.', body.summary), ...notices].join(
        '\n'
      )
    });
    return true;
  }

  /** Put the Link metadata back as it was before the last conversion. */
  undoConversion(): void {
    if (this._beforeConversion) {
      nb.applyMetadata(this.panel.context.model, this._beforeConversion);
      this._beforeConversion = null;
      this.setBanner(null);
    }
  }

  /**
   * The component the graph is focused on and what it shows then: the component, its
   * ancestors and its descendants (Python's answer), or null when it shows everything.
   */
  get focus(): { id: string; ids: string[] } | null {
    return this._focus;
  }

  /** Focus the graph on a component (null: show every component again). */
  async focusOn(id: string | null): Promise<void> {
    if (id === null) {
      this._focus = null;
      this._emit();
      return;
    }
    try {
      const reply = await pipeline.lineage(nb.syncPayload(this.panel.context.model), id);
      this._focus = { id, ids: reply.ids };
      this._emit();
    } catch (error) {
      this._refuse(this._trans.__('Cannot focus: %1', (error as Error).message));
    }
  }

  get isRunning(): boolean {
    return this._running;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  /**
   * What the graph shows for a component: live run events win while a run goes on and
   * while the kernel says the result is current; otherwise the kernel's state.
   */
  status(id: string): NodeStatus {
    return this._graphStatus(id).status;
  }

  /** For a `blocked` component: the name of the failed ancestor that blocks it. */
  blockedBy(id: string): string {
    return this._graphStatus(id).blockedBy ?? '';
  }

  /** Why a component has its status (from the kernel), if it said. */
  reason(id: string): string {
    const blocker = this.blockedBy(id);
    if (blocker) {
      return this._trans.__('%1 failed: fix it, then run again', blocker);
    }
    return this._state?.components[id]?.reason ?? '';
  }

  /** The worker alias a component runs on, or '' for local. */
  worker(id: string): string {
    return this._components.find(c => c.id === id)?.worker || this._workers.get(id) || '';
  }

  /** Milliseconds to wait after an edit before syncing the kernel. */
  set syncDelay(delay: number) {
    this._syncDelay = delay;
  }

  setBanner(banner: IBanner | null): void {
    this._banner = banner;
    this._emit();
  }

  // --- structure -------------------------------------------------------------

  /** Add parent -> child unless Python says it would make a cycle. */
  async connect(parent: string, child: string): Promise<boolean> {
    const model = this.panel.context.model;
    if (parent === child) {
      this._refuse(this._trans.__('A component cannot be its own parent.'));
      return false;
    }
    let error: string;
    try {
      error = await this._checkEdge(parent, child);
    } catch (reason) {
      error = this._trans.__('it could not be checked (%1)', (reason as Error).message);
    }
    if (error) {
      this._refuse(this._trans.__('Edge refused: %1', error));
      return false;
    }
    nb.addEdge(model, parent, child);
    this.setBanner(null);
    return true;
  }

  /** Why Python refuses parent -> child ('' when it may be added). */
  async edgeProblem(parent: string, child: string): Promise<string> {
    try {
      return await this._checkEdge(parent, child);
    } catch (reason) {
      return this._trans.__('it could not be checked (%1)', (reason as Error).message);
    }
  }

  disconnect(parent: string, child: string): void {
    nb.removeEdge(this.panel.context.model, parent, child);
  }

  setParameters(params: { [name: string]: IParameter }): void {
    nb.setParameters(this.panel.context.model, params);
  }

  // --- running ---------------------------------------------------------------

  /** Run one component in its own cell (ancestors run or come from the cache). */
  async run(id: string, force = false): Promise<boolean> {
    return this._runQueue([id], force);
  }

  /** Run every sink of the pipeline, one after another. */
  async runPipeline(force = false): Promise<boolean> {
    const ids = await this._targets({ op: 'targets', mode: 'pipeline' });
    return ids ? this._runQueue(ids, force) : false;
  }

  /** Run a component and then each of its descendants. */
  async runDownstream(id: string, force = false): Promise<boolean> {
    const ids = await this._targets({ op: 'targets', mode: 'downstream', id });
    return ids ? this._runQueue(ids, force) : false;
  }

  /** Interrupt the kernel and drop the targets still waiting. */
  async interrupt(): Promise<void> {
    this._queue = [];
    await this.panel.sessionContext.session?.kernel?.interrupt();
  }

  /** Render what a component printed during the last run in its own output area. */
  async showCaptured(id: string): Promise<void> {
    const cell = this._codeCell(id);
    if (!cell) {
      return;
    }
    let reply: KernelMessage;
    try {
      reply = await this.link.request({ op: 'captured', id });
    } catch (error) {
      this._refuse((error as Error).message);
      return;
    }
    if (reply.op !== 'captured') {
      this._refuse(reply.op === 'error' ? reply.message : this._trans.__('No captured output.'));
      return;
    }
    const label = reply.run_of
      ? this._trans.__('Output captured during the run of %1', reply.run_of)
      : this._trans.__('Output captured during an earlier run');
    const outputs = cell.model.outputs;
    outputs.clear();
    outputs.add({
      output_type: 'display_data',
      data: { 'text/markdown': `*${label}*` },
      metadata: { cellpipe: { captured: true, run_of: reply.run_of } }
    });
    for (const output of reply.outputs) {
      outputs.add(output as unknown as nbformat.IOutput);
    }
    if (reply.outputs.length === 0) {
      outputs.add({
        output_type: 'stream',
        name: 'stdout',
        text: this._trans.__('(it printed nothing)') + '\n'
      });
    }
  }

  /**
   * Send the live notebook to the kernel; resolve when its state came back. Unless
   * `force`, nothing is sent when the kernel has this notebook already.
   */
  async syncNow(force = false): Promise<void> {
    window.clearTimeout(this._syncTimer);
    if (this.link.status !== 'ready') {
      return;
    }
    const notebook = nb.syncPayload(this.panel.context.model);
    const key = JSON.stringify(notebook);
    if (!force && key === this._synced) {
      return;
    }
    this._synced = key;
    try {
      await this.link.request({ op: 'sync', notebook });
    } catch (error) {
      this._synced = '';
      console.warn('cellpipe: sync failed', error);
    }
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    window.clearTimeout(this._syncTimer);
    this.checks.dispose();
    this.link.dispose();
    Signal.clearData(this);
  }

  private async _runQueue(ids: string[], force: boolean): Promise<boolean> {
    if (this._running) {
      this._queue.push(...ids.map(id => ({ id, force })));
      return true;
    }
    this._queue = ids.map(id => ({ id, force }));
    this._runLog = [];
    this._notices = [];
    this._running = true;
    this._emit();
    let ok = true;
    try {
      while (this._queue.length) {
        const next = this._queue.shift()!;
        const status = await this._runOne(next.id, next.force);
        if (status !== 'ok') {
          ok = false;
          this._queue = [];
        }
      }
    } finally {
      this._running = false;
      this._emit();
    }
    return ok;
  }

  private async _runOne(id: string, force: boolean): Promise<'ok' | 'error' | 'abort'> {
    const cell = this._codeCell(id);
    if (!cell) {
      return 'abort';
    }
    if (this.link.status !== 'ready') {
      try {
        await this.link.request({ op: 'state' });
      } catch (error) {
        this._refuse((error as Error).message);
        return 'abort';
      }
    }
    await this.syncNow(true);
    const problems = this._state?.problems ?? [];
    if (problems.length) {
      this._refuse(problems.join('\n'));
      return 'abort';
    }
    this._live.set(id, 'queued');
    this._emit();
    try {
      return await executeInCell(cell, runRequestCode(id, force), this.panel.sessionContext);
    } catch (error) {
      this._refuse((error as Error).message);
      return 'abort';
    }
  }

  private async _targets(request: ITargetsRequest): Promise<string[] | null> {
    try {
      await this.syncNow();
      const reply = await this.link.request(request);
      if (reply.op === 'targets') {
        return reply.ids;
      }
      this._refuse(reply.op === 'error' ? reply.message : String(reply.op));
    } catch (error) {
      this._refuse((error as Error).message);
    }
    return null;
  }

  /** The reason parent -> child is refused, or '' when it is fine. */
  private async _checkEdge(parent: string, child: string): Promise<string> {
    const notebook = nb.syncPayload(this.panel.context.model);
    try {
      await pipeline.checkEdge(notebook, parent, child);
      return '';
    } catch (error) {
      if (error instanceof ServerError && error.fromHandler && error.status !== 404) {
        return error.message; // the server's reason (a cycle, an unknown component...)
      }
      console.warn('cellpipe: server check failed, asking the kernel', error);
    }
    // No server extension: ask the kernel extension instead.
    await this.syncNow();
    const reply = await this.link.request({ op: 'check_edge', parent, child });
    return reply.op === 'edge_ok' ? '' : reply.op === 'error' ? reply.message : reply.op;
  }

  private _refuse(text: string): void {
    this.setBanner({ kind: 'error', text });
    Notification.error(text, { autoClose: 6000 });
  }

  private _codeCell(id: string): CodeCell | null {
    const widget = this.panel.content.widgets.find(w => w.model.sharedModel.getId() === id);
    return widget instanceof CodeCell ? widget : null;
  }

  private _onKernelMessage(_: KernelLink, message: KernelMessage): void {
    switch (message.op) {
      case 'state': {
        const before = this._state?.components ?? {};
        this._state = message;
        this._refreshComponents();
        // A component whose state moved on (edited, or an ancestor was) forgets its last run.
        for (const [id, info] of Object.entries(this._state.components ?? {})) {
          if (before[id] && before[id].status !== info.status && info.status !== 'cached') {
            this._live.delete(id);
          }
        }
        break;
      }
      case 'run':
        if (message.phase === 'start') {
          for (const step of message.steps ?? []) {
            this._live.set(step.id, 'queued');
          }
        } else {
          const fresh = (message.notices ?? []).filter(n => !this._notices.includes(n));
          if (fresh.length) {
            this._notices = [...this._notices, ...fresh];
          }
        }
        break;
      case 'event':
        this._live.set(message.id, message.status);
        const earlier = this._runLog.find(e => e.id === message.id);
        // In a batch of targets, "ran" is news and "from the cache" after it is not.
        const keep = earlier && earlier.status !== 'cached' && message.status === 'cached';
        if (message.status !== 'queued' && message.status !== 'running' && !keep) {
          this._runLog = [
            ...this._runLog.filter(e => e.id !== message.id),
            {
              id: message.id,
              name: message.name,
              status: message.status,
              elapsed: message.elapsed,
              reason: message.reason ?? '',
              worker: message.worker ?? ''
            }
          ];
        }
        if (message.worker) {
          this._workers.set(message.id, message.worker);
        } else {
          this._workers.delete(message.id);
        }
        break;
      default:
        return;
    }
    this._emit();
  }

  private _onLinkStatus(): void {
    if (this.link.status === 'ready') {
      this._live.clear();
      void this.syncNow(true);
    } else if (this.link.status === 'unavailable') {
      this.setBanner({ kind: 'info', text: this.link.problem });
    }
    this._emit();
  }

  private _onCellsChanged(): void {
    nb.renameDuplicates(this.panel.context.model);
  }

  private _onNotebookChanged(): void {
    this._refreshComponents();
    this.checks.schedule();
    window.clearTimeout(this._syncTimer);
    this._syncTimer = window.setTimeout(() => void this.syncNow(), this._syncDelay);
  }

  private _refreshComponents(): void {
    const model = this.panel.context.model;
    let next = nb.notebookComponents(model);
    const link = nb.isLinkNotebook(model);
    if (link && this._state) {
      // Link's parents are canvas ids: Python maps them to cell ids in its `state`.
      const order = new Map<string, number>();
      for (let i = 0; i < model.cells.length; i++) {
        order.set(model.cells.get(i).sharedModel.getId(), i);
      }
      next = Object.entries(this._state.components)
        .filter(([id]) => order.has(id))
        .map(([id, info]) => {
          const index = order.get(id)!;
          const accent = nb.linkHeaderColor(model, model.cells.get(index));
          return {
            id,
            name: info.name,
            parents: info.parents,
            index,
            ...(accent ? { accent } : {})
          };
        })
        .sort((a, b) => a.index - b.index);
    }
    const conflicts = nb.conflictedCells(model);
    if (conflicts.join() !== [...this._conflicts].join()) {
      this._conflicts = new Set(conflicts);
      this._emit();
    }
    if (link !== this._link) {
      this._link = link;
      this._emit();
    }
    if (JSON.stringify(next) !== JSON.stringify(this._components)) {
      const structure = (cs: nb.INotebookComponent[]) =>
        JSON.stringify(cs.map(c => [c.id, c.parents]));
      const moved = structure(next) !== structure(this._components);
      this._components = next;
      this._emit();
      const focus = this._focus;
      if (focus && moved) {
        // an edge changed under the focus: ask again what it shows
        void this.focusOn(next.some(c => c.id === focus.id) ? focus.id : null);
      }
    }
  }

  /** The status of a component in the graph, computed once per change of the model. */
  private _graphStatus(id: string): IGraphStatus {
    if (!this._statuses) {
      this._statuses = graphStatuses(
        this._components,
        c => ownStatus(this._live.get(c), this._state?.components[c]?.status, this._running),
        c => this._state?.components[c]?.blocked_by
      );
    }
    return (
      this._statuses.get(id) ?? {
        status: ownStatus(this._live.get(id), this._state?.components[id]?.status, this._running)
      }
    );
  }

  private _emit(): void {
    this._statuses = null;
    this._changed.emit();
  }

  private _banner: IBanner | null = null;
  private _focus: { id: string; ids: string[] } | null = null;
  private _beforeConversion: nb.IMetadataSnapshot | null = null;
  private _link = false;
  private _conflicts: ReadonlySet<string> = new Set();
  private _changed = new Signal<this, void>(this);
  private _components: nb.INotebookComponent[] = [];
  private _disposed = false;
  private _live = new Map<string, EventStatus>();
  private _queue: { id: string; force: boolean }[] = [];
  private _runLog: IRunLogEntry[] = [];
  private _notices: string[] = [];
  private _running = false;
  private _state: IStateMessage | null = null;
  private _statuses: Map<string, IGraphStatus> | null = null;
  private _syncDelay: number;
  private _synced = '';
  private _syncTimer = 0;
  private _trans: TranslationBundle;
  private _workers = new Map<string, string>();
}
