/** What the exporter's connection puts on the wire for bulk requests, seen by a bare HTTP server. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';
import { EsConnection } from '../../exporters/elasticsearch/connection.js';

interface Seen {
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

async function recordingServer(t: import('node:test').TestContext): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(200, { 'content-type': 'application/json', 'x-elastic-product': 'Elasticsearch' });
      res.end(JSON.stringify({ errors: false, items: [{ create: { status: 201 } }] }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

function connection(url: string, compression: boolean): EsConnection {
  return new EsConnection({ urls: [url], credentials: { kind: 'none' }, ca: undefined, tlsVerify: true, compression, requestTimeoutMs: 5_000, agentVersion: '0.1.0-test' });
}

const body = Array.from({ length: 2000 }, (_, i) => `{"create":{"_index":"logs-docker.logs-default","_id":"c:stdout:${i}:0"}}\n{"@timestamp":"2026-01-02T03:04:05.${String(i).padStart(9, '0')}Z","message":"GET /items/${i} 200","stream":"stdout"}\n`).join('');

test('bulk bodies are gzipped at level 1 (as Beats), once, and arrive intact', async (t) => {
  const { url, seen } = await recordingServer(t);
  const es = connection(url, true);
  t.after(() => es.close());
  const response = await es.request<{ errors: boolean }>({ method: 'POST', path: '/_bulk', bulkBody: body, querystring: { filter_path: 'errors' } });
  assert.equal(response.body.errors, false);
  const request = seen[0]!;
  assert.equal(request.headers['content-encoding'], 'gzip');
  assert.match(String(request.headers['content-type']), /x-ndjson/);
  assert.equal(Number(request.headers['content-length']), request.body.length);
  assert.equal(zlib.gunzipSync(request.body).toString('utf8'), body, 'gzipped once: one gunzip gives the NDJSON back');
  assert.equal(request.body.length, zlib.gzipSync(body, { level: 1 }).length, 'level 1');
  assert.notEqual(request.body.length, zlib.gzipSync(body).length, 'not zlib\'s default level');
  assert.equal(request.url, '/_bulk?filter_path=errors');
});

test('with compression off, bulk bodies go as plain NDJSON', async (t) => {
  const { url, seen } = await recordingServer(t);
  const es = connection(url, false);
  t.after(() => es.close());
  await es.request({ method: 'POST', path: '/_bulk', bulkBody: body });
  assert.equal(seen[0]!.headers['content-encoding'], undefined);
  assert.equal(seen[0]!.body.toString('utf8'), body);
});

/** Every string reachable from `value` (own properties, depth-first, cycles cut), for looking for a secret anywhere in an error. */
function reachableText(value: unknown, seen = new Set<unknown>()): string {
  if (typeof value === 'string') return value;
  if (typeof value !== 'object' || value === null || seen.has(value) || Buffer.isBuffer(value)) return Buffer.isBuffer(value) ? '<buffer>' : '';
  seen.add(value);
  return Object.getOwnPropertyNames(value).map((key) => `${key}:${reachableText((value as Record<string, unknown>)[key], seen)}`).join(' ');
}

test('a failed request keeps the answer (status, Retry-After, product header) and nothing of the request: no credentials, no body', async (t) => {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(429, { 'content-type': 'application/json', 'x-elastic-product': 'Elasticsearch', 'retry-after': '7' });
      res.end(JSON.stringify({ error: { type: 'es_rejected_execution_exception', reason: 'queue full' }, status: 429 }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const es = new EsConnection({ urls: [url], credentials: { kind: 'basic', username: 'dockhand', password: 'pa55-secret' }, ca: undefined, tlsVerify: true, compression: false, requestTimeoutMs: 5_000, agentVersion: '0.1.0-test' });
  t.after(() => es.close());
  const refused = await es.request({ method: 'POST', path: '/_bulk', bulkBody: body }).then(() => undefined, (error: unknown) => error);
  const answer = refused as { statusCode?: number; headers?: http.IncomingHttpHeaders };
  assert.equal(answer.statusCode, 429);
  assert.equal(answer.headers?.['retry-after'], '7');
  assert.equal(answer.headers?.['x-elastic-product'], 'Elasticsearch');
  const text = reachableText(refused);
  assert.doesNotMatch(text, /pa55-secret|ZG9ja2hhbmQ6cGE1NS1zZWNyZXQ|authorization/i, 'no credentials (plain or base64) anywhere in the error');
  assert.ok(!text.includes('GET /items/1999'), 'the bulk body is not kept with the error');

  // No answer at all: the same, for a connection error.
  const closed = new EsConnection({ urls: ['http://dockhand:pa55-secret@127.0.0.1:9'], credentials: { kind: 'none' }, ca: undefined, tlsVerify: true, compression: false, requestTimeoutMs: 5_000, agentVersion: '0.1.0-test' });
  t.after(() => closed.close());
  const unanswered = await closed.request({ method: 'POST', path: '/_bulk', bulkBody: body }).then(() => undefined, (error: unknown) => error);
  assert.ok(unanswered instanceof Error);
  assert.doesNotMatch(reachableText(unanswered), /pa55-secret|ZG9ja2hhbmQ6cGE1NS1zZWNyZXQ/);
});
