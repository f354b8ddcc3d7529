/**
 * The request helper against a real HTTP server on 127.0.0.1: URLs, token, JSON both
 * ways, and every failure as one typed ServerError.
 */
import { createServer } from 'http';
import { AddressInfo } from 'net';

import { PageConfig } from '@jupyterlab/coreutils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { git } from '../git/api';
import { pipeline } from '../rest';
import { fetchEndpoint, requestJSON, ServerError } from '../server';
import { TestServer } from './httpserver';

const server = new TestServer();

beforeAll(async () => {
  await server.start();
  const echo = (seen: any) => ({
    status: 200,
    body: { method: seen.method, query: seen.query, body: seen.body }
  });
  server.routes.set('echo', echo);
  server.routes.set('pipeline/check-edge', () => ({
    status: 400,
    body: {
      op: 'error',
      kind: 'CycleError',
      message: 'adding a -> b would make a cycle: a -> b -> a'
    }
  }));
  server.routes.set('share/cache/import', () => ({
    status: 409,
    body: {
      op: 'error',
      kind: 'ConfirmationRequired',
      message: 'confirm first',
      summary: { hits: ['train'] }
    }
  }));
  server.routes.set('git/history', seen => ({
    status: 404,
    body: { kind: 'RevisionNotFound', message: `no history: ${seen.query.path}` }
  }));
  server.routes.set('html-error', () => ({
    status: 500,
    body: '<html><body>Internal Server Error</body></html>',
    type: 'text/html'
  }));
  server.routes.set('not-json', () => ({ status: 200, body: 'plain words', type: 'text/plain' }));
});

afterAll(() => server.stop());

describe('requestJSON', () => {
  it('GETs without a body, with the query and the token (and no cache-busting argument)', async () => {
    const reply = await requestJSON<any>('echo', { query: { path: 'a b/nb.ipynb' } });
    expect(reply).toEqual({ method: 'GET', query: { path: 'a b/nb.ipynb' }, body: null });
  });

  it('POSTs a body as JSON and parses the JSON reply', async () => {
    const reply = await requestJSON<any>('echo', { body: { notebook: { cells: [] }, n: 1 } });
    expect(reply.method).toBe('POST');
    expect(reply.body).toEqual({ notebook: { cells: [] }, n: 1 });
  });

  it('POSTs a raw body (an upload) as it is', async () => {
    const bytes = new TextEncoder().encode('\x1f\x8b not json');
    // (a browser sends a File; Node's fetch under jsdom takes the bytes)
    const reply = await requestJSON<any>('echo', { raw: bytes });
    expect(reply.method).toBe('POST');
    expect(reply.body).toBe('\x1f\x8b not json');
  });

  it('uses the method it is given', async () => {
    expect((await requestJSON<any>('echo', { method: 'DELETE' })).method).toBe('DELETE');
  });

  it("throws a handler's error with its status, kind, message and body", async () => {
    const error = await pipeline.checkEdge({ metadata: {}, cells: [] }, 'a', 'b').catch(e => e);
    expect(error).toBeInstanceOf(ServerError);
    expect(error.status).toBe(400);
    expect(error.kind).toBe('CycleError');
    expect(error.message).toBe('adding a -> b would make a cycle: a -> b -> a');
    expect(error.fromHandler).toBe(true);
  });

  it('keeps the extra fields of an error body (a 409 to confirm)', async () => {
    const error = await requestJSON('share/cache/import', { body: { upload: 'u' } }).catch(e => e);
    expect(error).toBeInstanceOf(ServerError);
    expect(error.status).toBe(409);
    expect(error.kind).toBe('ConfirmationRequired');
    expect(error.body.summary).toEqual({ hits: ['train'] });
  });

  it('the git calls go through the same helper and error type', async () => {
    const error = await git.history('nb.ipynb').catch(e => e);
    expect(error).toBeInstanceOf(ServerError);
    expect(error.status).toBe(404);
    expect(error.kind).toBe('RevisionNotFound');
    expect(error.message).toBe('no history: nb.ipynb');
  });

  it('a reply that is not JSON: status and text, not a parse error', async () => {
    const error = await requestJSON('html-error').catch(e => e);
    expect(error).toBeInstanceOf(ServerError);
    expect(error.status).toBe(500);
    expect(error.message).toBe('500 Internal Server Error');
    expect(error.kind).toBe('');
    expect(error.body).toBeNull();
    expect(error.fromHandler).toBe(false);

    const missing = await requestJSON('no/such/endpoint').catch(e => e);
    expect(missing.status).toBe(404);
    expect(missing.fromHandler).toBe(false);
  });

  it('a 2xx reply that is not JSON is a BadReply', async () => {
    const error = await requestJSON('not-json').catch(e => e);
    expect(error).toBeInstanceOf(ServerError);
    expect(error.kind).toBe('BadReply');
    expect(error.status).toBe(200);
  });

  it('fetchEndpoint returns the raw response of a 2xx reply', async () => {
    const response = await fetchEndpoint('not-json');
    expect(await response.text()).toBe('plain words');
  });

  it('an unreachable server is a NetworkError with status 0', async () => {
    const closed = createServer();
    await new Promise<void>(resolve => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise(resolve => closed.close(resolve));
    PageConfig.setOption('baseUrl', `http://127.0.0.1:${port}/`);
    try {
      const error = await requestJSON('echo').catch(e => e);
      expect(error).toBeInstanceOf(ServerError);
      expect(error.status).toBe(0);
      expect(error.kind).toBe('NetworkError');
    } finally {
      PageConfig.setOption('baseUrl', server.baseUrl);
    }
  });
});
