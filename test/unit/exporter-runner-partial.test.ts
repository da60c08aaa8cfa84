/**
 * The exporter runner with partial results and the local dead-letter file: the stored part of a
 * batch is acknowledged at once, the rejected part is written to the dead-letter file before its
 * acks are released, only the failed subset is sent again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Ack } from '../../src/pipeline/ack.js';
import { ExporterRunner } from '../../src/pipeline/exporter-runner.js';
import { Router } from '../../src/pipeline/router.js';
import { DeadLetterFile, DeadLetterFiles, deadLetterEvents, deadLetterFileName, encodeDeadLetter, type DeadLetterSink } from '../../src/pipeline/dead-letter-file.js';
import { PartialExportError, PermanentError, RetryableError, type RejectedRecord } from '../../src/errors.js';
import { SelfMetrics } from '../../src/telemetry/metrics.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import type { AgentRecord, LogRecord } from '../../src/records.js';
import type { Exporter } from '../../src/component.js';
import { waitFor } from '../helpers/wait.js';

const container = { id: 'c1', name: 'one', image: 'img', labels: {}, host: 'h' };
function log(n: number, ack?: Ack): LogRecord {
  return { kind: 'log', id: `l${n}`, time: BigInt(n), stream: 'stdout', message: `line ${n}`, container, ...(ack ? { ack } : {}) };
}

/** Each record with its own ack, so which records were acknowledged is visible one by one. */
function tracked(count: number): { records: LogRecord[]; settled: Set<string> } {
  const settled = new Set<string>();
  const records = Array.from({ length: count }, (_, i) => {
    const id = `l${i + 1}`;
    const ack = new Ack(() => settled.add(id));
    return log(i + 1, ack);
  });
  return { records, settled };
}

/** An exporter scripted call by call: each step throws or stores (our own interface's test double). */
class ScriptedExporter implements Exporter {
  readonly accepts = new Set(['log'] as const);
  readonly calls: AgentRecord[][] = [];
  readonly callTimes: number[] = [];
  readonly stored: AgentRecord[] = [];
  constructor(readonly id: string, private readonly script: ((batch: readonly AgentRecord[]) => Error | undefined)[], readonly deadLetterDir?: string) {}
  async start() {}
  async export(batch: readonly AgentRecord[]) {
    this.calls.push([...batch]);
    this.callTimes.push(Date.now());
    const step = this.script.shift();
    const error = step?.(batch);
    if (error) throw error;
    this.stored.push(...batch);
  }
  async flush() {}
  async stop() {}
  health() { return { healthy: true }; }
}

function tempDir(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'dh-dead-'));
}

function deadLetterFile(dir: string, metrics = new SelfMetrics({ defaultMetrics: false }), limits?: { maxFileBytes: number; maxFiles: number }) {
  return new DeadLetterFile(dir, deadLetterEvents(metrics, silentLogger()), limits);
}

function readLines(file: string): Record<string, any>[] {
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line));
}

async function metricValue(metrics: SelfMetrics, name: string, labels: Record<string, string>): Promise<number> {
  const metric = await metrics.registry.getSingleMetric(name)!.get();
  const value = metric.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
  return value?.value ?? 0;
}

/** A logger whose lines the test can read (the runner logs each retry with its delay). */
function capturingLogger(): { logger: ReturnType<typeof silentLogger>; lines: Record<string, any>[] } {
  const lines: Record<string, any>[] = [];
  const stream = new Writable({ write(chunk, _enc, done) { lines.push(JSON.parse(String(chunk))); done(); } });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

test('partial result: stored records are acknowledged at once, only the failed subset is sent again, rejected ones are dead-lettered', async () => {
  const dir = tempDir();
  try {
    const metrics = new SelfMetrics({ defaultMetrics: false });
    const { records, settled } = tracked(5);
    const [r1, r2, r3, r4, r5] = records as [LogRecord, LogRecord, LogRecord, LogRecord, LogRecord];
    let settledAtFirstRetry: string[] = [];
    const exporter = new ScriptedExporter('es', [
      () => new PartialExportError('2 of 5 failed, 1 rejected', [r2, r4], [{ record: r5, reason: 'mapper_parsing_exception: failed to parse field [x]' }]),
      () => { settledAtFirstRetry = [...settled].sort(); return undefined; },
    ]);
    const runner = new ExporterRunner(exporter, silentLogger(), metrics, { lingerMs: 5, maxRecords: 10 }, { initialMs: 5, maxMs: 20 }, deadLetterFile(dir, metrics));
    runner.start();
    await new Router([runner]).emit(records);
    for (const r of records) r.ack!.release();
    await waitFor(() => settled.size === 5, { what: 'every ack settled' });

    assert.deepEqual(exporter.calls.map((batch) => batch.map((r) => (r as LogRecord).id)), [['l1', 'l2', 'l3', 'l4', 'l5'], ['l2', 'l4']]);
    assert.deepEqual(settledAtFirstRetry, ['l1', 'l3', 'l5'], 'stored and dead-lettered records are acknowledged before the retry; the failed ones are not');
    const lines = readLines(path.join(dir, deadLetterFileName('es')));
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.exporter, 'es');
    assert.equal(lines[0]!.reason, 'mapper_parsing_exception: failed to parse field [x]');
    assert.equal(lines[0]!.record.id, 'l5');
    assert.equal(lines[0]!.record.time, '5', 'bigints are written as decimal strings');
    assert.equal(lines[0]!.record.ack, undefined);
    assert.ok(!Number.isNaN(Date.parse(lines[0]!.time)));
    assert.equal(await metricValue(metrics, 'dockhand_dead_letters_total', { component: 'es', reason: 'mapper_parsing_exception' }), 1);
    assert.deepEqual({ exported: runner.status().exported, dead: runner.status().dead_lettered }, { exported: 4, dead: 1 });
    assert.equal(r3.ack!.isSettled && r1.ack!.isSettled, true);
    await runner.drain(Date.now() + 1000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('partial result: retryAfterMs is honoured for the failed subset', async () => {
  const { records } = tracked(2);
  const exporter = new ScriptedExporter('es', [() => new PartialExportError('429', [records[1]!], [], { retryAfterMs: 300 })]);
  const runner = new ExporterRunner(exporter, silentLogger(), new SelfMetrics({ defaultMetrics: false }), { lingerMs: 5 }, { initialMs: 5, maxMs: 20 });
  runner.start();
  await new Router([runner]).emit(records);
  await waitFor(() => exporter.calls.length === 2, { what: 'the retry' });
  assert.ok(exporter.callTimes[1]! - exporter.callTimes[0]! >= 290, `retried after ${exporter.callTimes[1]! - exporter.callTimes[0]!} ms, expected at least the 300 ms asked for`);
  await runner.drain(Date.now() + 1000);
});

test('partial result: a round that made progress resets the backoff; a round without progress grows it', async () => {
  const { records } = tracked(3);
  const down = () => new RetryableError('503');
  const exporter = new ScriptedExporter('es', [
    down, down, down, down, down,
    () => new PartialExportError('1 of 3 stored', [records[1]!, records[2]!], []),
    () => new PartialExportError('nothing stored', [records[1]!, records[2]!], []),
  ]);
  const { logger, lines } = capturingLogger();
  const runner = new ExporterRunner(exporter, logger, new SelfMetrics({ defaultMetrics: false }), { lingerMs: 5 }, { initialMs: 8, maxMs: 1000 });
  runner.start();
  await new Router([runner]).emit(records);
  await waitFor(() => exporter.stored.length === 2, { what: 'stored at last' });
  const delays = lines.filter((l) => l.msg === 'export failed, will retry').map((l) => l.retryInMs as number);
  assert.equal(delays.length, 7);
  // Full jitter keeps each delay in [cap/2, cap]: caps 8, 16, 32, 64, 128 while down.
  assert.ok(delays[4]! >= 64, `backoff grew while nothing was stored: ${delays}`);
  assert.ok(delays[5]! <= 8, `reset after a round that stored something: ${delays}`);
  assert.ok(delays[6]! >= 8, `grows again after a round without progress: ${delays}`);
  assert.deepEqual(exporter.calls.at(-1)!.map((r) => (r as LogRecord).id), ['l2', 'l3']);
  await runner.drain(Date.now() + 1000);
});

test('a permanent failure of a whole batch dead-letters every record of it (no longer dropped) before releasing the acks', async () => {
  const dir = tempDir();
  try {
    const metrics = new SelfMetrics({ defaultMetrics: false });
    const { records, settled } = tracked(3);
    const exporter = new ScriptedExporter('file', [() => new PermanentError('cannot encode')]);
    const runner = new ExporterRunner(exporter, silentLogger(), metrics, { lingerMs: 5 }, { initialMs: 5, maxMs: 20 }, deadLetterFile(dir, metrics));
    runner.start();
    await new Router([runner]).emit(records);
    for (const r of records) r.ack!.release();
    await waitFor(() => settled.size === 3, { what: 'acks released after dead-lettering' });
    const lines = readLines(path.join(dir, deadLetterFileName('file')));
    assert.deepEqual(lines.map((l) => l.record.id), ['l1', 'l2', 'l3']);
    assert.match(lines[0]!.reason, /^permanent_error: cannot encode/);
    assert.equal(await metricValue(metrics, 'dockhand_dead_letters_total', { component: 'file', reason: 'permanent_error' }), 3);
    assert.equal(exporter.stored.length, 0);
    assert.equal(exporter.calls.length, 1, 'never retried');
    assert.equal(runner.status().dead_lettered, 3);
    await runner.drain(Date.now() + 1000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a failing dead-letter write is retried; the acks wait for it, health says why; nothing is dropped', async () => {
  let failing = true;
  let attempts = 0;
  const written: RejectedRecord<AgentRecord>[] = [];
  const sink: DeadLetterSink = {
    async write(_exporter, entries) {
      attempts++;
      if (failing) throw new Error('ENOSPC: no space left on device');
      written.push(...entries);
    },
  };
  const { records, settled } = tracked(2);
  const exporter = new ScriptedExporter('es', [() => new PartialExportError('poison', [], [{ record: records[0]!, reason: 'poison' }])]);
  const runner = new ExporterRunner(exporter, silentLogger(), new SelfMetrics({ defaultMetrics: false }), { lingerMs: 5 }, { initialMs: 5, maxMs: 20 }, sink);
  runner.start();
  await new Router([runner]).emit(records);
  for (const r of records) r.ack!.release();
  await waitFor(() => attempts >= 3, { what: 'the dead-letter write failed three times' });
  assert.deepEqual([...settled], ['l2'], 'the stored record is acknowledged; the poison one waits for its dead-letter write');
  assert.equal(runner.health().healthy, false);
  assert.match(runner.health().reason ?? '', /dead-letter file write failing: ENOSPC/);
  failing = false;
  await waitFor(() => settled.size === 2, { what: 'poison acknowledged once written' });
  assert.deepEqual(written.map((e) => (e.record as LogRecord).id), ['l1']);
  assert.equal(runner.health().healthy, true);
  await runner.drain(Date.now() + 1000);
});

test('stopping while the dead-letter write fails leaves the rejected records unacknowledged (read again at the next start)', async () => {
  const sink: DeadLetterSink = { write: () => Promise.reject(new Error('EROFS: read-only file system')) };
  const { records, settled } = tracked(1);
  const exporter = new ScriptedExporter('es', [() => new PermanentError('refused')]);
  const runner = new ExporterRunner(exporter, silentLogger(), new SelfMetrics({ defaultMetrics: false }), { lingerMs: 5 }, { initialMs: 5, maxMs: 20 }, sink);
  runner.start();
  await new Router([runner]).emit(records);
  records[0]!.ack!.release();
  await waitFor(() => runner.health().healthy === false, { what: 'dead-letter failure seen' });
  await runner.drain(Date.now() + 100);
  assert.equal(settled.size, 0);
});

test('dead-letter file: NDJSON lines, mode 0600, rotated when full, the rotated-out lines counted', async () => {
  const dir = tempDir();
  try {
    const metrics = new SelfMetrics({ defaultMetrics: false });
    const file = deadLetterFile(dir, metrics, { maxFileBytes: 1000, maxFiles: 2 });
    const entry = (n: number) => ({ record: log(n) as AgentRecord, reason: 'poison: test' });
    for (let n = 0; n < 20; n++) await file.write('es', [entry(n)]);
    const names = readdirSync(dir).sort();
    assert.deepEqual(names, [deadLetterFileName('es', 1), deadLetterFileName('es')].sort());
    for (const name of names) {
      assert.equal(statSync(path.join(dir, name)).mode & 0o777, 0o600);
      assert.ok(statSync(path.join(dir, name)).size <= 1000, `${name} is bounded`);
    }
    const kept = [...readLines(path.join(dir, deadLetterFileName('es', 1))), ...readLines(path.join(dir, deadLetterFileName('es')))].map((l) => l.record.id);
    const discarded = await metricValue(metrics, 'dockhand_dead_letters_discarded_total', { component: 'es' });
    assert.ok(discarded > 0, 'rotation deleted some lines, and counted them');
    assert.equal(kept.length + discarded, 20, 'every line is either kept or counted as discarded');
    assert.equal(kept.at(-1), 'l19', 'the newest are kept');
    assert.equal(await metricValue(metrics, 'dockhand_dead_letters_total', { component: 'es', reason: 'poison' }), 20);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('dead-letter file: a record JSON cannot encode (deeply nested) is still written, with what could be kept', () => {
  let nested: Record<string, unknown> = {};
  for (let i = 0; i < 20_000; i++) nested = { a: nested };
  const record: LogRecord = { ...log(1), message: '{"a":{"a":...}}', json: nested };
  const line = JSON.parse(encodeDeadLetter('2024-01-01T00:00:00.000Z', 'file', { record, reason: 'cannot encode: Maximum call stack size exceeded' }));
  assert.equal(line.record.id, 'l1');
  assert.equal(line.record.message, '{"a":{"a":...}}', 'the original line is kept');
  assert.equal(line.record.json, undefined);
  assert.match(line.unencodable, /call stack/);
});

test('dead-letter files: an exporter with its own deadLetterDir gets it; the others share <data_dir>/dead-letters', async () => {
  const dir = tempDir();
  try {
    const files = new DeadLetterFiles(deadLetterEvents(new SelfMetrics({ defaultMetrics: false }), silentLogger()), path.join(dir, 'dead-letters'));
    const own = path.join(dir, 'records');
    assert.equal(files.for({ deadLetterDir: own }).dir, own);
    assert.equal(files.for({}).dir, path.join(dir, 'dead-letters'));
    assert.equal(files.for({}), files.for({ deadLetterDir: path.join(dir, 'dead-letters') }), 'one writer per directory');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
