import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { LabIcon } from '@jupyterlab/ui-components';

import { CellBadges } from './cellbadges';
import { addCommands, PALETTE_COMMANDS } from './commands';
import { gitPlugins } from './git';
import { PipelineModel } from './model';
import { GraphPanel } from './panel';

const PLUGIN_ID = 'cellpipe:plugin';

const pipelineIcon = new LabIcon({
  name: 'cellpipe:pipeline',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">' +
    '<g class="jp-icon3" fill="#616161">' +
    '<rect x="2" y="2" width="8" height="6" rx="1.5"/>' +
    '<rect x="14" y="9" width="8" height="6" rx="1.5"/>' +
    '<rect x="2" y="16" width="8" height="6" rx="1.5"/>' +
    '<path d="M6 8v8h1.5V8zM10 11.25h4v1.5h-4z"/></g></svg>'
});

/**
 * Components, the pipeline graph panel and running components from the notebook.
 */
const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Notebook cells as the components of a pipeline: graph panel and runs.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ICommandPalette, ISettingRegistry, ITranslator, ILabShell, ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    palette: ICommandPalette | null,
    settingRegistry: ISettingRegistry | null,
    translator: ITranslator | null,
    labShell: ILabShell | null,
    restorer: ILayoutRestorer | null
  ) => {
    const trans = (translator ?? nullTranslator).load('cellpipe');
    const models = new WeakMap<NotebookPanel, PipelineModel>();
    let syncDelay = 400;

    const graph = new GraphPanel({ commands: app.commands, trans });
    graph.id = 'cellpipe-graph';
    graph.title.icon = pipelineIcon;
    graph.title.caption = trans.__('Pipeline');
    app.shell.add(graph, 'right', { rank: 600 });
    // Reopen the panel after a reload if it was open.
    restorer?.add(graph, graph.id);

    /** The pipeline model of a notebook panel, made on first use. */
    const modelFor = (panel: NotebookPanel): PipelineModel => {
      let model = models.get(panel);
      if (!model) {
        const created = new PipelineModel({ panel, trans, syncDelay });
        const badges = new CellBadges(created, trans);
        models.set(panel, created);
        // Toolbar buttons and menus re-check which commands apply.
        created.changed.connect(() => app.commands.notifyCommandChanged());
        panel.disposed.connect(() => {
          badges.dispose();
          created.dispose();
          if (graph.model === created) {
            graph.model = null;
          }
        });
        model = created;
      }
      return model;
    };
    const current = (): PipelineModel | null => {
      const panel = tracker.currentWidget;
      return panel ? modelFor(panel) : null;
    };
    tracker.widgetAdded.connect((_, panel) => {
      modelFor(panel);
      graph.model = current();
    });
    tracker.currentChanged.connect(() => {
      graph.model = current();
    });
    tracker.forEach(panel => modelFor(panel));
    graph.model = current();

    addCommands({
      commands: app.commands,
      tracker,
      trans,
      current,
      pipelineIcon,
      showGraph: () => {
        if (labShell) {
          labShell.activateById(graph.id);
        } else {
          app.shell.activateById(graph.id);
        }
      }
    });
    if (palette) {
      const category = trans.__('Pipeline (cellpipe)');
      for (const command of PALETTE_COMMANDS) {
        palette.addItem({ command, category });
      }
    }

    if (settingRegistry) {
      void settingRegistry.load(PLUGIN_ID).then(settings => {
        const apply = () => {
          syncDelay = settings.get('syncDelay').composite as number;
          tracker.forEach(panel => {
            const model = models.get(panel);
            if (model) {
              model.syncDelay = syncDelay;
            }
          });
          graph.direction = settings.get('layoutDirection').composite as 'TB' | 'LR';
        };
        settings.changed.connect(apply);
        apply();
      });
    }
  }
};

export default [plugin, ...gitPlugins];
