/**
 * Applying what Python inferred to a real JupyterLab notebook model: a whole pipeline,
 * and new parents, are each ONE edit that the notebook's undo takes back in one step.
 */
// the model alone: the package's index also loads its widgets
import { NotebookModel } from '@jupyterlab/notebook/lib/model';
import { describe, expect, it } from 'vitest';

import * as nb from '../notebookpipeline';

function plainNotebook(n: number): NotebookModel {
  const model = new NotebookModel();
  const cells: any[] = [];
  for (let i = 0; i < n; i++) {
    cells.push({ cell_type: 'code', id: `c${i}`, source: `v${i} = ${i}`, metadata: {} });
  }
  cells.push({ cell_type: 'markdown', id: 'md', source: '# notes', metadata: {} });
  model.sharedModel.insertCells(0, cells);
  model.sharedModel.clearUndoHistory();
  return model;
}

/** As if a moment passed: Yjs merges edits made within 500 ms into one undo step. */
const pause = (model: NotebookModel) => (model.sharedModel as any).undoManager.stopCapturing();

describe('applying an inferred pipeline', () => {
  it('makes 60 components in one edit that one undo takes back', () => {
    const model = plainNotebook(60);
    const inferred = Array.from({ length: 60 }, (_, i) => ({
      id: `c${i}`,
      component: { name: `v${i}`, parents: i ? [`c${i - 1}`] : [] }
    }));
    nb.applyPipeline(model, { version: 1 }, inferred);
    const made = nb.notebookComponents(model);
    expect(made).toHaveLength(60);
    expect(made[59]).toMatchObject({ id: 'c59', name: 'v59', parents: ['c58'] });
    // the default notebook metadata is not written: nothing there that undo would miss
    expect(model.getMetadata('cellpipe')).toBeUndefined();
    pause(model);
    model.sharedModel.undo();
    expect(nb.notebookComponents(model)).toHaveLength(0);
    expect(model.sharedModel.cells.map(c => c.getMetadata())).toEqual(
      Array.from({ length: 61 }, () => ({}))
    );
    model.sharedModel.redo();
    expect(nb.notebookComponents(model)).toHaveLength(60);
  });

  it('writes notebook metadata that says more than the default', () => {
    const model = plainNotebook(2);
    const meta = { version: 1, parameters: { lr: { type: 'float', value: 0.1 } } };
    nb.applyPipeline(model, meta, [{ id: 'c0', component: { name: 'a', parents: [] } }]);
    expect(model.getMetadata('cellpipe')).toEqual(meta);
  });

  it('sets parents and makes new components of cells that were not, in one edit', () => {
    const model = plainNotebook(3);
    nb.applyPipeline(model, { version: 1 }, [
      { id: 'c2', component: { name: 'sum', parents: [] } }
    ]);
    pause(model);
    nb.setParentsWith(model, 'c2', ['c1', 'c0'], { c0: 'load', c1: 'sum' });
    const byName = Object.fromEntries(nb.notebookComponents(model).map(c => [c.name, c]));
    // parents sorted; a taken name gets a unique one
    expect(byName.sum.parents).toEqual(['c0', 'c1']);
    expect(byName.load.id).toBe('c0');
    expect(byName['sum 2'].id).toBe('c1');
    pause(model);
    model.sharedModel.undo();
    expect(nb.notebookComponents(model).map(c => [c.name, c.parents])).toEqual([['sum', []]]);
  });
});
