/**
 * The one way the front end calls cellpipe's REST endpoints (docs/rest-api.md): the URL
 * under `<base_url>/cellpipe/`, the Jupyter token and xsrf cookie, JSON in and out, and
 * every failure thrown as one error type. The typed shapes of the calls are in ./rest.ts.
 */
import { PageConfig, URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** The body of an error reply: `{"op": "error", "kind", "message"}` (plus extras). */
export interface IErrorReply {
  op?: 'error';
  kind?: string;
  message?: string;
  [key: string]: unknown;
}

/**
 * A call that did not succeed: a non-2xx reply (its `status`, the server's `kind` and
 * one-line `message`, and its whole `body`), or no reply at all (`status` 0, kind
 * `NetworkError`: the server is unreachable).
 */
export class ServerError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly kind: string,
    readonly body: IErrorReply | null
  ) {
    super(message);
    this.name = 'ServerError';
  }

  /** Whether a cellpipe handler answered (its JSON error names a `kind`), not the server. */
  get fromHandler(): boolean {
    return typeof this.body?.kind === 'string';
  }
}

export type Query = Record<string, string>;

export function endpointUrl(path: string, query: Query = {}): string {
  const settings = ServerConnection.makeSettings();
  const search = new URLSearchParams(query).toString();
  return (
    URLExt.join(settings.baseUrl || PageConfig.getBaseUrl(), 'cellpipe', path) +
    (search ? `?${search}` : '')
  );
}

async function errorBody(response: Response): Promise<IErrorReply | null> {
  try {
    const body = await response.json();
    return body && typeof body === 'object' ? (body as IErrorReply) : null;
  } catch {
    return null; // not JSON: e.g. the server's own HTML error page
  }
}

/**
 * Fetch an endpoint under cellpipe/ and return the response when it is 2xx (for a
 * download or an upload); anything else throws a ServerError.
 */
export async function fetchEndpoint(
  path: string,
  init: RequestInit = {},
  query: Query = {}
): Promise<Response> {
  const settings = ServerConnection.makeSettings();
  let response: Response;
  try {
    // With JupyterLab's default `no-store`, makeRequest appends a cache-busting `&<time>`
    // argument, which the endpoints refuse as unknown; `no-cache` never serves a stale
    // reply either (the browser always asks the server).
    response = await ServerConnection.makeRequest(
      endpointUrl(path, query),
      { cache: 'no-cache', ...init },
      settings
    );
  } catch (error) {
    throw new ServerError((error as Error).message, 0, 'NetworkError', null);
  }
  if (!response.ok) {
    const body = await errorBody(response);
    throw new ServerError(
      String(body?.message ?? `${response.status} ${response.statusText}`),
      response.status,
      String(body?.kind ?? ''),
      body
    );
  }
  return response;
}

export interface IRequestOptions {
  /** GET without a body, POST with one, unless given. */
  method?: 'GET' | 'POST' | 'DELETE';
  /** Sent as JSON. */
  body?: unknown;
  /** Sent as it is (an upload), instead of `body`. */
  raw?: Blob | ArrayBuffer | Uint8Array;
  query?: Query;
}

/** A JSON call: `body` goes out as JSON, the reply comes back parsed as `T`. */
export async function requestJSON<T>(path: string, options: IRequestOptions = {}): Promise<T> {
  const payload =
    options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
  const init: RequestInit = { method: options.method ?? (payload === undefined ? 'GET' : 'POST') };
  if (payload !== undefined) {
    init.body = payload;
  }
  const response = await fetchEndpoint(path, init, options.query);
  try {
    return (await response.json()) as T;
  } catch (error) {
    throw new ServerError(
      `cellpipe/${path} did not reply JSON (${(error as Error).message})`,
      response.status,
      'BadReply',
      null
    );
  }
}
