/**
 * The pipeline as it is written in the live notebook model: reading components and
 * editing their `cellpipe` metadata. Edits go through the shared model, so they are
 * saved, undoable and shared with collaborators like any other notebook change.
 */
import { ICellModel } from '@jupyterlab/cells';
import { INotebookModel } from '@jupyterlab/notebook';

import { IComponentMetadata, IParameter, IPipelineMetadata, METADATA_KEY } from './tokens';

/** A component as the notebook has it (the kernel's view may lag behind). */
export interface INotebookComponent {
  id: string;
  name: string;
  parents: string[];
  worker?: string;
  index: number;
  /** A colour for the node (a Link notebook's header colour). */
  accent?: string;
}

function cellModels(model: INotebookModel): ICellModel[] {
  const cells: ICellModel[] = [];
  for (let i = 0; i < model.cells.length; i++) {
    cells.push(model.cells.get(i));
  }
  return cells;
}

/** The component metadata of a cell, or null when it is not a component. */
export function componentMetadata(cell: ICellModel): IComponentMetadata | null {
  if (cell.type !== 'code') {
    return null;
  }
  const meta = cell.getMetadata(METADATA_KEY) as IComponentMetadata | undefined;
  if (!meta || typeof meta !== 'object' || typeof meta.name !== 'string') {
    return null;
  }
  return {
    ...meta,
    parents: Array.isArray(meta.parents) ? meta.parents.filter(p => typeof p === 'string') : []
  };
}

/** Every component of the notebook, in notebook order. */
export function notebookComponents(model: INotebookModel): INotebookComponent[] {
  const found: INotebookComponent[] = [];
  cellModels(model).forEach((cell, index) => {
    const meta = componentMetadata(cell);
    if (meta) {
      found.push({
        id: cell.sharedModel.getId(),
        name: meta.name,
        parents: meta.parents,
        worker: meta.worker,
        index
      });
    }
  });
  return found;
}

export function findCell(model: INotebookModel, id: string): ICellModel | null {
  return cellModels(model).find(c => c.sharedModel.getId() === id) ?? null;
}

/**
 * Apply a structure edit as one notebook-level transaction, so the notebook's undo
 * ("Undo Cell Operation", `Z` in command mode) takes it back in one step.
 */
function edit(model: INotebookModel, change: () => void): void {
  model.sharedModel.transact(change, true);
}

function writeComponent(cell: ICellModel, meta: IComponentMetadata | null): void {
  if (meta === null) {
    cell.deleteMetadata(METADATA_KEY);
    return;
  }
  const clean: IComponentMetadata = {
    name: meta.name,
    parents: [...new Set(meta.parents)].sort()
  };
  if (meta.worker) {
    clean.worker = meta.worker;
  }
  cell.setMetadata(METADATA_KEY, clean);
}

/** Make a cell a component named `name` (keeps its parents when it already is one). */
export function setComponentName(model: INotebookModel, cell: ICellModel, name: string): void {
  const meta = componentMetadata(cell);
  edit(model, () => writeComponent(cell, { parents: [], ...meta, name }));
}

/** Stop a cell being a component; its children lose it as a parent. */
export function removeComponent(model: INotebookModel, cell: ICellModel): void {
  const id = cell.sharedModel.getId();
  edit(model, () => {
    writeComponent(cell, null);
    for (const other of cellModels(model)) {
      const meta = componentMetadata(other);
      if (meta && meta.parents.includes(id)) {
        writeComponent(other, { ...meta, parents: meta.parents.filter(p => p !== id) });
      }
    }
  });
}

export function setParents(model: INotebookModel, cell: ICellModel, parents: string[]): void {
  const meta = componentMetadata(cell);
  if (meta) {
    edit(model, () => writeComponent(cell, { ...meta, parents }));
  }
}

/** Run a component on the worker registered as `alias`, or locally when it is ''. */
export function setWorker(model: INotebookModel, cell: ICellModel, alias: string): void {
  const meta = componentMetadata(cell);
  if (meta) {
    const next: IComponentMetadata = { ...meta };
    if (alias) {
      next.worker = alias;
    } else {
      delete next.worker;
    }
    edit(model, () => writeComponent(cell, next));
  }
}

export function addEdge(model: INotebookModel, parent: string, child: string): void {
  const cell = findCell(model, child);
  const meta = cell && componentMetadata(cell);
  if (cell && meta && !meta.parents.includes(parent)) {
    edit(model, () => writeComponent(cell, { ...meta, parents: [...meta.parents, parent] }));
  }
}

export function removeEdge(model: INotebookModel, parent: string, child: string): void {
  const cell = findCell(model, child);
  const meta = cell && componentMetadata(cell);
  if (cell && meta) {
    edit(model, () =>
      writeComponent(cell, { ...meta, parents: meta.parents.filter(p => p !== parent) })
    );
  }
}

/** A name no other component uses: `base`, or `base 2`, `base 3`, ... */
export function uniqueName(model: INotebookModel, base: string, exceptId?: string): string {
  const taken = new Set(
    notebookComponents(model)
      .filter(c => c.id !== exceptId)
      .map(c => c.name)
  );
  if (!taken.has(base)) {
    return base;
  }
  let n = 2;
  while (taken.has(`${base} ${n}`)) {
    n++;
  }
  return `${base} ${n}`;
}

export function pipelineMetadata(model: INotebookModel): IPipelineMetadata {
  const meta = model.getMetadata(METADATA_KEY) as IPipelineMetadata | undefined;
  return meta && typeof meta === 'object' ? meta : { version: 1 };
}

export function parameters(model: INotebookModel): { [name: string]: IParameter } {
  return { ...(pipelineMetadata(model).parameters ?? {}) };
}

export function setParameters(model: INotebookModel, params: { [name: string]: IParameter }): void {
  const meta: IPipelineMetadata = { ...pipelineMetadata(model), version: 1 };
  if (Object.keys(params).length) {
    meta.parameters = params;
  } else {
    delete meta.parameters;
  }
  model.setMetadata(METADATA_KEY, meta);
}

/** The live notebook in the shape the `sync` request carries. */
export function syncPayload(model: INotebookModel): { metadata: any; cells: any[] } {
  return {
    metadata: model.sharedModel.getMetadata(),
    cells: cellModels(model).map(cell => ({
      id: cell.sharedModel.getId(),
      cell_type: cell.type,
      source: cell.sharedModel.getSource(),
      metadata: cell.sharedModel.getMetadata()
    }))
  };
}

/**
 * After cells were pasted or duplicated: a copy that repeats a component name gets a
 * unique one, so the pipeline stays valid.
 */
export function renameDuplicates(model: INotebookModel): void {
  const seen = new Set<string>();
  for (const cell of cellModels(model)) {
    const meta = componentMetadata(cell);
    if (!meta) {
      continue;
    }
    if (seen.has(meta.name)) {
      const name = uniqueName(model, meta.name.replace(/ \(copy\)$/, '') + ' (copy)');
      writeComponent(cell, { ...meta, name });
      seen.add(name);
    } else {
      seen.add(meta.name);
    }
  }
}

/** Key of MakinaRocks Link's metadata, in cells and in the notebook. */
export const LINK_KEY = 'canvas';

/** A notebook in Link's format: Link metadata and no cellpipe component yet. */
export function isLinkNotebook(model: INotebookModel): boolean {
  if (notebookComponents(model).length) {
    return false;
  }
  return (
    model.sharedModel.getMetadata(LINK_KEY) !== undefined ||
    cellModels(model).some(cell => cell.getMetadata(LINK_KEY) !== undefined)
  );
}

/** Header colours that mean "no colour" in Link's metadata. */
const NO_COLOUR = new Set(['', 'inherit', 'initial', 'unset', 'none', 'transparent', 'default']);

/**
 * The header colour Link gives a cell (`canvas.headerColor`: a CSS colour, or an index
 * into the notebook's `canvas.colorPalette`), or '' when it has none.
 */
export function linkHeaderColor(model: INotebookModel, cell: ICellModel): string {
  const spec = cell.getMetadata(LINK_KEY) as { headerColor?: unknown } | undefined;
  let colour = spec && typeof spec === 'object' ? spec.headerColor : undefined;
  if (typeof colour === 'number') {
    const palette = (model.sharedModel.getMetadata(LINK_KEY) as { colorPalette?: unknown })
      ?.colorPalette;
    colour = Array.isArray(palette) ? palette[colour] : undefined;
  }
  if (typeof colour !== 'string' || NO_COLOUR.has(colour.trim().toLowerCase())) {
    return '';
  }
  // only a plain colour: the value ends up in a style attribute
  return /^(#[0-9a-f]{3,8}|[a-z]+|(rgb|rgba|hsl|hsla)\([0-9.,%\s]+\))$/i.test(colour.trim())
    ? colour.trim()
    : '';
}

/** The notebook's metadata and every cell's, by cell id. */
export interface IMetadataSnapshot {
  metadata: { [key: string]: any };
  cells: { id: string; metadata: { [key: string]: any } }[];
}

export function metadataSnapshot(model: INotebookModel): IMetadataSnapshot {
  return {
    metadata: JSON.parse(JSON.stringify(model.sharedModel.getMetadata())),
    cells: cellModels(model).map(cell => ({
      id: cell.sharedModel.getId(),
      metadata: JSON.parse(JSON.stringify(cell.sharedModel.getMetadata()))
    }))
  };
}

/** Replace the notebook's and the named cells' metadata, as one edit. */
export function applyMetadata(model: INotebookModel, snapshot: IMetadataSnapshot): void {
  const byId = new Map(snapshot.cells.map(c => [c.id, c.metadata]));
  // setMetadata(object) merges: keys the snapshot lacks are deleted first
  edit(model, () => {
    const shared = model.sharedModel;
    for (const key of Object.keys(shared.getMetadata())) {
      if (!(key in snapshot.metadata)) {
        shared.deleteMetadata(key);
      }
    }
    shared.setMetadata(snapshot.metadata);
    for (const cell of cellModels(model)) {
      const metadata = byId.get(cell.sharedModel.getId());
      if (metadata) {
        for (const key of Object.keys(cell.sharedModel.getMetadata())) {
          if (!(key in metadata)) {
            cell.sharedModel.deleteMetadata(key);
          }
        }
        cell.sharedModel.setMetadata(metadata);
      }
    }
  });
}

/** Key of the merge conflicts `cellpipe merge` leaves in a cell's metadata. */
export const CONFLICT_KEY = 'cellpipe_merge';

/** Ids of the cells that still have merge conflicts to resolve. */
export function conflictedCells(model: INotebookModel): string[] {
  return cellModels(model)
    .filter(cell => {
      const meta = cell.getMetadata(CONFLICT_KEY) as { conflicts?: unknown[] } | undefined;
      return Array.isArray(meta?.conflicts) && meta!.conflicts.length > 0;
    })
    .map(cell => cell.sharedModel.getId());
}

/** Append cells (nbformat JSON) and set the pipeline metadata, as one edit. */
export function appendCells(
  model: INotebookModel,
  cells: { [key: string]: any }[],
  pipeline: { [key: string]: any }
): void {
  edit(model, () => {
    model.sharedModel.insertCells(model.sharedModel.cells.length, cells as any);
    model.sharedModel.setMetadata(METADATA_KEY, pipeline);
  });
}

/**
 * Write a whole pipeline (what Python inferred): each listed cell's component metadata
 * and the notebook's, as one edit; the notebook's undo takes the cells' part back in one
 * step. The notebook-level metadata is written only when it says more than the default
 * `{"version": 1}`, since JupyterLab's notebook undo does not cover notebook metadata.
 */
export function applyPipeline(
  model: INotebookModel,
  pipeline: IPipelineMetadata,
  cells: { id: string; component: IComponentMetadata }[]
): void {
  const byId = new Map(cells.map(c => [c.id, c.component]));
  const current = pipelineMetadata(model);
  const sameMeta = JSON.stringify(sortedKeys(current)) === JSON.stringify(sortedKeys(pipeline));
  edit(model, () => {
    for (const cell of cellModels(model)) {
      const component = byId.get(cell.sharedModel.getId());
      if (component && cell.type === 'code') {
        writeComponent(cell, { ...componentMetadata(cell), ...component });
      }
    }
    if (!sameMeta) {
      model.setMetadata(METADATA_KEY, pipeline);
    }
  });
}

function sortedKeys(value: { [key: string]: unknown }): [string, unknown][] {
  return Object.keys(value)
    .sort()
    .map(k => [k, value[k]]);
}

/**
 * Set the parents of a component, as one edit; cells among them that are not components
 * yet become components under the names given (`newComponents`, by cell id).
 */
export function setParentsWith(
  model: INotebookModel,
  child: string,
  parents: string[],
  newComponents: { [id: string]: string } = {}
): void {
  const cell = findCell(model, child);
  const meta = cell && componentMetadata(cell);
  if (!cell || !meta) {
    return;
  }
  edit(model, () => {
    for (const [id, name] of Object.entries(newComponents)) {
      const parent = findCell(model, id);
      if (parent && parent.type === 'code' && !componentMetadata(parent)) {
        writeComponent(parent, { name: uniqueName(model, name), parents: [] });
      }
    }
    writeComponent(cell, { ...meta, parents });
  });
}
