/**
 * Log collector throughput: N containers (1 and 10) each write M short lines and exit; then the
 * daemon's ceiling is measured with `docker logs` reading them all (in parallel), and the agent's
 * log collector reads the same logs end to end (Docker API → demux → records → router → queue →
 * an exporter that counts). Reports lines/s, MB/s, the ratio to the ceiling, CPU seconds per
 * million lines and peak RSS.
 *
 *   node dist/bench/logs/run.js [--lines 1000000] [--containers 1,10] [--runs 1]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { LogsCollector, logsConfigSchema } from '../../collectors/logs/index.js';
import type { CollectorContext, Exporter, Health } from '../../src/component.js';
import { DockerConnection } from '../../src/docker/connection.js';
import { resolveEndpoint } from '../../src/docker/endpoint.js';
import { Inventory } from '../../src/docker/inventory.js';
import { ExporterRunner } from '../../src/pipeline/exporter-runner.js';
import { Router } from '../../src/pipeline/router.js';
import type { AgentRecord, RecordKind } from '../../src/records.js';
import { StateStore } from '../../src/state/store.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { SelfMetrics } from '../../src/telemetry/metrics.js';
import { TestContainers, docker, waitExit } from '../../test/helpers/containers.js';
import { startCpuProfile } from './cpu-profile.js';

const { values } = parseArgs({ options: { lines: { type: 'string', default: '1000000' }, containers: { type: 'string', default: '1,10' }, runs: { type: 'string', default: '1' }, profile: { type: 'string' } } });
const TOTAL_LINES = Number(values.lines);
const SHAPES = values.containers!.split(',').map(Number);
const RUNS = Number(values.runs);

class CountingExporter implements Exporter {
  readonly id = 'count';
  readonly accepts: ReadonlySet<RecordKind> = new Set<RecordKind>(['log']);
  count = 0;
  bytes = 0;
  private waiters: { target: number; resolve: () => void }[] = [];
  async start(): Promise<void> {}
  async export(batch: readonly AgentRecord[]): Promise<void> {
    for (const r of batch) if (r.kind === 'log') this.bytes += r.message.length + 1;
    this.count += batch.length;
    this.waiters = this.waiters.filter((w) => (this.count >= w.target ? (w.resolve(), false) : true));
  }
  reached(target: number): Promise<void> {
    return this.count >= target ? Promise.resolve() : new Promise((resolve) => this.waiters.push({ target, resolve }));
  }
  async flush(): Promise<void> {}
  async stop(): Promise<void> {}
  health(): Health { return { healthy: true }; }
}

/** `docker logs` of every container at once, output discarded: the daemon's own ceiling. */
async function dockerLogsSeconds(ids: readonly string[]): Promise<number> {
  const start = process.hrtime.bigint();
  await Promise.all(ids.map((id) => new Promise<void>((resolve, reject) => {
    const child = spawn('docker', ['logs', '--timestamps', id], { stdio: ['ignore', 'ignore', 'ignore'] });
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`docker logs exited ${code}`))));
  })));
  return Number(process.hrtime.bigint() - start) / 1e9;
}

async function agentRun(ids: readonly string[], expected: number): Promise<{ seconds: number; cpuSeconds: number; peakRss: number; bytes: number }> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'dh-bench-logs-'));
  const logger = silentLogger();
  const metrics = new SelfMetrics({ defaultMetrics: false });
  const connection = new DockerConnection(resolveEndpoint({}), { reconnectInitialMs: 200, reconnectMaxMs: 2000, requestTimeoutMs: 30_000 }, logger, metrics);
  connection.start();
  await connection.waitUntilUp();
  const inventory = new Inventory([], logger);
  for (const id of ids) await inventory.refresh(connection.docker, id);
  const state = new StateStore(path.join(dataDir, 'state'));
  await state.init();
  const sink = new CountingExporter();
  const runner = new ExporterRunner(sink, logger, metrics, {});
  runner.start();
  const router = new Router([runner]);
  const stop = new AbortController();
  const include = { labels: [`dockhand.bench=${ids.length}`] };
  const collector = new LogsCollector(logsConfigSchema.parse({ history: 'all', include }), {});
  const ctx: CollectorContext = { signal: stop.signal, emit: (r) => router.emit(r), docker: connection, inventory, logger, metrics, state };
  let peakRss = process.memoryUsage.rss();
  const sampler = setInterval(() => { peakRss = Math.max(peakRss, process.memoryUsage.rss()); }, 50);
  const stopProfile = await startCpuProfile(values.profile !== undefined);
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  const running = collector.run(ctx);
  await sink.reached(expected);
  await stopProfile(`${values.profile}-${ids.length}.cpuprofile`);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const used = process.cpuUsage(cpu);
  clearInterval(sampler);
  stop.abort();
  await running;
  await runner.drain(Date.now() + 5000);
  await connection.stop();
  rmSync(dataDir, { recursive: true, force: true });
  if (sink.count !== expected) throw new Error(`counted ${sink.count}, expected ${expected}`);
  return { seconds, cpuSeconds: (used.user + used.system) / 1e6, peakRss, bytes: sink.bytes };
}

const containers = new TestContainers();
try {
  for (const n of SHAPES) {
    const perContainer = Math.floor(TOTAL_LINES / n);
    const expected = perContainer * n;
    // Short lines (~100 bytes, like a typical access log line).
    const script = `seq 1 ${perContainer} | sed "s/^/GET \\/api\\/v1\\/items?page=1 200 12ms user-agent=bench request-id=/"`;
    const ids = await Promise.all(Array.from({ length: n }, () => containers.start(['sh', '-c', script], { labels: { 'dockhand.bench': String(n) } })));
    for (const id of ids) await waitExit(id);
    for (let run = 0; run < RUNS; run++) {
      const daemon = await dockerLogsSeconds(ids);
      const agent = await agentRun(ids, expected);
      const ceiling = expected / daemon;
      const rate = expected / agent.seconds;
      console.log(JSON.stringify({
        containers: n,
        lines: expected,
        docker_logs_lines_per_s: Math.round(ceiling),
        agent_lines_per_s: Math.round(rate),
        agent_mb_per_s: +(agent.bytes / 1e6 / agent.seconds).toFixed(1),
        ratio: +(rate / ceiling).toFixed(2),
        agent_cpu_s_per_million_lines: +(agent.cpuSeconds / (expected / 1e6)).toFixed(2),
        agent_peak_rss_mib: Math.round(agent.peakRss / 1048576),
      }));
    }
    await docker('rm', '-f', ...ids);
  }
} finally {
  await containers.removeAll();
}
