/**
 * Recovering from an outage: once Elasticsearch answers again, the first retry goes out within 2 s,
 * however long the runner's backoff has grown (the exporter probes `GET /` while it does not answer
 * and wakes the sleeping retry). And a cluster that answers with errors keeps the backoff: no probe
 * cuts it short.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ElasticsearchExporter } from '../../exporters/elasticsearch/exporter.js';
import { elasticsearchConfigSchema } from '../../exporters/elasticsearch/config.js';
import { Ack } from '../../src/pipeline/ack.js';
import { ExporterRunner } from '../../src/pipeline/exporter-runner.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { SelfMetrics } from '../../src/telemetry/metrics.js';
import { EsTestServer } from '../helpers/es-server.js';
import { logRecords } from '../helpers/es-records.js';
import { waitFor } from '../helpers/wait.js';

async function start(retry: { initial_ms: number; max_ms: number }) {
  const server = await EsTestServer.start();
  const logger = createLogger({ level: 'silent', format: 'json' });
  const metrics = new SelfMetrics({ defaultMetrics: false });
  const config = elasticsearchConfigSchema.parse({ enabled: true, urls: [server.url], retry, batch: { linger_ms: 5 } });
  const exporter = new ElasticsearchExporter(config, { logger, metrics, agentVersion: '0.1.0-test' });
  const runner = new ExporterRunner(exporter, logger, metrics, { lingerMs: 5 }, exporter.retry);
  await exporter.start();
  await runner.start();
  const stop = async () => {
    await runner.drain(Date.now() + 2_000);
    await exporter.stop();
    await server.close();
  };
  return { server, runner, exporter, stop };
}

test('Elasticsearch back after an outage: the first bulk request is stored within 2 s, not after the grown backoff', async (t) => {
  // Retries at most 3, 6, 12 s apart (each at least half that): the first two fall in the 9.5 s outage,
  // the third comes 10.5 to 21 s after the start, so at least 1 s and usually far more after the end.
  const { server, runner, stop } = await start({ initial_ms: 3_000, max_ms: 60_000 });
  t.after(stop);
  await server.refuseConnections();
  let settled = false;
  const ack = new Ack(() => { settled = true; });
  await runner.enqueue(logRecords(50, { ack }));
  ack.release();
  await new Promise((resolve) => setTimeout(resolve, 9_500));
  assert.equal(server.count(), 0);
  await server.acceptConnections();
  const upAt = Date.now();
  await waitFor(() => server.count('logs-*') === 50, { timeoutMs: 15_000, what: 'the 50 lines stored' });
  const tookMs = Date.now() - upAt;
  assert.ok(tookMs <= 2_000, `first stored ${tookMs} ms after Elasticsearch came back (limit 2,000)`);
  await waitFor(() => settled, { timeoutMs: 2_000, what: 'the batch acknowledged' });
});

test('Elasticsearch answering with errors (503) is not probed past: the backoff stands', async (t) => {
  // The first retry comes 3 to 6 s after the first attempt.
  const { server, runner, exporter, stop } = await start({ initial_ms: 6_000, max_ms: 60_000 });
  t.after(stop);
  server.failRequests({ status: 503, match: /_bulk/ });
  await runner.enqueue(logRecords(5));
  await waitFor(() => server.counters.failedRequests >= 1, { timeoutMs: 5_000, what: 'the first refused bulk' });
  const waited = new AbortController();
  let woke = false;
  void exporter.whenAnswering(waited.signal).then(() => { woke = !waited.signal.aborted; });
  server.failRequests(undefined);
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  waited.abort();
  assert.equal(woke, false, 'no probe wakes a retry while the cluster answers');
  assert.equal(server.count('logs-*'), 0, 'the next retry waits for its backoff (3 s at least)');
  await waitFor(() => server.count('logs-*') === 5, { timeoutMs: 10_000, what: 'stored after the backoff' });
});
