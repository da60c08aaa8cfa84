/** The exporter's self-metrics, all `dockhand_otlp_*`, by signal (logs: lines and events; metrics). */
import type { Counter, Gauge, Histogram } from 'prom-client';
import type { SelfMetrics } from '../../src/telemetry/metrics.js';

/** Why a request did not store its records. */
export type FailureReason = 'unreachable' | 'throttled' | 'unavailable' | 'refused' | 'encoding';

export class OtlpMetrics {
  readonly requests: Counter<'signal' | 'outcome'>;
  readonly requestDuration: Histogram<'signal'>;
  readonly bytesSent: Counter<'signal'>;
  readonly recordsSent: Counter<'signal'>;
  readonly recordsStored: Counter<'signal'>;
  readonly recordsRejected: Counter<'signal'>;
  readonly failures: Counter<'signal' | 'reason'>;
  readonly inFlight: Gauge;
  readonly consecutiveFailures: Gauge;

  constructor(metrics: SelfMetrics) {
    this.requests = metrics.counter('dockhand_otlp_requests_total', 'Export requests, by signal and outcome (ok; partial: a 200 with rejected records; failed: no answer, or an error status).', ['signal', 'outcome']);
    this.requestDuration = metrics.histogram('dockhand_otlp_request_duration_seconds', 'Time from sending an export request to its answer (or failure), by signal.', ['signal'], [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]);
    this.bytesSent = metrics.counter('dockhand_otlp_bytes_sent_total', 'Encoded request bytes sent (protobuf or JSON), before compression, by signal.', ['signal']);
    this.recordsSent = metrics.counter('dockhand_otlp_records_sent_total', 'Records (log lines, events, metric samples) sent in export requests, resends included, by signal.', ['signal']);
    this.recordsStored = metrics.counter('dockhand_otlp_records_stored_total', 'Records in requests the receiver accepted (2xx), less the ones it said it rejected, by signal.', ['signal']);
    this.recordsRejected = metrics.counter('dockhand_otlp_records_rejected_total', 'Log records or data points the receiver accepted the request of but rejected (partial success): not retryable per the OTLP specification, and the receiver does not say which.', ['signal']);
    this.failures = metrics.counter('dockhand_otlp_failures_total', 'Export requests that stored nothing, by signal and reason (unreachable: no answer; throttled: 429; unavailable: 401/403/404/408/5xx, retried; refused: any other error status (400, 413), the batch dead-lettered or split; encoding).', ['signal', 'reason']);
    this.inFlight = metrics.gauge('dockhand_otlp_requests_in_flight', 'Export requests waiting for an answer.');
    this.consecutiveFailures = metrics.gauge('dockhand_otlp_consecutive_failures', 'Export requests failed in a row (0 once one succeeds).');
  }
}
