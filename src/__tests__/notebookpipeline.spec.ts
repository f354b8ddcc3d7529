/**
 * Edge edits on a real JupyterLab notebook model: they change the cells' `cellpipe`
 * metadata and the notebook's undo takes each edit back in one step.
 */
// the model alone: the package's index also loads its widgets
import { NotebookModel } from '@jupyterlab/notebook/lib/model';
import { beforeEach, describe, expect, it } from 'vitest';

import * as nb from '../notebookpipeline';

function notebook(): NotebookModel {
  const model = new NotebookModel();
  model.sharedModel.insertCells(0, [
    {
      cell_type: 'code',
      id: 'a',
      source: 'a = 1',
      metadata: { cellpipe: { name: 'A', parents: [] } }
    },
    {
      cell_type: 'code',
      id: 'b',
      source: 'b = a',
      metadata: { cellpipe: { name: 'B', parents: [] } }
    },
    {
      cell_type: 'code',
      id: 'c',
      source: 'c = b',
      metadata: { cellpipe: { name: 'C', parents: ['b'] } }
    },
    { cell_type: 'markdown', id: 'm', source: '# notes', metadata: {} }
  ]);
  model.sharedModel.clearUndoHistory();
  return model;
}

/** As if a moment passed: Yjs merges edits made within 500 ms into one undo step. */
const pause = (model: NotebookModel) => (model.sharedModel as any).undoManager.stopCapturing();

const parents = (model: NotebookModel) =>
  Object.fromEntries(nb.notebookComponents(model).map(c => [c.name, c.parents]));

describe('notebook components and edges', () => {
  let model: NotebookModel;
  beforeEach(() => {
    model = notebook();
  });

  it('reads the components in notebook order', () => {
    expect(nb.notebookComponents(model).map(c => [c.id, c.name, c.index])).toEqual([
      ['a', 'A', 0],
      ['b', 'B', 1],
      ['c', 'C', 2]
    ]);
  });

  it('adds and removes an edge in the child cell', () => {
    nb.addEdge(model, 'a', 'b');
    expect(parents(model)).toEqual({ A: [], B: ['a'], C: ['b'] });
    nb.addEdge(model, 'a', 'b'); // twice is once
    expect(parents(model).B).toEqual(['a']);
    nb.removeEdge(model, 'b', 'c');
    expect(parents(model)).toEqual({ A: [], B: ['a'], C: [] });
  });

  it('undo takes an edge edit back in one step, redo does it again', () => {
    nb.addEdge(model, 'a', 'b');
    pause(model);
    nb.removeEdge(model, 'b', 'c');
    model.sharedModel.undo();
    expect(parents(model)).toEqual({ A: [], B: ['a'], C: ['b'] });
    model.sharedModel.undo();
    expect(parents(model)).toEqual({ A: [], B: [], C: ['b'] });
    model.sharedModel.redo();
    expect(parents(model).B).toEqual(['a']);
  });

  it('removing a component drops it from its children, undoably', () => {
    nb.removeComponent(model, model.cells.get(1));
    expect(parents(model)).toEqual({ A: [], C: [] });
    model.sharedModel.undo();
    expect(parents(model)).toEqual({ A: [], B: [], C: ['b'] });
  });

  it('gives pasted duplicates a unique name', () => {
    model.sharedModel.insertCells(3, [
      {
        cell_type: 'code',
        id: 'b2',
        source: 'b = a',
        metadata: { cellpipe: { name: 'B', parents: ['a'] } }
      }
    ]);
    nb.renameDuplicates(model);
    expect(nb.notebookComponents(model).map(c => c.name)).toEqual(['A', 'B', 'C', 'B (copy)']);
    expect(nb.uniqueName(model, 'B')).toBe('B 2');
  });

  it('sends the live notebook without outputs', () => {
    const payload = nb.syncPayload(model);
    expect(payload.cells.map(c => c.id)).toEqual(['a', 'b', 'c', 'm']);
    expect(payload.cells[2]).toEqual({
      id: 'c',
      cell_type: 'code',
      source: 'c = b',
      metadata: { cellpipe: { name: 'C', parents: ['b'] } }
    });
  });
});

describe('Link conversion edits', () => {
  it('applies converted metadata as one edit and a snapshot restores it', () => {
    const model = new NotebookModel();
    model.sharedModel.insertCells(0, [
      { cell_type: 'code', id: 'c1', source: 'a = 1', metadata: { canvas: { id: 'k1' } } }
    ]);
    model.sharedModel.setMetadata('canvas', { parameters: [] });
    expect(nb.isLinkNotebook(model)).toBe(true);
    const before = nb.metadataSnapshot(model);
    nb.applyMetadata(model, {
      metadata: { cellpipe: { version: 1, parameters: {} } },
      cells: [{ id: 'c1', metadata: { cellpipe: { name: 'first', parents: [] } } }]
    });
    expect(nb.isLinkNotebook(model)).toBe(false);
    expect(model.sharedModel.getMetadata('canvas')).toBeUndefined();
    expect(model.cells.get(0).getMetadata('canvas')).toBeUndefined();
    expect(nb.notebookComponents(model).map(c => c.name)).toEqual(['first']);
    nb.applyMetadata(model, before);
    expect(nb.isLinkNotebook(model)).toBe(true);
    expect(model.sharedModel.getMetadata('cellpipe')).toBeUndefined();
  });

  it('finds the cells with unresolved merge conflicts', () => {
    const model = notebook();
    model.cells.get(1).setMetadata(nb.CONFLICT_KEY, { conflicts: [{ kind: 'source' }] });
    model.cells.get(2).setMetadata(nb.CONFLICT_KEY, { conflicts: [] });
    expect(nb.conflictedCells(model)).toEqual(['b']);
  });
});

describe('Link header colours', () => {
  function linkNotebook(colours: unknown[], palette?: unknown): NotebookModel {
    const model = new NotebookModel();
    model.sharedModel.insertCells(
      0,
      colours.map((headerColor, i) => ({
        cell_type: 'code',
        id: `k${i}`,
        source: '',
        metadata: { canvas: { id: `c${i}`, name: `n${i}`, isComponent: true, headerColor } }
      }))
    );
    if (palette !== undefined) {
      model.sharedModel.setMetadata(nb.LINK_KEY, { colorPalette: palette });
    }
    return model;
  }

  it('reads a CSS colour, a palette index, and nothing for inherit or odd values', () => {
    const model = linkNotebook(
      ['#e91e63', 'inherit', 1, 'red; background: url(x)', 'rgb(10, 20, 30)', undefined],
      ['inherit', '#00ff00']
    );
    const colours = [0, 1, 2, 3, 4, 5].map(i => nb.linkHeaderColor(model, model.cells.get(i)));
    expect(colours).toEqual(['#e91e63', '', '#00ff00', '', 'rgb(10, 20, 30)', '']);
  });
});
