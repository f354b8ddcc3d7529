import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, WidgetTracker } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { LabIcon } from '@jupyterlab/ui-components';
import { DockLayout, DockPanel, Widget } from '@lumino/widgets';

import { CellBadges } from './cellbadges';
import { addCommands, PALETTE_COMMANDS } from './commands';
import { gitPlugins } from './git';
import { addInferenceCommands, INFERENCE_PALETTE_COMMANDS } from './inferencecommands';
import { PipelineModel } from './model';
import { GraphPanel } from './panel';
import { WorkersPanel } from './workers';
import { CommandIDs } from './tokens';

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

const workersIcon = new LabIcon({
  name: 'cellpipe:workers',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">' +
    '<g class="jp-icon3" fill="#616161">' +
    '<rect x="3" y="3" width="18" height="7" rx="1.5"/><rect x="3" y="14" width="18" height="7" rx="1.5"/>' +
    '</g></svg>'
});

/** The share of the width the pipeline view takes beside its notebook. */
const GRAPH_SHARE = 0.42;

function holds(area: DockLayout.AreaConfig, widget: Widget): boolean {
  return area.type === 'tab-area'
    ? area.widgets.includes(widget)
    : area.children.some(child => holds(child, widget));
}

/**
 * Give a widget just split into the main area `share` of its split's width (a half
 * leaves the notebook so narrow that JupyterLab hides its cell toolbars).
 */
function shareWidth(widget: Widget, share: number): void {
  const dock = widget.parent;
  if (!(dock instanceof DockPanel)) {
    return;
  }
  const config = dock.saveLayout();
  let area = config.main;
  while (area && area.type === 'split-area') {
    const index = area.children.findIndex(child => holds(child, widget));
    if (index < 0) {
      return;
    }
    const child = area.children[index];
    if (child.type === 'tab-area' && area.children.length > 1) {
      const rest = area.sizes.reduce((sum, size, i) => (i === index ? sum : sum + size), 0);
      area.sizes = area.sizes.map((size, i) =>
        i === index ? share : ((1 - share) * size) / (rest || 1)
      );
      dock.restoreLayout(config);
      return;
    }
    area = child;
  }
}

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

    // Two views of the current notebook's pipeline: a main-area panel opened beside the
    // notebook (wide enough to read), and a compact one in the right sidebar.
    const views: GraphPanel[] = [];
    let direction: 'TB' | 'LR' = 'TB';
    const side = new GraphPanel({ commands: app.commands, trans });
    side.id = 'cellpipe-graph-sidebar';
    side.title.icon = pipelineIcon;
    side.title.caption = trans.__('Pipeline');
    app.shell.add(side, 'right', { rank: 600 });
    views.push(side);
    // Reopen the sidebar panel after a reload if it was open.
    restorer?.add(side, side.id);

    const workersPanel = new WorkersPanel(trans);
    workersPanel.id = 'cellpipe-workers';
    workersPanel.title.icon = workersIcon;
    app.shell.add(workersPanel, 'right', { rank: 610 });

    const mainTracker = new WidgetTracker<GraphPanel>({ namespace: 'cellpipe-graph' });
    let main: GraphPanel | null = null;
    const openMain = (): void => {
      if (!labShell) {
        // Jupyter Notebook 7 has one main-area widget per page: use its side panel
        app.shell.activateById(side.id);
        return;
      }
      // A view that is not in the shell any more is dropped and made anew: closing its
      // tab only detaches a widget, and a view the workspace restored (its tracker entry)
      // but that the restored layout left out (its tab had been closed) is detached too.
      // Activating such a view by id finds nothing, so it could never be opened again.
      if (main && !main.isDisposed && !main.isAttached) {
        main.dispose();
      }
      if (!main || main.isDisposed) {
        const view = new GraphPanel({ commands: app.commands, trans, disposeOnClose: true });
        view.id = 'cellpipe-graph';
        view.title.icon = pipelineIcon;
        view.title.label = trans.__('Pipeline');
        view.title.caption = trans.__('The pipeline of the current notebook');
        view.title.closable = true;
        view.addClass('jp-cellpipe-main');
        view.model = current();
        view.direction = direction;
        views.push(view);
        view.disposed.connect(() => {
          views.splice(views.indexOf(view), 1);
          if (main === view) {
            main = null;
          }
        });
        main = view;
        const ref = tracker.currentWidget;
        app.shell.add(view, 'main', ref ? { mode: 'split-right', ref: ref.id } : undefined);
        if (ref) {
          shareWidth(view, GRAPH_SHARE);
        }
        void mainTracker.add(view);
      }
      app.shell.activateById(main.id);
    };
    const setModel = (model: PipelineModel | null) => {
      for (const view of views) {
        view.model = model;
      }
    };

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
          for (const view of views) {
            if (view.model === created) {
              view.model = null;
            }
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
      setModel(current());
    });
    tracker.currentChanged.connect(() => {
      setModel(current());
    });
    tracker.forEach(panel => modelFor(panel));
    setModel(current());

    addCommands({
      commands: app.commands,
      tracker,
      trans,
      current,
      pipelineIcon,
      showGraph: openMain,
      showSidebar: () => (labShell ?? app.shell).activateById(side.id),
      showWorkers: () => (labShell ?? app.shell).activateById(workersPanel.id)
    });
    addInferenceCommands(app.commands, current, trans);
    // After a reload, the main-area view comes back where it was.
    restorer?.restore(mainTracker, {
      command: CommandIDs.showGraph,
      name: () => 'pipeline'
    });
    if (palette) {
      const category = trans.__('Pipeline (cellpipe)');
      for (const command of [...PALETTE_COMMANDS, ...INFERENCE_PALETTE_COMMANDS]) {
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
          direction = settings.get('layoutDirection').composite as 'TB' | 'LR';
          for (const view of views) {
            view.direction = direction;
          }
        };
        settings.changed.connect(apply);
        apply();
      });
    }
  }
};

export default [plugin, ...gitPlugins];
