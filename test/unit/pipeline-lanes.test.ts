/**
 * Lanes: a bounded queue per record kind per exporter. Logs never hold up events or metrics, one
 * exporter never holds up another; events beyond memory spill to disk (durable, in order, read back
 * once, across a restart too); metric samples drop the oldest when full.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Ack } from '../../src/pipeline/ack.js';
import { ExporterRunner } from '../../src/pipeline/exporter-runner.js';
import { Router } from '../../src/pipeline/router.js';
import { SpillLog } from '../../src/pipeline/spill.js';
import { eventSpillCodec } from '../../src/pipeline/lanes.js';
import { RetryableError } from '../../src/errors.js';
import { SelfMetrics } from '../../src/telemetry/metrics.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import type { AgentRecord, EventRecord, LogRecord, MetricRecord, RecordKind } from '../../src/records.js';
import type { Exporter } from '../../src/component.js';
import { waitFor } from '../helpers/wait.js';

const container = { id: 'c1', name: 'one', image: 'img', labels: { a: 'b' }, host: 'h' };
function log(n: number): LogRecord {
  return { kind: 'log', id: `l${n}`, time: BigInt(n), stream: 'stdout', message: `line ${n}`, container };
}
function event(n: number, ack?: Ack): EventRecord {
  return { kind: 'event', id: `e${n}`, time: 1_700_000_000_000_000_000n + BigInt(n), type: 'container', action: 'start', actor: { id: 'c1', attributes: { name: 'one' } }, container, ...(ack ? { ack } : {}) };
}
function sample(n: number): MetricRecord {
  return {
    kind: 'metric', time: BigInt(n), container, source: 'cgroup',
    cpu: { usageSeconds: n, userSeconds: 0, systemSeconds: 0, throttledSeconds: 0, throttledPeriods: 0, periods: 0 },
    memory: { usageBytes: 0, workingSetBytes: 0, rssBytes: 0, cacheBytes: 0, failcnt: 0 },
    network: [], blkio: { readBytes: 0, writeBytes: 0, reads: 0, writes: 0 }, pids: 1,
  };
}

/** An exporter whose kinds can be taken down (throwing) or stalled (hanging) one at a time. */
class LaneExporter implements Exporter {
  readonly stored: AgentRecord[] = [];
  readonly down = new Set<RecordKind>();
  readonly stalled = new Map<RecordKind, Promise<void>>();
  constructor(readonly id: string, readonly accepts: ReadonlySet<RecordKind>) {}
  async start() {}
  async export(batch: readonly AgentRecord[]) {
    const kind = batch[0]!.kind;
    await this.stalled.get(kind);
    if (this.down.has(kind)) throw new RetryableError(`${kind} sink down`);
    this.stored.push(...batch);
  }
  ids(kind: RecordKind): string[] {
    return this.stored.filter((r) => r.kind === kind).map((r) => (r as { id: string }).id);
  }
  async flush() {}
  async stop() {}
  health() { return { healthy: true }; }
}

function tempDir(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'dh-lanes-'));
}

function runner(exporter: Exporter, metrics: SelfMetrics, lanes: Record<string, unknown> = {}, settings: Record<string, unknown> = {}) {
  return new ExporterRunner(exporter, silentLogger(), metrics, { lingerMs: 2, ...settings }, { initialMs: 5, maxMs: 20 }, undefined, lanes);
}

async function metricValue(metrics: SelfMetrics, name: string, labels: Record<string, string>): Promise<number> {
  const metric = await metrics.registry.getSingleMetric(name)!.get();
  return metric.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value ?? 0;
}

/** Events each with its own ack; `acked` lists the ids whose ack settled (released by every exporter). */
function ackedEvents(from: number, to: number, acked: Set<string>): EventRecord[] {
  const out: EventRecord[] = [];
  for (let n = from; n <= to; n++) {
    const ack = new Ack(() => acked.add(`e${n}`));
    out.push(event(n, ack));
  }
  return out;
}

async function emitAndRelease(router: Router, records: AgentRecord[]): Promise<void> {
  await router.emit(records);
  for (const r of records) r.ack?.release();
}

const range = (from: number, to: number, prefix: string) => Array.from({ length: to - from + 1 }, (_, i) => `${prefix}${from + i}`);

test('logs never hold up events or metrics: a full, stalled log lane leaves the other lanes flowing', async () => {
  const metrics = new SelfMetrics({ defaultMetrics: false });
  const exporter = new LaneExporter('es', new Set(['log', 'event', 'metric']));
  let unstall!: () => void;
  exporter.stalled.set('log', new Promise((resolve) => { unstall = resolve; }));
  const r = runner(exporter, metrics, {}, { queueSize: 10, maxRecords: 5 });
  await r.start();
  const router = new Router([r]);
  // Fill the log lane: the emit of the next logs waits (backpressure), as it must.
  await router.emit(Array.from({ length: 10 }, (_, i) => log(i)));
  await waitFor(() => r.status().in_flight === 1, { what: 'a log batch stuck in export' });
  await router.emit(Array.from({ length: 5 }, (_, i) => log(10 + i)));
  let logsQueued = false;
  const blockedLogs = router.emit(Array.from({ length: 20 }, (_, i) => log(100 + i))).then(() => { logsQueued = true; });
  await router.emit([event(1), event(2)]);
  await router.emit([sample(1)]);
  await waitFor(() => exporter.ids('event').length === 2 && exporter.stored.some((x) => x.kind === 'metric'), { what: 'events and metrics delivered while logs are stuck' });
  assert.equal(logsQueued, false, 'the log emit still waits for room');
  unstall();
  await blockedLogs;
  await waitFor(() => exporter.ids('log').length === 35, { what: 'logs delivered once unstalled' });
  assert.equal(await r.drain(Date.now() + 1000), true);
});

test('one exporter never holds up another: events for a down exporter spill, the other exporter has them at once', async () => {
  const dir = tempDir();
  try {
    const metrics = new SelfMetrics({ defaultMetrics: false });
    const down = new LaneExporter('es', new Set(['log', 'event']));
    down.down.add('event');
    const up = new LaneExporter('prometheus', new Set(['event', 'metric']));
    const runners = [runner(down, metrics, { spillDir: path.join(dir, 'es'), eventMemoryRecords: 5 }), runner(up, metrics)];
    for (const x of runners) await x.start();
    const router = new Router(runners);
    const acked = new Set<string>();
    for (let n = 1; n <= 50; n += 10) await emitAndRelease(router, ackedEvents(n, n + 9, acked));
    await waitFor(() => up.ids('event').length === 50, { what: 'the healthy exporter has every event' });
    assert.deepEqual(up.ids('event'), range(1, 50, 'e'));
    assert.equal(down.ids('event').length, 0);
    const es = runners[0]!.status() as { lanes: { event: { spilled: number; spill_bytes: number; queued: number } } };
    assert.ok(es.lanes.event.spilled >= 40, `spilled beyond the 5 in memory (and the batch in flight): ${JSON.stringify(es.lanes.event)}`);
    assert.ok(es.lanes.event.spill_bytes > 0);
    assert.equal(await metricValue(metrics, 'dockhand_records_spilled_total', { component: 'es', kind: 'event' }), es.lanes.event.spilled);
    // Every event is on disk by now — the overflow at once, the failed batch and the rest of memory once
    // the first attempt failed — so every ack is released: the collector's position may move past them all.
    await waitFor(() => acked.size === 50, { what: 'every event durable for the down exporter' });
    down.down.delete('event');
    await waitFor(() => down.ids('event').length === 50, { what: 'every event after recovery' });
    assert.deepEqual(down.ids('event'), range(1, 50, 'e'), 'once each, in order');
    assert.equal(acked.size, 50);
    await waitFor(() => (runners[0]!.status() as { lanes: { event: { spill_bytes: number } } }).lanes.event.spill_bytes === 0, { what: 'spill emptied' });
    // A new event after the spill drained goes through memory again, after everything else.
    await emitAndRelease(router, ackedEvents(51, 51, acked));
    await waitFor(() => down.ids('event').length === 51, { what: 'the next event' });
    assert.equal(down.ids('event').at(-1), 'e51');
    for (const x of runners) assert.equal(await x.drain(Date.now() + 1000), true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('spilled events survive a restart: a new runner on the same spill delivers them once, in order, before new ones', async () => {
  const dir = tempDir();
  try {
    const spillDir = path.join(dir, 'es');
    const first = new LaneExporter('es', new Set(['event']));
    first.down.add('event');
    const acked = new Set<string>();
    const before = runner(first, new SelfMetrics({ defaultMetrics: false }), { spillDir, eventMemoryRecords: 10 });
    await before.start();
    await emitAndRelease(new Router([before]), ackedEvents(1, 100, acked));
    // The failed batch and the rest of memory were taken back to disk: every event is acknowledged.
    await waitFor(() => acked.size === 100, { what: 'all 100 events durable' });
    assert.equal(await before.drain(Date.now() + 50), false, 'stopped while the exporter is down');
    const spilled = range(1, 100, 'e');
    const files = readdirSync(path.join(spillDir, 'event'));
    for (const name of files) assert.equal(statSync(path.join(spillDir, 'event', name)).mode & 0o777, 0o600, name);

    const second = new LaneExporter('es', new Set(['event']));
    const after = runner(second, new SelfMetrics({ defaultMetrics: false }), { spillDir, eventMemoryRecords: 10 });
    await after.start();
    await emitAndRelease(new Router([after]), [event(101)]);
    await waitFor(() => second.ids('event').length === spilled.length + 1, { what: 'spilled events and the new one' });
    assert.deepEqual(second.ids('event'), [...spilled, 'e101']);
    const revived = second.stored[0] as EventRecord;
    assert.equal(typeof revived.time, 'bigint');
    assert.equal(revived.time, event(Number(spilled[0]!.slice(1))).time, 'exact nanoseconds back from disk');
    assert.deepEqual(revived.container, container);
    assert.equal(await after.drain(Date.now() + 1000), true);

    // And once delivered, never again.
    const third = new LaneExporter('es', new Set(['event']));
    const again = runner(third, new SelfMetrics({ defaultMetrics: false }), { spillDir, eventMemoryRecords: 10 });
    await again.start();
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(third.stored.length, 0);
    await again.drain(Date.now() + 1000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('metric lane: when full the oldest samples are dropped, counted, and never block the emit', async () => {
  const metrics = new SelfMetrics({ defaultMetrics: false });
  const exporter = new LaneExporter('es', new Set(['metric']));
  exporter.stalled.set('metric', new Promise(() => undefined));
  const r = runner(exporter, metrics, { metricRecords: 10 }, { maxRecords: 1 });
  await r.start();
  const router = new Router([r]);
  for (let n = 0; n < 5; n++) await router.emit(Array.from({ length: 10 }, (_, i) => sample(n * 10 + i)));
  const lane = (r.status() as { lanes: { metric: { queued: number; dropped: number } } }).lanes.metric;
  assert.equal(lane.queued, 10);
  assert.ok(lane.dropped >= 39, `dropped ${lane.dropped}`);
  assert.equal(await metricValue(metrics, 'dockhand_records_dropped_total', { component: 'es', reason: 'oldest_sample' }), lane.dropped);
  await r.drain(Date.now() + 20);
});

test('spill full: new events are dropped, counted, and their acks released (never blocking the reader)', async () => {
  const dir = tempDir();
  try {
    const metrics = new SelfMetrics({ defaultMetrics: false });
    const exporter = new LaneExporter('es', new Set(['event']));
    exporter.down.add('event');
    const r = runner(exporter, metrics, { spillDir: dir, eventMemoryRecords: 1, spillMaxBytes: 2000 });
    await r.start();
    const acked = new Set<string>();
    await emitAndRelease(new Router([r]), ackedEvents(1, 40, acked));
    const dropped = await metricValue(metrics, 'dockhand_records_dropped_total', { component: 'es', reason: 'spill_full' });
    assert.ok(dropped > 0);
    const lane = (r.status() as { lanes: { event: { spilled: number; spill_bytes: number } } }).lanes.event;
    assert.ok(lane.spill_bytes <= 2000);
    assert.ok(acked.size >= 38, 'spilled and dropped ones are released; only memory and the batch in flight wait');
    await r.drain(Date.now() + 20);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('spill log: order, commit, segments deleted once read, torn last line cut off at open, cursor survives reopen', async () => {
  const dir = tempDir();
  try {
    const open = async () => {
      const log = new SpillLog<AgentRecord>(dir, eventSpillCodec, { maxBytes: 1 << 20, segmentBytes: 600 });
      await log.open();
      return log;
    };
    const spill = await open();
    assert.equal(spill.isEmpty, true);
    for (let i = 0; i < 20; i++) assert.equal(await spill.append([event(i)]), 1);
    assert.ok(readdirSync(dir).filter((n) => n.startsWith('segment-')).length > 1, 'several segments');
    const firstRead = await spill.read(7);
    assert.deepEqual(firstRead.records.map((r) => (r as EventRecord).id).slice(0, 2), ['e0', 'e1']);
    await spill.commit(firstRead.end);
    const committedCount = firstRead.records.length;
    // Read further but do not commit: after a reopen, reading starts again at the commit.
    await spill.read(5);
    await spill.close();
    // A crash mid-append leaves a torn line.
    const segments = readdirSync(dir).filter((n) => n.startsWith('segment-')).sort();
    appendFileSync(path.join(dir, segments.at(-1)!), '{"kind":"event","id":"torn');
    const reopened = await open();
    const ids: string[] = [];
    for (;;) {
      const read = await reopened.read(4);
      if (read.records.length === 0) break;
      ids.push(...read.records.map((r) => (r as EventRecord).id));
      await reopened.commit(read.end);
    }
    assert.deepEqual(ids, range(committedCount, 19, 'e'));
    assert.equal(reopened.isEmpty, true);
    assert.ok(readdirSync(dir).filter((n) => n.startsWith('segment-')).length <= 1, 'read segments are deleted');
    assert.equal(await reopened.append([event(20)]), 1);
    const last = await reopened.read(10);
    assert.deepEqual(last.records.map((r) => (r as EventRecord).id), ['e20'], 'the torn line is gone, new lines follow');
    await reopened.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
