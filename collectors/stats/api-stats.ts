/**
 * The Docker API source: `GET /containers/{id}/stats`. In stream mode one long-lived
 * `stream=1` connection per running container (the daemon pushes a sample a second; we keep the
 * latest), capped at `maxStreams`; containers over the cap, and every container in one-shot mode,
 * are asked with `stream=0&one-shot=1` (API ≥ 1.41; older daemons ignore it and take ~2 s),
 * a bounded number at a time.
 *
 * Limits are not in the stats body (an unlimited container shows the host's memory as its limit),
 * so each container is inspected once per start for HostConfig.Memory / NanoCpus / CpuQuota.
 */
import type { DockerClient } from '../../src/docker/client.js';
import type { ContainerState } from '../../src/docker/inventory.js';
import type { Logger } from '../../src/telemetry/logger.js';
import { errorMessage } from '../../src/errors.js';
import { parseRfc3339Nano, nowNanos, type EpochNanos, type NetworkSample } from '../../src/records.js';
import { sharesFromWeight } from './cgroup-v2.js';
import { memoryFaults, workingSet, type DeviceNames, type ResourceSample } from './sample.js';
import type { BlkioDeviceSample } from '../../src/records.js';

/** The parts of the Engine API's stats body we read (cgroup v1 and v2 daemons). */
export interface ApiStatsBody {
  readonly read?: string;
  readonly pids_stats?: { readonly current?: number };
  readonly cpu_stats?: {
    readonly cpu_usage?: { readonly total_usage?: number; readonly usage_in_kernelmode?: number; readonly usage_in_usermode?: number };
    readonly throttling_data?: { readonly periods?: number; readonly throttled_periods?: number; readonly throttled_time?: number };
  };
  readonly memory_stats?: { readonly usage?: number; readonly max_usage?: number; readonly failcnt?: number; readonly limit?: number; readonly stats?: Readonly<Record<string, number>> };
  readonly blkio_stats?: {
    readonly io_service_bytes_recursive?: readonly BlkioEntry[] | null;
    readonly io_serviced_recursive?: readonly BlkioEntry[] | null;
  };
  readonly networks?: Readonly<Record<string, {
    readonly rx_bytes: number; readonly rx_packets: number; readonly rx_errors: number; readonly rx_dropped: number;
    readonly tx_bytes: number; readonly tx_packets: number; readonly tx_errors: number; readonly tx_dropped: number;
  }>>;
}

interface BlkioEntry {
  readonly major?: number;
  readonly minor?: number;
  readonly op: string;
  readonly value: number;
}

/** Resource limits from `docker inspect` HostConfig. */
export interface ContainerSpec {
  /** undefined: unlimited. */
  readonly memoryLimitBytes?: number;
  readonly cpuQuotaMicros?: number;
  readonly cpuPeriodMicros: number;
  /** HostConfig.CpuShares, 0 when not set (the kernel's default then). */
  readonly cpuShares?: number;
  /** HostConfig.MemoryReservation, 0 when not set. */
  readonly memoryReservationBytes?: number;
  /** HostConfig.MemorySwap: memory + swap; -1 unlimited, 0 not set (twice the memory limit then). */
  readonly memorySwap?: number;
}

/** The kernel's default CFS period, used by dockerd whenever CpuPeriod is not set. */
const DEFAULT_CFS_PERIOD_US = 100_000;

export function specFromInspect(hostConfig: { Memory?: number; NanoCpus?: number; CpuQuota?: number; CpuPeriod?: number; CpuShares?: number; MemoryReservation?: number; MemorySwap?: number } | undefined): ContainerSpec {
  const period = hostConfig?.CpuPeriod && hostConfig.CpuPeriod > 0 ? hostConfig.CpuPeriod : DEFAULT_CFS_PERIOD_US;
  let quota: number | undefined;
  if (hostConfig?.NanoCpus && hostConfig.NanoCpus > 0) quota = Math.round((hostConfig.NanoCpus * period) / 1e9);
  else if (hostConfig?.CpuQuota && hostConfig.CpuQuota > 0) quota = hostConfig.CpuQuota;
  return {
    ...(hostConfig?.Memory && hostConfig.Memory > 0 ? { memoryLimitBytes: hostConfig.Memory } : {}),
    ...(quota !== undefined ? { cpuQuotaMicros: quota } : {}),
    cpuPeriodMicros: period,
    cpuShares: Math.max(0, hostConfig?.CpuShares ?? 0),
    memoryReservationBytes: Math.max(0, hostConfig?.MemoryReservation ?? 0),
    memorySwap: hostConfig?.MemorySwap ?? 0,
  };
}

/** The kernel's cpu.shares default, which Docker leaves in place when CpuShares is 0. */
const DEFAULT_CPU_SHARES = 1024;
/** cgroup v2's cpu.weight default. */
const DEFAULT_CPU_WEIGHT = 100;

/** runc's shares → cpu.weight mapping (v2 hosts), for the spec of an API-sourced container. */
function weightFromShares(shares: number): number {
  return 1 + Math.floor(((shares - 2) * 9_999) / 262_142);
}

/**
 * The spec figures as the cgroup files would show them: v1 cpu.shares and memory.memsw (memory + swap),
 * v2 cpu.weight converted back as cAdvisor does and memory.swap.max (swap only). 0 means unlimited.
 */
export function specFigures(spec: ContainerSpec, cgroupV1: boolean): { shares: number; reservationBytes: number; swapLimitBytes: number } {
  const memory = spec.memoryLimitBytes ?? 0;
  const swap = spec.memorySwap ?? 0;
  // MemorySwap 0 with a memory limit: Docker allows as much swap as memory (memsw = 2 × memory).
  const memsw = swap > 0 ? swap : swap === 0 && memory > 0 ? 2 * memory : 0;
  const shares = spec.cpuShares ?? 0;
  return {
    shares: cgroupV1 ? shares || DEFAULT_CPU_SHARES : sharesFromWeight(shares ? weightFromShares(shares) : DEFAULT_CPU_WEIGHT),
    reservationBytes: spec.memoryReservationBytes ?? 0,
    swapLimitBytes: cgroupV1 ? memsw : memsw > 0 ? memsw - memory : 0,
  };
}

/** Turns one stats body into the same sample the cgroup files give (see cgroup-v1.ts / cgroup-v2.ts). */
export function sampleFromApiStats(body: ApiStatsBody, spec: ContainerSpec | undefined, deviceNames?: DeviceNames): ResourceSample {
  const cpu = body.cpu_stats?.cpu_usage ?? {};
  const throttling = body.cpu_stats?.throttling_data ?? {};
  const mem = body.memory_stats ?? {};
  const stats = mem.stats ?? {};
  const cgroupV1 = 'total_inactive_file' in stats;
  const usage = mem.usage ?? 0;
  const blkio = (entries: readonly BlkioEntry[] | null | undefined, op: 'read' | 'write') =>
    (entries ?? []).reduce((sum, e) => (e.op.toLowerCase() === op ? sum + e.value : sum), 0);
  const figures = spec ? specFigures(spec, cgroupV1) : undefined;
  const network: NetworkSample[] = Object.entries(body.networks ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, n]) => ({
      interface: name,
      rxBytes: n.rx_bytes, rxPackets: n.rx_packets, rxErrors: n.rx_errors, rxDropped: n.rx_dropped,
      txBytes: n.tx_bytes, txPackets: n.tx_packets, txErrors: n.tx_errors, txDropped: n.tx_dropped,
    }));
  return {
    cpu: {
      usageSeconds: (cpu.total_usage ?? 0) / 1e9,
      userSeconds: (cpu.usage_in_usermode ?? 0) / 1e9,
      systemSeconds: (cpu.usage_in_kernelmode ?? 0) / 1e9,
      throttledSeconds: (throttling.throttled_time ?? 0) / 1e9,
      throttledPeriods: throttling.throttled_periods ?? 0,
      periods: throttling.periods ?? 0,
      ...(spec?.cpuQuotaMicros !== undefined ? { quotaMicros: spec.cpuQuotaMicros } : {}),
      ...(spec ? { periodMicros: spec.cpuPeriodMicros } : {}),
      ...(figures ? { shares: figures.shares } : {}),
    },
    memory: {
      usageBytes: usage,
      workingSetBytes: workingSet(usage, (cgroupV1 ? stats.total_inactive_file : stats.inactive_file) ?? 0),
      rssBytes: (cgroupV1 ? stats.total_rss : stats.anon) ?? 0,
      cacheBytes: (cgroupV1 ? stats.total_cache : stats.file) ?? 0,
      failcnt: mem.failcnt ?? 0,
      // The body's limit is the host's memory for an unlimited container: trust it only when inspect says limited.
      ...(spec?.memoryLimitBytes !== undefined ? { limitBytes: mem.limit ?? spec.memoryLimitBytes } : {}),
      // v1 only: a v2 daemon's body has no swap figure and no max_usage.
      ...(cgroupV1 ? { swapBytes: stats.total_swap ?? stats.swap ?? 0 } : {}),
      ...(mem.max_usage !== undefined ? { maxUsageBytes: mem.max_usage } : {}),
      pageFaults: memoryFaults(new Map(Object.entries(stats)), cgroupV1 ? 'total_' : ''),
      ...(figures ? { reservationBytes: figures.reservationBytes, swapLimitBytes: figures.swapLimitBytes } : {}),
    },
    blkio: {
      readBytes: blkio(body.blkio_stats?.io_service_bytes_recursive, 'read'),
      writeBytes: blkio(body.blkio_stats?.io_service_bytes_recursive, 'write'),
      reads: blkio(body.blkio_stats?.io_serviced_recursive, 'read'),
      writes: blkio(body.blkio_stats?.io_serviced_recursive, 'write'),
      ...blkioDevices(body.blkio_stats?.io_service_bytes_recursive, body.blkio_stats?.io_serviced_recursive, deviceNames),
    },
    pids: body.pids_stats?.current ?? 0,
    network,
  };
}

/** The recursive blkio entries per major:minor; nothing when the daemon sent no device lines (or no major/minor). */
function blkioDevices(bytes: readonly BlkioEntry[] | null | undefined, ops: readonly BlkioEntry[] | null | undefined, deviceNames?: DeviceNames): { devices?: BlkioDeviceSample[] } {
  const byDevice = new Map<string, { major: number; minor: number; readBytes: number; writeBytes: number; reads: number; writes: number }>();
  const add = (entries: readonly BlkioEntry[] | null | undefined, read: 'readBytes' | 'reads', write: 'writeBytes' | 'writes') => {
    for (const e of entries ?? []) {
      if (e.major === undefined || e.minor === undefined) continue;
      const key = `${e.major}:${e.minor}`;
      let entry = byDevice.get(key);
      if (!entry) byDevice.set(key, (entry = { major: e.major, minor: e.minor, readBytes: 0, writeBytes: 0, reads: 0, writes: 0 }));
      const op = e.op.toLowerCase();
      if (op === 'read') entry[read] += e.value;
      else if (op === 'write') entry[write] += e.value;
    }
  };
  add(bytes, 'readBytes', 'writeBytes');
  add(ops, 'reads', 'writes');
  if (byDevice.size === 0) return {};
  return { devices: [...byDevice].map(([key, d]) => ({ ...d, device: deviceNames?.name(d.major, d.minor) ?? key })) };
}

export interface TimedSample {
  readonly time: EpochNanos;
  readonly sample: ResourceSample;
}

export interface ApiStatsOptions {
  readonly mode: 'stream' | 'oneshot';
  readonly maxStreams: number;
  readonly oneshotConcurrency: number;
  readonly requestTimeoutMs: number;
  /** A streamed sample older than this is not used (the stream has stalled). */
  readonly maxSampleAgeMs: number;
  /** Names the block devices of the per-device I/O figures. */
  readonly deviceNames?: DeviceNames;
}

interface StreamState {
  readonly abort: AbortController;
  latest?: { body: ApiStatsBody; receivedAt: number };
  /** Settles with the stream's first sample (or its end), so a round that opened it can wait for it. */
  readonly first: Promise<void>;
}

/** How long a round waits for the first sample of streams it just opened (the daemon sends one within ~1 s). */
const FIRST_SAMPLE_WAIT_MS = 2500;

/** Splits a byte stream of JSON documents separated by newlines. */
/** What the API source asks of the daemon. */
export type StatsSource = Pick<DockerClient, 'containerStats' | 'containerStatsStream' | 'inspectContainer'>;

export class JsonLines {
  private buffer = '';
  push(chunk: string, onDocument: (doc: unknown) => void): void {
    this.buffer += chunk;
    let newline: number;
    while ((newline = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, newline).trim();
      this.buffer = this.buffer.slice(newline + 1);
      if (line) onDocument(JSON.parse(line));
    }
  }
}

export class ApiStatsSource {
  private readonly streams = new Map<string, StreamState>();
  private readonly specs = new Map<string, { startedAt: number; spec: ContainerSpec }>();
  private counters = { streams_opened: 0, stream_errors: 0, oneshots: 0, oneshot_errors: 0, inspect_errors: 0 };
  private lastError: string | undefined;

  constructor(private readonly options: ApiStatsOptions, private readonly logger: Logger) {}

  get streamsOpen(): number {
    return this.streams.size;
  }

  status(): Record<string, unknown> {
    return { mode: this.options.mode, streams_open: this.streams.size, ...this.counters, ...(this.lastError ? { last_error: this.lastError } : {}) };
  }

  /**
   * The latest sample of each container: streamed ones where a stream runs, one-shot otherwise.
   * Streams of containers no longer asked for are closed. Containers with nothing yet are absent.
   */
  async collect(docker: StatsSource, containers: readonly ContainerState[], signal: AbortSignal): Promise<Map<string, TimedSample>> {
    const wanted = new Set(containers.map((c) => c.meta.id));
    for (const id of [...this.streams.keys()]) if (!wanted.has(id)) this.closeStream(id);
    for (const id of [...this.specs.keys()]) if (!wanted.has(id)) this.specs.delete(id);

    await this.refreshSpecs(docker, containers, signal);
    const out = new Map<string, TimedSample>();
    const polled: ContainerState[] = [];
    const streamed: string[] = [];
    const opened: Promise<void>[] = [];
    for (const container of containers) {
      const id = container.meta.id;
      if (this.options.mode === 'stream' && (this.streams.has(id) || this.streams.size < this.options.maxStreams)) {
        if (!this.streams.has(id)) opened.push(this.openStream(docker, id, signal).first);
        streamed.push(id);
      } else {
        polled.push(container);
      }
    }
    if (opened.length > 0) await settleWithin(Promise.all(opened), FIRST_SAMPLE_WAIT_MS);
    for (const id of streamed) {
      const latest = this.streams.get(id)?.latest;
      if (latest && Date.now() - latest.receivedAt <= this.options.maxSampleAgeMs) {
        out.set(id, { time: sampleTime(latest.body), sample: sampleFromApiStats(latest.body, this.specs.get(id)?.spec, this.options.deviceNames) });
      }
    }
    await forEachLimited(polled, this.options.oneshotConcurrency, async (container) => {
      if (signal.aborted) return;
      const id = container.meta.id;
      try {
        this.counters.oneshots++;
        const body = (await docker.containerStats(id, { oneShot: true, signal, timeoutMs: this.options.requestTimeoutMs })) as ApiStatsBody;
        out.set(id, { time: sampleTime(body), sample: sampleFromApiStats(body, this.specs.get(id)?.spec, this.options.deviceNames) });
      } catch (error) {
        if (signal.aborted) return;
        this.counters.oneshot_errors++;
        this.lastError = `stats ${id.slice(0, 12)}: ${errorMessage(error)}`;
      }
    });
    return out;
  }

  /** One stats request, for the agreement test and the benchmark: exactly what a one-shot round does per container. */
  static async oneShot(docker: StatsSource, id: string, spec: ContainerSpec | undefined, signal?: AbortSignal): Promise<TimedSample> {
    const body = (await docker.containerStats(id, { oneShot: true, signal })) as ApiStatsBody;
    return { time: sampleTime(body), sample: sampleFromApiStats(body, spec) };
  }

  close(): void {
    for (const id of [...this.streams.keys()]) this.closeStream(id);
    this.specs.clear();
  }

  private async refreshSpecs(docker: StatsSource, containers: readonly ContainerState[], signal: AbortSignal): Promise<void> {
    const stale = containers.filter((c) => this.specs.get(c.meta.id)?.startedAt !== c.startedAt);
    await forEachLimited(stale, this.options.oneshotConcurrency, async (container) => {
      if (signal.aborted) return;
      try {
        const inspect = await docker.inspectContainer(container.meta.id, { signal, timeoutMs: this.options.requestTimeoutMs });
        this.specs.set(container.meta.id, { startedAt: container.startedAt, spec: specFromInspect(inspect.HostConfig) });
      } catch (error) {
        if (signal.aborted) return;
        this.counters.inspect_errors++;
        this.lastError = `inspect ${container.meta.id.slice(0, 12)}: ${errorMessage(error)}`;
      }
    });
  }

  private openStream(docker: StatsSource, id: string, signal: AbortSignal): StreamState {
    const abort = new AbortController();
    let firstSettled!: () => void;
    const state: StreamState = { abort, first: new Promise<void>((resolve) => { firstSettled = resolve; }) };
    this.streams.set(id, state);
    this.counters.streams_opened++;
    // No listener on the collector's signal per stream (hundreds would trip MaxListeners): close() ends them all.
    if (signal.aborted) abort.abort();
    const finish = (error?: unknown) => {
      firstSettled();
      if (this.streams.get(id) === state) this.streams.delete(id);
      if (error && !abort.signal.aborted) {
        this.counters.stream_errors++;
        this.lastError = `stats stream ${id.slice(0, 12)}: ${errorMessage(error)}`;
        this.logger.debug({ container: id.slice(0, 12), err: errorMessage(error) }, 'stats stream ended with an error');
      }
    };
    void (async () => {
      try {
        const response = await docker.containerStatsStream(id, abort.signal);
        const lines = new JsonLines();
        response.setEncoding('utf8');
        abort.signal.addEventListener('abort', () => response.destroy(), { once: true });
        for await (const chunk of response) {
          lines.push(chunk as string, (doc) => {
            state.latest = { body: doc as ApiStatsBody, receivedAt: Date.now() };
            firstSettled();
          });
        }
        finish();
      } catch (error) {
        finish(error);
      }
    })();
    return state;
  }

  private closeStream(id: string): void {
    const state = this.streams.get(id);
    if (!state) return;
    this.streams.delete(id);
    state.abort.abort();
  }
}

async function settleWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise, new Promise<void>((resolve) => { timer = setTimeout(resolve, ms); })]);
  clearTimeout(timer);
}

function sampleTime(body: ApiStatsBody): EpochNanos {
  return (body.read ? parseRfc3339Nano(body.read) : undefined) ?? nowNanos();
}

/** Runs `fn` over `items`, at most `limit` at a time. */
export async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker));
}
