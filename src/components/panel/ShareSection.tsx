/** "Share and workers": export and import the pipeline and the cache; open the workers. */
import { TranslationBundle } from '@jupyterlab/translation';
import { CommandRegistry } from '@lumino/commands';
import * as React from 'react';

import { PipelineModel } from '../../model';
import * as share from '../../share';
import { CommandIDs } from '../../tokens';

export function ShareSection(props: {
  model: PipelineModel;
  trans: TranslationBundle;
  commands: CommandRegistry;
}): JSX.Element {
  const { model, trans, commands } = props;
  const buttons: [string, string, () => unknown][] = [
    ['export-pipeline', trans.__('Export pipeline'), () => share.exportPipeline(model, trans)],
    [
      'export-program',
      trans.__('Export as Python program'),
      () => share.exportProduction(model, trans, 'py')
    ],
    [
      'export-kfp',
      trans.__('Export for Kubeflow…'),
      () => share.exportProduction(model, trans, 'kfp')
    ],
    ['import-pipeline', trans.__('Import pipeline…'), () => share.importPipeline(model, trans)],
    ['export-cache', trans.__('Export cache'), () => share.exportCache(model, trans)],
    ['import-cache', trans.__('Import cache…'), () => share.importCache(model, trans)],
    ['show-workers', trans.__('Workers…'), () => commands.execute(CommandIDs.showWorkers)]
  ];
  return (
    <details className="jp-cellpipe-share-section">
      <summary>{trans.__('Share and workers')}</summary>
      <div className="jp-cellpipe-share-buttons">
        {buttons.map(([name, label, action]) => (
          <button
            key={name}
            className={`jp-Button jp-mod-styled jp-cellpipe-${name}`}
            onClick={() => void action()}
          >
            {label}
          </button>
        ))}
      </div>
    </details>
  );
}
