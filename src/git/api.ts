/** The typed calls of cellpipe's git endpoints (cellpipe/server/git_handlers.py). */
import { requestJSON } from '../server';

export interface IHistoryEntry {
  commit: string;
  parent: string | null;
  author: string;
  date: string;
  subject: string;
  path: string;
  status: string;
  summary: string;
  components_changed: number;
  edges_added: number;
  edges_removed: number;
  cells_changed: number;
}

export interface ICommitDiff {
  summary: string;
  /** The terminal view as (text, style) lines, rendered by Python. */
  lines: [string, string][];
  /** The DAG diff picture. */
  svg: string;
  diff: { [key: string]: unknown };
}

export interface ICheckout {
  path: string;
  backup: string | null;
}

/** A cell as nbformat JSON, with `deleted` set when resolving removed it. */
export type CellJSON = { [key: string]: any };

/** Errors are ServerErrors (../server.ts) carrying the server's message. */
export const git = {
  history: (path: string) =>
    requestJSON<{ entries: IHistoryEntry[] }>('git/history', { query: { path } }).then(
      r => r.entries
    ),
  commitDiff: (path: string, rev: string) =>
    requestJSON<ICommitDiff>('git/diff', { query: { path, rev } }),
  checkout: (path: string, rev: string, mode: 'copy' | 'restore') =>
    requestJSON<ICheckout>('git/checkout', { body: { path, rev, mode } }),
  resolve: (cell: CellJSON, choice: 'ours' | 'theirs' | 'both') =>
    requestJSON<{ cell: CellJSON }>('git/resolve', { body: { cell, choice } }).then(r => r.cell),
  resolveNotebook: (metadata: { [key: string]: any }, choice: 'ours' | 'theirs') =>
    requestJSON<{ metadata: { [key: string]: any } }>('git/resolve', {
      body: { metadata, choice }
    }).then(r => r.metadata)
};
