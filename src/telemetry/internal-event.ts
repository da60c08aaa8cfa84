/**
 * Internal events, as Vector's `internal_events`: one call records a thing that happened inside the
 * agent in all three places people look — the log line, the self-metric and the tally shown on
 * /status — so the three can never disagree or be forgotten one at a time.
 */
import type { Counter } from 'prom-client';
import type { Logger } from './logger.js';
import type { SelfMetrics } from './metrics.js';

type Level = 'debug' | 'info' | 'warn' | 'error';

export interface InternalEventSpec<L extends string> {
  /** Counter name, `dockhand_…_total`. */
  readonly metric: string;
  readonly help: string;
  readonly labels: readonly L[];
  readonly level: Level;
  /** The log message (fields go beside it). */
  readonly message: string;
}

export class InternalEvent<L extends string = string> {
  private readonly counter: Counter<L>;
  /** Total occurrences since start, for /status. */
  total = 0;
  /** The most recent occurrence's fields, for /status. */
  last: Readonly<Record<string, unknown>> | undefined;

  constructor(private readonly spec: InternalEventSpec<L>, metrics: SelfMetrics, private readonly logger: Logger) {
    this.counter = metrics.counter(spec.metric, spec.help, spec.labels);
  }

  /** Records `count` occurrences: counter by `labels`, one log line with `labels` and `fields`, the /status tally. */
  emit(labels: Partial<Record<L, string>>, fields: Record<string, unknown> = {}, count = 1): void {
    if (count <= 0) return;
    this.counter.inc(labels as Record<L, string>, count);
    this.total += count;
    this.last = { ...labels, ...fields, count, at: new Date().toISOString() };
    const line: Record<string, unknown> = { ...labels, ...fields, count };
    this.logger[this.spec.level](line, this.spec.message);
  }

  status(): Record<string, unknown> {
    return this.last ? { total: this.total, last: this.last } : { total: this.total };
  }
}
