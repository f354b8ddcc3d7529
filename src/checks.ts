/**
 * Python's check of the edges people drew (POST pipeline/check), kept for the views:
 * the warnings of each component (a name it reads that a non-ancestor binds, with the
 * fix) and the names each existing edge carries. The front end only asks and remembers.
 */
import { INotebookModel } from '@jupyterlab/notebook';
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { edgeId } from './components/layout';
import * as nb from './notebookpipeline';
import { ICheckWarning, pipeline } from './rest';
import { ServerError } from './server';

export class PipelineChecks implements IDisposable {
  constructor(
    private readonly _notebook: INotebookModel,
    private readonly _delay = 500
  ) {}

  /** Emitted when the warnings or the edges' names changed. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** The warnings of one component (none when Python has nothing to say). */
  warnings(id: string): ICheckWarning[] {
    return this._warnings.get(id) ?? [];
  }

  /** Every warning, in the order Python gave them. */
  get allWarnings(): ICheckWarning[] {
    return [...this._warnings.values()].flat();
  }

  /** The names an existing edge carries, by `edgeId(parent, child)`. */
  get edgeNames(): ReadonlyMap<string, string[]> {
    return this._edgeNames;
  }

  /** Ask again after the notebook settles (called on every edit). */
  schedule(): void {
    window.clearTimeout(this._timer);
    if (!this._disposed && this._available) {
      this._timer = window.setTimeout(() => void this.refresh(), this._delay);
    }
  }

  /** Ask Python now (unless it has seen this notebook already). */
  async refresh(): Promise<void> {
    window.clearTimeout(this._timer);
    if (this._disposed || !this._available) {
      return;
    }
    if (nb.notebookComponents(this._notebook).length === 0) {
      this._set([], []);
      this._asked = '';
      return;
    }
    const notebook = nb.syncPayload(this._notebook);
    const key = JSON.stringify(notebook);
    if (key === this._asked) {
      return;
    }
    this._asked = key;
    try {
      const reply = await pipeline.check(notebook);
      if (key === this._asked && !this._disposed) {
        this._set(reply.warnings ?? [], reply.edges ?? []);
      }
    } catch (error) {
      if (error instanceof ServerError && error.status === 404 && !error.fromHandler) {
        this._available = false; // a server without the check endpoint: stop asking
      } else {
        console.warn('cellpipe: the pipeline check failed', error);
      }
      this._asked = '';
      this._set([], []);
    }
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  dispose(): void {
    this._disposed = true;
    window.clearTimeout(this._timer);
    Signal.clearData(this);
  }

  private _set(
    warnings: ICheckWarning[],
    edges: { parent: string; child: string; names: string[] }[]
  ): void {
    const byComponent = new Map<string, ICheckWarning[]>();
    for (const warning of warnings) {
      byComponent.set(warning.component, [...(byComponent.get(warning.component) ?? []), warning]);
    }
    const names = new Map(edges.map(e => [edgeId(e.parent, e.child), e.names]));
    if (
      JSON.stringify([...byComponent]) === JSON.stringify([...this._warnings]) &&
      JSON.stringify([...names]) === JSON.stringify([...this._edgeNames])
    ) {
      return;
    }
    this._warnings = byComponent;
    this._edgeNames = names;
    this._changed.emit();
  }

  private _asked = '';
  private _available = true;
  private _changed = new Signal<this, void>(this);
  private _disposed = false;
  private _edgeNames: ReadonlyMap<string, string[]> = new Map();
  private _timer = 0;
  private _warnings = new Map<string, ICheckWarning[]>();
}
