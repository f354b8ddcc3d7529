/** Conflicted cells left by `cellpipe merge`: highlighted, both sides shown, one click resolves. */
import { Cell } from '@jupyterlab/cells';
import { NotebookPanel } from '@jupyterlab/notebook';
import { TranslationBundle } from '@jupyterlab/translation';
import { Notification } from '@jupyterlab/apputils';
import { PanelLayout, Widget } from '@lumino/widgets';

import { CONFLICT_KEY } from '../notebookpipeline';
import { CellJSON, git } from './api';
import { element } from './dom';

export { CONFLICT_KEY };

interface IConflictRecord {
  kind: string;
  [key: string]: any;
}

function describe(record: IConflictRecord, trans: TranslationBundle): string {
  switch (record.kind) {
    case 'source':
      return trans.__('Both sides changed the same lines of this cell.');
    case 'delete-modify':
      return trans.__('%1 deleted this cell; the other side edited it.', record.deleted_by);
    case 'cycle':
      return trans.__('The merged edges form a cycle through this cell: remove one edge.');
    case 'dangling-parent':
      return trans.__(
        'The edge from %1 was removed: the other side deleted that cell.',
        record.parent
      );
    case 'duplicate-name':
      return trans.__('Two components are named "%1": rename one.', record.name);
    default:
      return trans.__(
        'Both sides changed %1: ours %2, theirs %3.',
        (record.path ?? [record.kind]).join('.'),
        JSON.stringify(record.ours ?? null),
        JSON.stringify(record.theirs ?? null)
      );
  }
}

/** The bar above a conflicted cell: what conflicts, both versions, Keep ours/theirs/both. */
class ConflictBar extends Widget {
  constructor(
    private readonly panel: NotebookPanel,
    private readonly cell: Cell,
    private readonly trans: TranslationBundle
  ) {
    super();
    this.addClass('jp-cellpipe-conflict-bar');
  }

  render(records: IConflictRecord[]): void {
    const trans = this.trans;
    this.node.replaceChildren();
    for (const record of records) {
      this.node.append(element('div', '', describe(record, trans)));
      if (record.kind === 'source' || record.kind === 'delete-modify') {
        const sides = element('div', 'jp-cellpipe-conflict-sides');
        for (const side of ['ours', 'theirs']) {
          const column = element('div', 'jp-cellpipe-conflict-side');
          const text = side in record ? String(record[side]) : trans.__('(deleted this cell)');
          column.append(element('strong', '', side), element('pre', '', text));
          sides.append(column);
        }
        this.node.append(sides);
      }
    }
    const buttons = element('div', 'jp-cellpipe-conflict-buttons');
    const choices: ['ours' | 'theirs' | 'both', string][] = [
      ['ours', trans.__('Keep ours')],
      ['theirs', trans.__('Keep theirs')]
    ];
    if (records.some(r => r.kind === 'source')) {
      choices.push(['both', trans.__('Keep both')]);
    }
    for (const [choice, label] of choices) {
      const button = element('button', 'jp-mod-styled', label);
      button.dataset.choice = choice;
      button.onclick = () => void this.resolve(choice);
      buttons.append(button);
    }
    this.node.append(buttons);
  }

  private async resolve(choice: 'ours' | 'theirs' | 'both'): Promise<void> {
    const model = this.cell.model;
    let resolved: CellJSON;
    try {
      resolved = await git.resolve(model.toJSON() as CellJSON, choice);
    } catch (error) {
      Notification.error((error as Error).message, { autoClose: 6000 });
      return;
    }
    if (resolved.deleted) {
      const index = this.panel.content.widgets.indexOf(this.cell);
      if (index >= 0) {
        this.panel.content.model?.sharedModel.deleteCell(index);
      }
      return;
    }
    const source = Array.isArray(resolved.source) ? resolved.source.join('') : resolved.source;
    model.sharedModel.setSource(String(source ?? ''));
    const metadata = (resolved.metadata ?? {}) as { [key: string]: any };
    for (const key of Object.keys(model.metadata)) {
      if (!(key in metadata)) {
        model.deleteMetadata(key);
      }
    }
    for (const [key, value] of Object.entries(metadata)) {
      model.setMetadata(key, value);
    }
  }
}

/** The bar above a notebook whose metadata (e.g. parameters) conflicts: Keep ours/theirs. */
class NotebookConflictBar extends Widget {
  constructor(
    private readonly panel: NotebookPanel,
    private readonly trans: TranslationBundle
  ) {
    super();
    this.addClass('jp-cellpipe-conflict-bar');
    this.addClass('jp-cellpipe-notebook-conflict');
  }

  render(records: IConflictRecord[]): void {
    const trans = this.trans;
    this.node.replaceChildren(
      element('strong', '', trans.__('Merge conflicts in the notebook metadata')),
      ...records.map(record => element('div', '', describe(record, trans)))
    );
    const buttons = element('div', 'jp-cellpipe-conflict-buttons');
    for (const [choice, label] of [
      ['ours', trans.__('Keep ours')],
      ['theirs', trans.__('Keep theirs')]
    ] as ['ours' | 'theirs', string][]) {
      const button = element('button', 'jp-mod-styled', label);
      button.dataset.choice = choice;
      button.onclick = () => void this.resolve(choice);
      buttons.append(button);
    }
    this.node.append(buttons);
    // The header is a box layout: it sizes children by their CSS minimum height.
    this.node.style.minHeight = '';
    requestAnimationFrame(() => {
      this.node.style.minHeight = `${this.node.scrollHeight + 2}px`;
      this.parent?.fit();
      this.panel.fit();
    });
  }

  private async resolve(choice: 'ours' | 'theirs'): Promise<void> {
    const model = this.panel.content.model;
    if (!model) {
      return;
    }
    let resolved: { [key: string]: any };
    try {
      resolved = await git.resolveNotebook(model.metadata as { [key: string]: any }, choice);
    } catch (error) {
      Notification.error((error as Error).message, { autoClose: 6000 });
      return;
    }
    for (const key of Object.keys(model.metadata)) {
      if (!(key in resolved)) {
        model.deleteMetadata(key);
      }
    }
    for (const [key, value] of Object.entries(resolved)) {
      model.setMetadata(key, value);
    }
  }
}

/** Keeps the conflict bars of one notebook in step with its cells' metadata. */
export class ConflictTracker {
  constructor(
    private readonly panel: NotebookPanel,
    private readonly trans: TranslationBundle
  ) {
    void panel.context.ready.then(() => {
      this.scan();
      panel.content.modelContentChanged.connect(this.schedule, this);
    });
  }

  private schedule(): void {
    if (this._timer !== null) {
      clearTimeout(this._timer);
    }
    this._timer = setTimeout(() => {
      this._timer = null;
      if (!this.panel.isDisposed) {
        this.scan();
      }
    }, 200);
  }

  /** Add, update or remove the bar of every cell (and the notebook's own). */
  scan(): void {
    const notebookMeta = this.panel.content.model?.getMetadata(CONFLICT_KEY) as
      { conflicts?: IConflictRecord[] } | undefined;
    const notebookRecords = notebookMeta?.conflicts ?? [];
    if (notebookRecords.length) {
      if (!this._notebookBar || this._notebookBar.isDisposed) {
        this._notebookBar = new NotebookConflictBar(this.panel, this.trans);
        this.panel.contentHeader.addWidget(this._notebookBar);
      }
      this._notebookBar.render(notebookRecords);
    } else if (this._notebookBar) {
      this._notebookBar.dispose();
      this._notebookBar = null;
    }
    for (const cell of this.panel.content.widgets) {
      const meta = cell.model.getMetadata(CONFLICT_KEY) as { conflicts?: IConflictRecord[] };
      const records = meta?.conflicts ?? [];
      let bar = this._bars.get(cell);
      if (records.length) {
        if (!bar || bar.isDisposed) {
          bar = new ConflictBar(this.panel, cell, this.trans);
          (cell.layout as PanelLayout).insertWidget(1, bar);
          this._bars.set(cell, bar);
        }
        const key = JSON.stringify(records);
        if (bar.node.dataset.key !== key) {
          bar.node.dataset.key = key;
          bar.render(records);
        }
        cell.addClass('jp-cellpipe-conflict');
      } else if (bar) {
        bar.dispose();
        this._bars.delete(cell);
        cell.removeClass('jp-cellpipe-conflict');
      }
    }
  }

  private _bars = new WeakMap<Cell, ConflictBar>();
  private _notebookBar: NotebookConflictBar | null = null;
  private _timer: ReturnType<typeof setTimeout> | null = null;
}
