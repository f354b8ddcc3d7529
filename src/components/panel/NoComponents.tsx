/** What the panel shows for a notebook without components: how to make some, or all at once. */
import { TranslationBundle } from '@jupyterlab/translation';
import { CommandRegistry } from '@lumino/commands';
import * as React from 'react';

import { InferenceCommandIDs } from '../../inferencecommands';
import { PipelineModel } from '../../model';

export function NoComponents(props: {
  model: PipelineModel;
  trans: TranslationBundle;
  commands: CommandRegistry;
}): JSX.Element {
  const { model, trans, commands } = props;
  return (
    <div className="jp-cellpipe-empty">
      <p>
        {trans.__(
          'No components yet. Make a code cell a component from its toolbar or with the command "Make Cell a Component".'
        )}
      </p>
      {!model.isLink && (
        <>
          <p>
            {trans.__(
              'Or make every code cell a component, with the parents inferred from what each cell reads:'
            )}
          </p>
          <button
            className="jp-Button jp-mod-styled jp-mod-accept jp-cellpipe-make-pipeline"
            onClick={() => void commands.execute(InferenceCommandIDs.makePipeline)}
          >
            {trans.__('Make Pipeline from Notebook')}
          </button>
        </>
      )}
    </div>
  );
}
