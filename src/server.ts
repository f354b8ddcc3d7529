/** Calls to cellpipe's REST endpoints (docs/rest-api.md): JSON in and out, errors thrown. */
import { PageConfig, URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** A non-2xx reply: the server's `kind` and one-line `message`, and its whole body. */
export class ServerError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly kind: string,
    readonly body: any
  ) {
    super(message);
  }
}

export function endpointUrl(path: string, query: Record<string, string> = {}): string {
  const settings = ServerConnection.makeSettings();
  const search = new URLSearchParams(query).toString();
  return (
    URLExt.join(settings.baseUrl || PageConfig.getBaseUrl(), 'cellpipe', path) +
    (search ? `?${search}` : '')
  );
}

/** Fetch an endpoint under cellpipe/ (the Jupyter token and xsrf cookie are added). */
export async function fetchEndpoint(
  path: string,
  init: RequestInit = {},
  query: Record<string, string> = {}
): Promise<Response> {
  const settings = ServerConnection.makeSettings();
  const response = await ServerConnection.makeRequest(endpointUrl(path, query), init, settings);
  if (!response.ok) {
    let body: any = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    throw new ServerError(
      String(body?.message ?? `${response.status} ${response.statusText}`),
      response.status,
      String(body?.kind ?? ''),
      body
    );
  }
  return response;
}

/** A JSON request; `body` is sent as JSON (POST unless a method is given). */
export async function requestJSON<T>(
  path: string,
  options: { method?: string; body?: unknown; query?: Record<string, string> } = {}
): Promise<T> {
  const init: RequestInit = { method: options.method ?? (options.body ? 'POST' : 'GET') };
  if (options.body !== undefined) {
    init.body = JSON.stringify(options.body);
  }
  const response = await fetchEndpoint(path, init, options.query);
  return (await response.json()) as T;
}

/** Offer data to the user as a file download. */
export function download(filename: string, data: Blob): void {
  const url = URL.createObjectURL(data);
  const link = document.createElement('a');
  link.href = url;
  link.download = filename;
  document.body.appendChild(link);
  link.click();
  link.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Ask the user for one file (an <input type=file> click). */
export function pickFile(accept: string): Promise<File | null> {
  return new Promise(resolve => {
    const input = document.createElement('input');
    input.type = 'file';
    input.accept = accept;
    input.className = 'jp-cellpipe-file-input';
    input.style.display = 'none';
    input.onchange = () => {
      resolve(input.files?.[0] ?? null);
      input.remove();
    };
    input.oncancel = () => {
      resolve(null);
      input.remove();
    };
    document.body.appendChild(input);
    input.click();
  });
}

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
