import { performance } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { TextRegistry } from './text-registry.js';

const LINT_FAILING_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/** How long a scrape shows the process figures of the last one instead of collecting them again. */
const DEFAULT_METRICS_MIN_WINDOW_MS = 1000;

type Collected = { name: string; collect?: (this: unknown) => unknown };

/**
 * prom-client collects its default metrics at every scrape: it lists /proc/self/fd, reads
 * /proc/self/status, lists every active handle and walks the event-loop delay histogram (the
 * standard deviation alone ~0.3 ms): ~0.4 ms of a back-to-back scrape at 100 containers followed.
 * A scrape less than a window after the one that collected shows that one's figures: nothing is
 * lost (process_cpu_* add the time since their last collect, the delay histogram keeps counting
 * until the next window), and at any usual scrape interval the figures are as before.
 */
function collectAtMostOncePerWindow(metrics: readonly Collected[], minWindowMs: number): void {
  for (const metric of metrics) {
    const collect = metric.collect;
    if (!collect) continue;
    let windowStart = -Infinity;
    metric.collect = function collectOncePerWindow(this: unknown) {
      const now = performance.now();
      if (now - windowStart < minWindowMs) return undefined;
      windowStart = now;
      return collect.call(this);
    };
  }
}

/**
 * The agent's own metrics, all prefixed `dockhand_`. Components get this object and create
 * their metrics through it so that one name is registered once, whoever asks first.
 */
export class SelfMetrics {
  readonly registry = new TextRegistry();

  readonly recordsIn = this.counter('dockhand_records_in_total', 'Records accepted by a component.', ['component', 'kind']);
  readonly recordsOut = this.counter('dockhand_records_out_total', 'Records a component delivered.', ['component', 'kind']);
  readonly recordsDropped = this.counter('dockhand_records_dropped_total', 'Records dropped, by component and reason.', ['component', 'reason']);
  readonly queueDepth = this.gauge('dockhand_queue_depth', 'Records waiting in memory in an exporter lane, by exporter and record kind.', ['component', 'kind']);
  readonly queueCapacity = this.gauge('dockhand_queue_capacity', 'Records an exporter lane holds in memory, by exporter and record kind.', ['component', 'kind']);
  readonly spillBytes = this.gauge('dockhand_spill_bytes', 'Bytes spilled to disk and not yet delivered, by exporter and record kind.', ['component', 'kind']);
  readonly errors = this.counter('dockhand_errors_total', 'Errors, by component and kind.', ['component', 'kind']);
  readonly reconnects = this.counter('dockhand_reconnects_total', 'Reconnections, by component.', ['component']);
  readonly exportDuration = this.histogram('dockhand_export_duration_seconds', 'Time an exporter took for one batch.', ['component'], [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30]);

  constructor(options: { defaultMetrics?: boolean; defaultMetricsMinWindowMs?: number } = {}) {
    if (options.defaultMetrics ?? true) {
      const own = new Set(this.registry.getMetricsAsArray());
      collectDefaultMetrics({ register: this.registry });
      // prom-client names these gauges *_total, which `promtool check metrics` rejects; the
      // handle/request counts are noise for an agent anyway (event loop lag and heap stay).
      for (const name of LINT_FAILING_DEFAULTS) this.registry.removeSingleMetric(name);
      const defaults = this.registry.getMetricsAsArray().filter((metric) => !own.has(metric)) as unknown as Collected[];
      collectAtMostOncePerWindow(defaults, options.defaultMetricsMinWindowMs ?? DEFAULT_METRICS_MIN_WINDOW_MS);
    }
  }

  counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    const existing = this.registry.getSingleMetric(name);
    if (existing) return existing as Counter<L>;
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  gauge<L extends string>(name: string, help: string, labelNames: readonly L[] = [], collect?: (this: Gauge<L>) => void | Promise<void>): Gauge<L> {
    const existing = this.registry.getSingleMetric(name);
    if (existing) return existing as Gauge<L>;
    return new Gauge({ name, help, labelNames, registers: [this.registry], ...(collect ? { collect } : {}) });
  }

  histogram<L extends string>(name: string, help: string, labelNames: readonly L[], buckets: number[]): Histogram<L> {
    const existing = this.registry.getSingleMetric(name);
    if (existing) return existing as Histogram<L>;
    return new Histogram({ name, help, labelNames, buckets, registers: [this.registry] });
  }
}
