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
 * Block I/O is summed over devices, so the fs series have no `device` label.
 */
import type { Registry } from 'prom-client';
import type { InventoryView } from '../../src/docker/inventory.js';
import type { AgentRecord, MetricRecord, NetworkSample } from '../../src/records.js';
import { ComputedMetric, type ExposedType, type SeriesSink } from './computed-metric.js';
import { EngineMetrics } from './engine-metrics.js';
import type { LabelSet } from './exposition.js';
import { containerLabelSet } from './labels.js';

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
  ['container_memory_usage_bytes', 'Current memory usage in bytes, including all memory regardless of when it was accessed.', 'gauge', single((r) => r.memory.usageBytes)],
  ['container_memory_working_set_bytes', 'Current working set in bytes (usage minus inactive file cache).', 'gauge', single((r) => r.memory.workingSetBytes)],
  ['container_memory_rss', 'Size of RSS in bytes.', 'gauge', single((r) => r.memory.rssBytes)],
  ['container_memory_cache', 'Number of bytes of page cache memory.', 'gauge', single((r) => r.memory.cacheBytes)],
  ['container_memory_failcnt', 'Number of memory usage hits limits (cumulative).', 'untyped', single((r) => r.memory.failcnt)],
  ['container_spec_memory_limit_bytes', 'Memory limit for the container (0 when unlimited).', 'gauge', single((r) => r.memory.limitBytes ?? 0)],
  ['container_spec_cpu_quota', 'CPU quota of the container (microseconds per period).', 'gauge', single((r) => r.cpu.quotaMicros)],
  ['container_spec_cpu_period', 'CPU period of the container (microseconds).', 'gauge', single((r) => r.cpu.periodMicros)],
  ['container_network_receive_bytes_total', 'Cumulative count of bytes received.', 'counter', perInterface((n) => n.rxBytes)],
  ['container_network_receive_packets_total', 'Cumulative count of packets received.', 'counter', perInterface((n) => n.rxPackets)],
  ['container_network_receive_errors_total', 'Cumulative count of errors encountered while receiving.', 'counter', perInterface((n) => n.rxErrors)],
  ['container_network_receive_packets_dropped_total', 'Cumulative count of packets dropped while receiving.', 'counter', perInterface((n) => n.rxDropped)],
  ['container_network_transmit_bytes_total', 'Cumulative count of bytes transmitted.', 'counter', perInterface((n) => n.txBytes)],
  ['container_network_transmit_packets_total', 'Cumulative count of packets transmitted.', 'counter', perInterface((n) => n.txPackets)],
  ['container_network_transmit_errors_total', 'Cumulative count of errors encountered while transmitting.', 'counter', perInterface((n) => n.txErrors)],
  ['container_network_transmit_packets_dropped_total', 'Cumulative count of packets dropped while transmitting.', 'counter', perInterface((n) => n.txDropped)],
  ['container_fs_reads_bytes_total', 'Cumulative count of bytes read (all block devices).', 'counter', single((r) => r.blkio.readBytes)],
  ['container_fs_writes_bytes_total', 'Cumulative count of bytes written (all block devices).', 'counter', single((r) => r.blkio.writeBytes)],
  ['container_fs_reads_total', 'Cumulative count of reads completed (all block devices).', 'counter', single((r) => r.blkio.reads)],
  ['container_fs_writes_total', 'Cumulative count of writes completed (all block devices).', 'counter', single((r) => r.blkio.writes)],
  ['container_processes', 'Number of processes running inside the container (tasks in its pids cgroup, as docker stats PIDS).', 'gauge', single((r) => r.pids)],
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
    this.engine.register(registry);
  }

  accept(record: AgentRecord): boolean {
    if (record.kind === 'metric') this.containers.update(record);
    else if (record.kind === 'engine') this.engine.update(record);
    else return false;
    return true;
  }
}
