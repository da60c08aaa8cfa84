import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BoundedQueue, QUIET_MS } from '../../src/pipeline/queue.js';
import { Ack, releaseAcks } from '../../src/pipeline/ack.js';
import { ExporterRunner } from '../../src/pipeline/exporter-runner.js';
import { Router } from '../../src/pipeline/router.js';
import { PermanentError, RetryableError } from '../../src/errors.js';
import { SelfMetrics } from '../../src/telemetry/metrics.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import type { AgentRecord, EventRecord, LogRecord, RecordKind } from '../../src/records.js';
import type { Exporter } from '../../src/component.js';
import { waitFor } from '../helpers/wait.js';

const container = { id: 'c1', name: 'one', image: 'img', labels: {}, host: 'h' };
function log(n: number, ack?: Ack): LogRecord {
  return { kind: 'log', id: `l${n}`, time: BigInt(n), stream: 'stdout', message: `line ${n}`, container, ...(ack ? { ack } : {}) };
}
function event(n: number): EventRecord {
  return { kind: 'event', id: `e${n}`, time: BigInt(n), type: 'container', action: 'start', actor: { id: 'c1', attributes: {} } };
}

/** An in-memory exporter: ours, a test double of our own interface, not of anything external. */
class MemoryExporter implements Exporter {
  readonly stored: AgentRecord[] = [];
  failures: Error[] = [];
  gate: Promise<void> | undefined;
  calls = 0;
  constructor(readonly id: string, readonly accepts: ReadonlySet<RecordKind>) {}
  async start() {}
  async export(batch: readonly AgentRecord[]) {
    this.calls++;
    await this.gate;
    const failure = this.failures.shift();
    if (failure) throw failure;
    this.stored.push(...batch);
  }
  async flush() {}
  async stop() {}
  health() { return { healthy: true }; }
}

/** Emits records sharing one ack, as a collector does (its own hold released after emit); returns whether it settled. */
async function emitWithAck(runners: ExporterRunner[], make: (ack: Ack) => AgentRecord[]): Promise<() => boolean> {
  let settled = false;
  const ack = new Ack(() => { settled = true; });
  await new Router(runners).emit(make(ack));
  ack.release();
  return () => settled;
}

function runner(exporter: Exporter, settings = {}) {
  return new ExporterRunner(exporter, silentLogger(), new SelfMetrics({ defaultMetrics: false }), { lingerMs: 5, ...settings }, { initialMs: 5, maxMs: 20 });
}

test('bounded queue: push waits while full and resumes when a batch is taken', async () => {
  const queue = new BoundedQueue<number>(2);
  await queue.push([1, 2]);
  let pushed = false;
  const pending = queue.push([3]).then(() => { pushed = true; });
  await new Promise((r) => setImmediate(r));
  assert.equal(pushed, false, 'push must wait while the queue is full');
  assert.deepEqual(await queue.take(10, 0), [1, 2]);
  await pending;
  assert.equal(pushed, true);
  assert.deepEqual(await queue.take(10, 0), [3]);
});

test('bounded queue: offer returns what does not fit', () => {
  const queue = new BoundedQueue<number>(3);
  assert.deepEqual(queue.offer([1, 2, 3, 4, 5]), [4, 5]);
  assert.equal(queue.size, 3);
});

test('bounded queue: take lingers for a fuller batch, then returns what it has', async () => {
  const queue = new BoundedQueue<number>(10);
  await queue.push([1]);
  setTimeout(() => void queue.push([2]), 5);
  const batch = await queue.take(5, 200);
  assert.deepEqual(batch, [1, 2]);
});

test('bounded queue: a lingering take returns as soon as its batch is full, long before the linger ends, and once, however many small pushes led there', async () => {
  const queue = new BoundedQueue<number>(100);
  await queue.push([0]);
  const started = Date.now();
  const taking = queue.take(5, 10_000);
  for (let i = 1; i < 5; i++) await queue.push([i]);
  assert.deepEqual(await taking, [0, 1, 2, 3, 4]);
  assert.ok(Date.now() - started < 5_000, 'woken by the fifth item, not by the linger timer');
});

test('bounded queue: a lingering take goes on while items keep coming, and ends once none has come for QUIET_MS (a burst is over), long before its linger', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const queue = new BoundedQueue<number>(1000);
  await queue.push([0]);
  let result: number[] | undefined;
  void queue.take(100, 10_000).then((batch) => { result = batch; });
  const step = Math.floor(QUIET_MS / 2);
  for (let i = 1; i <= 40; i++) {
    t.mock.timers.tick(step);
    await queue.push([i]);
    await new Promise(setImmediate);
    assert.equal(result, undefined, `still lingering after ${i * step} ms: an item came ${step} ms ago`);
  }
  // Quiet is checked every QUIET_MS: it shows within twice that.
  for (let i = 0; i < 2; i++) {
    t.mock.timers.tick(QUIET_MS);
    await new Promise(setImmediate);
  }
  assert.deepEqual(result, [...Array(41).keys()], 'every item, in order, once none came for QUIET_MS');
});

test('bounded queue: a trickle (fewer than a tenth of a batch) waits out its linger: quiet does not end it, so slow logs go out in few requests', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const queue = new BoundedQueue<number>(1000);
  await queue.push([0, 1]);
  let result: number[] | undefined;
  void queue.take(100, 200).then((batch) => { result = batch; });
  for (let waited = 0; waited < 175; waited += QUIET_MS) {
    t.mock.timers.tick(QUIET_MS);
    await new Promise(setImmediate);
    assert.equal(result, undefined, `2 of 100 held, quiet for ${waited + QUIET_MS} ms: still lingering`);
  }
  t.mock.timers.tick(25);
  await new Promise(setImmediate);
  assert.deepEqual(result, [0, 1], 'out at the linger');
});

test('bounded queue: right after a full take (a burst), quiet ends a take of a few items: a burst\'s last lines do not wait out the linger; a trickle after that does again', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const queue = new BoundedQueue<number>(1000);
  await queue.push([...Array(103).keys()]);
  assert.equal((await queue.take(100, 200)).length, 100, 'a full batch');
  let tail: number[] | undefined;
  void queue.take(100, 200).then((batch) => { tail = batch; });
  for (let i = 0; i < 2 && tail === undefined; i++) {
    t.mock.timers.tick(QUIET_MS);
    await new Promise(setImmediate);
  }
  assert.deepEqual(tail, [100, 101, 102], '3 of 100 held, out once quiet, not at the 200 ms linger');
  await queue.push([103]);
  let trickle: number[] | undefined;
  void queue.take(100, 200).then((batch) => { trickle = batch; });
  for (let waited = 0; waited < 175; waited += QUIET_MS) {
    t.mock.timers.tick(QUIET_MS);
    await new Promise(setImmediate);
    assert.equal(trickle, undefined, `after a take that was not full, 1 of 100 held, quiet for ${waited + QUIET_MS} ms: still lingering`);
  }
  t.mock.timers.tick(25);
  await new Promise(setImmediate);
  assert.deepEqual(trickle, [103], 'out at the linger');
});

test('bounded queue: two lingering takers never get an empty batch while the queue is open (one emptied it, the other\'s linger ran out)', async () => {
  const queue = new BoundedQueue<number>(100);
  await queue.push([1]);
  const first = queue.take(2, 10_000);
  const second = queue.take(2, 20);
  await queue.push([2]);
  assert.deepEqual(await first, [1, 2]);
  const pending = Symbol('pending');
  const outcome = await Promise.race([second, new Promise((resolve) => setTimeout(() => resolve(pending), 200))]);
  assert.equal(outcome, pending, 'past its linger the second taker waits for items instead of returning []');
  await queue.push([3]);
  assert.deepEqual(await second, [3]);
  queue.close();
  assert.deepEqual(await queue.take(2, 10_000), [], 'empty only once closed');
});

test('bounded queue in bytes: push waits once the bytes are reached, take stops at a byte budget (at least one item)', async () => {
  const queue = new BoundedQueue<string>(1000, 10, (item) => item.length);
  await queue.push(['aaaa', 'bbbb']);
  assert.equal(queue.bytes, 8);
  await queue.push(['cccccc']); // room left: overshoots to 14
  assert.equal(queue.bytes, 14);
  let pushed = false;
  const pending = queue.push(['d']).then(() => { pushed = true; });
  await new Promise((r) => setImmediate(r));
  assert.equal(pushed, false, 'full in bytes with 3 of 1,000 items');
  assert.deepEqual(await queue.take(10, 0, undefined, 9), ['aaaa', 'bbbb'], 'the third would pass 9 bytes');
  await pending;
  assert.deepEqual(await queue.take(10, 0, undefined, 2), ['cccccc'], 'one item, however heavy');
  assert.deepEqual(await queue.take(10, 0), ['d']);
  assert.equal(queue.bytes, 0);
  assert.deepEqual(queue.offer(['xxxx', 'yyyy', 'zzzz', 'w']), ['w'], 'offer stops once the bytes are reached');
  assert.equal(queue.bytes, 12);
  assert.deepEqual(queue.drainAll(), ['xxxx', 'yyyy', 'zzzz']);
  assert.equal(queue.bytes, 0);
});

test('log lane bounded in bytes: 200 KB lines block the collector after ~queue_bytes, not after 20,000 lines; batches stay under max_bytes', async () => {
  const batches: number[] = [];
  let release: (() => void) | undefined;
  const gate = new Promise<void>((resolve) => { release = resolve; });
  const exporter: Exporter = {
    id: 'x', accepts: new Set<RecordKind>(['log']),
    start: async () => {}, flush: async () => {}, stop: async () => {}, health: () => ({ healthy: true }),
    export: async (batch) => { batches.push(batch.length); await gate; },
  };
  const r = runner(exporter, { queueSize: 20_000, queueBytes: 2 * 1024 * 1024, maxBytes: 1024 * 1024, maxRecords: 1000 });
  await r.start();
  const big = 'x'.repeat(200 * 1024);
  let accepted = 0;
  const writer = (async () => {
    for (let n = 0; n < 100; n++) {
      await r.enqueue([{ ...log(n), message: big }]);
      accepted++;
    }
  })();
  await waitFor(() => batches.length === 1, { what: 'the first batch in the exporter' });
  await new Promise((resolve) => setTimeout(resolve, 50));
  // One batch taken (5 lines: 1 MiB), then the lane fills to 2 MiB (~10 lines) and the writer waits.
  assert.ok(batches[0]! <= 5, `first batch ${batches[0]} lines of 200 KB within 1 MiB`);
  assert.ok(accepted <= 20, `${accepted} lines of 200 KB accepted while the exporter holds its batch`);
  release!();
  await writer;
  await r.drain(Date.now() + 5_000);
  assert.equal(batches.reduce((a, b) => a + b, 0), 100);
  assert.ok(batches.every((n) => n <= 5), `batches ${batches.join(',')}`);
});

test('ack settles once, after every hold is released', () => {
  let settled = 0;
  const ack = new Ack(() => settled++);
  ack.retain(3);
  ack.release(2);
  assert.equal(settled, 0);
  ack.release(1);
  assert.equal(settled, 0, 'the creator still holds one');
  ack.release();
  assert.equal(settled, 1);
  ack.release();
  assert.equal(settled, 1);
});

test('releaseAcks groups records sharing an ack', () => {
  const settled: string[] = [];
  const a = new Ack(() => settled.push('a'));
  const b = new Ack(() => settled.push('b'));
  a.retain(2);
  b.retain(1);
  a.release();
  b.release();
  releaseAcks([log(1, a), log(2, a), log(3, b)]);
  assert.deepEqual(settled, ['a', 'b']);
});

test('runner: acks settle only after the exporter stored the batch', async () => {
  const exporter = new MemoryExporter('mem', new Set(['log']));
  let release!: () => void;
  exporter.gate = new Promise((r) => { release = r; });
  const r = runner(exporter);
  r.start();
  const settled = await emitWithAck([r], (ack) => [log(1, ack), log(2, ack)]);
  await waitFor(() => exporter.calls > 0, { what: 'export called' });
  assert.equal(settled(), false, 'not stored yet');
  release();
  await waitFor(settled, { what: 'ack settled' });
  assert.equal(exporter.stored.length, 2);
  assert.equal(await r.drain(Date.now() + 1000), true);
});

test('runner: retryable failures retry the same batch; health reports them meanwhile', async () => {
  const exporter = new MemoryExporter('mem', new Set(['log']));
  exporter.failures = [new RetryableError('503'), new Error('socket hang up'), new RetryableError('503')];
  const r = runner(exporter);
  r.start();
  await new Router([r]).emit([log(1), log(2), log(3)]);
  await waitFor(() => exporter.calls >= 2, { what: 'a retry' });
  await waitFor(() => exporter.stored.length === 3, { what: 'stored after retries' });
  assert.equal(exporter.calls, 4);
  assert.deepEqual(exporter.stored.map((x) => (x as LogRecord).id), ['l1', 'l2', 'l3']);
  assert.equal(r.health().healthy, true, 'healthy again after success');
  await r.drain(Date.now() + 1000);
});

test('runner: a permanent failure dead-letters the batch, counts it and releases its acks', async () => {
  const exporter = new MemoryExporter('mem', new Set(['log']));
  exporter.failures = [new PermanentError('mapping')];
  const deadLetters: string[] = [];
  const r = new ExporterRunner(exporter, silentLogger(), new SelfMetrics({ defaultMetrics: false }), { lingerMs: 5 }, { initialMs: 5, maxMs: 20 }, {
    write: async (_exporter, entries) => { deadLetters.push(...entries.map((e) => e.reason)); },
  });
  r.start();
  const settled = await emitWithAck([r], (ack) => [log(1, ack)]);
  await waitFor(settled, { what: 'ack released once dead-lettered' });
  assert.equal(exporter.stored.length, 0);
  assert.deepEqual(deadLetters, ['permanent_error: mapping']);
  assert.equal(r.status().dead_lettered, 1);
  await r.drain(Date.now() + 1000);
});

test('runner: drop_newest drops what does not fit and counts it; block never drops', async () => {
  const exporter = new MemoryExporter('mem', new Set(['log']));
  exporter.gate = new Promise(() => undefined); // never stores
  const dropping = runner(exporter, { queueSize: 2, whenFull: 'drop_newest' });
  await dropping.enqueue([log(1), log(2), log(3)]);
  assert.equal(dropping.status().dropped, 1);
  assert.equal(dropping.status().queued, 2);
  const blocking = runner(exporter, { queueSize: 2, whenFull: 'block' });
  await blocking.enqueue([log(1), log(2)]);
  let queued = false;
  const waiting = blocking.enqueue([log(3)]).then(() => { queued = true; });
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(queued, false, 'block waits for room instead of dropping');
  assert.equal(blocking.status().dropped, 0);
  void blocking.drain(Date.now());
  await waiting;
});

test('router: fans out by kind, and an ack waits for every accepting exporter', async () => {
  const logs = new MemoryExporter('logs', new Set(['log']));
  const both = new MemoryExporter('both', new Set(['log', 'event']));
  let release!: () => void;
  both.gate = new Promise((r) => { release = r; });
  const runners = [runner(logs), runner(both)];
  for (const r of runners) r.start();
  const settled = await emitWithAck(runners, (ack) => [log(1, ack), event(1)]);
  await waitFor(() => logs.stored.length === 1, { what: 'log exporter stored' });
  assert.deepEqual(logs.stored.map((x) => x.kind), ['log']);
  assert.equal(settled(), false, 'the second exporter has not stored yet');
  release();
  await waitFor(settled, { what: 'ack settled after both' });
  assert.deepEqual(both.stored.map((x) => x.kind).sort(), ['event', 'log']);
  for (const r of runners) await r.drain(Date.now() + 1000);
});

test('runner: drain at the deadline leaves in-flight records unacknowledged', async () => {
  const exporter = new MemoryExporter('mem', new Set(['log']));
  exporter.failures = Array.from({ length: 1000 }, () => new RetryableError('down'));
  const r = runner(exporter);
  r.start();
  const settled = await emitWithAck([r], (ack) => [log(1, ack)]);
  await waitFor(() => exporter.calls > 0, { what: 'first attempt' });
  assert.equal(await r.drain(Date.now() + 50), false);
  assert.equal(settled(), false, 'a record that was never stored must not be acknowledged');
  assert.equal(r.health().healthy, false);
});

test('runner: records in/out are counted by their own kind in a mixed batch', async () => {
  const exporter = new MemoryExporter('mixed', new Set(['log', 'event']));
  const metrics = new SelfMetrics({ defaultMetrics: false });
  const r = new ExporterRunner(exporter, silentLogger(), metrics, { lingerMs: 5 }, { initialMs: 5, maxMs: 20 });
  r.start();
  await new Router([r]).emit([event(1), log(1), log(2), event(2), log(3)]);
  await waitFor(() => exporter.stored.length === 5, { what: 'stored' });
  const text = await metrics.registry.metrics();
  assert.match(text, /dockhand_records_out_total\{component="mixed",kind="log"\} 3/);
  assert.match(text, /dockhand_records_out_total\{component="mixed",kind="event"\} 2/);
  assert.match(text, /dockhand_records_in_total\{component="mixed",kind="log"\} 3/);
  await r.drain(Date.now() + 1000);
});
