/**
 * The `prometheus` exporter: a pull exporter. It owns a prom-client registry that the agent
 * serves on /metrics beside its own; container state series are computed from the inventory at
 * scrape time, events are counted as they pass. Config section `exporters.prometheus`.
 */
import { z } from 'zod';
import { defineExporter, type Exporter, type ExporterContext, type Health } from '../../src/component.js';
import type { AgentRecord, RecordKind } from '../../src/records.js';
import { ExpositionRegistry } from './computed-metric.js';
import { EventMetrics } from './event-metrics.js';
import { registerStateMetrics } from './state-metrics.js';
import { ResourceMetrics } from './container-metrics.js';

export const prometheusConfigSchema = z.strictObject({
  enabled: z.boolean().default(true).describe('Serve docker_events_total and the container state metrics on /metrics.'),
});

export type PrometheusConfig = z.output<typeof prometheusConfigSchema>;

export class PrometheusExporter implements Exporter {
  readonly id = 'prometheus';
  readonly accepts: ReadonlySet<RecordKind> = new Set<RecordKind>(['event', 'metric', 'engine']);
  readonly registry = new ExpositionRegistry();
  private readonly events: EventMetrics;
  private readonly resources: ResourceMetrics;

  constructor(_config: PrometheusConfig, ctx: Pick<ExporterContext, 'inventory'>) {
    this.events = new EventMetrics(this.registry);
    registerStateMetrics(this.registry, ctx.inventory);
    this.resources = new ResourceMetrics(this.registry, ctx.inventory);
  }

  async start(): Promise<void> {}

  async export(batch: readonly AgentRecord[]): Promise<void> {
    for (const record of batch) if (record.kind === 'event') this.events.count(record); else this.resources.accept(record);
  }

  async flush(): Promise<void> {}

  async stop(): Promise<void> {}

  /** Always healthy: Prometheus pulls, so there is no backend to be unreachable. */
  health(): Health {
    return { healthy: true };
  }

  status(): Record<string, unknown> {
    return { events_counted: this.events.counted };
  }
}

export const prometheusExporterFactory = defineExporter({
  type: 'prometheus',
  configSchema: prometheusConfigSchema,
  isEnabled: (config) => config.enabled,
  create: (config, ctx) => new PrometheusExporter(config, ctx),
});
