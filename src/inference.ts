/**
 * The JupyterLab side of inference (issue 22): ask Python for the pipeline it infers
 * (POST pipeline/infer) or for the fix of a check warning (POST pipeline/check, kept in
 * `PipelineModel.checks`) and apply the answer as ONE undoable edit. No inference here:
 * Python is the source of truth.
 */
import { Dialog, Notification, showDialog } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { element } from './git/dom';
import { PipelineModel } from './model';
import * as nb from './notebookpipeline';
import { IInferred, pipeline } from './rest';
import { IPipelineMetadata, METADATA_KEY } from './tokens';

/** How many of Python's notes the banner shows before "and N more". */
const NOTES_SHOWN = 5;

function refuse(model: PipelineModel, text: string): void {
  model.setBanner({ kind: 'error', text });
  Notification.error(text, { autoClose: 6000 });
}

/** The undo key, said where the user looks. */
function undoHint(trans: TranslationBundle): string {
  // JupyterLab's Ctrl+Z undoes the text of the active cell; the notebook's undo is this one
  return trans.__('Undo Cell Operation (Z in command mode, or the Edit menu) takes it back.');
}

/**
 * Make every code cell a component with the parents Python infers (what
 * `cellpipe convert --infer` writes), as one undoable edit.
 */
export async function makePipeline(
  model: PipelineModel,
  trans: TranslationBundle
): Promise<boolean> {
  const nbModel = model.panel.context.model;
  const existing = nb.notebookComponents(nbModel).length;
  if (existing) {
    const answer = await showDialog({
      title: trans.__('Replace the pipeline?'),
      body: trans.__(
        'This notebook has %1 components. Make every code cell a component with the parents inferred from the code instead? %2',
        existing,
        undoHint(trans)
      ),
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: trans.__('Replace') })]
    });
    if (!answer.button.accept) {
      return false;
    }
  }
  let reply: IInferred;
  try {
    reply = await pipeline.infer(nb.syncPayload(nbModel));
  } catch (error) {
    refuse(model, trans.__('No pipeline made: %1', (error as Error).message));
    return false;
  }
  nb.applyPipeline(
    nbModel,
    (reply.metadata[METADATA_KEY] ?? { version: 1 }) as IPipelineMetadata,
    reply.cells.map(c => ({ id: c.id, component: c.metadata.cellpipe }))
  );
  const notes = reply.notes ?? [];
  const shown = notes.slice(0, NOTES_SHOWN);
  if (notes.length > shown.length) {
    shown.push(trans.__('… and %1 more notes', notes.length - shown.length));
  }
  model.setBanner({
    kind: 'info',
    text: [
      trans.__('Made a pipeline from the notebook: %1.', reply.summary),
      undoHint(trans),
      ...shown
    ].join('\n')
  });
  return true;
}

/** A dialog body: one checkbox per proposed parent, with the names it would carry. */
class ParentChoices extends Widget {
  constructor(
    choices: { id: string; label: string; detail: string; checked: boolean }[],
    intro: string
  ) {
    super();
    this.addClass('jp-cellpipe-parents-picker');
    this.addClass('jp-cellpipe-suggest-parents');
    this.node.append(element('p', 'jp-cellpipe-suggest-intro', intro));
    for (const choice of choices) {
      const label = element('label', 'jp-cellpipe-suggest-choice');
      label.dataset.parent = choice.id;
      const box = element('input');
      box.type = 'checkbox';
      box.value = choice.id;
      box.checked = choice.checked;
      label.append(box, ` ${choice.label}`);
      if (choice.detail) {
        label.append(element('span', 'jp-cellpipe-suggest-detail', ` — ${choice.detail}`));
      }
      this.node.append(label);
    }
  }

  getValue(): string[] {
    return [...this.node.querySelectorAll('input:checked')].map(
      el => (el as HTMLInputElement).value
    );
  }
}

/** The reason each new edge into `child` is refused ('' for none), checked by Python. */
async function refusedEdge(
  model: PipelineModel,
  parents: string[],
  child: string
): Promise<string> {
  for (const parent of parents) {
    const problem = await model.edgeProblem(parent, child);
    if (problem) {
      return problem;
    }
  }
  return '';
}

/**
 * Propose the parents Python infers for one component; accepting sets them as one
 * undoable edit (cells among them that are not components yet become components).
 */
export async function suggestParents(
  model: PipelineModel,
  id: string,
  trans: TranslationBundle
): Promise<boolean> {
  const nbModel = model.panel.context.model;
  const cell = nb.findCell(nbModel, id);
  const meta = cell && nb.componentMetadata(cell);
  if (!cell || !meta) {
    return false;
  }
  const components = new Map(nb.notebookComponents(nbModel).map(c => [c.id, c.name]));
  let reply: IInferred;
  // Python's names for parents that are not components yet (from the whole inference)
  let names = new Map<string, string>();
  try {
    const notebook = nb.syncPayload(nbModel);
    reply = await pipeline.infer(notebook, id);
    const parents = reply.cells.find(c => c.id === id)?.metadata.cellpipe.parents ?? [];
    if (parents.some(p => !components.has(p))) {
      const whole = await pipeline.infer(notebook);
      names = new Map(whole.cells.map(c => [c.id, c.metadata.cellpipe.name]));
    }
  } catch (error) {
    refuse(model, trans.__('No parents suggested: %1', (error as Error).message));
    return false;
  }
  const inferred = reply.cells.find(c => c.id === id)?.metadata.cellpipe.parents ?? [];
  const into = new Map(reply.edges.filter(e => e.child === id).map(e => [e.parent, e]));
  const newComponents: { [id: string]: string } = {};
  const label = (parent: string): string => {
    const name = components.get(parent);
    if (name !== undefined) {
      return name;
    }
    // not a component yet: the name Python gives it, else its position
    const index = nbModel.sharedModel.cells.findIndex(c => c.getId() === parent);
    newComponents[parent] =
      reply.cells.find(c => c.id === parent)?.metadata.cellpipe.name ??
      names.get(parent) ??
      trans.__('cell %1', index + 1);
    return trans.__('%1 (a cell that becomes a component)', newComponents[parent]);
  };
  const same =
    inferred.length === meta.parents.length && inferred.every(p => meta.parents.includes(p));
  if (same) {
    model.setBanner({
      kind: 'info',
      text: trans.__('The parents of %1 are the ones inferred from its code.', meta.name)
    });
    return false;
  }
  const choices = [
    ...inferred.map(p => ({
      id: p,
      label: label(p),
      detail: into.get(p)?.names.length
        ? trans.__('gives %1', into.get(p)!.names.join(', '))
        : (into.get(p)?.reason ?? (meta.parents.includes(p) ? trans.__('already a parent') : '')),
      checked: true
    })),
    ...meta.parents
      .filter(p => !inferred.includes(p))
      .map(p => ({
        id: p,
        label: components.get(p) ?? p,
        detail: trans.__('a parent now, not inferred: uncheck to remove'),
        checked: true
      }))
  ];
  const notes = reply.notes ?? [];
  const result = await showDialog({
    title: trans.__('Suggested parents of %1', meta.name),
    body: new ParentChoices(
      choices,
      [trans.__('Inferred from the code of the notebook.'), ...notes].join(' ')
    ),
    buttons: [Dialog.cancelButton(), Dialog.okButton({ label: trans.__('Set parents') })]
  });
  if (!result.button.accept || result.value === null) {
    return false;
  }
  const chosen = result.value;
  const problem = await refusedEdge(
    model,
    chosen.filter(p => !meta.parents.includes(p) && components.has(p)),
    id
  );
  if (problem) {
    refuse(model, trans.__('Parents not set: %1', problem));
    return false;
  }
  const made = Object.fromEntries(
    Object.entries(newComponents).filter(([p]) => chosen.includes(p))
  );
  nb.setParentsWith(nbModel, id, chosen, made);
  model.setBanner(null);
  return true;
}

/** Add the parents Python's check warnings of a component propose, as one undoable edit. */
export async function fixWarnings(
  model: PipelineModel,
  id: string,
  trans: TranslationBundle
): Promise<boolean> {
  const nbModel = model.panel.context.model;
  const cell = nb.findCell(nbModel, id);
  const meta = cell && nb.componentMetadata(cell);
  const warnings = model.checks.warnings(id);
  if (!cell || !meta || !warnings.length) {
    return false;
  }
  const add = [
    ...new Set(
      warnings
        .filter(w => w.fix && w.fix.child === id)
        .flatMap(w => w.fix.add_parents)
        .filter(p => !meta.parents.includes(p))
    )
  ];
  if (!add.length) {
    return false;
  }
  const problem = await refusedEdge(model, add, id);
  if (problem) {
    refuse(model, trans.__('Not fixed: %1', problem));
    return false;
  }
  nb.setParentsWith(nbModel, id, [...meta.parents, ...add]);
  const names = nb.notebookComponents(nbModel);
  model.setBanner({
    kind: 'info',
    text: trans.__(
      'Added %1 as parents of %2. %3',
      add.map(p => names.find(c => c.id === p)?.name ?? p).join(', '),
      meta.name,
      undoHint(trans)
    )
  });
  return true;
}
