/**
 * PipelineChecks over a real notebook model and a real HTTP server: it asks
 * pipeline/check once per notebook version, keeps warnings by component and names by
 * edge, and stops asking a server that lacks the endpoint.
 */
import { NotebookModel } from '@jupyterlab/notebook/lib/model';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { PipelineChecks } from '../checks';
import { TestServer } from './httpserver';

const server = new TestServer();
beforeAll(() => server.start());
afterAll(() => server.stop());

const WARNING = {
  component: 'c',
  name: 'add',
  reads: 'x',
  bound_by: ['a'],
  message:
    "'add' reads x, bound by 'make x', which is not an ancestor of 'add' (add it as a parent?)",
  fix: { child: 'c', add_parents: ['a'] }
};

function notebook(components = true): NotebookModel {
  const model = new NotebookModel();
  const meta = (name: string, parents: string[]) =>
    components ? { cellpipe: { name, parents } } : {};
  model.sharedModel.insertCells(0, [
    { cell_type: 'code', id: 'a', source: 'x = 1', metadata: meta('make x', []) },
    { cell_type: 'code', id: 'b', source: 'y = 2', metadata: meta('make y', []) },
    { cell_type: 'code', id: 'c', source: 'z = x + y', metadata: meta('add', ['b']) }
  ]);
  return model;
}

const checks = () => server.seen.filter(s => s.path === 'pipeline/check');

describe('PipelineChecks', () => {
  beforeEach(() => {
    server.seen.length = 0;
    server.routes.set('pipeline/check', () => ({
      status: 200,
      body: {
        op: 'checked',
        warnings: [WARNING],
        edges: [{ parent: 'b', child: 'c', names: ['y'] }]
      }
    }));
  });

  it('keeps the warnings by component and the names by edge, asking once per version', async () => {
    const model = notebook();
    const found = new PipelineChecks(model, 0);
    let emitted = 0;
    found.changed.connect(() => emitted++);
    await found.refresh();
    expect(found.warnings('c')).toEqual([WARNING]);
    expect(found.warnings('b')).toEqual([]);
    expect(found.edgeNames.get('b->c')).toEqual(['y']);
    expect(emitted).toBe(1);
    // the notebook went as the endpoint takes it
    expect(checks()[0].body.notebook.cells.map((c: any) => c.id)).toEqual(['a', 'b', 'c']);
    await found.refresh(); // nothing changed: not asked again
    expect(checks()).toHaveLength(1);
    model.sharedModel.cells[0].setSource('x = 10');
    await found.refresh();
    expect(checks()).toHaveLength(2);
    expect(emitted).toBe(1); // the same answer: no change to show
    found.dispose();
  });

  it('does not ask for a notebook without components', async () => {
    const found = new PipelineChecks(notebook(false), 0);
    await found.refresh();
    expect(checks()).toHaveLength(0);
    expect(found.allWarnings).toEqual([]);
    found.dispose();
  });

  it("clears on a handler's error and asks again later", async () => {
    server.routes.set('pipeline/check', () => ({
      status: 400,
      body: { op: 'error', kind: 'NotebookFormatError', message: 'bad' }
    }));
    const model = notebook();
    const found = new PipelineChecks(model, 0);
    await found.refresh();
    expect(found.allWarnings).toEqual([]);
    await found.refresh();
    expect(checks()).toHaveLength(2);
    found.dispose();
  });

  it('stops asking a server without the endpoint (an HTML 404)', async () => {
    server.routes.delete('pipeline/check');
    const model = notebook();
    const found = new PipelineChecks(model, 0);
    await found.refresh();
    model.sharedModel.cells[0].setSource('x = 10');
    await found.refresh();
    expect(checks()).toHaveLength(1);
    expect(found.edgeNames.size).toBe(0);
    found.dispose();
  });
});
