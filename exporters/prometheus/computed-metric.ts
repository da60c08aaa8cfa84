/**
 * A metric family whose samples are computed at scrape time, with label names that vary per
 * series (allow-listed container labels are not known up front, which prom-client's Gauge and
 * Counter require). Registers like any prom-client metric and merges with other registries.
 */
import type { Metric, Registry } from 'prom-client';

export interface Sample {
  readonly labels: Readonly<Record<string, string | number>>;
  readonly value: number;
}

export class ComputedMetric {
  readonly aggregator = 'sum';

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'gauge' | 'counter',
    private readonly compute: () => Iterable<Sample>,
  ) {}

  async get() {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: [...this.compute()].map((s) => ({ labels: { ...s.labels }, value: s.value })) };
  }

  /** Nothing to reset: the values live in the source they are computed from. */
  reset(): void {}

  register(registry: Registry): this {
    registry.registerMetric(this as unknown as Metric);
    return this;
  }
}
