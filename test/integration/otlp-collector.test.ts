/**
 * Opt-in: the exporter against a real OTLP/HTTP receiver (an OpenTelemetry Collector with the otlp
 * receiver's HTTP port, e.g. OTLP_TEST_ENDPOINT=http://localhost:4318), in both encodings, gzipped
 * and not: every request accepted whole (2xx, no partial success). Reported as skipped when
 * OTLP_TEST_ENDPOINT is not set; OTLP_TEST_HEADERS (k=v,k2=v2) are sent with each request.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OtlpExporter } from '../../exporters/otlp/exporter.js';
import { otlpConfigSchema, parseHeaderList } from '../../exporters/otlp/config.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { SelfMetrics } from '../../src/telemetry/metrics.js';
import { eventRecord, logRecord, metricRecord } from '../helpers/es-records.js';

const endpoint = process.env.OTLP_TEST_ENDPOINT;

for (const protocol of ['http/protobuf', 'http/json'] as const) {
  for (const compression of ['gzip', 'none'] as const) {
    test(`a real OTLP receiver takes logs, events and metrics whole (${protocol}, ${compression})`, { skip: endpoint ? false : 'OTLP_TEST_ENDPOINT not set' }, async () => {
      const metrics = new SelfMetrics({ defaultMetrics: false });
      const config = otlpConfigSchema.parse({
        enabled: true, endpoint, protocol, compression, metrics: { enabled: true },
        headers: process.env.OTLP_TEST_HEADERS ? parseHeaderList(process.env.OTLP_TEST_HEADERS, 'OTLP_TEST_HEADERS') : {},
      });
      const exporter = new OtlpExporter(config, {
        logger: createLogger({ level: 'silent', format: 'json' }), metrics, agentVersion: '0.1.0-test',
        inventory: { list: () => [], get: () => undefined, currentAsOf: () => 0 },
      });
      await exporter.start();
      try {
        const now = BigInt(Date.now()) * 1_000_000n;
        await exporter.export([logRecord(1, { time: now }), logRecord(2, { time: now + 1n, json: { level: 'warn', msg: 'structured', n: 2 } })]);
        await exporter.export([{ ...eventRecord(1), time: now }]);
        await exporter.export([{ ...metricRecord(0), time: now }, { ...metricRecord(1), time: now + 1_000_000_000n }]);
        assert.equal(exporter.status().records_rejected, 0);
        assert.equal(exporter.status().failed_requests, 0);
      } finally {
        await exporter.stop();
      }
    });
  }
}
