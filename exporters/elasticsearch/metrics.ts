/** The exporter's self-metrics, all `dockhand_elasticsearch_*`. */
import type { Counter, Gauge, Histogram } from 'prom-client';
import type { SelfMetrics } from '../../src/telemetry/metrics.js';

export class ElasticsearchMetrics {
  readonly sent: Counter;
  readonly stored: Counter;
  readonly duplicates: Counter;
  readonly deadLettered: Counter;
  readonly retried: Counter;
  readonly bulkRequests: Counter<'outcome'>;
  readonly bulkDuration: Histogram;
  readonly bytesSent: Counter;
  readonly inFlight: Gauge;
  readonly consecutiveFailures: Gauge;

  constructor(metrics: SelfMetrics) {
    this.sent = metrics.counter('dockhand_elasticsearch_documents_sent_total', 'Documents sent in bulk requests, resends included.');
    this.stored = metrics.counter('dockhand_elasticsearch_documents_stored_total', 'Documents Elasticsearch stored (201).');
    this.duplicates = metrics.counter('dockhand_elasticsearch_documents_duplicate_total', 'Documents already stored by an earlier attempt (409 on create): delivered, duplicate avoided.');
    this.deadLettered = metrics.counter('dockhand_elasticsearch_documents_dead_lettered_total', 'Documents Elasticsearch refused (mapping errors, other 4xx, a request refused with only them in it) or that cannot be encoded, stored in the dead-letter index with the reason.');
    this.retried = metrics.counter('dockhand_elasticsearch_documents_retried_total', 'Documents answered 429, 5xx or an index block per item, handed back to be sent again.');
    this.bulkRequests = metrics.counter('dockhand_elasticsearch_bulk_requests_total', 'Bulk requests, by outcome (ok: answered with per-item results; refused: 400/413 for the request as a whole, then halved to find a document at fault, or an outage; error: failed, retried).', ['outcome']);
    this.bulkDuration = metrics.histogram('dockhand_elasticsearch_bulk_duration_seconds', 'Time from sending a bulk request to its answer (or failure).', [], [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]);
    this.bytesSent = metrics.counter('dockhand_elasticsearch_bytes_sent_total', 'NDJSON bytes sent in bulk requests, before compression.');
    this.inFlight = metrics.gauge('dockhand_elasticsearch_bulk_in_flight', 'Bulk requests waiting for an answer.');
    this.consecutiveFailures = metrics.gauge('dockhand_elasticsearch_consecutive_failures', 'Bulk requests failed as a whole in a row (0 once one succeeds).');
  }
}
