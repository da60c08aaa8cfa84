/** Measures the file exporter's write cost per batch with and without fdatasync: `node dist/bench/logs/file-sync.js`. */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FileExporter, fileConfigSchema } from '../../exporters/file/index.js';
import type { ContainerMeta, LogRecord } from '../../src/records.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { SelfMetrics } from '../../src/telemetry/metrics.js';

const container: ContainerMeta = { id: 'c'.repeat(64), name: 'bench', image: 'busybox', labels: {}, host: 'h' };
const BASE = 1_795_825_930_000_000_000n;

async function run(sync: boolean, batchSize: number, batches: number): Promise<void> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'dh-bench-file-'));
  const file = new FileExporter(fileConfigSchema.parse({ sync, max_bytes: 1024 * 1024 * 1024 }), { dataDir, logger: silentLogger(), metrics: new SelfMetrics({ defaultMetrics: false }) });
  await file.start();
  const records: LogRecord[][] = [];
  let n = 0;
  for (let b = 0; b < batches; b++) {
    const batch: LogRecord[] = [];
    for (let i = 0; i < batchSize; i++, n++) {
      const time = BASE + BigInt(n) * 1000n;
      batch.push({ kind: 'log', id: `${container.id}:stdout:${time}:0`, time, stream: 'stdout', message: `2026-11-28 00:00:00 INFO request ${n} handled in 12ms path=/api/v1/items`, container });
    }
    records.push(batch);
  }
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  for (const batch of records) await file.export(batch);
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  const cpuMs = (process.cpuUsage(cpu).user + process.cpuUsage(cpu).system) / 1000;
  const bytes = (file.status().written_bytes as number);
  await file.stop();
  rmSync(dataDir, { recursive: true, force: true });
  console.log(`sync=${sync} batch=${batchSize}: ${(n / (ms / 1000)).toFixed(0)} records/s, ${(bytes / 1e6 / (ms / 1000)).toFixed(1)} MB/s, ${(ms / batches).toFixed(2)} ms/batch, cpu ${(cpuMs / batches).toFixed(2)} ms/batch`);
}

for (const batch of [100, 1000, 5000]) {
  await run(false, batch, Math.ceil(200_000 / batch));
  await run(true, batch, Math.ceil(200_000 / batch));
}
