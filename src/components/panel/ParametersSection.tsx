/** "Parameters": the notebook's parameters, editable (read-only for a Link notebook). */
import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { PipelineModel } from '../../model';
import * as nb from '../../notebookpipeline';
import { ParametersForm } from '../ParametersForm';

export function ParametersSection(props: {
  model: PipelineModel;
  trans: TranslationBundle;
}): JSX.Element {
  const { model, trans } = props;
  return (
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
          parameters={nb.parameters(model.panel.context.model)}
          trans={trans}
          onChange={params => model.setParameters(params)}
        />
      )}
    </details>
  );
}
