/**
 * What one round of container stats costs, by source, next to `docker stats --no-stream` over the
 * same idle containers in the same run: `node dist/bench/stats/stats-round.js [counts…]` (default 20 100).
 *
 * For each count: wall time of one full round (median of several) from the cgroup files, from the
 * API one-shot (the agent's default concurrency, and 32), and of `docker stats --no-stream`; CPU
 * time per container per interval of this process and of dockerd (the host pays both), including the
 * API stream mode over a 10 s window; and, at the largest count, the Prometheus exporter's /metrics
 * render time (p50/p99 over 1,000 renders, in process) and GET /metrics of a running agent.
 * Containers carry dockhand.test=1 and are removed at the end. Not a test: it prints figures.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { ApiStatsSource, forEachLimited } from '../../collectors/stats/api-stats.js';
import { CgroupSource } from '../../collectors/stats/cgroup-source.js';
import { detectCgroupLayout } from '../../collectors/stats/cgroup-paths.js';
import { DockerConnection } from '../../src/docker/connection.js';
import { resolveEndpoint } from '../../src/docker/endpoint.js';
import { Inventory, type ContainerState } from '../../src/docker/inventory.js';
import { nowNanos, type MetricRecord } from '../../src/records.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { SelfMetrics } from '../../src/telemetry/metrics.js';
import { PrometheusExporter } from '../../exporters/prometheus/index.js';
import { ExpositionRegistry } from '../../exporters/prometheus/computed-metric.js';
import { CONTAINER_METRIC_NAMES } from '../../exporters/prometheus/container-metrics.js';
import { ENGINE_METRIC_NAMES } from '../../exporters/prometheus/engine-metrics.js';
import { AgentProcess } from '../../test/helpers/agent-process.js';

const exec = promisify(execFile);
const IMAGE = process.env.DOCKHAND_TEST_IMAGE ?? 'dockhand-test/busybox:latest';
const RUN = `bench-stats-${process.pid}`;
const counts = process.argv.slice(2).map(Number).filter((n) => n > 0);
const COUNTS = counts.length > 0 ? counts : [20, 100];
const INTERVAL_S = 10;

const docker = async (...args: string[]) => (await exec('docker', args, { maxBuffer: 64 * 1024 * 1024 })).stdout.trim();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const ms = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 1 ? n.toFixed(2) : n.toFixed(3));

/** CPU seconds (user+system) of a process from /proc/<pid>/stat. */
function processCpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in USER_HZ
}
const selfCpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const dockerdPid = Number(readFileSync('/var/run/docker.pid', 'utf8').trim());

/** Runs `fn` and returns wall ms, this process's CPU s and dockerd's CPU s. */
async function measure<T>(fn: () => Promise<T>): Promise<{ wallMs: number; selfCpu: number; daemonCpu: number; result: T }> {
  const self0 = selfCpuSeconds();
  const daemon0 = processCpuSeconds(dockerdPid);
  const t0 = performance.now();
  const result = await fn();
  return { wallMs: performance.now() - t0, selfCpu: selfCpuSeconds() - self0, daemonCpu: processCpuSeconds(dockerdPid) - daemon0, result };
}

async function startContainers(n: number, already: number): Promise<void> {
  await forEachLimited(Array.from({ length: n - already }, (_, i) => already + i), 8, async (i) => {
    await docker('run', '-d', '--label', 'dockhand.test=1', '--label', `dockhand.bench=${RUN}`, '--name', `dh-bench-${RUN}-${i}`, IMAGE, 'sleep', '3600');
  });
}

async function removeContainers(): Promise<void> {
  const ids = (await docker('ps', '-aq', '--filter', `label=dockhand.bench=${RUN}`)).split('\n').filter(Boolean);
  for (let i = 0; i < ids.length; i += 50) await docker('rm', '-f', ...ids.slice(i, i + 50)).catch(() => undefined);
}

async function main(): Promise<void> {
  const connection = new DockerConnection(resolveEndpoint({}), { reconnectInitialMs: 100, reconnectMaxMs: 1000, requestTimeoutMs: 30_000 }, silentLogger(), new SelfMetrics({ defaultMetrics: false }));
  connection.start();
  await connection.waitUntilUp();
  const layout = await detectCgroupLayout('/sys/fs/cgroup');
  if (!layout) throw new Error('no cgroup tree at /sys/fs/cgroup: run on the host');
  const cores = (await exec('nproc')).stdout.trim();
  console.log(`# stats round bench: docker ${connection.info?.version} (API ${connection.info?.apiVersion}), cgroup v${layout.version} ${connection.info?.cgroupDriver}, ${cores} CPUs, node ${process.version}`);
  console.log('# times are wall ms for one full round over N idle containers (median); CPU is ms per container per 10 s interval');
  console.log(`# load average at start: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')} (the machine is shared: wall times stretch with it, CPU times much less)`);
  const signal = new AbortController().signal;
  let started = 0;
  for (const n of COUNTS) {
    await startContainers(n, started);
    started = Math.max(started, n);
    const inventory = new Inventory(['dockhand.bench'], silentLogger());
    await inventory.sync(connection.docker);
    const containers: ContainerState[] = inventory.list().filter((c) => c.meta.labels['dockhand.bench'] === RUN && c.state === 'running').slice(0, n);
    if (containers.length !== n) throw new Error(`expected ${n} running bench containers, found ${containers.length}`);

    // cgroup: resolve once (what the collector caches per container start), then steady rounds.
    const cgroup = new CgroupSource(layout, '/proc');
    const firstRound = await measure(async () => {
      for (const c of containers) await cgroup.resolve(c);
      for (const c of containers) cgroup.read(c);
    });
    const rounds: number[] = [];
    const cgroupCpu = await measure(async () => {
      for (let r = 0; r < 50; r++) {
        const t0 = performance.now();
        for (const c of containers) cgroup.read(c);
        rounds.push(performance.now() - t0);
      }
    });
    const cgroupMs = median(rounds);
    const cgroupMinMs = Math.min(...rounds);

    // API one-shot at the agent's default concurrency and at 32.
    const oneshot = async (concurrency: number) => {
      const source = new ApiStatsSource({ mode: 'oneshot', maxStreams: 0, oneshotConcurrency: concurrency, requestTimeoutMs: 60_000, maxSampleAgeMs: 60_000 }, silentLogger());
      await source.collect(connection.docker, containers, signal); // inspects for limits happen once per start
      const times: number[] = [];
      let cpu = { selfCpu: 0, daemonCpu: 0 };
      for (let r = 0; r < 3; r++) {
        const m = await measure(() => source.collect(connection.docker, containers, signal));
        if (m.result.size !== n) throw new Error(`one-shot round got ${m.result.size}/${n} samples`);
        times.push(m.wallMs);
        cpu = { selfCpu: cpu.selfCpu + m.selfCpu, daemonCpu: cpu.daemonCpu + m.daemonCpu };
      }
      source.close();
      return { wallMs: median(times), selfCpu: cpu.selfCpu / 3, daemonCpu: cpu.daemonCpu / 3 };
    };
    const api8 = await oneshot(8);
    const api32 = await oneshot(32);

    // API streams: the round itself only reads the latest pushed sample; the cost is the streams, measured over one interval.
    const stream = new ApiStatsSource({ mode: 'stream', maxStreams: 10_000, oneshotConcurrency: 8, requestTimeoutMs: 60_000, maxSampleAgeMs: 60_000 }, silentLogger());
    const streamOpen = await measure(() => stream.collect(connection.docker, containers, signal));
    const streamWindow = await measure(() => new Promise((resolve) => setTimeout(resolve, INTERVAL_S * 1000)));
    const streamRound = await measure(() => stream.collect(connection.docker, containers, signal));
    if (streamRound.result.size !== n) throw new Error(`stream round got ${streamRound.result.size}/${n} samples`);
    stream.close();

    // docker stats --no-stream over the same containers.
    const ids = containers.map((c) => c.meta.id);
    const cliTimes: number[] = [];
    let cliDaemonCpu = 0;
    for (let r = 0; r < 3; r++) {
      const m = await measure(() => docker('stats', '--no-stream', '--format', '{{.ID}} {{.CPUPerc}} {{.MemUsage}}', ...ids));
      if (m.result.split('\n').length !== n) throw new Error('docker stats did not list every container');
      cliTimes.push(m.wallMs);
      cliDaemonCpu += m.daemonCpu;
    }
    const cliMs = median(cliTimes);

    const perContainerMs = (seconds: number) => ms((seconds * 1000) / n);
    console.log(`\n## ${n} idle containers`);
    console.log(`| source | one round (ms) | vs docker stats --no-stream | agent CPU ms/container/interval | dockerd CPU ms/container/interval |`);
    console.log(`|---|---|---|---|---|`);
    console.log(`| cgroup files (first round, resolving paths) | ${ms(firstRound.wallMs)} | ${(cliMs / firstRound.wallMs).toFixed(0)}× faster | ${perContainerMs(firstRound.selfCpu)} | ${perContainerMs(firstRound.daemonCpu)} |`);
    console.log(`| cgroup files (steady round; fastest of 50: ${ms(cgroupMinMs)} ms, CPU ${ms((cgroupCpu.selfCpu * 1000) / 50)} ms) | ${ms(cgroupMs)} | ${(cliMs / cgroupMs).toFixed(0)}× faster (fastest: ${(cliMs / cgroupMinMs).toFixed(0)}×) | ${perContainerMs(cgroupCpu.selfCpu / 50)} | 0 |`);
    console.log(`| API one-shot, 8 at a time | ${ms(api8.wallMs)} | ${(cliMs / api8.wallMs).toFixed(1)}× | ${perContainerMs(api8.selfCpu)} | ${perContainerMs(api8.daemonCpu)} |`);
    console.log(`| API one-shot, 32 at a time | ${ms(api32.wallMs)} | ${(cliMs / api32.wallMs).toFixed(1)}× | ${perContainerMs(api32.selfCpu)} | ${perContainerMs(api32.daemonCpu)} |`);
    console.log(`| API streams (open: ${ms(streamOpen.wallMs)} ms; a round reads pushed samples) | ${ms(streamRound.wallMs)} | — | ${perContainerMs(streamWindow.selfCpu)} | ${perContainerMs(streamWindow.daemonCpu)} |`);
    console.log(`| docker stats --no-stream | ${ms(cliMs)} | 1× | (CLI process) | ${perContainerMs(cliDaemonCpu / 3)} |`);

    if (n === Math.max(...COUNTS)) await renderBench(containers, cgroup, inventory);
  }
  await connection.stop();
  console.log(`\n# load average at end: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
}

/** /metrics render cost at this many containers: in process (exporter registry) and over HTTP from a real agent. */
async function renderBench(containers: readonly ContainerState[], cgroup: CgroupSource, inventory: Inventory): Promise<void> {
  const exporter = new PrometheusExporter({ enabled: true } as never, { inventory });
  const records: MetricRecord[] = containers.map((c) => {
    const sample = cgroup.read(c);
    return { kind: 'metric', time: nowNanos(), container: c.meta, source: 'cgroup', ...sample, network: sample.network ?? [] };
  });
  await exporter.export(records);
  const text = await exporter.registry.metrics();
  const lines = text.split('\n').filter((l) => l && !l.startsWith('#')).length;
  const renderTimes = async (render: () => Promise<string>) => {
    const times: number[] = [];
    const cpu0 = selfCpuSeconds();
    for (let i = 0; i < 1000; i++) {
      const t0 = performance.now();
      await render();
      times.push(performance.now() - t0);
    }
    const cpuMs = selfCpuSeconds() - cpu0; // seconds over 1,000 renders = ms per render
    return `p50 ${ms(percentile(times, 50))} ms, p99 ${ms(percentile(times, 99))} ms, CPU ${ms(cpuMs)} ms per render (GC included)`;
  };
  // The resource families alone (this work) and the exporter's whole registry (with the state families, one set per container in the inventory).
  const own = new ExpositionRegistry();
  for (const name of [...CONTAINER_METRIC_NAMES, ...ENGINE_METRIC_NAMES]) own.registerMetric(exporter.registry.getSingleMetric(name)!);
  const ownText = await own.metrics();
  const ownLines = ownText.split('\n').filter((l) => l && !l.startsWith('#')).length;
  console.log(`\n## /metrics render at ${containers.length} sampled containers (${inventory.size} containers in the inventory)`);
  console.log(`- in process, container resource + engine families (${ownLines} series, ${(ownText.length / 1024).toFixed(0)} KiB): ${await renderTimes(() => own.metrics())} over 1,000 renders`);
  console.log(`- in process, the exporter's whole registry (${lines} series, ${(text.length / 1024).toFixed(0)} KiB, state families included): ${await renderTimes(() => exporter.registry.metrics())} over 1,000 renders`);

  // Log shipping off: this measures the stats path, not the log streams of every container on the host.
  const agent = await AgentProcess.start({ config: { labels: { allow: ['dockhand.bench', 'com.docker.compose.project', 'com.docker.compose.service'] }, collectors: { stats: { interval_ms: 2000 }, logs: { enabled: false } } } });
  try {
    await agent.waitReady();
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && (await agent.metrics()).split('\n').filter((l) => l.startsWith('container_memory_usage_bytes{') && l.includes(RUN)).length < containers.length) {
      await new Promise((r) => setTimeout(r, 200));
    }
    const stats = async () => ((await agent.get('/status')).json() as { collectors: { stats: { rounds: number; last_round_ms: number; containers_by_source: Record<string, number> } } }).collectors.stats;
    const settled = (await stats()).rounds + 5;
    while (Date.now() < deadline + 30_000 && (await stats()).rounds < settled) await new Promise((r) => setTimeout(r, 500));
    const histogram = async (suffix: string) => Number(/ ([\d.e+-]+)$/.exec((await agent.metrics()).split('\n').find((l) => l.startsWith(`dockhand_stats_round_duration_seconds_${suffix}{source="cgroup"}`)) ?? '')?.[1]);
    const [sum, count] = [await histogram('sum'), await histogram('count')];
    const last = await stats();
    console.log(`- the agent's own stats round, every 2 s before any scrape load: last ${last.last_round_ms} ms, mean of ${count} rounds ${ms((sum / count) * 1000)} ms (${JSON.stringify(last.containers_by_source)})`);
    const http: number[] = [];
    for (let i = 0; i < 500; i++) {
      const t0 = performance.now();
      await agent.metrics();
      http.push(performance.now() - t0);
    }
    const body = await agent.metrics();
    console.log(`- GET /metrics of a running agent (all registries, ${(body.length / 1024).toFixed(0)} KiB, over HTTP): p50 ${ms(percentile(http, 50))} ms, p99 ${ms(percentile(http, 99))} ms over 500 scrapes`);
  } finally {
    await agent.dispose();
  }
}

process.on('SIGINT', () => void removeContainers().then(() => process.exit(130)));
try {
  await main();
} finally {
  await removeContainers();
}
