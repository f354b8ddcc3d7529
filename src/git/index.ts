/** The git integration (issue 5): the History view and the conflict view. */
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import {
  Dialog,
  ICommandPalette,
  MainAreaWidget,
  Notification,
  showDialog
} from '@jupyterlab/apputils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';

import { git } from './api';
import { ConflictTracker } from './conflicts';
import { HistoryView } from './history';
import { addGitStyle } from './style';

export const GitCommandIDs = {
  history: 'cellpipe:git-history'
};

const historyPlugin: JupyterFrontEndPlugin<void> = {
  id: 'cellpipe:git-history',
  description: "A notebook's git history: per-cell diffs and the DAG diff of each commit.",
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ICommandPalette, ITranslator],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    palette: ICommandPalette | null,
    translator: ITranslator | null
  ) => {
    const trans = (translator ?? nullTranslator).load('cellpipe');
    addGitStyle();
    const views = new Map<string, MainAreaWidget<HistoryView>>();

    app.commands.addCommand(GitCommandIDs.history, {
      label: trans.__('Show Notebook History (git)'),
      caption: trans.__('Commits that changed this notebook, with cell and pipeline diffs'),
      isEnabled: () => tracker.currentWidget !== null,
      execute: async () => {
        const panel = tracker.currentWidget;
        if (!panel) {
          return;
        }
        const path = panel.context.path;
        const existing = views.get(path);
        if (existing && !existing.isDisposed) {
          app.shell.activateById(existing.id);
          await existing.content.refresh();
          return;
        }
        const restore = async (rev: string): Promise<string> => {
          const answer = await showDialog({
            title: trans.__('Restore this version?'),
            body: trans.__(
              'The notebook is replaced by its version at %1. If the current version is not committed, it is first saved next to it.',
              rev.slice(0, 8)
            ),
            buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: trans.__('Restore') })]
          });
          if (!answer.button.accept) {
            return '';
          }
          if (panel.context.model.dirty) {
            await panel.context.save(); // so the backup holds what is on screen
          }
          const done = await git.checkout(path, rev, 'restore');
          await panel.context.revert();
          const message = done.backup
            ? trans.__('Restored %1; the previous version is in %2', rev.slice(0, 8), done.backup)
            : trans.__('Restored %1; the previous version is the last commit', rev.slice(0, 8));
          Notification.success(message, { autoClose: 8000 });
          return message;
        };
        const content = new HistoryView({
          path,
          trans,
          open: target => app.commands.execute('docmanager:open', { path: target }),
          restore
        });
        const widget = new MainAreaWidget({ content });
        widget.id = content.id;
        widget.title.label = content.title.label;
        widget.title.closable = true;
        views.set(path, widget);
        widget.disposed.connect(() => views.delete(path));
        // a tab of its own beside the notebook: the full width, to read code side by side
        app.shell.add(widget, 'main', { mode: 'tab-after', ref: panel.id });
      }
    });
    if (palette) {
      palette.addItem({
        command: GitCommandIDs.history,
        category: trans.__('Pipeline (cellpipe)')
      });
    }
    app.contextMenu.addItem({ command: GitCommandIDs.history, selector: '.jp-Notebook', rank: 80 });
  }
};

const conflictsPlugin: JupyterFrontEndPlugin<void> = {
  id: 'cellpipe:git-conflicts',
  description: 'Highlights cells with merge conflicts; keep ours, theirs or both in one click.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ITranslator],
  activate: (app: JupyterFrontEnd, tracker: INotebookTracker, translator: ITranslator | null) => {
    const trans = (translator ?? nullTranslator).load('cellpipe');
    addGitStyle();
    const watch = (panel: NotebookPanel) => new ConflictTracker(panel, trans);
    tracker.forEach(watch);
    tracker.widgetAdded.connect((_, panel) => watch(panel));
  }
};

// The git integration (issue 5) fills this list.
export const gitPlugins: JupyterFrontEndPlugin<any>[] = [historyPlugin, conflictsPlugin];
