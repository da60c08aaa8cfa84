/**
 * Container state metrics, computed from the inventory at scrape time: a container removed from
 * the inventory has no series on the next scrape, by construction (no stale series to clean up).
 * Names follow cAdvisor where it has one (container_start_time_seconds, container_last_seen,
 * container_oom_events_total); the rest is what cAdvisor lacks.
 */
import type { Registry } from 'prom-client';
import type { ContainerRunState, ContainerState, HealthStatus, InventoryView } from '../../src/docker/inventory.js';
import { ComputedMetric, type SeriesSink, type SeriesSource } from './computed-metric.js';
import type { LabelSet } from './exposition.js';
import { containerLabelSet } from './labels.js';

export const RUN_STATES: readonly ContainerRunState[] = ['created', 'running', 'paused', 'restarting', 'removing', 'exited', 'dead'];
export const HEALTH_STATUSES: readonly HealthStatus[] = ['healthy', 'unhealthy', 'starting', 'none'];

export const STATE_METRIC_NAMES = [
  'container_state',
  'container_health_status',
  'container_restarts_total',
  'container_oom_events_total',
  'container_last_exit_code',
  'container_start_time_seconds',
  'container_last_seen',
] as const;

const STATE_LABELS: readonly LabelSet[] = RUN_STATES.map((state) => Object.freeze({ state }));
const STATUS_LABELS: readonly LabelSet[] = HEALTH_STATUSES.map((status) => Object.freeze({ status }));

/** The `id` label is the container's cgroup path, as on cAdvisor's (and our resource) series, so they join. */
export function registerStateMetrics(registry: Registry, inventory: InventoryView): ComputedMetric[] {
  // The inventory replaces a container's ContainerState whenever anything in it changes (it never
  // edits one), so while inventory.list() gives the same objects a family's text is the same.
  const each = (series: (c: ContainerState, labels: LabelSet, write: SeriesSink) => void): SeriesSource<ContainerState> => ({
    items: () => inventory.list(),
    series: (containers, write) => {
      for (const container of containers) series(container, containerLabelSet(container.meta, container.cgroupPath), write);
    },
  });
  const one = (value: (c: ContainerState) => number | undefined) => each((c, labels, write) => {
    const v = value(c);
    if (v !== undefined) write(labels, v);
  });
  /** container_last_seen reads the clock (now, while events are followed): formatted on every scrape. */
  const everyScrape = (source: SeriesSource<ContainerState>) => (write: SeriesSink) => source.series(source.items(), write);
  return [
    new ComputedMetric('container_state', 'Whether the container is in this state (1) or not (0): created, running, paused, restarting, removing, exited, dead.', 'gauge',
      each((c, labels, write) => {
        for (let i = 0; i < RUN_STATES.length; i++) write(labels, c.state === RUN_STATES[i] ? 1 : 0, STATE_LABELS[i]);
      })),
    new ComputedMetric('container_health_status', 'Whether the container healthcheck reports this status (1) or not (0); none when it has no healthcheck.', 'gauge',
      each((c, labels, write) => {
        for (let i = 0; i < HEALTH_STATUSES.length; i++) write(labels, c.health === HEALTH_STATUSES[i] ? 1 : 0, STATUS_LABELS[i]);
      })),
    new ComputedMetric('container_restarts_total', 'Times the daemon restarted the container (RestartCount from inspect).', 'counter', one((c) => c.restartCount)),
    new ComputedMetric('container_oom_events_total', 'Out-of-memory events seen for the container since the agent started.', 'counter', one((c) => c.oomEvents)),
    new ComputedMetric('container_last_exit_code', 'Exit code of the container\'s last run (0 while it has never exited).', 'gauge', one((c) => c.exitCode)),
    new ComputedMetric('container_start_time_seconds', 'Start time of the container since unix epoch in seconds (last start).', 'gauge', one((c) => (c.startedAt > 0 ? c.startedAt : undefined))),
    new ComputedMetric('container_last_seen', 'Last time the agent confirmed the container\'s state, since unix epoch in seconds.', 'gauge', everyScrape(one((c) => Math.max(c.lastSeen, inventory.currentAsOf())))),
  ].map((metric) => metric.register(registry));
}
