/** The top row of the pipeline panel: the notebook's name, the kernel link, run and interrupt. */
import { TranslationBundle } from '@jupyterlab/translation';
import { CommandRegistry } from '@lumino/commands';
import * as React from 'react';

import { PipelineModel } from '../../model';
import { CommandIDs } from '../../tokens';

export function PanelToolbar(props: {
  model: PipelineModel;
  trans: TranslationBundle;
  commands: CommandRegistry;
}): JSX.Element {
  const { model, trans, commands } = props;
  const linkText: { [key: string]: string } = {
    'no-kernel': trans.__('no kernel'),
    loading: trans.__('connecting…'),
    ready: trans.__('kernel connected'),
    unavailable: trans.__('kernel extension unavailable')
  };
  return (
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
  );
}
