/**
 * The agent's own per-line cost after the HTTP layer, without Docker: recorded-shape frames fed to
 * ContainerLog in chunks as one HTTP chunk per frame (as the daemon sends them) or in 64 KiB
 * chunks, into a sink that only counts; then the same frames through the whole pipeline (router,
 * exporter runner, lane) into the file exporter (NDJSON on disk, fdatasync per batch), in 64 KiB
 * chunks (finished logs) and in 4 KiB chunks (a live stream's small reads).
 * `node dist/bench/logs/parse.js [--runs 3] [--only collector|file] [--profile FILE]`
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { START } from '../../collectors/logs/checkpoints.js';
import { ContainerLog } from '../../collectors/logs/container-log.js';
import { LogsMetrics } from '../../collectors/logs/metrics.js';
import { FileExporter, fileConfigSchema } from '../../exporters/file/index.js';
import { ExporterRunner } from '../../src/pipeline/exporter-runner.js';
import { Router } from '../../src/pipeline/router.js';
import { formatRfc3339Nano, type LogRecord } from '../../src/records.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { SelfMetrics } from '../../src/telemetry/metrics.js';
import { startCpuProfile } from './cpu-profile.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' }, only: { type: 'string' }, profile: { type: 'string' } } });
const LINES = 1_000_000;
const T0 = 1_795_825_930_000_000_000n;

/** Every frame in one buffer (a million small Buffers held for the whole run would make old-space GC the figure) and where each ends. */
function frames(): { all: Buffer; ends: number[] } {
  const parts: Buffer[] = [];
  const ends: number[] = [];
  let length = 0;
  for (let i = 0; i < LINES; i++) {
    const payload = Buffer.from(`${formatRfc3339Nano(T0 + BigInt(i) * 7_000n)} GET /api/v1/items?page=1 200 12ms user-agent=bench request-id=${i}\n`);
    const header = Buffer.alloc(8);
    header[0] = i % 3 === 0 ? 2 : 1;
    header.writeUInt32BE(payload.length, 4);
    parts.push(header, payload);
    length += 8 + payload.length;
    ends.push(length);
  }
  return { all: Buffer.concat(parts), ends };
}

/** Views of `all` cut at `ends`, made as they are read. */
function* chunks(all: Buffer, ends: readonly number[]): Generator<Buffer> {
  let start = 0;
  for (const end of ends) {
    yield all.subarray(start, end);
    start = end;
  }
}

function fixedEnds(length: number, size: number): number[] {
  const ends: number[] = [];
  for (let at = size; at < length + size; at += size) ends.push(Math.min(at, length));
  return ends;
}

type Emit = (records: readonly LogRecord[]) => Promise<void>;

async function feed(chunks: Iterable<Buffer>, perChunkSeal: number, emit: Emit): Promise<void> {
  const metrics = new SelfMetrics({ defaultMetrics: false });
  const id = 'c'.repeat(64);
  const meta = { id, name: 'bench', image: 'bench', labels: {}, host: 'bench' };
  const log = new ContainerLog(id, START, {
    emit,
    meta: () => meta,
    logger: silentLogger(),
    metrics: new LogsMetrics(metrics, () => undefined, () => 0),
    onCommit: () => undefined,
  }, { maxLineBytes: 1 << 20, reorderWindowNs: 2_000_000_000n }, { multiline: undefined, json: false });
  log.startStream();
  let sinceSeal = 0;
  for (const chunk of chunks) {
    log.parse(chunk);
    if (++sinceSeal >= perChunkSeal) {
      sinceSeal = 0;
      log.seal();
      await log.emitted();
    }
  }
  log.seal();
  await log.emitted();
  await log.idle();
}

async function measure(label: string, work: () => Promise<void>): Promise<void> {
  const stopProfile = await startCpuProfile(values.profile !== undefined);
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  await work();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const used = process.cpuUsage(cpu);
  await stopProfile(`${values.profile}-${label.replace(/\W+/g, '_')}.cpuprofile`);
  console.log(`${label}: ${(LINES / seconds / 1000).toFixed(0)}k lines/s, cpu ${((used.user + used.system) / 1e6).toFixed(2)} s per million lines`);
}

async function intoCounter(label: string, chunks: Iterable<Buffer>, perChunkSeal: number): Promise<void> {
  let count = 0;
  await measure(label, () => feed(chunks, perChunkSeal, async (records) => { count += records.length; }));
  if (count !== LINES) throw new Error(`count ${count}`);
}

/** Collector → router → runner → lane → file exporter (sync: true), acknowledged. */
async function intoFile(label: string, chunks: Iterable<Buffer>): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dh-bench-parse-'));
  try {
    const logger = silentLogger();
    const metrics = new SelfMetrics({ defaultMetrics: false });
    const exporter = new FileExporter(fileConfigSchema.parse({ max_bytes: 1 << 30 }), { dataDir: dir, logger, metrics });
    await exporter.start();
    const runner = new ExporterRunner(exporter, logger, metrics, exporter.batching);
    await runner.start();
    const router = new Router([runner]);
    await measure(label, () => feed(chunks, 1, (records) => router.emit(records)));
    await runner.drain(Date.now() + 10_000);
    await exporter.stop();
    const written = (exporter.status() as { written: number }).written;
    if (written !== LINES) throw new Error(`written ${written}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const { all, ends } = frames();
const ends64k = fixedEnds(all.length, 65536);
const ends4k = fixedEnds(all.length, 4096);
for (let r = 0; r < Number(values.runs); r++) {
  if (values.only !== 'file') {
    await intoCounter('one frame per chunk, batch of ~600', chunks(all, ends), 600);
    await intoCounter('64 KiB chunks', chunks(all, ends64k), 1);
  }
  if (values.only !== 'collector') {
    await intoFile('→ file, 64 KiB chunks', chunks(all, ends64k));
    await intoFile('→ file, 4 KiB chunks', chunks(all, ends4k));
  }
}
