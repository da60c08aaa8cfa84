/**
 * The stats collector: one MetricRecord per running container per interval, from the cgroup files
 * when they are visible (microseconds a container, no daemon involved) or from the Docker stats
 * API otherwise. `source: auto` decides per container and says what it chose on /status.
 */
import { z } from 'zod';
import { defineCollector, type Collector, type CollectorContext } from '../../src/component.js';
import type { ContainerState } from '../../src/docker/inventory.js';
import { errorMessage } from '../../src/errors.js';
import { nowNanos, type MachineSample, type MetricRecord } from '../../src/records.js';
import { sleep } from '../../src/util/backoff.js';
import { ApiStatsSource, type TimedSample } from './api-stats.js';
import { detectCgroupLayout, expectedCgroupPath } from './cgroup-paths.js';
import { CgroupGoneError } from './cgroup-files.js';
import { CgroupSource } from './cgroup-source.js';
import { ProcPartitions } from './block-devices.js';
import { FsUsage } from './fs-usage.js';
import { readMachine } from './machine.js';
import { TimeSlicer } from './time-slice.js';

export { containerTop, TopError, type ContainerTop } from './top.js';

export const statsConfigSchema = z.strictObject({
  enabled: z.boolean().default(true).describe('Collect per-container CPU, memory, network, block I/O and pids.'),
  interval_ms: z.number().int().min(100).default(10_000).describe('One sample per running container this often.'),
  source: z.enum(['auto', 'cgroup', 'api']).default('auto').describe('auto: cgroup files when visible (with the container\'s /proc), else the Docker API; or force one.'),
  cgroup_root: z.string().min(1).default('/sys/fs/cgroup').describe('Where the host\'s cgroup tree is mounted (a sidecar mounts it at e.g. /host/sys/fs/cgroup).'),
  proc_root: z.string().min(1).default('/proc').describe('Where the host\'s /proc is mounted, for network counters, block device names and the machine_* figures (e.g. /host/proc).'),
  fs_usage_interval_ms: z.number().int().min(0).default(60_000)
    .describe('How often the writable layers of running containers are sized (container_fs_usage_bytes), in one `GET /containers/json?size=1` for all of them; 0: never.'),
  api: z.strictObject({
    mode: z.enum(['stream', 'oneshot']).default('stream').describe('stream: one long-lived stats stream per container; oneshot: one request per container per interval.'),
    max_streams: z.number().int().min(0).default(256).describe('Most concurrent stats streams; containers beyond are polled one-shot.'),
    concurrency: z.number().int().min(1).default(8).describe('One-shot stats requests (and inspects) in flight at once.'),
    request_timeout_ms: z.number().int().positive().default(10_000).describe('Timeout of one one-shot stats request.'),
  }).prefault({}),
});

export type StatsConfig = z.output<typeof statsConfigSchema>;

type ChosenSource = 'cgroup' | 'api' | 'unavailable';

interface Instruments {
  readonly roundDuration: ReturnType<CollectorContext['metrics']['histogram']>;
  readonly samples: ReturnType<CollectorContext['metrics']['counter']>;
  readonly fsUsageDuration: ReturnType<CollectorContext['metrics']['histogram']>;
}

/** Containers the collector samples: running and paused ones (a paused container keeps its cgroup). */
function sampled(container: ContainerState): boolean {
  return container.state === 'running' || container.state === 'paused';
}

/** Longest stretch of cgroup reading between two yields to the event loop (a scrape waits at most that behind a round). */
const SLICE_MS = 2;

/** The sizing request gets at most this long (the daemon walks every writable layer to answer). */
const FS_USAGE_TIMEOUT_MS = 120_000;

export class StatsCollector implements Collector {
  readonly id = 'stats';
  private cgroup: CgroupSource | undefined;
  private api: ApiStatsSource | undefined;
  private readonly chosen = new Map<string, { name: string; source: ChosenSource }>();
  private counters = { rounds: 0, records: 0, cgroup_errors: 0, api_missing: 0 };
  private lastRoundMs = 0;
  private layoutDescription = 'not probed';
  private lastError: string | undefined;
  private readonly fsUsage: FsUsage;
  private readonly deviceNames: ProcPartitions;
  private machine: MachineSample | undefined;

  constructor(private readonly config: StatsConfig) {
    this.fsUsage = new FsUsage({ intervalMs: config.fs_usage_interval_ms, timeoutMs: Math.min(FS_USAGE_TIMEOUT_MS, Math.max(10_000, config.fs_usage_interval_ms)), procRoot: config.proc_root });
    this.deviceNames = ProcPartitions.under(config.proc_root);
  }

  status(): Record<string, unknown> {
    const bySource: Record<ChosenSource, number> = { cgroup: 0, api: 0, unavailable: 0 };
    for (const { source } of this.chosen.values()) bySource[source]++;
    return {
      interval_ms: this.config.interval_ms,
      source: this.config.source,
      cgroup_layout: this.layoutDescription,
      containers_by_source: bySource,
      containers: Object.fromEntries([...this.chosen.entries()].map(([id, c]) => [c.name || id.slice(0, 12), c.source])),
      last_round_ms: Math.round(this.lastRoundMs * 1000) / 1000,
      ...this.counters,
      fs_usage: this.fsUsage.status(),
      ...(this.api ? { api: this.api.status() } : {}),
      ...(this.lastError ? { last_error: this.lastError } : {}),
    };
  }

  async run(ctx: CollectorContext): Promise<void> {
    const { signal, logger } = ctx;
    this.machine = readMachine(this.config.proc_root);
    if (this.config.source !== 'api') {
      const layout = await detectCgroupLayout(this.config.cgroup_root);
      if (layout) {
        this.cgroup = new CgroupSource(layout, this.config.proc_root, this.deviceNames);
        this.layoutDescription = `v${layout.version} at ${layout.root}`;
      } else {
        this.layoutDescription = `no cgroup tree visible at ${this.config.cgroup_root}`;
        if (this.config.source === 'cgroup') logger.error({ cgroupRoot: this.config.cgroup_root }, 'stats source is cgroup but no cgroup tree is visible there: no container metrics');
      }
      logger.info({ layout: this.layoutDescription, source: this.config.source }, 'stats collector started');
    }
    if (this.config.source !== 'cgroup') {
      this.api = new ApiStatsSource({
        mode: this.config.api.mode,
        maxStreams: this.config.api.max_streams,
        oneshotConcurrency: this.config.api.concurrency,
        requestTimeoutMs: this.config.api.request_timeout_ms,
        maxSampleAgeMs: Math.max(3000, 2 * this.config.interval_ms),
        deviceNames: this.deviceNames,
      }, logger);
    }
    const roundDuration = ctx.metrics.histogram('dockhand_stats_round_duration_seconds', 'Time one stats round took (all containers).', ['source'], [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30]);
    const samples = ctx.metrics.counter('dockhand_stats_samples_total', 'Container samples taken, by source.', ['source']);
    const fsUsageDuration = ctx.metrics.histogram('dockhand_stats_fs_usage_duration_seconds', 'Time the daemon took to size the writable layers of all running containers (GET /containers/json?size=1).', [], [0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120]);
    const instruments: Instruments = { roundDuration, samples, fsUsageDuration };
    let next = Date.now();
    try {
      while (!signal.aborted) {
        try {
          await this.round(ctx, instruments);
        } catch (error) {
          // A round never kills the collector: the next one tries again.
          this.lastError = errorMessage(error);
          ctx.metrics.errors.inc({ component: 'stats', kind: 'round' });
          logger.warn({ err: this.lastError }, 'stats round failed');
        }
        next += this.config.interval_ms;
        const now = Date.now();
        if (next < now) next = now; // a round longer than the interval: start the next one at once, don't pile up
        await sleep(next - now, signal);
      }
    } finally {
      this.api?.close();
    }
  }

  /** Sizes the writable layers when due, beside the round (the daemon may take seconds): never awaited here. */
  private startFsUsage(ctx: CollectorContext, duration: Instruments['fsUsageDuration']): void {
    if (!ctx.docker.isUp) return;
    const measuring = this.fsUsage.startIfDue(ctx.docker.docker, ctx.docker.info?.dockerRootDir ?? '/var/lib/docker', ctx.signal);
    void measuring?.then((outcome) => {
      if (outcome.kind === 'measured') duration.observe(outcome.seconds);
      else if (outcome.kind === 'failed') ctx.metrics.errors.inc({ component: 'stats', kind: 'fs_usage' });
    });
  }

  /** What every record of a container carries besides its resource sample: the latest fs figures and the host. */
  private extras(id: string): Pick<MetricRecord, 'filesystem' | 'machine'> {
    const filesystem = this.fsUsage.get(id);
    return { ...(filesystem ? { filesystem } : {}), ...(this.machine ? { machine: this.machine } : {}) };
  }

  private async round(ctx: CollectorContext, { roundDuration, samples, fsUsageDuration }: Instruments): Promise<void> {
    const containers = ctx.inventory.list().filter(sampled);
    if (containers.length > 0) this.startFsUsage(ctx, fsUsageDuration);
    const ids = new Set(containers.map((c) => c.meta.id));
    for (const id of this.chosen.keys()) if (!ids.has(id)) this.chosen.delete(id);
    this.cgroup?.retain(ids);

    const records: MetricRecord[] = [];
    const viaApi: ContainerState[] = [];
    const cgroupStart = performance.now();
    let cgroupCount = 0;
    const slicer = new TimeSlicer(SLICE_MS);
    for (const container of containers) {
      if (ctx.signal.aborted) return;
      const source = await this.chooseSource(container);
      this.chosen.set(container.meta.id, { name: container.meta.name, source });
      if (source === 'api') {
        viaApi.push(container);
        continue;
      }
      if (source !== 'cgroup') continue;
      try {
        const sample = this.cgroup!.read(container);
        records.push({ kind: 'metric', time: nowNanos(), container: container.meta, source: 'cgroup', ...sample, network: sample.network ?? [], ...this.extras(container.meta.id) });
        cgroupCount++;
      } catch (error) {
        if (!(error instanceof CgroupGoneError)) {
          this.counters.cgroup_errors++;
          this.lastError = `cgroup ${container.meta.name}: ${errorMessage(error)}`;
          ctx.metrics.errors.inc({ component: 'stats', kind: 'cgroup_read' });
        }
      }
      await slicer.pause();
    }
    if (cgroupCount > 0) {
      roundDuration.observe({ source: 'cgroup' }, (performance.now() - cgroupStart) / 1000);
      samples.inc({ source: 'cgroup' }, cgroupCount);
    }
    this.lastRoundMs = performance.now() - cgroupStart;

    // Called with an empty list too: that closes the streams of containers that left the API source.
    if (this.api && ctx.docker.isUp && (viaApi.length > 0 || this.api.streamsOpen > 0)) {
      const apiStart = performance.now();
      const got = await this.api.collect(ctx.docker.docker, viaApi, ctx.signal);
      for (const container of viaApi) {
        const timed = got.get(container.meta.id);
        if (timed) records.push(this.apiRecord(ctx, container, timed));
        else this.counters.api_missing++;
      }
      if (viaApi.length > 0) {
        roundDuration.observe({ source: 'api' }, (performance.now() - apiStart) / 1000);
        samples.inc({ source: 'api' }, got.size);
      }
      this.lastRoundMs = performance.now() - cgroupStart;
    }
    this.counters.rounds++;
    if (records.length === 0 || ctx.signal.aborted) return;
    this.counters.records += records.length;
    await ctx.emit(records);
  }

  private apiRecord(ctx: CollectorContext, container: ContainerState, timed: TimedSample): MetricRecord {
    return {
      kind: 'metric',
      time: timed.time,
      container: container.meta,
      source: 'api',
      cgroupPath: expectedCgroupPath(container.meta.id, ctx.docker.info?.cgroupDriver),
      ...timed.sample,
      network: timed.sample.network ?? [],
      ...this.extras(container.meta.id),
    };
  }

  private async chooseSource(container: ContainerState): Promise<ChosenSource> {
    if (this.config.source === 'api') return 'api';
    const resolved = this.cgroup ? await this.cgroup.resolve(container) : undefined;
    if (this.config.source === 'cgroup') return resolved ? 'cgroup' : 'unavailable';
    // auto: the fast path only when it can give everything, network included.
    return resolved?.networkVisible ? 'cgroup' : 'api';
  }
}

export const statsCollectorFactory = defineCollector({
  type: 'stats',
  configSchema: statsConfigSchema,
  produces: ['metric'],
  create: (config) => new StatsCollector(config),
});
