/**
 * The live page's server side: the ring, the history it keeps, the SSE client that drops a slow
 * browser without ever waiting, the tail's lookups, escaping, and the routes behind authentication.
 */
import { test } from 'node:test';
import http from 'node:http';
import Fastify from 'fastify';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Registry } from 'prom-client';
import { Ring } from '../../src/ui/ring.js';
import { ContainerHistory, historyPoints } from '../../src/ui/container-history.js';
import { SseClient, SSE_DEFAULTS, type SseSink } from '../../src/ui/sse.js';
import { LiveTail } from '../../src/ui/tail.js';
import { LivePage } from '../../src/ui/live-page.js';
import { readyReason } from '../../src/ui/pipeline-view.js';
import { registerLivePage, type LivePageView } from '../../src/ui/routes.js';
import { buildHttpApp, type AgentView } from '../../src/server/index.js';
import { loadAuthenticator } from '../../src/server/auth.js';
import type { ContainerMeta, LogRecord, MetricRecord } from '../../src/records.js';

/** A response that takes nothing: every write stays buffered, as with a browser that stopped reading. */
class StuckResponse extends EventEmitter implements SseSink {
  written = '';
  writableLength = 0;
  ended = false;
  status = 0;
  writeHead(status: number): this {
    this.status = status;
    return this;
  }
  write(chunk: string): boolean {
    this.written += chunk;
    this.writableLength += Buffer.byteLength(chunk);
    return false;
  }
  end(): this {
    this.ended = true;
    return this;
  }
}

const META: ContainerMeta = { id: 'c1', name: 'web', image: 'nginx', labels: {}, host: 'h' };

function logs(count: number, container = META, text = (i: number) => `line ${i}`): LogRecord[] {
  return Array.from({ length: count }, (_, i) => ({ kind: 'log', id: `${container.id}:${i}`, time: BigInt(1_700_000_000_000 + i) * 1_000_000n, stream: i % 2 ? 'stderr' : 'stdout', message: text(i), container }));
}

function metric(timeMs: number, usageSeconds: number, workingSet: number, container = META): MetricRecord {
  return {
    kind: 'metric', time: BigInt(timeMs) * 1_000_000n, container, source: 'cgroup',
    cpu: { usageSeconds, userSeconds: 0, systemSeconds: 0, throttledSeconds: 0, throttledPeriods: 0, periods: 0 },
    memory: { usageBytes: workingSet, workingSetBytes: workingSet, rssBytes: 0, cacheBytes: 0, failcnt: 0, limitBytes: 1 << 30 },
    network: [], blkio: { readBytes: 0, writeBytes: 0, reads: 0, writes: 0 }, pids: 1,
  };
}

/** Server-sent events in `text`, parsed. */
function events(text: string): { event: string; data: unknown }[] {
  return text.split('\n\n').filter((block) => block.startsWith('event: ')).map((block) => {
    const lines = block.split('\n');
    assert.equal(lines.length, 2, `one event line and one data line: ${JSON.stringify(block)}`);
    return { event: lines[0]!.slice(7), data: JSON.parse(lines[1]!.slice(6)) };
  });
}

test('ring: keeps the newest items up to its capacity, oldest first, and never grows', () => {
  const ring = new Ring<number>(3);
  assert.deepEqual(ring.toArray(), []);
  assert.equal(ring.last(), undefined);
  for (let i = 1; i <= 2; i++) ring.push(i);
  assert.deepEqual(ring.toArray(), [1, 2]);
  for (let i = 3; i <= 7; i++) ring.push(i);
  assert.deepEqual(ring.toArray(), [5, 6, 7]);
  assert.equal(ring.size, 3);
  assert.equal(ring.last(), 7);
  assert.throws(() => new Ring(0), RangeError);
});

test('history: 15 minutes of points at the stats interval, bounded; CPU % and lines/s from successive samples', () => {
  assert.equal(historyPoints(10_000), 90);
  assert.equal(historyPoints(250), 900, 'capped');
  assert.equal(historyPoints(3_600_000), 2, 'at least two points');
  const history = new ContainerHistory(4);
  history.observe([metric(1_000, 10, 100)]);
  history.countLines('c1', 30);
  history.observe([metric(3_000, 11, 200)]);
  const points = history.get('c1')!.points;
  assert.deepEqual(points.map((p) => [p.n, p.cpu, p.mem, p.lines]), [[1, null, 100, null], [2, 50, 200, 15]]);
  assert.deepEqual(history.get('c1', 1)!.points.map((p) => p.n), [2], 'only the points after the one a page has');
  assert.equal(history.latest, 2);
  for (let i = 2; i < 10; i++) history.observe([metric(1_000 + i * 2_000, 10 + i, 300)]);
  assert.equal(history.get('c1')!.points.length, 4);
  history.keepOnly(() => false);
  assert.equal(history.get('c1'), undefined);
});

test('sse: a client that stops reading is dropped with a final message once its buffer is full, and sending never throws or waits', () => {
  const response = new StuckResponse();
  const client = new SseClient(response, { maxBufferedBytes: 4096, heartbeatMs: 60_000 });
  let closed = 0;
  client.onClose(() => closed++);
  assert.equal(response.status, 200);
  for (let i = 0; i < 100; i++) client.send('lines', [{ message: 'x'.repeat(100) }]);
  assert.equal(client.state, 'dropped');
  assert.equal(response.ended, true);
  assert.equal(closed, 1);
  const sent = events(response.written);
  assert.equal(sent.at(-1)!.event, 'dropped');
  assert.match((sent.at(-1)!.data as { reason: string }).reason, /fell more than 4096 bytes behind/);
  assert.ok(sent.length < 100, 'stopped sending once full');
  const before = response.written.length;
  client.send('lines', []);
  assert.equal(response.written.length, before, 'nothing after the drop');
});

test('sse: a line with newlines and an SSE field in it stays one data line (no injected events)', () => {
  const response = new StuckResponse();
  const client = new SseClient(response, { maxBufferedBytes: 1 << 20, heartbeatMs: 60_000 });
  const hostile = 'a\n\nevent: dropped\ndata: {"reason":"fake"}\r\n<script>alert(1)</script>';
  client.send('lines', [{ message: hostile }]);
  const sent = events(response.written);
  assert.equal(sent.length, 1);
  assert.equal(sent[0]!.event, 'lines');
  assert.deepEqual(sent[0]!.data, [{ message: hostile }]);
  client.close();
});

test('tail: only the followed container\'s lines reach its clients; a closed client is forgotten; nothing followed costs one check', () => {
  const tail = new LiveTail();
  tail.observe(logs(3)); // nobody follows: nothing to do
  const response = new StuckResponse();
  const client = new SseClient(response, { maxBufferedBytes: 1 << 20, heartbeatMs: 60_000 });
  tail.follow('c1', client);
  tail.observe(logs(2, { ...META, id: 'other' }));
  tail.observe(logs(2));
  const sent = events(response.written);
  assert.equal(sent.length, 1);
  assert.deepEqual(sent[0]!.data, { t: 1_700_000_000_000, m: ['line 0', 'line 1'], e: [1] }, 'messages in order, stderr lines by index');
  response.emit('close');
  assert.equal(tail.following, 0);
});

test('a slow tail client is dropped while the batches keep flowing (observe returns at once every time)', () => {
  const page = new LivePage({ statsIntervalMs: 1000, eventsKept: 10 });
  const response = new StuckResponse();
  page.tail.follow('c1', new SseClient(response, { maxBufferedBytes: 64 * 1024, heartbeatMs: 60_000 }));
  for (let batch = 0; batch < 200; batch++) {
    const result = page.observe(logs(100)) as unknown;
    assert.equal(result, undefined, 'nothing to await');
  }
  assert.equal(page.tail.following, 0, 'dropped and forgotten');
  assert.ok(response.writableLength < 80 * 1024, `buffer stayed bounded (${response.writableLength} bytes)`);
  assert.equal(page.history.get('c1')!.logLines, 20_000, 'lines counted per batch');
});

test('events: the last N daemon events kept in a ring and sent to a page that opens later', () => {
  const page = new LivePage({ statsIntervalMs: 1000, eventsKept: 2 });
  for (const action of ['create', 'start', 'die']) {
    page.observe([{ kind: 'event', id: action, time: 1_000_000_000n, type: 'container', action, actor: { id: 'c1', attributes: { name: 'web' } } }]);
  }
  assert.deepEqual(page.recentEvents().map((e) => e.action), ['start', 'die']);
  const response = new StuckResponse();
  page.followEvents(new SseClient(response, { maxBufferedBytes: 1 << 20, heartbeatMs: 60_000 }));
  assert.deepEqual((events(response.written)[0]!.data as { action: string }[]).map((e) => e.action), ['start', 'die']);
  page.close();
});

test('readiness in words names each failing component and its reason', () => {
  assert.match(readyReason(true, []), /^Ready/);
  assert.equal(readyReason(false, [{ component: 'exporter:es', reason: 'connection refused' }, { component: 'docker', reason: 'down' }]),
    'Not ready: exporter:es — connection refused; docker — down.');
});

function fakePage(): LivePageView {
  return {
    containers: () => ({ containers: [] }),
    pipeline: async () => ({ ready: true }),
    followEvents: (client) => client.send('events', []),
    followTail: () => true,
    knowsContainer: (id) => id === 'c1',
    closeStreams: () => undefined,
  };
}

function agentView(): AgentView {
  return { readiness: () => ({ ready: true, checks: {} }), status: () => ({}), registries: () => [new Registry()], top: async () => ({}), page: fakePage() };
}

test('routes: the page, its assets, JSON and streams are behind authentication; /healthz stays open; / redirects to /ui/', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dockhand-ui-'));
  try {
    writeFileSync(path.join(dir, 'token'), 'abc123\n');
    const app = buildHttpApp(agentView(), { auth: loadAuthenticator({ bearer_token_file: path.join(dir, 'token') }) });
    const routes = ['/', '/ui/', '/ui/assets/page.js', '/ui/assets/page.css', '/ui/api/containers', '/ui/api/pipeline', '/ui/api/events', '/ui/api/tail?container=c1'];
    for (const url of routes) assert.equal((await app.inject({ url })).statusCode, 401, url);
    assert.equal((await app.inject({ url: '/healthz' })).statusCode, 200);
    const auth = { authorization: 'Bearer abc123' };
    const root = await app.inject({ url: '/', headers: auth });
    assert.equal(root.statusCode, 302);
    assert.equal(root.headers.location, '/ui/');
    const page = await app.inject({ url: '/ui/', headers: auth });
    assert.equal(page.statusCode, 200);
    assert.match(String(page.headers['content-type']), /^text\/html/);
    assert.match(String(page.headers['content-security-policy']), /script-src 'self'/);
    assert.match(page.body, /<script type="module" src="\/ui\/assets\/page.js">/);
    assert.equal((await app.inject({ url: '/ui/assets/page.js', headers: auth })).statusCode, 200);
    assert.equal((await app.inject({ url: '/ui/assets/..%2Fpackage.json', headers: auth })).statusCode, 404, 'only the listed files');
    assert.equal((await app.inject({ url: '/ui/api/tail?container=nope', headers: auth })).statusCode, 404);
    await app.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the page script puts text from the agent into the page as text, never as HTML', async () => {
  const { readFileSync } = await import('node:fs');
  const script = readFileSync(new URL('../../../ui/page.js', import.meta.url), 'utf8');
  for (const sink of ['innerHTML', 'outerHTML', 'insertAdjacentHTML', 'document.write', 'eval(', 'new Function']) {
    assert.ok(!script.includes(sink), `page.js uses ${sink}`);
  }
});

test('containers: a polling page gets only the points it lacks; all of them at first and after an agent restart', () => {
  const page = new LivePage({ statsIntervalMs: 1000, eventsKept: 10 });
  const inventory = [{ meta: META, state: 'running', health: 'none', startedAt: 100, restartCount: 0, oomEvents: 0, oomKilled: false }] as unknown as Parameters<LivePage['containers']>[0];
  page.observe([metric(1_000, 1, 100)]);
  page.observe([metric(2_000, 1.5, 100)]);
  const first = page.containers(inventory);
  assert.equal(first.full, true);
  assert.equal(first.seq, 2);
  const row = (answer: typeof first) => answer.containers[0] as { history: unknown[]; cpu_percent: number | null; uptime_seconds: number | null };
  assert.equal(row(first).history.length, 2);
  assert.equal(row(first).cpu_percent, 50);
  page.observe([metric(3_000, 2, 100)]);
  const next = page.containers(inventory, first.seq, first.epoch);
  assert.equal(next.full, false);
  assert.deepEqual((row(next).history as { n: number }[]).map((p) => p.n), [3]);
  assert.equal(row(page.containers(inventory, 3, first.epoch)).history.length, 0, 'nothing new');
  assert.equal(page.containers(inventory, 3, first.epoch - 1).full, true, 'another run of the agent: everything again');
  assert.equal(page.containers(inventory, 99, first.epoch).full, true, 'a number this run never gave: everything again');
});

test('a failure inside the page never reaches the collector: observe hands it to onError and returns', () => {
  const page = new LivePage({ statsIntervalMs: 1000, eventsKept: 10 });
  const response = new StuckResponse();
  page.tail.follow('c1', new SseClient(response, { maxBufferedBytes: 1 << 20, heartbeatMs: 60_000 }));
  response.write = () => { throw new Error('socket gone wrong'); };
  const errors: unknown[] = [];
  assert.doesNotThrow(() => page.observe(logs(3), (error) => errors.push(error)));
  assert.match(String(errors[0]), /socket gone wrong/);
});

test('routes: at most maxStreams live page streams at once; past it a 503 with Retry-After, and a stream closed makes room', async (t) => {
  const app = Fastify();
  registerLivePage(app, fakePage(), { ...SSE_DEFAULTS, maxStreams: 2 });
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  t.after(() => app.close());
  const open = (url: string) => new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Promise<string>; close: () => void }>((resolve, reject) => {
    const request = http.get(`${address}${url}`, (response) => {
      let text = '';
      response.setEncoding('utf8');
      const body = new Promise<string>((done) => {
        response.on('data', (chunk: string) => { text += chunk; if (response.statusCode !== 200) return; done(text); });
        response.on('end', () => done(text));
        response.on('close', () => done(text));
      });
      resolve({ status: response.statusCode ?? 0, headers: response.headers, body, close: () => request.destroy() });
    });
    request.on('error', reject);
  });
  const first = await open('/ui/api/events');
  const second = await open('/ui/api/tail?container=c1');
  assert.equal(first.status, 200);
  assert.equal(second.status, 200);
  const refused = await open('/ui/api/events');
  assert.equal(refused.status, 503);
  assert.equal(refused.headers['retry-after'], '5');
  assert.match(await refused.body, /2 live page streams are open/);
  first.close();
  let again = await open('/ui/api/events');
  for (const deadline = Date.now() + 5_000; again.status !== 200 && Date.now() < deadline;) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    again = await open('/ui/api/events');
  }
  assert.equal(again.status, 200, 'room again once a stream closed');
  second.close();
  again.close();
});
