/**
 * The push exporters' shared parts: the protobuf writer (read back with protobufjs's reader, an
 * independent decoder), the HTTP push client against a real local server, and the answer rules.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { ProtoWriter, varintSize } from '../../src/util/protobuf-writer.js';
import { HttpPushClient, retryAfterMs, statusError } from '../../exporters/push/http-push.js';
import { PermanentError, RetryableError } from '../../src/errors.js';
import { scrubbedError, scrubber, targetSecrets } from '../../exporters/push/scrub.js';
import { freePort } from '../helpers/ports.js';

const protobuf = createRequire(import.meta.url)('protobufjs/minimal') as { Reader: { create(buf: Uint8Array): ProtoReader } };
interface ProtoReader { pos: number; len: number; uint32(): number; uint64(): { toString(): string }; fixed64(): { toString(): string }; double(): number; string(): string; bytes(): Uint8Array; bool(): boolean }

test('the protobuf writer encodes every wire type as protobufjs reads it, nested lengths of every size', () => {
  const long = 'x'.repeat(200_000) + 'é✓';
  const body = new ProtoWriter(16)
    .varint(1, 300)
    .varint(2, 2n ** 63n + 5n)
    .fixed64(3, 1_764_000_000_123_456_789n)
    .double(4, 0.125)
    .string(5, long)
    .bytes(6, Uint8Array.of(0, 255, 7))
    .bool(7, true)
    .message(8, (inner) => inner.string(1, 'a').message(2, (deeper) => deeper.string(1, 'y'.repeat(130))))
    .message(9, () => undefined)
    .finish();
  const reader = protobuf.Reader.create(body);
  const next = () => reader.uint32();
  assert.equal(next(), (1 << 3) | 0); assert.equal(reader.uint32(), 300);
  assert.equal(next(), (2 << 3) | 0); assert.equal(reader.uint64().toString(), (2n ** 63n + 5n).toString());
  assert.equal(next(), (3 << 3) | 1); assert.equal(reader.fixed64().toString(), '1764000000123456789');
  assert.equal(next(), (4 << 3) | 1); assert.equal(reader.double(), 0.125);
  assert.equal(next(), (5 << 3) | 2); assert.equal(reader.string(), long);
  assert.equal(next(), (6 << 3) | 2); assert.deepEqual([...reader.bytes()], [0, 255, 7]);
  assert.equal(next(), (7 << 3) | 0); assert.equal(reader.bool(), true);
  assert.equal(next(), (8 << 3) | 2);
  const nested = protobuf.Reader.create(reader.bytes());
  assert.equal(nested.uint32(), (1 << 3) | 2); assert.equal(nested.string(), 'a');
  assert.equal(nested.uint32(), (2 << 3) | 2);
  const deepest = protobuf.Reader.create(nested.bytes());
  assert.equal(deepest.uint32(), (1 << 3) | 2); assert.equal(deepest.string(), 'y'.repeat(130));
  assert.equal(nested.pos, nested.len);
  assert.equal(next(), (9 << 3) | 2); assert.equal(reader.bytes().length, 0);
  assert.equal(reader.pos, reader.len);
  assert.deepEqual([0, 127, 128, 16_383, 16_384, 2 ** 35].map(varintSize), [1, 1, 2, 2, 3, 6]);
  assert.throws(() => new ProtoWriter().varint(1, -1), RangeError);
});

test('Retry-After is read as seconds or an HTTP date; anything else is no hint', () => {
  const now = Date.parse('2026-11-30T00:00:00Z');
  assert.equal(retryAfterMs('7', now), 7000);
  assert.equal(retryAfterMs(['2'], now), 2000);
  assert.equal(retryAfterMs('Mon, 30 Nov 2026 00:00:03 GMT', now), 3000);
  assert.equal(retryAfterMs('Sun, 29 Nov 2026 00:00:03 GMT', now), 0);
  assert.equal(retryAfterMs('soon', now), undefined);
  assert.equal(retryAfterMs(undefined, now), undefined);
});

test('an answer is fine, retryable with the server\'s Retry-After, or permanent with its words', () => {
  const answer = (status: number, body = '', headers: http.IncomingHttpHeaders = {}) => ({ status, headers, body: Buffer.from(body) });
  const only429 = (status: number) => status === 429;
  assert.equal(statusError(answer(204), 'push', only429), undefined);
  const busy = statusError(answer(429, 'slow down', { 'retry-after': '3' }), 'push', only429);
  assert.ok(busy instanceof RetryableError);
  assert.equal(busy.retryAfterMs, 3000);
  assert.match(busy.message, /push: HTTP 429: slow down/);
  const bad = statusError(answer(400, 'entry too far behind\n'), 'push', only429);
  assert.ok(bad instanceof PermanentError);
  assert.match(bad.message, /HTTP 400: entry too far behind$/);
});

test('the push client posts with its headers, returns any answer, and a silent server is retryable', async (t) => {
  const seen: { method: string; headers: http.IncomingHttpHeaders; body: string }[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      seen.push({ method: req.method!, headers: req.headers, body });
      res.writeHead(req.method === 'POST' ? 503 : 404, { 'retry-after': '1' }).end('busy');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const port = (server.address() as AddressInfo).port;
  const client = new HttpPushClient({ url: `http://user:secret@127.0.0.1:${port}/v1/logs`, headers: { 'x-scope-orgid': 'tenant-a' }, tls: { verify: true }, timeoutMs: 2000 });
  t.after(() => client.close());
  const answer = await client.post(Buffer.from('hello'), { 'content-type': 'text/plain' });
  assert.equal(answer.status, 503);
  assert.equal(answer.body.toString(), 'busy');
  assert.equal(seen[0]!.body, 'hello');
  assert.equal(seen[0]!.headers['x-scope-orgid'], 'tenant-a');
  assert.equal(seen[0]!.headers['content-length'], '5');
  assert.doesNotMatch(client.displayUrl, /secret/);
  const keyed = new HttpPushClient({ url: `http://127.0.0.1:${port}/v1/logs?api_key=k3y-in-query&region=eu`, headers: {}, tls: { verify: true }, timeoutMs: 2000 });
  t.after(() => keyed.close());
  assert.equal(keyed.displayUrl, `http://127.0.0.1:${port}/v1/logs?api_key=********&region=eu`, 'a credential in the query is masked where the URL is shown');

  const closedPort = await freePort();
  const silent = new HttpPushClient({ url: `http://user:secret@127.0.0.1:${closedPort}/push`, headers: {}, tls: { verify: true }, timeoutMs: 500 });
  t.after(() => silent.close());
  await assert.rejects(silent.post(Buffer.from('x'), {}), (error: Error) => error instanceof RetryableError && !error.message.includes('secret'));

  // whenAnswering resolves once anything answers at the server's origin, even a 404.
  const aborted = new AbortController();
  await client.whenAnswering(aborted.signal);
  assert.equal(seen.at(-1)!.method, 'GET');
  const never = new AbortController();
  const waiting = silent.whenAnswering(never.signal);
  never.abort();
  await waiting; // returns on abort, no answer needed
});

test('the push scrubber takes out header values, bearer tokens, basic credentials and URL user info in every form', () => {
  const secrets = targetSecrets({
    url: 'https://grafana%40user:p%40ss-w0rd@otlp.example/v1/logs',
    headers: { authorization: 'Basic ' + Buffer.from('alice:b4sic-pass').toString('base64'), 'x-token': 'Bearer t0ken-value', 'x-debug': '1' },
  });
  const scrub = scrubber(secrets);
  const text = [
    'echo: Basic ' + Buffer.from('alice:b4sic-pass').toString('base64'),
    'decoded alice:b4sic-pass, alone b4sic-pass',
    'token t0ken-value',
    'url https://grafana%40user:p%40ss-w0rd@otlp.example/ decoded p@ss-w0rd',
    'as sent ' + Buffer.from('grafana@user:p@ss-w0rd').toString('base64'),
    'x-debug 1 stays',
  ].join('\n');
  const out = scrub(text);
  for (const secret of ['b4sic-pass', 't0ken-value', 'p%40ss-w0rd', 'p@ss-w0rd', Buffer.from('grafana@user:p@ss-w0rd').toString('base64'), Buffer.from('alice:b4sic-pass').toString('base64')]) {
    assert.ok(!out.includes(secret), `${secret} left in: ${out}`);
  }
  assert.match(out, /x-debug 1 stays/);
  const error = scrubbedError(new RetryableError('HTTP 429: t0ken-value', { retryAfterMs: 5 }), scrub);
  assert.ok(error instanceof RetryableError);
  assert.equal(error.retryAfterMs, 5);
  assert.equal(error.message, 'HTTP 429: [redacted]');
  assert.ok(scrubbedError(new PermanentError('b4sic-pass'), scrub) instanceof PermanentError);
});

test('a push has a deadline for the whole answer: a server trickling a byte every 200 ms cannot hold it past timeoutMs', async (t) => {
  const server = http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain' });
    const drip = setInterval(() => res.write('.'), 200);
    res.on('close', () => clearInterval(drip));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => { server.closeAllConnections(); server.close(); });
  const client = new HttpPushClient({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/logs`, headers: {}, tls: { verify: true }, timeoutMs: 700 });
  t.after(() => client.close());
  const started = Date.now();
  const outcome = await Promise.race([
    client.post(Buffer.from('x'), {}).then(() => 'answered', (error: unknown) => error),
    new Promise((resolve) => setTimeout(() => resolve('still pending after 3 s'), 3000)),
  ]);
  assert.ok(outcome instanceof RetryableError, String(outcome));
  assert.match(outcome.message, /no complete answer within 700 ms/);
  const took = Date.now() - started;
  assert.ok(took >= 650 && took < 2000, `settled after ${took} ms`);
});
