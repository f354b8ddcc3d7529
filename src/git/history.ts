/** The History view of a notebook: its commits; for one, the per-cell diff and the DAG picture. */
import { MergeView } from '@codemirror/merge';
import { EditorState } from '@codemirror/state';
import { EditorView } from '@codemirror/view';
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { git, ICommitDiff, IHistoryEntry } from './api';
import { element } from './dom';

/** A cell of a commit's diff (cellpipe.gitnb.diff.CellChange as JSON). */
interface ICellDiff {
  id: string;
  status: string;
  name: string | null;
  old_source?: string;
  new_source?: string;
}

/** Read-only editors in the theme's colours (a side-by-side code diff). */
const READ_ONLY = [
  EditorState.readOnly.of(true),
  EditorView.editable.of(false),
  EditorView.theme({
    '&': {
      color: 'var(--jp-content-font-color1)',
      backgroundColor: 'var(--jp-layout-color0)',
      fontSize: 'var(--jp-code-font-size)'
    },
    '.cm-content': { fontFamily: 'var(--jp-code-font-family)' },
    '.cm-gutters': {
      backgroundColor: 'var(--jp-layout-color2)',
      color: 'var(--jp-ui-font-color2)',
      border: 'none'
    }
  })
];

export interface IHistoryViewOptions {
  /** The notebook's path, relative to the server root. */
  path: string;
  trans: TranslationBundle;
  /** Open a notebook file (the copy of an old version). */
  open: (path: string) => Promise<unknown>;
  /** Restore the notebook to a revision; resolves to a message for the user. */
  restore: (rev: string) => Promise<string>;
}

export class HistoryView extends Widget {
  constructor(private readonly options: IHistoryViewOptions) {
    super();
    const trans = options.trans;
    this.addClass('jp-cellpipe-git-history');
    this.id = `cellpipe-git-history-${options.path}`;
    this.title.label = trans.__('History: %1', options.path.split('/').pop() ?? options.path);
    this.title.closable = true;
    this._commits = element('div', 'jp-cellpipe-git-commits');
    this._detail = element('div', 'jp-cellpipe-git-detail');
    this.node.append(this._commits, this._detail);
    void this.refresh();
  }

  get path(): string {
    return this.options.path;
  }

  /** Reload the list of commits and show the selected (else newest) one. */
  async refresh(): Promise<void> {
    const trans = this.options.trans;
    this._commits.replaceChildren(element('div', 'jp-cellpipe-git-message', trans.__('Loading…')));
    let entries: IHistoryEntry[];
    try {
      entries = await git.history(this.options.path);
    } catch (error) {
      this._commits.replaceChildren(
        element('div', 'jp-cellpipe-git-message', (error as Error).message)
      );
      return;
    }
    this._commits.replaceChildren();
    if (!entries.length) {
      this._commits.append(
        element('div', 'jp-cellpipe-git-message', trans.__('No commits touch this notebook yet.'))
      );
      this._detail.replaceChildren();
      return;
    }
    for (const entry of entries) {
      const row = element('div', 'jp-cellpipe-git-commit');
      row.dataset.commit = entry.commit;
      row.append(
        element('div', 'jp-cellpipe-git-commit-subject', entry.subject),
        element(
          'div',
          'jp-cellpipe-git-commit-meta',
          `${entry.commit.slice(0, 8)} · ${entry.date.slice(0, 10)} · ${entry.author}`
        ),
        element('div', 'jp-cellpipe-git-commit-summary', entry.summary)
      );
      row.onclick = () => void this.select(entry);
      this._commits.append(row);
    }
    const keep = entries.find(e => e.commit === this._selected) ?? entries[0];
    await this.select(keep);
  }

  /** Show what one commit changed. */
  async select(entry: IHistoryEntry): Promise<void> {
    const trans = this.options.trans;
    this._selected = entry.commit;
    for (const row of Array.from(this._commits.children) as HTMLElement[]) {
      row.classList.toggle('jp-mod-selected', row.dataset.commit === entry.commit);
    }
    this._detail.replaceChildren(element('div', 'jp-cellpipe-git-message', trans.__('Loading…')));
    let diff: ICommitDiff;
    try {
      diff = await git.commitDiff(this.options.path, entry.commit);
    } catch (error) {
      this._detail.replaceChildren(
        element('div', 'jp-cellpipe-git-message', (error as Error).message)
      );
      return;
    }
    if (this._selected !== entry.commit) {
      return; // another commit was chosen meanwhile
    }
    const head = element('div');
    head.append(
      element('h3', '', entry.subject),
      element(
        'div',
        'jp-cellpipe-git-commit-meta',
        `${entry.commit} · ${entry.author} · ${entry.date}`
      )
    );
    const actions = element('div', 'jp-cellpipe-git-actions');
    const openButton = element(
      'button',
      'jp-mod-styled jp-mod-accept',
      trans.__('Open as new notebook')
    );
    openButton.onclick = async () => {
      const copy = await git.checkout(this.options.path, entry.commit, 'copy');
      await this.options.open(copy.path);
    };
    const restoreButton = element(
      'button',
      'jp-mod-styled jp-mod-warn',
      trans.__('Restore this version')
    );
    restoreButton.onclick = async () => {
      const message = await this.options.restore(entry.commit);
      if (message) {
        await this.refresh();
      }
    };
    actions.append(openButton, restoreButton);
    const picture = element('div', 'jp-cellpipe-git-svg');
    picture.innerHTML = diff.svg; // made by cellpipe.gitnb.svg, every text escaped
    const summary = element('details', 'jp-cellpipe-git-summary');
    summary.open = true;
    summary.append(element('summary', '', trans.__('What changed')));
    const lines = element('pre', 'jp-cellpipe-git-lines');
    for (const [text, style] of diff.lines) {
      lines.append(element('span', style, text), document.createTextNode('\n'));
    }
    summary.append(lines);
    this._merges.forEach(view => view.destroy());
    this._merges = [];
    const code = element('div', 'jp-cellpipe-git-code');
    for (const cell of (diff.diff.cells ?? []) as ICellDiff[]) {
      if (cell.old_source === undefined || cell.new_source === undefined) {
        continue; // its code did not change
      }
      const section = element('section', 'jp-cellpipe-git-cell');
      section.dataset.cell = cell.id;
      const title = cell.name ? trans.__('component %1', cell.name) : trans.__('cell %1', cell.id);
      section.append(
        element('h4', '', `${title} · ${cell.status}`),
        element('div', 'jp-cellpipe-git-sides', '')
      );
      const sides = section.lastElementChild as HTMLElement;
      sides.append(element('span', '', trans.__('before')), element('span', '', trans.__('after')));
      const box = element('div', 'jp-cellpipe-git-merge');
      section.append(box);
      code.append(section);
      this._merges.push(
        new MergeView({
          a: { doc: cell.old_source, extensions: READ_ONLY },
          b: { doc: cell.new_source, extensions: READ_ONLY },
          parent: box,
          collapseUnchanged: { margin: 3, minSize: 6 },
          gutter: true
        })
      );
    }
    this._detail.replaceChildren(head, actions, picture, summary, code);
  }

  dispose(): void {
    this._merges.forEach(view => view.destroy());
    this._merges = [];
    super.dispose();
  }

  private _merges: MergeView[] = [];

  private _commits: HTMLDivElement;
  private _detail: HTMLDivElement;
  private _selected: string | null = null;
}
