import { performance } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { TextRegistry } from './text-registry.js';

const LINT_FAILING_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/** The gauge whose collect sets all eight nodejs_eventloop_lag_* gauges (prom-client's default metrics). */
const EVENT_LOOP_LAG = 'nodejs_eventloop_lag_seconds';
/** The shortest window the event loop lag figures are computed over. */
const EVENT_LOOP_LAG_MIN_WINDOW_MS = 1000;

/**
 * prom-client computes the nodejs_eventloop_lag_* figures at every scrape, and the standard deviation
 * alone walks the whole delay histogram (~0.3 ms, half the agent's own registry). Scrapes less than
 * a second apart now show the figures of the last window instead of cutting a new one: no delay is
 * lost (the histogram keeps counting until the next window), and at any usual scrape interval the
 * figures are the same as before.
 */
function limitEventLoopLagWindows(registry: Registry, minWindowMs: number): void {
  const lag = registry.getSingleMetric(EVENT_LOOP_LAG) as { collect?: (this: unknown) => unknown } | undefined;
  const collect = lag?.collect;
  if (!lag || !collect) return;
  let windowStart = -Infinity;
  lag.collect = function collectAtMostOncePerWindow(this: unknown) {
    const now = performance.now();
    if (now - windowStart < minWindowMs) return undefined;
    windowStart = now;
    return collect.call(this);
  };
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

  constructor(options: { defaultMetrics?: boolean; eventLoopLagMinWindowMs?: number } = {}) {
    if (options.defaultMetrics ?? true) {
      collectDefaultMetrics({ register: this.registry });
      // prom-client names these gauges *_total, which `promtool check metrics` rejects; the
      // handle/request counts are noise for an agent anyway (event loop lag and heap stay).
      for (const name of LINT_FAILING_DEFAULTS) this.registry.removeSingleMetric(name);
      limitEventLoopLagWindows(this.registry, options.eventLoopLagMinWindowMs ?? EVENT_LOOP_LAG_MIN_WINDOW_MS);
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
