/** The pipeline's internal events: one call each for the log line, the self-metric and the /status tally. */
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
