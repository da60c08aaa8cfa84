/**
 * Container resource metrics with cAdvisor's names, units, types and labels, rendered from the
 * latest MetricRecord of each container. A scrape formats what is in memory: no Docker call, no
 * file read. Counters carry the kernel's absolute values under the counter type (nothing is
 * `inc`-ed); a container that stops or disappears from the inventory loses its series on the next
 * scrape because the map of latest samples is pruned against the inventory while rendering.
 *
 * Labels: `id` is the container's cgroup path, as cAdvisor's (`/docker/<id>` with the cgroupfs
 * driver, `/system.slice/docker-<id>.scope` with systemd); `name`, `image` and the allow-listed
 * `container_label_*` as on every container series (labels.ts). `interface` on network series,
 * `cpu="total"` on container_cpu_usage_seconds_total as cAdvisor writes it without per-CPU stats.
 * `device` on the fs series: per block device (`/dev/sda`) for I/O, the filesystem holding the
 * writable layer for usage and limit; `failure_type` and `scope` on container_memory_failures_total.
 * HELP texts are cAdvisor's (metrics/prometheus.go) word for word.
 */
import type { Registry } from 'prom-client';
import type { InventoryView } from '../../src/docker/inventory.js';
import type { AgentRecord, BlkioDeviceSample, BlkioSample, FilesystemSample, MachineSample, MetricRecord, NetworkSample } from '../../src/records.js';
import { ComputedMetric, type ExposedType, type SeriesSink } from './computed-metric.js';
import { EngineMetrics } from './engine-metrics.js';
import type { LabelSet } from './exposition.js';
import { containerLabelSet } from './labels.js';
import { registerMachineMetrics } from './machine-metrics.js';

interface Entry {
  readonly record: MetricRecord;
  /** The container's label set, shared with its state series (labels.ts caches it per ContainerMeta). */
  readonly labels: LabelSet;
  readonly receivedAt: number;
}

type Family = readonly [name: string, help: string, type: ExposedType, series: (entry: Entry, write: SeriesSink) => void];

/** One value with the container's labels, or none when `value` is undefined. */
function single(value: (r: MetricRecord) => number | undefined): Family[3] {
  return (entry, write) => {
    const v = value(entry.record);
    if (v !== undefined) write(entry.labels, v);
  };
}

const interfaceLabels = new Map<string, LabelSet>();
/** Interface names are few (eth0, eth1, …); a host that shows more only loses the reuse past this. */
const MAX_INTERFACE_NAMES = 1024;

/**
 * `{interface}` once per interface name, the same object from one sample to the next, so the eight
 * families find each series' formatted labels in their cache instead of formatting them every round.
 */
function interfaceOf(sample: NetworkSample): LabelSet {
  let labels = interfaceLabels.get(sample.interface);
  if (!labels) {
    if (interfaceLabels.size >= MAX_INTERFACE_NAMES) interfaceLabels.clear();
    interfaceLabels.set(sample.interface, (labels = Object.freeze({ interface: sample.interface })));
  }
  return labels;
}

function perInterface(value: (n: NetworkSample) => number): Family[3] {
  return (entry, write) => {
    for (const n of entry.record.network) write(interfaceOf(n), value(n), entry.labels);
  };
}

const CPU_TOTAL: LabelSet = Object.freeze({ cpu: 'total' });

/** `{device}` per device name, reused from one sample to the next like interfaceOf. */
const deviceLabels = new Map<string, LabelSet>();
function deviceOf(device: string): LabelSet {
  let labels = deviceLabels.get(device);
  if (!labels) {
    if (deviceLabels.size >= MAX_INTERFACE_NAMES) deviceLabels.clear();
    deviceLabels.set(device, (labels = Object.freeze({ device })));
  }
  return labels;
}

/**
 * Block I/O per device, as cAdvisor; a sample without per-device figures (none from its source)
 * gives one series of the sums without a device label, as before devices were read.
 */
function perDevice(value: (d: BlkioSample | BlkioDeviceSample) => number): Family[3] {
  return (entry, write) => {
    const { blkio } = entry.record;
    if (!blkio.devices) write(entry.labels, value(blkio));
    else for (const d of blkio.devices) write(deviceOf(d.device), value(d), entry.labels);
  };
}

function perFilesystem(value: (f: FilesystemSample) => number | undefined): Family[3] {
  return (entry, write) => {
    for (const f of entry.record.filesystem ?? []) {
      const v = value(f);
      if (v !== undefined) write(deviceOf(f.device), v, entry.labels);
    }
  };
}

const FAILURE_LABELS = {
  pgfaultContainer: Object.freeze({ failure_type: 'pgfault', scope: 'container' }),
  pgmajfaultContainer: Object.freeze({ failure_type: 'pgmajfault', scope: 'container' }),
  pgfaultHierarchy: Object.freeze({ failure_type: 'pgfault', scope: 'hierarchy' }),
  pgmajfaultHierarchy: Object.freeze({ failure_type: 'pgmajfault', scope: 'hierarchy' }),
};

/** cAdvisor's four series, in its order. */
const memoryFailures: Family[3] = (entry, write) => {
  const faults = entry.record.memory.pageFaults;
  if (!faults) return;
  write(FAILURE_LABELS.pgfaultContainer, faults.pgfault, entry.labels);
  write(FAILURE_LABELS.pgmajfaultContainer, faults.pgmajfault, entry.labels);
  write(FAILURE_LABELS.pgfaultHierarchy, faults.hierarchyPgfault, entry.labels);
  write(FAILURE_LABELS.pgmajfaultHierarchy, faults.hierarchyPgmajfault, entry.labels);
};

/** cAdvisor emits the CFS series only for containers with a CPU quota. */
const withQuota = (value: (r: MetricRecord) => number) => single((r) => (r.cpu.quotaMicros !== undefined ? value(r) : undefined));

export const CONTAINER_FAMILIES: readonly Family[] = [
  ['container_cpu_usage_seconds_total', 'Cumulative cpu time consumed in seconds.', 'counter',
    (entry, write) => write(CPU_TOTAL, entry.record.cpu.usageSeconds, entry.labels)],
  ['container_cpu_user_seconds_total', 'Cumulative user cpu time consumed in seconds.', 'counter', single((r) => r.cpu.userSeconds)],
  ['container_cpu_system_seconds_total', 'Cumulative system cpu time consumed in seconds.', 'counter', single((r) => r.cpu.systemSeconds)],
  ['container_cpu_cfs_periods_total', 'Number of elapsed enforcement period intervals.', 'counter', withQuota((r) => r.cpu.periods)],
  ['container_cpu_cfs_throttled_periods_total', 'Number of throttled period intervals.', 'counter', withQuota((r) => r.cpu.throttledPeriods)],
  ['container_cpu_cfs_throttled_seconds_total', 'Total time duration the container has been throttled.', 'counter', withQuota((r) => r.cpu.throttledSeconds)],
  ['container_memory_usage_bytes', 'Current memory usage in bytes, including all memory regardless of when it was accessed', 'gauge', single((r) => r.memory.usageBytes)],
  ['container_memory_max_usage_bytes', 'Maximum memory usage recorded in bytes', 'gauge', single((r) => r.memory.maxUsageBytes)],
  ['container_memory_working_set_bytes', 'Current working set in bytes.', 'gauge', single((r) => r.memory.workingSetBytes)],
  ['container_memory_rss', 'Size of RSS in bytes.', 'gauge', single((r) => r.memory.rssBytes)],
  ['container_memory_cache', 'Number of bytes of page cache memory.', 'gauge', single((r) => r.memory.cacheBytes)],
  ['container_memory_swap', 'Container swap usage in bytes.', 'gauge', single((r) => r.memory.swapBytes)],
  ['container_memory_failcnt', 'Number of memory usage hits limits', 'untyped', single((r) => r.memory.failcnt)],
  ['container_memory_failures_total', 'Cumulative count of memory allocation failures.', 'counter', memoryFailures],
  ['container_spec_memory_limit_bytes', 'Memory limit for the container.', 'gauge', single((r) => r.memory.limitBytes ?? 0)],
  ['container_spec_memory_reservation_limit_bytes', 'Memory reservation limit for the container.', 'gauge', single((r) => r.memory.reservationBytes)],
  ['container_spec_memory_swap_limit_bytes', 'Memory swap limit for the container.', 'gauge', single((r) => r.memory.swapLimitBytes)],
  ['container_spec_cpu_quota', 'CPU quota of the container.', 'gauge', single((r) => r.cpu.quotaMicros)],
  ['container_spec_cpu_period', 'CPU period of the container.', 'gauge', single((r) => r.cpu.periodMicros)],
  ['container_spec_cpu_shares', 'CPU share of the container.', 'gauge', single((r) => r.cpu.shares)],
  ['container_network_receive_bytes_total', 'Cumulative count of bytes received', 'counter', perInterface((n) => n.rxBytes)],
  ['container_network_receive_packets_total', 'Cumulative count of packets received', 'counter', perInterface((n) => n.rxPackets)],
  ['container_network_receive_errors_total', 'Cumulative count of errors encountered while receiving', 'counter', perInterface((n) => n.rxErrors)],
  ['container_network_receive_packets_dropped_total', 'Cumulative count of packets dropped while receiving', 'counter', perInterface((n) => n.rxDropped)],
  ['container_network_transmit_bytes_total', 'Cumulative count of bytes transmitted', 'counter', perInterface((n) => n.txBytes)],
  ['container_network_transmit_packets_total', 'Cumulative count of packets transmitted', 'counter', perInterface((n) => n.txPackets)],
  ['container_network_transmit_errors_total', 'Cumulative count of errors encountered while transmitting', 'counter', perInterface((n) => n.txErrors)],
  ['container_network_transmit_packets_dropped_total', 'Cumulative count of packets dropped while transmitting', 'counter', perInterface((n) => n.txDropped)],
  ['container_fs_reads_bytes_total', 'Cumulative count of bytes read', 'counter', perDevice((d) => d.readBytes)],
  ['container_fs_writes_bytes_total', 'Cumulative count of bytes written', 'counter', perDevice((d) => d.writeBytes)],
  ['container_fs_reads_total', 'Cumulative count of reads completed', 'counter', perDevice((d) => d.reads)],
  ['container_fs_writes_total', 'Cumulative count of writes completed', 'counter', perDevice((d) => d.writes)],
  ['container_fs_usage_bytes', 'Number of bytes that are consumed by the container on this filesystem.', 'gauge', perFilesystem((f) => f.usageBytes)],
  ['container_fs_limit_bytes', 'Number of bytes that can be consumed by the container on this filesystem.', 'gauge', perFilesystem((f) => f.limitBytes)],
  ['container_processes', 'Number of processes running inside the container.', 'gauge', single((r) => r.pids)],
];

export const CONTAINER_METRIC_NAMES: readonly string[] = CONTAINER_FAMILIES.map(([name]) => name);

export interface ContainerMetricsOptions {
  /** A sample older than this is not rendered (its collector stopped sampling the container). */
  readonly staleAfterMs?: number;
}

/** The latest sample per container and the metric families rendered from it. */
export class ContainerMetrics {
  private readonly latest = new Map<string, Entry>();
  private readonly staleAfterMs: number;
  private current: Entry[] | undefined;

  constructor(private readonly inventory: InventoryView, options: ContainerMetricsOptions = {}) {
    this.staleAfterMs = options.staleAfterMs ?? 5 * 60_000;
  }

  get size(): number {
    return this.latest.size;
  }

  update(record: MetricRecord): void {
    const previous = this.latest.get(record.container.id);
    if (previous && previous.record.time > record.time) return; // a late batch never rolls a counter back
    // The inventory's path, like the state series', so the two families join on `id`.
    const cgroupPath = this.inventory.get(record.container.id)?.cgroupPath ?? record.cgroupPath ?? `/docker/${record.container.id}`;
    this.latest.set(record.container.id, { record, labels: containerLabelSet(record.container, cgroupPath), receivedAt: Date.now() });
    this.current = undefined;
  }

  register(registry: Registry): void {
    // An Entry is made once per sample and never changed: the same live entries give the same text.
    for (const [name, help, type, series] of CONTAINER_FAMILIES) {
      new ComputedMetric(name, help, type, {
        items: () => this.liveNow(),
        series: (entries: readonly Entry[], write) => {
          for (const entry of entries) series(entry, write);
        },
      }).register(registry);
    }
  }

  /**
   * live(), once per synchronous stretch of code: the 27 families of a scrape ask one after the other.
   * Nothing else runs before the microtask that forgets it, so no change can be missed.
   */
  private liveNow(): Entry[] {
    if (!this.current) {
      this.current = this.live();
      queueMicrotask(() => { this.current = undefined; });
    }
    return this.current;
  }

  /** The host of the live samples (every record of a collector carries the same object). */
  machine(): MachineSample | undefined {
    for (const entry of this.liveNow()) if (entry.record.machine) return entry.record.machine;
    return undefined;
  }

  /** Entries still worth rendering; the others are dropped for good. */
  live(): Entry[] {
    const now = Date.now();
    const out: Entry[] = [];
    for (const [id, entry] of this.latest) {
      const state = this.inventory.get(id)?.state;
      if ((state === 'running' || state === 'paused') && now - entry.receivedAt <= this.staleAfterMs) out.push(entry);
      else this.latest.delete(id);
    }
    return out;
  }
}

/**
 * The hook the Prometheus exporter calls: container samples and engine figures, one object.
 * `accept` takes any record and says whether it was one of ours.
 */
export class ResourceMetrics {
  readonly containers: ContainerMetrics;
  readonly engine = new EngineMetrics();

  constructor(registry: Registry, inventory: InventoryView, options: ContainerMetricsOptions = {}) {
    this.containers = new ContainerMetrics(inventory, options);
    this.containers.register(registry);
    registerMachineMetrics(registry, () => this.containers.machine());
    this.engine.register(registry);
  }

  accept(record: AgentRecord): boolean {
    if (record.kind === 'metric') this.containers.update(record);
    else if (record.kind === 'engine') this.engine.update(record);
    else return false;
    return true;
  }
}
