/** The commands of cellpipe: components, edges, runs. Views call these, never the model. */
import { Dialog, InputDialog, showDialog } from '@jupyterlab/apputils';
import { ICellModel } from '@jupyterlab/cells';
import { INotebookTracker } from '@jupyterlab/notebook';
import { TranslationBundle } from '@jupyterlab/translation';
import {
  addIcon,
  fastForwardIcon,
  LabIcon,
  refreshIcon,
  runIcon,
  stopIcon
} from '@jupyterlab/ui-components';
import { CommandRegistry } from '@lumino/commands';
import { ReadonlyPartialJSONObject } from '@lumino/coreutils';
import { Widget } from '@lumino/widgets';

import { PipelineModel } from './model';
import * as nb from './notebookpipeline';
import { IWorker, workers } from './rest';
import { CommandIDs } from './tokens';

export interface ICommandContext {
  commands: CommandRegistry;
  tracker: INotebookTracker;
  trans: TranslationBundle;
  /** The pipeline model of the current notebook. */
  current: () => PipelineModel | null;
  pipelineIcon: LabIcon;
  /** Open the pipeline view beside the notebook. */
  showGraph: () => void;
  /** Show the compact pipeline view in the right sidebar. */
  showSidebar: () => void;
  /** Show the Workers panel. */
  showWorkers: () => void;
}

/** The component a command acts on: `args.id`, else the active cell. */
function targetCell(
  ctx: ICommandContext,
  args: ReadonlyPartialJSONObject
): { model: PipelineModel; cell: ICellModel; id: string } | null {
  const model = ctx.current();
  if (!model) {
    return null;
  }
  let cell: ICellModel | null = null;
  if (typeof args.id === 'string') {
    cell = nb.findCell(model.panel.context.model, args.id);
  } else if (model.panel.content.activeCell) {
    cell = model.panel.content.activeCell.model;
  }
  return cell ? { model, cell, id: cell.sharedModel.getId() } : null;
}

function isComponent(ctx: ICommandContext, args: ReadonlyPartialJSONObject): boolean {
  const target = targetCell(ctx, args);
  return !!target && nb.componentMetadata(target.cell) !== null;
}

/** Ask for a component name until it is unique (or the user cancels). */
async function askName(
  ctx: ICommandContext,
  model: PipelineModel,
  id: string,
  initial: string,
  title: string
): Promise<string | null> {
  const nbModel = model.panel.context.model;
  let text = initial;
  let label = ctx.trans.__('Component name');
  for (;;) {
    const result = await InputDialog.getText({ title, label, text, selectionRange: text.length });
    if (!result.button.accept || result.value === null) {
      return null;
    }
    const name = result.value.trim();
    if (!name) {
      label = ctx.trans.__('A component needs a name.');
    } else if (nb.uniqueName(nbModel, name, id) !== name) {
      label = ctx.trans.__('%1 is taken: names must be unique.', name);
      text = name;
    } else {
      return name;
    }
  }
}

/** A dialog body with one checkbox per possible parent. */
class ParentsPicker extends Widget {
  constructor(choices: { id: string; name: string; checked: boolean }[], emptyText: string) {
    super();
    this.addClass('jp-cellpipe-parents-picker');
    if (!choices.length) {
      this.node.textContent = emptyText;
    }
    for (const choice of choices) {
      const label = document.createElement('label');
      const box = document.createElement('input');
      box.type = 'checkbox';
      box.value = choice.id;
      box.checked = choice.checked;
      label.append(box, ` ${choice.name}`);
      this.node.appendChild(label);
    }
  }

  getValue(): string[] {
    return [...this.node.querySelectorAll('input:checked')].map(
      el => (el as HTMLInputElement).value
    );
  }
}

/** A dialog body: the registered workers to choose from, or an alias typed in. */
class WorkerPicker extends Widget {
  constructor(known: IWorker[], current: string, trans: TranslationBundle) {
    super();
    this.addClass('jp-cellpipe-worker-picker');
    this._select = document.createElement('select');
    this._select.className = 'jp-mod-styled';
    // "this kernel" runs in the notebook's own process; the built-in `local` worker runs
    // each task in a fresh process (its memory goes back when it ends)
    const options: [string, string][] = [['', trans.__('this kernel (no worker)')]];
    for (const worker of known) {
      options.push([
        worker.alias,
        worker.builtin
          ? trans.__('%1 (a fresh process on this machine)', worker.alias)
          : `${worker.alias} (${worker.kind})`
      ]);
    }
    if (current && !options.some(([value]) => value === current)) {
      options.push([current, trans.__('%1 (not registered)', current)]);
    }
    for (const [value, label] of options) {
      const option = document.createElement('option');
      option.value = value;
      option.textContent = label;
      this._select.append(option);
    }
    this._select.value = current;
    this._input = document.createElement('input');
    this._input.className = 'jp-mod-styled';
    this._input.placeholder = trans.__('or type an alias');
    const label = document.createElement('label');
    label.textContent = trans.__('Run on');
    label.append(this._select);
    this.node.append(label, this._input);
  }

  getValue(): string {
    return this._input.value.trim() || this._select.value;
  }

  private _input: HTMLInputElement;
  private _select: HTMLSelectElement;
}

export function addCommands(ctx: ICommandContext): void {
  const { commands, trans } = ctx;
  const hasNotebook = () => ctx.current() !== null;

  commands.addCommand(CommandIDs.toggleComponent, {
    label: args =>
      isComponent(ctx, args)
        ? trans.__('Stop Being a Component')
        : trans.__('Make Cell a Component'),
    caption: trans.__('Make this code cell a pipeline component, or stop it being one'),
    icon: args => (args.toolbar ? ctx.pipelineIcon : undefined),
    isEnabled: args => {
      const target = targetCell(ctx, args);
      return !!target && target.cell.type === 'code';
    },
    execute: async args => {
      const target = targetCell(ctx, args);
      if (!target || target.cell.type !== 'code') {
        return;
      }
      const nbModel = target.model.panel.context.model;
      if (nb.componentMetadata(target.cell)) {
        nb.removeComponent(nbModel, target.cell);
        return;
      }
      const suggested =
        typeof args.name === 'string'
          ? args.name
          : nb.uniqueName(nbModel, trans.__('step %1', nb.notebookComponents(nbModel).length + 1));
      const name = await askName(
        ctx,
        target.model,
        target.id,
        suggested,
        trans.__('Make Cell a Component')
      );
      if (name) {
        nb.setComponentName(target.model.panel.context.model, target.cell, name);
      }
    }
  });

  commands.addCommand(CommandIDs.renameComponent, {
    label: trans.__('Rename Component'),
    isEnabled: args => isComponent(ctx, args),
    execute: async args => {
      const target = targetCell(ctx, args);
      const meta = target && nb.componentMetadata(target.cell);
      if (!target || !meta) {
        return;
      }
      const name = await askName(
        ctx,
        target.model,
        target.id,
        meta.name,
        trans.__('Rename Component')
      );
      if (name) {
        nb.setComponentName(target.model.panel.context.model, target.cell, name);
      }
    }
  });

  commands.addCommand(CommandIDs.editParents, {
    label: trans.__('Edit Component Parents…'),
    isEnabled: args => isComponent(ctx, args),
    execute: async args => {
      const target = targetCell(ctx, args);
      const meta = target && nb.componentMetadata(target.cell);
      if (!target || !meta) {
        return;
      }
      const others = nb
        .notebookComponents(target.model.panel.context.model)
        .filter(c => c.id !== target.id);
      const picker = new ParentsPicker(
        others.map(c => ({ id: c.id, name: c.name, checked: meta.parents.includes(c.id) })),
        trans.__('There are no other components.')
      );
      const result = await showDialog({
        title: trans.__('Parents of %1', meta.name),
        body: picker,
        buttons: [Dialog.cancelButton(), Dialog.okButton({ label: trans.__('Save') })]
      });
      if (!result.button.accept || result.value === null) {
        return;
      }
      const chosen = result.value;
      for (const parent of meta.parents.filter(p => !chosen.includes(p))) {
        target.model.disconnect(parent, target.id);
      }
      // New edges go one by one through Python's cycle check.
      for (const parent of chosen.filter(p => !meta.parents.includes(p))) {
        if (!(await target.model.connect(parent, target.id))) {
          break;
        }
      }
    }
  });

  commands.addCommand(CommandIDs.setWorker, {
    label: trans.__('Set Component Worker…'),
    caption: trans.__('Run this component on a registered remote worker, or locally'),
    isEnabled: args => isComponent(ctx, args),
    execute: async args => {
      const target = targetCell(ctx, args);
      const meta = target && nb.componentMetadata(target.cell);
      if (!target || !meta) {
        return;
      }
      let known: IWorker[] = [];
      try {
        known = await workers.list();
      } catch (error) {
        console.warn('cellpipe: the worker list is not available', error);
      }
      const result = await showDialog({
        title: trans.__('Worker for %1', meta.name),
        body: new WorkerPicker(known, meta.worker ?? '', trans),
        buttons: [Dialog.cancelButton(), Dialog.okButton({ label: trans.__('Save') })]
      });
      if (result.button.accept && result.value !== null) {
        nb.setWorker(target.model.panel.context.model, target.cell, result.value);
      }
    }
  });

  const runCommand = (
    id: string,
    label: string,
    caption: string,
    icon: LabIcon,
    run: (model: PipelineModel, cellId: string) => Promise<unknown>
  ) =>
    commands.addCommand(id, {
      label,
      caption,
      icon: args => (args.toolbar ? icon : undefined),
      isEnabled: args => isComponent(ctx, args),
      execute: async args => {
        const target = targetCell(ctx, args);
        if (target && nb.componentMetadata(target.cell)) {
          await run(target.model, target.id);
        }
      }
    });

  runCommand(
    CommandIDs.runComponent,
    trans.__('Run Component'),
    trans.__('Run this component: its ancestors run first or come from the cache'),
    runIcon,
    (model, id) => model.run(id)
  );
  runCommand(
    CommandIDs.runDownstream,
    trans.__('Run Component and Downstream'),
    trans.__('Run this component, then every component that depends on it'),
    fastForwardIcon,
    (model, id) => model.runDownstream(id)
  );
  runCommand(
    CommandIDs.forceRun,
    trans.__('Force Re-run Component'),
    trans.__('Run this component and its ancestors again, ignoring the cache'),
    refreshIcon,
    (model, id) => model.run(id, true)
  );
  runCommand(
    CommandIDs.showCaptured,
    trans.__('Show Captured Output'),
    trans.__('Show what this component printed when it ran as an ancestor'),
    addIcon,
    (model, id) => model.showCaptured(id)
  );

  commands.addCommand(CommandIDs.runPipeline, {
    label: trans.__('Run Pipeline'),
    caption: trans.__('Run every sink of the pipeline'),
    isEnabled: () => (ctx.current()?.components.length ?? 0) > 0,
    execute: async () => {
      await ctx.current()?.runPipeline();
    }
  });

  commands.addCommand(CommandIDs.interrupt, {
    label: trans.__('Interrupt Pipeline Run'),
    icon: args => (args.toolbar ? stopIcon : undefined),
    isEnabled: hasNotebook,
    execute: async () => {
      await ctx.current()?.interrupt();
    }
  });

  commands.addCommand(CommandIDs.focusComponent, {
    label: args => {
      const target = targetCell(ctx, args);
      return target && target.model.focus?.id === target.id
        ? trans.__('Show All Components')
        : trans.__('Focus on Component');
    },
    caption: trans.__('Show only this component, its ancestors and its descendants'),
    isEnabled: args => isComponent(ctx, args),
    execute: async args => {
      const target = targetCell(ctx, args);
      if (target && nb.componentMetadata(target.cell)) {
        // again on the focused component: everything shows again
        const again = target.model.focus?.id === target.id;
        await target.model.focusOn(again ? null : target.id);
      }
    }
  });

  commands.addCommand(CommandIDs.showAllComponents, {
    label: trans.__('Show All Components'),
    caption: trans.__('End the focus: the graph shows every component'),
    isEnabled: () => !!ctx.current()?.focus,
    execute: async () => {
      await ctx.current()?.focusOn(null);
    }
  });

  commands.addCommand(CommandIDs.showGraph, {
    label: trans.__('Show Pipeline Graph'),
    caption: trans.__('Open the pipeline graph beside the notebook'),
    icon: args => (args.toolbar ? ctx.pipelineIcon : undefined),
    execute: () => ctx.showGraph()
  });

  commands.addCommand(CommandIDs.showWorkers, {
    label: trans.__('Show Workers'),
    caption: trans.__('Registered remote workers: add, test, remove'),
    execute: () => ctx.showWorkers()
  });

  commands.addCommand(CommandIDs.showGraphSidebar, {
    label: trans.__('Show Pipeline Graph in the Sidebar'),
    execute: () => ctx.showSidebar()
  });
}

export const PALETTE_COMMANDS = [
  CommandIDs.toggleComponent,
  CommandIDs.renameComponent,
  CommandIDs.editParents,
  CommandIDs.setWorker,
  CommandIDs.runComponent,
  CommandIDs.runPipeline,
  CommandIDs.runDownstream,
  CommandIDs.forceRun,
  CommandIDs.interrupt,
  CommandIDs.showCaptured,
  CommandIDs.showGraph,
  CommandIDs.showGraphSidebar,
  CommandIDs.showWorkers,
  CommandIDs.focusComponent,
  CommandIDs.showAllComponents
];
