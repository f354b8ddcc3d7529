/**
 * Shows on each component cell its name, status and worker, and marks the cell with
 * classes (`jp-cellpipe-component`, `jp-cellpipe-status-*`) for styling and tests.
 */
import { Cell } from '@jupyterlab/cells';
import { TranslationBundle } from '@jupyterlab/translation';
import { IDisposable } from '@lumino/disposable';

import { statusText } from './components/GraphView';
import { PipelineModel } from './model';

const BADGE_CLASS = 'jp-cellpipe-cell-badge';

/** Touch the DOM only when the text changes (this runs on every edit). */
function setText(node: HTMLElement, text: string): void {
  if (node.textContent !== text) {
    node.textContent = text;
  }
}
const STATUS_PREFIX = 'jp-cellpipe-status-';

export class CellBadges implements IDisposable {
  constructor(
    private readonly _model: PipelineModel,
    private readonly _trans: TranslationBundle
  ) {
    _model.changed.connect(this._update, this);
    _model.panel.content.modelContentChanged.connect(this._update, this);
    this._update();
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this._model.changed.disconnect(this._update, this);
    this._model.panel.content.modelContentChanged.disconnect(this._update, this);
  }

  private _update(): void {
    if (this._disposed || this._model.panel.isDisposed) {
      return;
    }
    const byId = new Map(this._model.components.map(c => [c.id, c]));
    for (const cell of this._model.panel.content.widgets) {
      if (!this._hooked.has(cell)) {
        // A cell of a long notebook builds its DOM when first scrolled into view.
        this._hooked.add(cell);
        void cell.ready.then(() => this._update());
      }
      const component = byId.get(cell.model.sharedModel.getId());
      if (component) {
        const status = this._model.status(component.id);
        const worker = this._model.worker(component.id);
        this._show(
          cell,
          component.name,
          status,
          statusText(this._trans, this._model, component.id),
          worker
        );
      } else {
        this._hide(cell);
      }
    }
  }

  private _show(cell: Cell, name: string, status: string, label: string, worker: string): void {
    let badge = cell.node.querySelector(`:scope > .${BADGE_CLASS}`) as HTMLElement | null;
    if (!badge) {
      badge = document.createElement('div');
      badge.className = BADGE_CLASS;
      badge.innerHTML =
        '<span class="jp-cellpipe-cell-name"></span>' +
        '<span class="jp-cellpipe-badge jp-cellpipe-badge-status"></span>' +
        '<span class="jp-cellpipe-badge jp-cellpipe-badge-remote"></span>';
    }
    if (cell.node.firstChild !== badge) {
      cell.node.insertBefore(badge, cell.node.firstChild);
    }
    setText(badge.children[0] as HTMLElement, name);
    setText(badge.children[1] as HTMLElement, label);
    const remote = badge.children[2] as HTMLElement;
    setText(remote, worker ? this._trans.__('remote: %1', worker) : '');
    remote.hidden = !worker;
    cell.addClass('jp-cellpipe-component');
    if (!cell.hasClass(STATUS_PREFIX + status)) {
      for (const cls of [...cell.node.classList]) {
        if (cls.startsWith(STATUS_PREFIX)) {
          cell.removeClass(cls);
        }
      }
      cell.addClass(STATUS_PREFIX + status);
    }
    if (cell.node.dataset.cellpipeName !== name) {
      cell.node.dataset.cellpipeName = name;
    }
  }

  private _disposed = false;
  private _hooked = new WeakSet<Cell>();

  private _hide(cell: Cell): void {
    if (!cell.hasClass('jp-cellpipe-component')) {
      return;
    }
    cell.node.querySelector(`:scope > .${BADGE_CLASS}`)?.remove();
    cell.removeClass('jp-cellpipe-component');
    for (const cls of [...cell.node.classList]) {
      if (cls.startsWith(STATUS_PREFIX)) {
        cell.removeClass(cls);
      }
    }
    delete cell.node.dataset.cellpipeName;
  }
}
