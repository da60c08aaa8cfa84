/**
 * The pipeline as the page draws it: collectors → lanes → exporters, each with the figures the
 * agent already keeps (status(), readiness, its self-metrics). Nothing here is counted anew; rates
 * are the page's, from two readings of these totals.
 */
import type { Counter, Gauge } from 'prom-client';
import type { Health } from '../component.js';
import type { RecordKind } from '../records.js';
import type { SelfMetrics } from '../telemetry/metrics.js';

export interface CollectorSource {
  readonly id: string;
  readonly kinds: readonly RecordKind[];
  readonly running: boolean;
  /** Records it handed to the pipeline since start. */
  readonly emitted: number;
  readonly status: Record<string, unknown>;
}

export interface ExporterSource {
  readonly id: string;
  readonly accepts: readonly RecordKind[];
  readonly health: Health;
  readonly status: Record<string, unknown>;
}

export interface PipelineSources {
  readiness(): { ready: boolean; checks: Record<string, Health> };
  collectors(): readonly CollectorSource[];
  exporters(): readonly ExporterSource[];
  readonly metrics: SelfMetrics;
}

export const LOG_LAG_METRIC = 'dockhand_logs_lag_seconds';

export async function pipelineView(sources: PipelineSources): Promise<Record<string, unknown>> {
  const { ready, checks } = sources.readiness();
  const notReady = Object.entries(checks).filter(([, c]) => !c.healthy).map(([component, c]) => ({ component, reason: c.reason ?? 'not healthy' }));
  const [recordsIn, recordsOut, errors, lag] = await Promise.all([
    byComponent(sources.metrics.recordsIn),
    byComponent(sources.metrics.recordsOut),
    errorsByComponent(sources.metrics.errors),
    logAckLag(sources.metrics),
  ]);
  return {
    time: Date.now(),
    ready,
    not_ready: notReady,
    ready_reason: readyReason(ready, notReady),
    ack_lag_seconds: lag,
    docker: checks.docker ?? { healthy: false, reason: 'unknown' },
    collectors: sources.collectors().map((c) => ({
      id: c.id, kinds: c.kinds, running: c.running, emitted: c.emitted,
      last_error: c.status.last_error ?? c.status.failed ?? null,
      status: c.status,
    })),
    exporters: sources.exporters().map((e) => exporterView(e, recordsIn.get(e.id), recordsOut.get(e.id), errors.get(e.id))),
  };
}

type ByKind = Map<string, number>;
const sum = (byKind: ByKind | undefined) => [...(byKind?.values() ?? [])].reduce((a, b) => a + b, 0);

function exporterView(exporter: ExporterSource, recordsIn: ByKind | undefined, recordsOut: ByKind | undefined, errors: { retries: number; permanent: number } | undefined): Record<string, unknown> {
  const { status } = exporter;
  const lanes = (status.lanes ?? {}) as Record<string, Record<string, unknown>>;
  return {
    id: exporter.id,
    accepts: exporter.accepts,
    healthy: exporter.health.healthy,
    reason: exporter.health.healthy ? null : exporter.health.reason ?? 'not healthy',
    records_in: sum(recordsIn),
    records_out: sum(recordsOut),
    queued: status.queued ?? 0,
    in_flight: status.in_flight ?? 0,
    retries: errors?.retries ?? 0,
    permanent_failures: errors?.permanent ?? 0,
    dead_lettered: status.dead_lettered ?? 0,
    dropped: status.dropped ?? 0,
    last_error: status.last_error ?? null,
    lanes: Object.fromEntries(Object.entries(lanes).map(([kind, lane]) => [kind, {
      policy: lane.policy, records_in: recordsIn?.get(kind) ?? 0, records_out: recordsOut?.get(kind) ?? 0, queued: lane.queued ?? 0, capacity: lane.capacity ?? null,
      queued_bytes: lane.queued_bytes ?? null, capacity_bytes: lane.capacity_bytes ?? null,
      spill_bytes: lane.spill_bytes ?? null, in_flight: lane.in_flight ?? 0, consecutive_failures: lane.consecutive_failures ?? 0,
      ack_lag_seconds: lane.ack_lag_seconds ?? 0,
    }])),
  };
}

/** /readyz's verdict in a sentence. */
export function readyReason(ready: boolean, notReady: readonly { component: string; reason: string }[]): string {
  if (ready) return 'Ready: the daemon answers and every exporter is healthy.';
  return `Not ready: ${notReady.map((n) => `${n.component} — ${n.reason}`).join('; ')}.`;
}

/** A counter's values by component, then by record kind. */
async function byComponent(counter: Counter<'component' | 'kind'>): Promise<Map<string, ByKind>> {
  const totals = new Map<string, ByKind>();
  for (const { labels, value } of (await counter.get()).values) {
    const component = String(labels.component);
    let byKind = totals.get(component);
    if (!byKind) totals.set(component, byKind = new Map());
    byKind.set(String(labels.kind), (byKind.get(String(labels.kind)) ?? 0) + value);
  }
  return totals;
}

/** Retries are the failed rounds that are tried again (everything but permanent failures). */
async function errorsByComponent(counter: Counter<'component' | 'kind'>): Promise<Map<string, { retries: number; permanent: number }>> {
  const totals = new Map<string, { retries: number; permanent: number }>();
  for (const { labels, value } of (await counter.get()).values) {
    const component = String(labels.component);
    const entry = totals.get(component) ?? { retries: 0, permanent: 0 };
    if (labels.kind === 'permanent') entry.permanent += value;
    else entry.retries += value;
    totals.set(component, entry);
  }
  return totals;
}

/** The oldest line read and not yet stored everywhere, as the logs collector reports it (seconds); null without a log collector. */
async function logAckLag(metrics: SelfMetrics): Promise<number | null> {
  const gauge = metrics.registry.getSingleMetric(LOG_LAG_METRIC) as Gauge | undefined;
  if (!gauge) return null;
  const values = (await gauge.get()).values;
  return values.reduce((max, { value }) => Math.max(max, value), 0);
}
