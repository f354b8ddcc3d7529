/** The right-sidebar panel: the graph of the active notebook, its messages and parameters. */
import { ReactWidget } from '@jupyterlab/ui-components';
import { TranslationBundle } from '@jupyterlab/translation';
import { CommandRegistry } from '@lumino/commands';
import { Menu } from '@lumino/widgets';
import * as React from 'react';

import { GraphView, statusLabel } from './components/GraphView';
import { ParametersForm } from './components/ParametersForm';
import { PipelineModel } from './model';
import * as nb from './notebookpipeline';
import * as share from './share';
import { CommandIDs } from './tokens';

export interface IGraphPanelOptions {
  commands: CommandRegistry;
  trans: TranslationBundle;
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

/** Marks on graph nodes: `conflict` for components with unresolved merge conflicts. */
function marksOf(model: PipelineModel): Map<string, string> {
  return new Map([...model.conflicts].map(id => [id, 'conflict']));
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
  const nbModel = model.panel.context.model;
  const problems = model.state?.problems ?? [];
  const banner = model.banner;
  const linkText: { [key: string]: string } = {
    'no-kernel': trans.__('no kernel'),
    loading: trans.__('connecting…'),
    ready: trans.__('kernel connected'),
    unavailable: trans.__('kernel extension unavailable')
  };
  return (
    <div className="jp-cellpipe-panel-body">
      <div className="jp-cellpipe-toolbar">
        <span className="jp-cellpipe-title" title={model.panel.context.path}>
          {model.panel.title.label}
        </span>
        <span className={`jp-cellpipe-link jp-cellpipe-link-${model.link.status}`}>
          {linkText[model.link.status]}
        </span>
        <button
          className="jp-Button jp-mod-styled jp-cellpipe-run-pipeline"
          disabled={model.components.length === 0}
          onClick={() => void commands.execute(CommandIDs.runPipeline)}
        >
          {trans.__('Run pipeline')}
        </button>
        <button
          className="jp-Button jp-mod-styled jp-cellpipe-interrupt"
          disabled={!model.isRunning}
          onClick={() => void commands.execute(CommandIDs.interrupt)}
        >
          {trans.__('Interrupt')}
        </button>
      </div>
      {model.isLink && (
        <div className="jp-cellpipe-linkbar" role="status">
          <span>
            {trans.__(
              'A MakinaRocks Link notebook: the graph is read from its canvas metadata. Convert it to edit the graph; its parameters are kept.'
            )}
          </span>
          <button
            className="jp-Button jp-mod-styled jp-mod-accept jp-cellpipe-convert"
            onClick={() => void model.convertLink()}
          >
            {trans.__('Convert to cellpipe format')}
          </button>
        </div>
      )}
      {!model.isLink && model.canUndoConversion && (
        <div className="jp-cellpipe-linkbar">
          <span>{trans.__('Converted from Link format.')}</span>
          <button
            className="jp-Button jp-mod-styled jp-cellpipe-undo-convert"
            onClick={() => model.undoConversion()}
          >
            {trans.__('Undo conversion')}
          </button>
        </div>
      )}
      {banner && (
        <div
          className={`jp-cellpipe-message jp-cellpipe-message-${banner.kind}`}
          role={banner.kind === 'error' ? 'alert' : 'status'}
        >
          <span className="jp-cellpipe-message-text">{banner.text}</span>
          <button
            className="jp-cellpipe-message-close"
            aria-label={trans.__('Dismiss')}
            onClick={() => model.setBanner(null)}
          >
            ×
          </button>
        </div>
      )}
      {problems.length > 0 && (
        <ul className="jp-cellpipe-problems">
          {problems.map(p => (
            <li key={p}>{p}</li>
          ))}
        </ul>
      )}
      {model.components.length === 0 ? (
        <div className="jp-cellpipe-empty">
          {trans.__(
            'No components yet. Make a code cell a component from its toolbar or with the command "Make Cell a Component".'
          )}
        </div>
      ) : (
        <GraphView
          model={model}
          trans={trans}
          version={version}
          direction={props.direction}
          marks={marksOf(model)}
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
              CommandIDs.renameComponent,
              CommandIDs.editParents,
              CommandIDs.setWorker
            ]) {
              props.menu.addItem({ command, args: { id } });
            }
            props.menu.open(x, y);
          }}
        />
      )}
      {(model.runLog.length > 0 || model.notices.length > 0) && (
        <details className="jp-cellpipe-runlog-section" open>
          <summary>{trans.__('Last run')}</summary>
          {model.notices.length > 0 && (
            <div className="jp-cellpipe-notices" role="status">
              <div className="jp-cellpipe-notices-header">
                <span>{trans.__('Notices')}</span>
                {model.notices.length > 1 && (
                  <button
                    className="jp-cellpipe-notices-clear"
                    onClick={() => model.dismissNotice()}
                  >
                    {trans.__('Dismiss all')}
                  </button>
                )}
              </div>
              <ul className="jp-cellpipe-notice-list">
                {model.notices.map(text => (
                  <li key={text} className="jp-cellpipe-notice">
                    <span className="jp-cellpipe-notice-text">{text}</span>
                    <button
                      className="jp-cellpipe-message-close jp-cellpipe-notice-dismiss"
                      aria-label={trans.__('Dismiss')}
                      title={trans.__('Dismiss')}
                      onClick={() => model.dismissNotice(text)}
                    >
                      ×
                    </button>
                  </li>
                ))}
              </ul>
            </div>
          )}
          <ol className="jp-cellpipe-runlog">
            {model.runLog.map(entry => (
              <li
                key={entry.id}
                className={`jp-cellpipe-runlog-entry jp-cellpipe-status-${entry.status}`}
                data-name={entry.name}
                data-status={entry.status}
                title={entry.reason}
              >
                <span className="jp-cellpipe-runlog-name">{entry.name}</span>
                <span className="jp-cellpipe-badge jp-cellpipe-badge-status">
                  {statusLabel(trans, entry.status)}
                </span>
                {entry.worker && (
                  <span className="jp-cellpipe-badge jp-cellpipe-badge-remote">
                    {trans.__('remote: %1', entry.worker)}
                  </span>
                )}
                {entry.elapsed !== null && (
                  <span className="jp-cellpipe-runlog-time">
                    {trans.__('%1 s', entry.elapsed.toFixed(2))}
                  </span>
                )}
              </li>
            ))}
          </ol>
        </details>
      )}
      <details className="jp-cellpipe-share-section">
        <summary>{trans.__('Share and workers')}</summary>
        <div className="jp-cellpipe-share-buttons">
          <button
            className="jp-Button jp-mod-styled jp-cellpipe-export-pipeline"
            onClick={() => void share.exportPipeline(model, trans)}
          >
            {trans.__('Export pipeline')}
          </button>
          <button
            className="jp-Button jp-mod-styled jp-cellpipe-import-pipeline"
            onClick={() => void share.importPipeline(model, trans)}
          >
            {trans.__('Import pipeline…')}
          </button>
          <button
            className="jp-Button jp-mod-styled jp-cellpipe-export-cache"
            onClick={() => void share.exportCache(model, trans)}
          >
            {trans.__('Export cache')}
          </button>
          <button
            className="jp-Button jp-mod-styled jp-cellpipe-import-cache"
            onClick={() => void share.importCache(model, trans)}
          >
            {trans.__('Import cache…')}
          </button>
          <button
            className="jp-Button jp-mod-styled jp-cellpipe-show-workers"
            onClick={() => void commands.execute(CommandIDs.showWorkers)}
          >
            {trans.__('Workers…')}
          </button>
        </div>
      </details>
      <details className="jp-cellpipe-params-section" open>
        <summary>{trans.__('Parameters')}</summary>
        {model.isLink ? (
          <>
            <div className="jp-cellpipe-params-note">
              {trans.__("Link's parameters, as cellpipe reads them: convert to edit them.")}
            </div>
            <ParametersForm
              parameters={model.state?.parameters ?? {}}
              trans={trans}
              readOnly
              onChange={() => undefined}
            />
          </>
        ) : (
          <ParametersForm
            parameters={nb.parameters(nbModel)}
            trans={trans}
            onChange={params => model.setParameters(params)}
          />
        )}
      </details>
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
  private _menu: Menu;
  private _model: PipelineModel | null = null;
  private _trans: TranslationBundle;
}
