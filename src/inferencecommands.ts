/** The commands of inference: make a pipeline from a notebook, suggest parents, fix warnings. */
import { TranslationBundle } from '@jupyterlab/translation';
import { CommandRegistry } from '@lumino/commands';
import { ReadonlyPartialJSONObject } from '@lumino/coreutils';

import { fixWarnings, makePipeline, suggestParents } from './inference';
import { PipelineModel } from './model';
import * as nb from './notebookpipeline';

export namespace InferenceCommandIDs {
  export const makePipeline = 'cellpipe:make-pipeline';
  export const suggestParents = 'cellpipe:suggest-parents';
  export const fixWarnings = 'cellpipe:fix-warnings';
}

export const INFERENCE_PALETTE_COMMANDS = [
  InferenceCommandIDs.makePipeline,
  InferenceCommandIDs.suggestParents
];

/** The component a command acts on: `args.id`, else the active cell's, if a component. */
function targetComponent(
  model: PipelineModel | null,
  args: ReadonlyPartialJSONObject
): string | null {
  if (!model) {
    return null;
  }
  const cell =
    typeof args.id === 'string'
      ? nb.findCell(model.panel.context.model, args.id)
      : (model.panel.content.activeCell?.model ?? null);
  return cell && nb.componentMetadata(cell) ? cell.sharedModel.getId() : null;
}

export function addInferenceCommands(
  commands: CommandRegistry,
  current: () => PipelineModel | null,
  trans: TranslationBundle
): void {
  commands.addCommand(InferenceCommandIDs.makePipeline, {
    label: trans.__('Make Pipeline from Notebook'),
    caption: trans.__(
      'Make every code cell a component, with the parents inferred from what each cell reads'
    ),
    isEnabled: () => {
      const model = current();
      return !!model && !model.isLink;
    },
    execute: async () => {
      const model = current();
      if (model) {
        await makePipeline(model, trans);
      }
    }
  });

  commands.addCommand(InferenceCommandIDs.suggestParents, {
    label: trans.__('Suggest Parents…'),
    caption: trans.__("Propose this component's parents, inferred from its code"),
    isEnabled: args => targetComponent(current(), args) !== null,
    execute: async args => {
      const model = current();
      const id = targetComponent(model, args);
      if (model && id) {
        await suggestParents(model, id, trans);
      }
    }
  });

  commands.addCommand(InferenceCommandIDs.fixWarnings, {
    label: trans.__('Add Missing Parents'),
    caption: trans.__('Add the parents the check warnings of this component propose'),
    isEnabled: args => {
      const model = current();
      const id = targetComponent(model, args);
      return !!model && !!id && model.checks.warnings(id).length > 0;
    },
    execute: async args => {
      const model = current();
      const id = targetComponent(model, args);
      if (model && id) {
        await fixWarnings(model, id, trans);
      }
    }
  });
}
