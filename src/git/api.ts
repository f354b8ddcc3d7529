/** Calls to cellpipe's git endpoints (cellpipe/server/git_handlers.py): one request block. */
import { PageConfig, URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

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

export class GitRequestError extends Error {}

/** GET (no body) or POST (body) an endpoint under cellpipe/git/; throws with the server's message. */
export async function gitRequest<T>(
  endpoint: string,
  query: Record<string, string> = {},
  body?: unknown
): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const search = new URLSearchParams(query).toString();
  const url =
    URLExt.join(settings.baseUrl || PageConfig.getBaseUrl(), 'cellpipe/git', endpoint) +
    (search ? `?${search}` : '');
  const init: RequestInit =
    body === undefined ? { method: 'GET' } : { method: 'POST', body: JSON.stringify(body) };
  const response = await ServerConnection.makeRequest(url, init, settings);
  let reply: any = null;
  try {
    reply = await response.json();
  } catch {
    reply = null;
  }
  if (!response.ok) {
    const message = reply?.message ?? `${response.status} ${response.statusText}`;
    throw new GitRequestError(String(message));
  }
  return reply as T;
}

export const git = {
  history: (path: string) =>
    gitRequest<{ entries: IHistoryEntry[] }>('history', { path }).then(r => r.entries),
  commitDiff: (path: string, rev: string) => gitRequest<ICommitDiff>('diff', { path, rev }),
  checkout: (path: string, rev: string, mode: 'copy' | 'restore') =>
    gitRequest<ICheckout>('checkout', {}, { path, rev, mode }),
  resolve: (cell: CellJSON, choice: 'ours' | 'theirs' | 'both') =>
    gitRequest<{ cell: CellJSON }>('resolve', {}, { cell, choice }).then(r => r.cell),
  resolveNotebook: (metadata: { [key: string]: any }, choice: 'ours' | 'theirs') =>
    gitRequest<{ metadata: { [key: string]: any } }>('resolve', {}, { metadata, choice }).then(
      r => r.metadata
    )
};
