/** The right-sidebar panel: the graph of the active notebook, its messages and parameters. */
import { ReactWidget } from '@jupyterlab/ui-components';
import { TranslationBundle } from '@jupyterlab/translation';
import { CommandRegistry } from '@lumino/commands';
import { Menu } from '@lumino/widgets';
import * as React from 'react';

import { GraphView } from './components/GraphView';
import { NoComponents } from './components/panel/NoComponents';
import { Banner, LinkBar, Problems } from './components/panel/MessageBars';
import { PanelToolbar } from './components/panel/PanelToolbar';
import { ParametersSection } from './components/panel/ParametersSection';
import { RunLogSection } from './components/panel/RunLogSection';
import { ShareSection } from './components/panel/ShareSection';
import { InferenceCommandIDs } from './inferencecommands';
import { PipelineModel } from './model';
import { SweepSection } from './sweep';
import { CommandIDs } from './tokens';

export interface IGraphPanelOptions {
  commands: CommandRegistry;
  trans: TranslationBundle;
  /** Dispose the view when its tab is closed (the main-area view: a closed view is gone). */
  disposeOnClose?: boolean;
}

function useModelVersion(model: PipelineModel | null): number {
  const [version, setVersion] = React.useState(0);
  React.useEffect(() => {
    if (!model) {
      return;
    }
    const bump = () => setVersion(v => v + 1);
    model.changed.connect(bump);
    return () => {
      model.changed.disconnect(bump);
    };
  }, [model]);
  return version;
}

/** Python's check warnings of each component, one message per line. */
function warningsOf(model: PipelineModel): Map<string, string> {
  const found = new Map<string, string>();
  for (const warning of model.checks.allWarnings) {
    const before = found.get(warning.component);
    found.set(warning.component, before ? `${before}\n${warning.message}` : warning.message);
  }
  return found;
}

/** Marks on graph nodes: `conflict` for components with unresolved merge conflicts. */
function marksOf(model: PipelineModel): Map<string, string> {
  return new Map([...model.conflicts].map(id => [id, 'conflict']));
}

/** The graph of a notebook with components; a click selects the cell, a right-click a menu. */
function PipelineGraph(props: {
  model: PipelineModel;
  trans: TranslationBundle;
  version: number;
  direction: 'TB' | 'LR';
  commands: CommandRegistry;
  menu: Menu;
}): JSX.Element {
  const { model, trans, commands } = props;
  return (
    <GraphView
      model={model}
      trans={trans}
      version={props.version}
      direction={props.direction}
      marks={marksOf(model)}
      warnings={warningsOf(model)}
      edgeNames={model.checks.edgeNames}
      onFix={id => void commands.execute(InferenceCommandIDs.fixWarnings, { id })}
      onRun={id => void commands.execute(CommandIDs.runComponent, { id })}
      onNodeClick={id => {
        const notebook = model.panel.content;
        const index = notebook.widgets.findIndex(w => w.model.sharedModel.getId() === id);
        if (index >= 0) {
          notebook.activeCellIndex = index;
          const cell = notebook.widgets[index];
          void notebook.scrollToCell(cell, 'center').then(() => {
            // a conflicted component: its resolution bar is what to look at
            cell.node
              .querySelector('.jp-cellpipe-conflict-bar')
              ?.scrollIntoView({ block: 'center' });
          });
        }
      }}
      onNodeMenu={(id, x, y) => {
        props.menu.clearItems();
        for (const command of [
          CommandIDs.runComponent,
          CommandIDs.runDownstream,
          CommandIDs.forceRun,
          CommandIDs.showCaptured,
          CommandIDs.focusComponent,
          CommandIDs.renameComponent,
          CommandIDs.editParents,
          InferenceCommandIDs.suggestParents,
          CommandIDs.setWorker
        ]) {
          props.menu.addItem({ command, args: { id } });
        }
        if (model.checks.warnings(id).length) {
          props.menu.addItem({ command: InferenceCommandIDs.fixWarnings, args: { id } });
        }
        props.menu.open(x, y);
      }}
    />
  );
}

function PanelBody(props: {
  model: PipelineModel | null;
  trans: TranslationBundle;
  direction: 'TB' | 'LR';
  commands: CommandRegistry;
  menu: Menu;
}): JSX.Element {
  const { model, trans, commands } = props;
  const version = useModelVersion(model);
  if (!model) {
    return (
      <div className="jp-cellpipe-empty">{trans.__('Open a notebook to see its pipeline.')}</div>
    );
  }
  return (
    <div className="jp-cellpipe-panel-body">
      <PanelToolbar model={model} trans={trans} commands={commands} />
      <LinkBar model={model} trans={trans} />
      <Banner model={model} trans={trans} />
      <Problems model={model} />
      {model.components.length === 0 ? (
        <NoComponents model={model} trans={trans} commands={commands} />
      ) : (
        <PipelineGraph
          model={model}
          trans={trans}
          version={version}
          direction={props.direction}
          commands={commands}
          menu={props.menu}
        />
      )}
      <RunLogSection model={model} trans={trans} />
      <ShareSection model={model} trans={trans} commands={commands} />
      <ParametersSection model={model} trans={trans} />
      <SweepSection model={model} trans={trans} />
    </div>
  );
}

/** The pipeline panel; `model` follows the active notebook. */
export class GraphPanel extends ReactWidget {
  constructor(options: IGraphPanelOptions) {
    super();
    this._commands = options.commands;
    this._trans = options.trans;
    this._menu = new Menu({ commands: options.commands });
    this._menu.addClass('jp-cellpipe-node-menu');
    this._disposeOnClose = options.disposeOnClose ?? false;
    this.addClass('jp-cellpipe-panel');
  }

  get model(): PipelineModel | null {
    return this._model;
  }

  set model(model: PipelineModel | null) {
    if (model !== this._model) {
      this._model = model;
      this.update();
    }
  }

  set direction(direction: 'TB' | 'LR') {
    this._direction = direction;
    this.update();
  }

  dispose(): void {
    this._menu.dispose();
    super.dispose();
  }

  close(): void {
    super.close();
    // closing only detaches; disposed, the view leaves its tracker and the saved workspace
    if (this._disposeOnClose) {
      this.dispose();
    }
  }

  protected render(): JSX.Element {
    return (
      <PanelBody
        key={this._model?.panel.id ?? 'none'}
        model={this._model}
        trans={this._trans}
        commands={this._commands}
        direction={this._direction}
        menu={this._menu}
      />
    );
  }

  private _commands: CommandRegistry;
  private _direction: 'TB' | 'LR' = 'TB';
  private _disposeOnClose: boolean;
  private _menu: Menu;
  private _model: PipelineModel | null = null;
  private _trans: TranslationBundle;
}
