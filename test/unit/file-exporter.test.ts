import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, appendFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FileExporter, TEST_WRITE_DELAY_ENV, fileConfigSchema, fileExporterFactory, type FileExporterTestHooks } from '../../exporters/file/index.js';
import { listRecordFiles } from '../../exporters/file/record-files.js';
import { ReplayFilter, parseLogId, readIdAndKind } from '../../exporters/file/replay-filter.js';
import { Ack } from '../../src/pipeline/ack.js';
import { PartialExportError } from '../../src/errors.js';
import { ExporterRunner } from '../../src/pipeline/exporter-runner.js';
import { Router } from '../../src/pipeline/router.js';
import type { AgentRecord, ContainerMeta, EventRecord, LogRecord } from '../../src/records.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { SelfMetrics } from '../../src/telemetry/metrics.js';

const container: ContainerMeta = { id: 'c'.repeat(64), name: 'web', image: 'nginx:1', labels: { 'com.docker.compose.service': 'web' }, host: 'h1' };
const BASE = 1_795_825_930_000_000_000n;

function log(i: number, stream: 'stdout' | 'stderr' = 'stdout', ack?: Ack): LogRecord {
  const time = BASE + BigInt(i) * 1000n;
  return { kind: 'log', id: `${container.id}:${stream}:${time}:0`, time, stream, message: `line ${i} ü "quoted"`, container, ...(ack ? { ack } : {}) };
}

function event(i: number): EventRecord {
  return { kind: 'event', id: `ev-${i}`, time: BASE + BigInt(i), type: 'container', action: 'start', actor: { id: container.id, attributes: { name: 'web' } }, container };
}

function tempDir(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'dh-file-'));
}

function exporter(dataDir: string, overrides: Record<string, unknown> = {}, testHooks: FileExporterTestHooks = {}): FileExporter {
  return new FileExporter(fileConfigSchema.parse(overrides), { dataDir, logger: silentLogger(), metrics: new SelfMetrics({ defaultMetrics: false }) }, testHooks);
}

function readAll(dir: string): Record<string, any>[] {
  return readdirSync(dir).filter((n) => n.endsWith('.ndjson')).sort()
    .flatMap((n) => readFileSync(path.join(dir, n), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)));
}

test('config defaults: enabled unless Elasticsearch is, 100 MiB files, 10 kept, logs and events, fsync', () => {
  const config = fileConfigSchema.parse({});
  assert.equal(config.enabled, undefined, 'unset: decided by whether Elasticsearch is enabled');
  assert.equal(config.max_bytes, 100 * 1024 * 1024);
  assert.equal(config.max_files, 10);
  assert.deepEqual(config.kinds, ['log', 'event']);
  assert.equal(config.sync, true);
  assert.throws(() => fileConfigSchema.parse({ max_file: 3 }));
  assert.throws(() => fileConfigSchema.parse({ kinds: ['logs'] }));
});

test('writes one JSON object per line with id first, RFC 3339 nanosecond @timestamp and time_ns', async () => {
  const dataDir = tempDir();
  try {
    const file = exporter(dataDir);
    await file.start();
    const record: LogRecord = { ...log(1), time: 1_795_825_930_000_000_007n, id: 'x:stdout:1795825930000000007:0', truncated: true, json: { level: 'info', n: 3 } };
    await file.export([record, event(2)]);
    await file.stop();
    const text = readFileSync(path.join(dataDir, 'records', 'records-000001.ndjson'), 'utf8');
    const lines = text.split('\n');
    assert.equal(lines.length, 3);
    assert.equal(lines[2], '');
    const [first, second] = lines.map((l) => (l ? JSON.parse(l) : undefined));
    assert.deepEqual(Object.keys(first).slice(0, 2), ['id', 'kind']);
    assert.equal(first['@timestamp'], '2026-11-28T00:32:10.000000007Z');
    assert.equal(first.time_ns, '1795825930000000007');
    assert.equal(first.message, 'line 1 ü "quoted"');
    assert.equal(first.stream, 'stdout');
    assert.equal(first.truncated, true);
    assert.deepEqual(first.json, { level: 'info', n: 3 });
    assert.deepEqual(first.container, { id: container.id, name: 'web', image: 'nginx:1', labels: { 'com.docker.compose.service': 'web' }, host: 'h1' });
    assert.equal(first.ack, undefined);
    assert.equal(second.kind, 'event');
    assert.equal(second.id, 'ev-2');
    assert.equal(second.action, 'start');
    assert.equal(second.time_ns, (BASE + 2n).toString());
    assert.deepEqual(readIdAndKind(lines[0]!), { id: 'x:stdout:1795825930000000007:0', kind: 'log' });
    assert.equal(statSync(path.join(dataDir, 'records', 'records-000001.ndjson')).mode & 0o777, 0o600);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('acknowledges a batch only once it is in the file', async () => {
  const dataDir = tempDir();
  try {
    const file = exporter(dataDir, {}, { writeDelayMs: 30 });
    await file.start();
    const runner = new ExporterRunner(file, silentLogger(), new SelfMetrics({ defaultMetrics: false }), { lingerMs: 5, maxRecords: 100 });
    runner.start();
    const router = new Router([runner]);
    const settledWith: number[] = [];
    let settled!: () => void;
    const allSettled = new Promise<void>((resolve) => { settled = resolve; });
    let pending = 5;
    for (let b = 0; b < 5; b++) {
      const ack = new Ack(() => {
        // At the moment the ack settles, this batch must already be readable from the file.
        const ids = new Set(readAll(file.dir).map((r) => r.id));
        settledWith.push([...Array(100).keys()].every((i) => ids.has(log(b * 100 + i).id)) ? b : -1);
        if (--pending === 0) settled();
      });
      const batch = [...Array(100).keys()].map((i) => log(b * 100 + i, 'stdout', ack));
      await router.emit(batch);
      assert.equal(ack.isSettled, false, 'not settled while the exporter still waits');
      ack.release();
    }
    await allSettled;
    assert.deepEqual(settledWith.sort(), [0, 1, 2, 3, 4]);
    await runner.drain(Date.now() + 5000);
    await file.stop();
    assert.equal(readAll(file.dir).length, 500);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('rotates by size, keeps max_files, and the kept files hold the newest records in order', async () => {
  const dataDir = tempDir();
  try {
    const file = exporter(dataDir, { max_bytes: 8192, max_files: 3 });
    await file.start();
    for (let b = 0; b < 40; b++) await file.export([...Array(10).keys()].map((i) => log(b * 10 + i)));
    await file.stop();
    const files = await listRecordFiles(file.dir);
    assert.equal(files.length, 3);
    assert.ok(files[0]!.sequence > 1, 'old files were deleted');
    for (const f of files) assert.ok(statSync(f.file).size <= 8192, `${f.file} is ${statSync(f.file).size} bytes`);
    const numbers = readAll(file.dir).map((r) => Number(/line (\d+)/.exec(r.message)![1]));
    assert.equal(numbers.at(-1), 399);
    numbers.forEach((n, i) => { if (i > 0) assert.equal(n, numbers[i - 1]! + 1); });
    // A restarted exporter appends to the newest file, not to a new one.
    const again = exporter(dataDir, { max_bytes: 8192, max_files: 3 });
    await again.start();
    await again.export([log(400)]);
    await again.stop();
    assert.equal((await listRecordFiles(file.dir)).at(-1)!.sequence, files.at(-1)!.sequence);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('after a restart, records already in the file are skipped once and new ones are written', async () => {
  const dataDir = tempDir();
  try {
    const first = exporter(dataDir);
    await first.start();
    await first.export([...Array(100).keys()].map((i) => log(i, i % 2 ? 'stderr' : 'stdout')));
    await first.export([event(1), event(2)]);
    // Crash: no stop(). The collector resumes from an older checkpoint and sends 40..149 again.
    const second = exporter(dataDir);
    await second.start();
    await second.export([...Array(110).keys()].map((i) => log(40 + i, i % 2 ? 'stderr' : 'stdout')));
    await second.export([event(2), event(3)]);
    await second.stop();
    await first.stop();
    const records = readAll(second.dir);
    const ids = records.map((r) => r.id);
    assert.equal(new Set(ids).size, ids.length, 'no id twice');
    assert.equal(records.filter((r) => r.kind === 'log').length, 150);
    assert.deepEqual(records.filter((r) => r.kind === 'event').map((r) => r.id), ['ev-1', 'ev-2', 'ev-3']);
    assert.equal(second.status().replays_skipped, 61);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('once a stream moved past its replay, an older-looking id is written (clock stepped back)', async () => {
  const dataDir = tempDir();
  try {
    const first = exporter(dataDir);
    await first.start();
    await first.export([log(10)]);
    const second = exporter(dataDir);
    await second.start();
    await second.export([log(10), log(11), log(5)]);
    await second.stop();
    await first.stop();
    assert.deepEqual(readAll(second.dir).map((r) => r.message.split(' ')[1]), ['10', '11', '5']);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a torn last line left by a crash is cut off at start and its record written again whole', async () => {
  const dataDir = tempDir();
  try {
    const first = exporter(dataDir);
    await first.start();
    await first.export([log(1), log(2)]);
    const current = path.join(first.dir, 'records-000001.ndjson');
    appendFileSync(current, '{"id":"half a li');
    const second = exporter(dataDir);
    await second.start();
    await second.export([log(2), log(3)]);
    await second.stop();
    await first.stop();
    const lines = readFileSync(current, 'utf8').split('\n').filter(Boolean);
    assert.deepEqual(lines.map((l) => JSON.parse(l).message.split(' ')[1]), ['1', '2', '3']);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('the replay scan window is bounded: records beyond it are not remembered', async () => {
  const dataDir = tempDir();
  try {
    const first = exporter(dataDir, { max_bytes: 4096, max_files: 100 });
    await first.start();
    for (let i = 0; i < 200; i++) await first.export([{ ...log(i), id: `s${i}:stdout:${BASE + BigInt(i)}:0` }]);
    const second = exporter(dataDir, { max_bytes: 4096, max_files: 100, replay_window_bytes: 8192 });
    await second.start();
    const status = second.status() as { replay_scan: { bytes: number; records: number } };
    assert.ok(status.replay_scan.bytes <= 8192);
    assert.ok(status.replay_scan.records > 10 && status.replay_scan.records < 60, `scanned ${status.replay_scan.records}`);
    await second.stop();
    await first.stop();
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('parseLogId splits <container>:<stream>:<ns>:<index> and refuses other shapes', () => {
  assert.deepEqual(parseLogId('abc:stderr:1795825930000000007:12'), { stream: 'abc:stderr', ns: 1795825930000000007n, index: 12 });
  assert.equal(parseLogId('ev-1'), undefined);
  assert.equal(parseLogId('a:b:c'), undefined);
});

test('replay filter: a stream the scan never saw is never a replay, beside one it saw; odd log ids fall back to the id set', () => {
  const filter = new ReplayFilter();
  filter.noteWritten('log', 'gone:stdout:100:0'); // a container removed since: its stream never comes again
  filter.noteWritten('log', 'kept:stderr:200:1');
  filter.noteWritten('log', 'odd-log-id');
  assert.equal(filter.isReplay('log', 'new:stdout:50:0'), false, 'unknown stream, even at an older time');
  assert.equal(filter.isReplay('log', 'kept:stdout:150:0'), false, 'same container, other stream');
  assert.equal(filter.isReplay('log', 'kept:stderr:200:1'), true);
  assert.equal(filter.isReplay('log', 'kept:stderr:200:0'), true);
  assert.equal(filter.isReplay('log', 'odd-log-id'), true);
  assert.equal(filter.isReplay('log', 'kept:stderr:200:2'), false, 'past the high-water mark');
  assert.equal(filter.isReplay('log', 'kept:stderr:150:0'), false, 'the replay of that stream is over');
  assert.deepEqual(filter.size, { streams: 1, ids: 1 });
});

/** A log line whose parsed JSON nests `depth` objects deep: JSON.stringify overflows the stack on it. */
function hostile(i: number, depth = 6_000): LogRecord {
  let json: Record<string, unknown> = { leaf: true };
  for (let d = 0; d < depth; d++) json = { a: json };
  return { ...log(i), message: `nested ${depth}`, json };
}

test('a record that cannot be encoded is rejected alone, with the reason; the rest of the batch is written (issue 9: one hostile line wedged the sink)', async () => {
  const dataDir = tempDir();
  try {
    const file = exporter(dataDir);
    await file.start();
    const bad = hostile(2);
    const error = await file.export([log(1), bad, log(3), event(4)]).then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof PartialExportError, `a partial result, not ${String(error)}`);
    assert.deepEqual(error.retry, [], 'nothing to send again');
    assert.equal(error.rejected.length, 1);
    assert.equal(error.rejected[0]!.record, bad);
    assert.match(error.rejected[0]!.reason, /^unencodable_record: cannot be encoded as JSON \(RangeError: Maximum call stack size exceeded\)$/);
    assert.deepEqual(readAll(file.dir).map((r) => r.id), [log(1).id, log(3).id, 'ev-4']);
    assert.equal(file.status().rejected, 1);
    assert.equal(file.deadLetterDir, file.dir, 'the file sink keeps its dead letters beside its records');
    // The next batch goes through as usual: nothing is stuck.
    await file.export([log(5)]);
    assert.equal(readAll(file.dir).length, 4);
    assert.deepEqual(file.health(), { healthy: true });
    await file.stop();
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('export() called at once for several record kinds: appends take turns, every record once and whole, across rotations', async () => {
  const dataDir = tempDir();
  try {
    const file = exporter(dataDir, { max_bytes: 64 * 1024, max_files: 1000, kinds: ['log', 'event'] });
    await file.start();
    // Batches smaller than max_bytes: a batch is appended whole, so a larger one would overshoot by itself.
    const rounds = 40;
    const size = 50;
    for (let r = 0; r < rounds; r++) {
      const logs = Array.from({ length: size }, (_, i) => ({ ...log(r * size + i), message: `line ${r * size + i} ${'x'.repeat(100)}` }));
      const events = Array.from({ length: size }, (_, i) => event(r * size + i));
      await Promise.all([file.export(logs), file.export(events)]);
    }
    await file.stop();
    const ids = readAll(file.dir).map((r) => r.id);
    assert.equal(ids.length, 2 * rounds * size);
    assert.equal(new Set(ids).size, ids.length, 'no record twice');
    const lines = readAll(file.dir).filter((r) => r.kind === 'log').map((r) => Number(/line (\d+)/.exec(r.message)![1]));
    lines.forEach((n, i) => assert.equal(n, i, 'log lines in order'));
    for (const f of await listRecordFiles(file.dir)) assert.ok(statSync(f.file).size <= 64 * 1024, `${f.file} within max_bytes`);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('the byte writer writes every record exactly as the string serializer does (escapes, non-ASCII, lone surrogates, odd times, seconds going back)', async () => {
  const { NdjsonSerializer, NdjsonWriter } = await import('../../exporters/file/ndjson.js');
  const other: ContainerMeta = { id: 'd'.repeat(64), name: 'db "main"', image: 'pg:16', labels: {}, host: 'h\u00e9' };
  const messages = ['plain ascii', '', 'tab\there', 'new\nline', 'quote " and \\ backslash', 'ctrl \u0001\u001f', 'del \u007f', 'ü é ñ', 'emoji 😀', 'lone \ud800 high', 'lone \udc00 low', 'sep \u2028\u2029', '\ufffd replaced', 'x'.repeat(5000)];
  const times = [BASE, BASE + 999_999_999n, BASE + 1_000_000_000n, BASE - 1n, BASE + 7n, 0n, 5n, 999_999_999n, 1_000_000_000n, -1_500_000_000n, 253_402_300_799_999_999_999n];
  const records: AgentRecord[] = [];
  let i = 0;
  for (const time of times) {
    for (const message of messages) {
      const stream = i % 2 === 0 ? 'stdout' : 'stderr';
      const record: LogRecord = { kind: 'log', id: `${container.id}:${stream}:${time}:${i}`, time, stream, message, container: i % 3 === 0 ? other : container };
      records.push(i % 5 === 0 ? { ...record, truncated: true } : i % 7 === 0 ? { ...record, json: { level: 'info', big: 12n, nested: { s: message } } } : record);
      i++;
    }
  }
  records.push({ ...log(1), id: 'odd "id"\n\u00e9\ud800' }, event(3));
  const serializer = new NdjsonSerializer();
  const writer = new NdjsonWriter();
  for (const record of records) writer.line(record);
  const expected = records.map((r) => `${serializer.serialize(r)}\n`).join('');
  assert.equal(writer.written().toString('utf8'), expected);
  assert.ok(writer.written().equals(Buffer.from(expected)), 'the same bytes');
});

test('the byte writer keeps a buffer grown for a large batch through a burst\'s smaller ones, and lets it go after 32 small batches in a row', async () => {
  const { NdjsonWriter } = await import('../../exporters/file/ndjson.js');
  const minBytes = 64 * 1024;
  const writer = new NdjsonWriter(Buffer.allocUnsafe(minBytes));
  const batch = (lines: number) => {
    for (let i = 0; i < lines; i++) writer.line({ ...log(i), message: 'x'.repeat(1000) });
    const size = writer.size;
    writer.reset(size, minBytes);
    return size;
  };
  batch(2000); // ~2.3 MB
  const grown = writer.capacity;
  assert.ok(grown >= 2_000_000, `grown to ${grown}`);
  for (let round = 0; round < 31; round++) batch(5);
  assert.equal(writer.capacity, grown, 'kept through 31 small batches');
  batch(2000);
  for (let round = 0; round < 31; round++) batch(5);
  assert.equal(writer.capacity, grown, 'a large batch between starts the count again');
  const small = batch(5);
  assert.equal(writer.capacity, Math.max(minBytes, 2 * small), 'the 32nd small batch in a row lets it go');
});

test('the byte writer appends nothing for a record it cannot encode, and goes on after it', async () => {
  const { NdjsonWriter } = await import('../../exporters/file/ndjson.js');
  let deep: Record<string, unknown> = {};
  for (let d = 0; d < 100_000; d++) deep = { d: deep };
  const writer = new NdjsonWriter();
  writer.line(log(1));
  const before = writer.size;
  assert.throws(() => writer.line({ ...log(2), json: deep }));
  assert.equal(writer.size, before);
  writer.line(log(3));
  assert.deepEqual(writer.written().toString().split('\n').filter(Boolean).map((l) => JSON.parse(l).message), ['line 1 ü "quoted"', 'line 3 ü "quoted"']);
});

test('with sync on, a batch is acknowledged only after its fdatasync returned; a failed write leaves nothing behind for the next batch', async () => {
  const dataDir = tempDir();
  const { open } = await import('node:fs/promises');
  const probe = await open(path.join(dataDir, 'probe'), 'w');
  const handleProto = Object.getPrototypeOf(probe) as { datasync(): Promise<void> };
  await probe.close();
  const realDatasync = handleProto.datasync;
  let synced = 0;
  handleProto.datasync = async function datasync(this: unknown) {
    await realDatasync.call(this);
    synced++;
  };
  try {
    const file = exporter(dataDir);
    await file.start();
    const before = synced;
    await file.export([log(1), log(2)]);
    assert.equal(synced, before + 1, 'export() resolved after one fdatasync of the batch');
    // A write that fails: its lines must not leak into the next batch's write.
    const files = (file as unknown as { files: { append(data: Buffer, sync: boolean): Promise<void> } }).files;
    const realAppend = files.append;
    files.append = async () => { throw new Error('disk full'); };
    await assert.rejects(file.export([log(3)]), /disk full/);
    files.append = realAppend;
    await file.export([log(4)]);
    await file.stop();
    assert.deepEqual(readAll(file.dir).map((r) => r.message), [log(1).message, log(2).message, log(4).message]);
  } finally {
    handleProto.datasync = realDatasync;
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('the slow-sink test hook reaches the exporter only through DOCKHAND_TEST_FILE_WRITE_DELAY_MS, not the config', async () => {
  const dataDir = tempDir();
  const ctx = { dataDir, logger: silentLogger(), metrics: new SelfMetrics({ defaultMetrics: false }) } as unknown as Parameters<typeof fileExporterFactory.create>[1];
  const timedExport = async () => {
    const file = fileExporterFactory.create(fileConfigSchema.parse({}), ctx) as FileExporter;
    await file.start();
    const started = performance.now();
    await file.export([event(1)]);
    const took = performance.now() - started;
    await file.stop();
    return took;
  };
  try {
    assert.equal('test_write_delay_ms' in fileConfigSchema.shape, false, 'not a config key');
    process.env[TEST_WRITE_DELAY_ENV] = '300';
    assert.ok(await timedExport() >= 290, 'the variable slows each batch');
    delete process.env[TEST_WRITE_DELAY_ENV];
    assert.ok(await timedExport() < 290, 'without it, no delay');
  } finally {
    delete process.env[TEST_WRITE_DELAY_ENV];
    rmSync(dataDir, { recursive: true, force: true });
  }
});
