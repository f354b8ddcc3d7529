/**
 * A real HTTP server on 127.0.0.1 standing in for the Jupyter server in unit tests: each
 * path under /cellpipe/ answers with a handler the test sets; the front end's calls reach
 * it through PageConfig's baseUrl and token, as in JupyterLab.
 */
import { createServer, IncomingMessage, Server, ServerResponse } from 'http';
import { AddressInfo } from 'net';

import { PageConfig } from '@jupyterlab/coreutils';

export const TOKEN = 'test-token-123';

/** One request as the server saw it. */
export interface ISeen {
  method: string;
  path: string;
  query: Record<string, string>;
  body: any;
}

/** A reply: a status and a JSON body (or text with a content type). */
export type Reply = { status: number; body: unknown; type?: string };

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text; // a raw upload
  }
}

export class TestServer {
  /** Every request, in order. */
  readonly seen: ISeen[] = [];
  /** What a path answers (a path without a handler answers an HTML 404). */
  readonly routes = new Map<string, (seen: ISeen) => Reply>();
  baseUrl = '';

  async start(): Promise<void> {
    this._server = createServer((req, res) => void this._handle(req, res));
    await new Promise<void>(resolve => this._server!.listen(0, '127.0.0.1', resolve));
    this.baseUrl = `http://127.0.0.1:${(this._server.address() as AddressInfo).port}/`;
    PageConfig.setOption('baseUrl', this.baseUrl);
    PageConfig.setOption('token', TOKEN);
  }

  async stop(): Promise<void> {
    await new Promise(resolve => this._server?.close(resolve));
  }

  private async _handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) {
      chunks.push(chunk as Buffer);
    }
    const text = Buffer.concat(chunks).toString();
    const url = new URL(req.url ?? '/', 'http://x');
    const seen: ISeen = {
      method: req.method ?? '',
      path: url.pathname.replace(/^\/cellpipe\//, ''),
      query: Object.fromEntries(url.searchParams),
      body: text ? parse(text) : null
    };
    this.seen.push(seen);
    let reply: Reply = { status: 404, body: '<html>404: Not Found</html>', type: 'text/html' };
    if (req.headers.authorization !== `token ${TOKEN}`) {
      reply = { status: 403, body: { message: 'no token' } };
    } else if (this.routes.has(seen.path)) {
      reply = this.routes.get(seen.path)!(seen);
    }
    res.writeHead(reply.status, { 'Content-Type': reply.type ?? 'application/json' });
    res.end(typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body));
  }

  private _server: Server | null = null;
}
