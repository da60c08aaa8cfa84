/**
 * The collector's own per-line cost, without Docker or HTTP: recorded-shape frames fed to
 * ContainerLog in chunks as one HTTP chunk per frame (as the daemon sends them) or in 64 KiB
 * chunks. `node dist/bench/logs/parse.js`
 */
import { START } from '../../collectors/logs/checkpoints.js';
import { ContainerLog } from '../../collectors/logs/container-log.js';
import { LogsMetrics } from '../../collectors/logs/metrics.js';
import { formatRfc3339Nano } from '../../src/records.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { SelfMetrics } from '../../src/telemetry/metrics.js';

const LINES = 1_000_000;
const T0 = 1_795_825_930_000_000_000n;

function frames(): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < LINES; i++) {
    const payload = Buffer.from(`${formatRfc3339Nano(T0 + BigInt(i) * 7_000n)} GET /api/v1/items?page=1 200 12ms user-agent=bench request-id=${i}\n`);
    const header = Buffer.alloc(8);
    header[0] = i % 3 === 0 ? 2 : 1;
    header.writeUInt32BE(payload.length, 4);
    out.push(header, payload);
  }
  return out;
}

async function run(label: string, chunks: Buffer[], perChunkSeal: number): Promise<void> {
  const metrics = new SelfMetrics({ defaultMetrics: false });
  let count = 0;
  const id = 'c'.repeat(64);
  const log = new ContainerLog(id, START, {
    emit: async (records) => { count += records.length; },
    meta: () => ({ id, name: 'bench', image: 'bench', labels: {}, host: 'bench' }),
    logger: silentLogger(),
    metrics: new LogsMetrics(metrics, () => undefined, () => 0),
    onCommit: () => undefined,
  }, { maxLineBytes: 1 << 20, reorderWindowNs: 2_000_000_000n }, { multiline: undefined, json: false });
  log.startStream();
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
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
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const used = process.cpuUsage(cpu);
  if (count !== LINES) throw new Error(`count ${count}`);
  console.log(`${label}: ${(LINES / seconds / 1000).toFixed(0)}k lines/s, cpu ${((used.user + used.system) / 1e6).toFixed(2)} s per million lines`);
}

const all = frames();
const perFrame: Buffer[] = [];
for (let i = 0; i < all.length; i += 2) perFrame.push(Buffer.concat([all[i]!, all[i + 1]!]));
const big = Buffer.concat(all);
const chunks64k: Buffer[] = [];
for (let i = 0; i < big.length; i += 65536) chunks64k.push(big.subarray(i, i + 65536));
for (let r = 0; r < 3; r++) {
  await run('one frame per chunk, batch of ~600', perFrame, 600);
  await run('64 KiB chunks', chunks64k, 1);
}
