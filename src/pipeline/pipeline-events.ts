/** The pipeline's internal events (drops, spills, dead letters): one call each for the log line, the self-metric and the /status tally. */
import { InternalEvent } from '../telemetry/internal-event.js';
import type { Logger } from '../telemetry/logger.js';
import type { SelfMetrics } from '../telemetry/metrics.js';

export type PipelineEvents = ReturnType<typeof pipelineEvents>;

export function pipelineEvents(metrics: SelfMetrics, logger: Logger) {
  return {
    dropped: new InternalEvent({
      metric: 'dockhand_records_dropped_total',
      help: 'Records dropped, by component and reason.',
      labels: ['component', 'reason'] as const,
      level: 'warn',
      message: 'records dropped',
    }, metrics, logger),
    spilled: new InternalEvent({
      metric: 'dockhand_records_spilled_total',
      help: 'Records written to an exporter lane\'s spill files under the data directory (they could not wait in memory), by exporter and kind.',
      labels: ['component', 'kind'] as const,
      level: 'info',
      message: 'records spilled to disk until the exporter takes them',
    }, metrics, logger),
  };
}

export type DeadLetterEvents = ReturnType<typeof deadLetterEvents>;

/** The internal events of the local dead-letter file. */
export function deadLetterEvents(metrics: SelfMetrics, logger: Logger) {
  return {
    written: new InternalEvent({
      metric: 'dockhand_dead_letters_total',
      help: 'Records written to the local dead-letter file, by exporter and reason.',
      labels: ['component', 'reason'] as const,
      level: 'error',
      message: 'records dead-lettered to the local dead-letter file',
    }, metrics, logger),
    discarded: new InternalEvent({
      metric: 'dockhand_dead_letters_discarded_total',
      help: 'Dead-letter lines deleted by rotation (the file is bounded in bytes), by exporter.',
      labels: ['component'] as const,
      level: 'warn',
      message: 'oldest dead-letter file deleted by rotation',
    }, metrics, logger),
  };
}
