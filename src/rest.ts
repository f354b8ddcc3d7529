/**
 * The typed REST calls of cellpipe's server extension (docs/rest-api.md), all through
 * the one request helper in ./server.ts. The git endpoints are in ./git/api.ts.
 */
import { fetchEndpoint, requestJSON } from './server';

/** nbformat JSON of the live notebook, as the pipeline endpoints take it. */
export type NotebookJSON = { metadata: { [key: string]: any }; cells: any[] };
export type JSONObject = { [key: string]: any };

// --- workers -----------------------------------------------------------------

/** A registered worker, as GET cellpipe/workers shows it. */
export interface IWorker {
  alias: string;
  kind: string;
  queue: string;
  store: string;
  options: { [key: string]: unknown };
  builtin: boolean;
}

export interface IPing {
  alias: string;
  ok: boolean;
  elapsed_ms: number;
  workers: number;
  message: string;
}

export const workers = {
  list: () => requestJSON<{ workers: IWorker[] }>('workers').then(r => r.workers),
  add: (alias: string, queue: string, store: string) =>
    requestJSON<{ worker: IWorker }>('workers', { body: { alias, queue, store } }),
  remove: (alias: string) =>
    requestJSON<{ removed: string }>(`workers/${encodeURIComponent(alias)}`, {
      method: 'DELETE'
    }),
  ping: (alias: string) =>
    requestJSON<IPing>(`workers/${encodeURIComponent(alias)}/ping`, { method: 'POST', body: {} })
};

// --- pipeline checks and conversions (no kernel) ---------------------------------

/** One component's metadata to write, by cell id. */
export interface ICellMetadata {
  id: string;
  metadata: JSONObject;
}

export interface IConverted {
  op: 'converted';
  metadata: JSONObject;
  cells: ICellMetadata[];
  summary: string;
  notices: string[];
}

/** An inferred edge and the names it carries. */
export interface IInferredEdge {
  parent: string;
  child: string;
  names: string[];
  reason?: string;
}

export interface IInferred {
  op: 'inferred';
  /** Notebook metadata keys to write: `{"cellpipe": {...}}`. */
  metadata: { cellpipe?: JSONObject; [key: string]: unknown };
  cells: { id: string; metadata: { cellpipe: { name: string; parents: string[] } } }[];
  edges: IInferredEdge[];
  notes: string[];
  summary: string;
}

/** A component reading a name that another component binds but no ancestor does. */
export interface ICheckWarning {
  component: string;
  name: string;
  reads: string;
  bound_by: string[];
  message: string;
  fix: { child: string; add_parents: string[] };
}

export interface IChecked {
  op: 'checked';
  warnings: ICheckWarning[];
  /** The names each existing edge carries. */
  edges: { parent: string; child: string; names: string[] }[];
}

export const pipeline = {
  /** Resolves when parent -> child may be added; a ServerError says why not. */
  checkEdge: (notebook: NotebookJSON, parent: string, child: string) =>
    requestJSON<{ op: 'edge_ok' }>('pipeline/check-edge', { body: { notebook, parent, child } }),
  /** A Link notebook's pipeline as cellpipe metadata. */
  convert: (notebook: NotebookJSON) =>
    requestJSON<IConverted>('pipeline/convert', { body: { notebook } }),
  /** The pipeline Python infers from the code (of every code cell, or of `only`). */
  infer: (notebook: NotebookJSON, only?: string) =>
    requestJSON<IInferred>('pipeline/infer', {
      body: only === undefined ? { notebook } : { notebook, only }
    }),
  /** Warnings on the edges people drew, and the names each edge carries. */
  check: (notebook: NotebookJSON) =>
    requestJSON<IChecked>('pipeline/check', { body: { notebook } }),
  /** A component, its ancestors and its descendants, in order (the graph's focus). */
  lineage: (notebook: NotebookJSON, id: string) =>
    requestJSON<{ op: 'lineage'; id: string; ids: string[] }>('pipeline/lineage', {
      body: { notebook, id }
    })
};

// --- sharing -----------------------------------------------------------------

export interface IPipelineExport {
  filename: string;
  text: string;
  components: number;
  /** format kfp: the DSL the YAML in `text` was compiled from, and what to tell the user */
  dsl?: string;
  dsl_filename?: string;
  notes?: string[];
}

/** A production export (docs/production.md): a Python program, or Kubeflow's two files. */
export interface IExportFormat {
  format: 'py' | 'kfp';
  store?: string;
  image?: string;
}

export interface IPipelineImport {
  cells: JSONObject[];
  metadata: JSONObject;
  messages: string[];
}

export interface ICacheExportPlan {
  filename: string;
  entries: unknown[];
  missing: { component_id: string; name: string; reason: string }[];
}

export interface ICacheImport {
  imported: number;
  skipped: number;
  hits?: string[];
  [key: string]: unknown;
}

export const share = {
  exportPipeline: (notebook: JSONObject, as?: IExportFormat & { path: string }) =>
    requestJSON<IPipelineExport>('share/pipeline/export', { body: { notebook, ...as } }),
  importPipeline: (body: {
    text: string;
    source: string;
    notebook: JSONObject;
    overwrite_params: boolean;
  }) => requestJSON<IPipelineImport>('share/pipeline/import', { body }),
  cacheExportPlan: (path: string) =>
    requestJSON<ICacheExportPlan>('share/cache/export', { query: { path, dry_run: '1' } }),
  cacheExport: (path: string) =>
    fetchEndpoint('share/cache/export', { method: 'GET' }, { path }).then(r => r.blob()),
  upload: (file: Blob) =>
    requestJSON<{ upload: string }>('share/cache/upload', { raw: file }).then(r => r.upload),
  discardUpload: (upload: string) =>
    requestJSON<{ deleted: boolean }>('share/cache/upload', {
      method: 'DELETE',
      query: { upload }
    }),
  importCache: (upload: string, path: string, trust: boolean) =>
    requestJSON<ICacheImport>('share/cache/import', { body: { upload, path, trust } })
};
