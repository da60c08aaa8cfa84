/**
 * Engine-level figures on a schedule (default every 5 minutes): what `docker system df` shows
 * (images, containers, volumes, build cache: count, in use, size, reclaimable), object counts and
 * the daemon's identity. `GET /system/df` walks every layer and volume, so it is never run per scrape.
 */
import cron, { type ScheduledTask } from 'node-cron';
import type { DockerClient } from '../../src/docker/client.js';
import { z } from 'zod';
import { defineCollector, type Collector, type CollectorContext } from '../../src/component.js';
import { errorMessage } from '../../src/errors.js';
import { cronSchedule } from '../../src/util/cron-schedule.js';
import { nowNanos, type EngineDiskUsage, type EngineRecord } from '../../src/records.js';
import { diskUsageFromDf, type SystemDf } from './df.js';

export const engineConfigSchema = z.strictObject({
  enabled: z.boolean().default(true).describe('Sample engine-level figures (system df, object counts, engine info).'),
  schedule: cronSchedule().default('*/5 * * * *')
    .describe('node-cron schedule of the engine sample; the first one is taken as soon as the daemon answers.'),
  system_df: z.boolean().default(true).describe('Include `GET /system/df` (sizes and reclaimable space); it can take seconds on big hosts.'),
  request_timeout_ms: z.number().int().positive().default(120_000).describe('Timeout of one engine API call (system df can be slow).'),
});

export type EngineConfig = z.output<typeof engineConfigSchema>;

export class EngineCollector implements Collector {
  readonly id = 'engine';
  private counters = { samples: 0, failures: 0, df_failures: 0 };
  private lastSampleAt: string | undefined;
  private lastDurationMs = 0;
  private lastError: string | undefined;

  constructor(private readonly config: EngineConfig) {}

  status(): Record<string, unknown> {
    return {
      schedule: this.config.schedule,
      ...this.counters,
      ...(this.lastSampleAt ? { last_sample_at: this.lastSampleAt, last_duration_ms: Math.round(this.lastDurationMs) } : {}),
      ...(this.lastError ? { last_error: this.lastError } : {}),
    };
  }

  async run(ctx: CollectorContext): Promise<void> {
    const { signal } = ctx;
    let task: ScheduledTask | undefined;
    try {
      await ctx.docker.waitUntilUp(signal);
      if (signal.aborted) return;
      await this.sampleOnce(ctx);
      task = cron.schedule(this.config.schedule, () => this.sampleOnce(ctx), { name: 'dockhand-engine-sample', noOverlap: true });
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    } finally {
      await task?.destroy();
    }
  }

  /** One sample, emitted as an EngineRecord. Never throws: a failure is counted and shown on /status. */
  async sampleOnce(ctx: CollectorContext): Promise<EngineRecord | undefined> {
    if (ctx.signal.aborted) return undefined;
    if (!ctx.docker.isUp) {
      this.lastError = 'docker daemon not reachable';
      return undefined;
    }
    const started = performance.now();
    try {
      const record = await takeEngineSample(ctx.docker.docker, ctx.docker.info, this.config, ctx.signal, (error) => {
        this.counters.df_failures++;
        this.lastError = `system df: ${errorMessage(error)}`;
        ctx.metrics.errors.inc({ component: 'engine', kind: 'system_df' });
      });
      this.counters.samples++;
      this.lastSampleAt = new Date().toISOString();
      this.lastDurationMs = performance.now() - started;
      await ctx.emit([record]);
      return record;
    } catch (error) {
      if (ctx.signal.aborted) return undefined;
      this.counters.failures++;
      this.lastError = errorMessage(error);
      ctx.metrics.errors.inc({ component: 'engine', kind: 'sample' });
      ctx.logger.warn({ err: this.lastError }, 'engine sample failed');
      ctx.docker.reportFailure(error);
      return undefined;
    }
  }
}

interface InfoBody {
  Name?: string;
  ServerVersion?: string;
  OperatingSystem?: string;
  KernelVersion?: string;
  Driver?: string;
  CgroupDriver?: string;
  CgroupVersion?: string;
  Containers?: number;
  ContainersRunning?: number;
  ContainersPaused?: number;
  ContainersStopped?: number;
  Images?: number;
}

/** Reads /info, /volumes, /networks and (when enabled) /system/df; a df failure leaves `disk` out, the rest stands. */
export async function takeEngineSample(
  docker: Pick<DockerClient, 'info' | 'listVolumes' | 'listNetworks' | 'systemDf' | 'version'>,
  negotiated: { apiVersion: string; version: string } | undefined,
  config: Pick<EngineConfig, 'system_df' | 'request_timeout_ms'>,
  signal: AbortSignal,
  onDfError: (error: unknown) => void = () => undefined,
): Promise<EngineRecord> {
  const options = { signal, timeoutMs: config.request_timeout_ms };
  const [info, volumes, networks, version] = await Promise.all([
    docker.info(options) as Promise<InfoBody>,
    docker.listVolumes(options),
    docker.listNetworks(options),
    docker.version(options) as Promise<{ Version?: string; ApiVersion?: string; KernelVersion?: string; Os?: string }>,
  ]);
  let disk: EngineDiskUsage[] | undefined;
  if (config.system_df) {
    try {
      disk = diskUsageFromDf(await docker.systemDf(options) as SystemDf);
    } catch (error) {
      if (signal.aborted) throw error;
      onDfError(error);
    }
  }
  return {
    kind: 'engine',
    time: nowNanos(),
    host: info.Name ?? 'unknown',
    info: {
      version: info.ServerVersion ?? version.Version ?? negotiated?.version ?? 'unknown',
      // The daemon's own (highest) API version, not the one we negotiated down to.
      apiVersion: version.ApiVersion ?? negotiated?.apiVersion ?? 'unknown',
      os: info.OperatingSystem ?? version.Os ?? 'unknown',
      kernel: info.KernelVersion ?? version.KernelVersion ?? 'unknown',
      storageDriver: info.Driver ?? 'unknown',
      cgroupDriver: info.CgroupDriver ?? 'unknown',
      cgroupVersion: info.CgroupVersion ?? '1',
    },
    containers: {
      total: info.Containers ?? 0,
      running: info.ContainersRunning ?? 0,
      paused: info.ContainersPaused ?? 0,
      stopped: info.ContainersStopped ?? 0,
    },
    images: info.Images ?? 0,
    volumes: volumes.Volumes?.length ?? 0,
    networks: networks.length,
    ...(disk ? { disk } : {}),
  };
}

export const engineCollectorFactory = defineCollector({
  type: 'engine',
  configSchema: engineConfigSchema,
  produces: ['engine'],
  create: (config) => new EngineCollector(config),
});
