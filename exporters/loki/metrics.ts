/** The exporter's self-metrics, all `dockhand_loki_*`. */
import type { Counter, Gauge, Histogram } from 'prom-client';
import type { SelfMetrics } from '../../src/telemetry/metrics.js';

export class LokiMetrics {
  readonly requests: Counter<'outcome'>;
  readonly duration: Histogram;
  readonly bytesSent: Counter;
  readonly entriesSent: Counter;
  readonly entriesStored: Counter;
  readonly entriesRejected: Counter<'reason'>;
  readonly inFlight: Gauge;
  readonly consecutiveFailures: Gauge;

  constructor(metrics: SelfMetrics) {
    this.requests = metrics.counter('dockhand_loki_requests_total',
      'Push requests, by outcome (ok: 2xx; retried: 429, 5xx, 401/403/404/408, sent again by the exporter runner; rejected: other 4xx, the batch goes to the dead-letter file; error: no answer).', ['outcome']);
    this.duration = metrics.histogram('dockhand_loki_request_duration_seconds', 'Time from sending a push request to its answer (or failure).', [], [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]);
    this.bytesSent = metrics.counter('dockhand_loki_bytes_sent_total', 'Push body bytes sent, as on the wire (compressed), resends included.');
    this.entriesSent = metrics.counter('dockhand_loki_entries_sent_total', 'Entries sent in push requests, resends included.');
    this.entriesStored = metrics.counter('dockhand_loki_entries_stored_total', 'Entries of pushes Loki answered 2xx (replays Loki dropped as duplicates included).');
    this.entriesRejected = metrics.counter('dockhand_loki_entries_rejected_total',
      'Entries of pushes Loki refused for good (400 and other 4xx), written to the local dead-letter file, by reason (too_far_behind, out_of_order, too_old, too_new, line_too_long, labels, other).', ['reason']);
    this.inFlight = metrics.gauge('dockhand_loki_requests_in_flight', 'Push requests waiting for an answer.');
    this.consecutiveFailures = metrics.gauge('dockhand_loki_consecutive_failures', 'Push requests failed or refused in a row (0 once one succeeds).');
  }
}
