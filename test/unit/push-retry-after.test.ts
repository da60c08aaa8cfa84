/**
 * A backend's Retry-After through the real OTLP exporter and ExporterRunner: 0, a past date or a
 * huge value must not make a hot retry loop (the runner bounds every exporter's Retry-After to
 * [retry.initial_ms, 5 min]), and a value past setTimeout's range never reaches it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { OtlpExporter } from '../../exporters/otlp/exporter.js';
import { otlpConfigSchema } from '../../exporters/otlp/config.js';
import { retryAfterMs } from '../../exporters/push/http-push.js';
import { ExporterRunner, MAX_RETRY_AFTER_MS, boundedRetryAfterMs } from '../../src/pipeline/exporter-runner.js';
import type { InventoryView } from '../../src/docker/inventory.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { SelfMetrics } from '../../src/telemetry/metrics.js';
import { logRecords } from '../helpers/es-records.js';

const noInventory: InventoryView = { list: () => [], get: () => undefined, currentAsOf: () => 0 };
const INITIAL_MS = 200;
const WINDOW_MS = 1000;

/** Requests a backend answering 429 + `retryAfter` gets from the runner in WINDOW_MS. */
async function requestsIn(retryAfter: string): Promise<number> {
  let requests = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.method === 'POST') requests++; // not the exporter's start-up probe (GET /)
      res.writeHead(429, { 'retry-after': retryAfter });
      res.end('slow down');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const metrics = new SelfMetrics({ defaultMetrics: false });
  const exporter = new OtlpExporter(otlpConfigSchema.parse({ enabled: true, endpoint }), { logger: silentLogger(), metrics, agentVersion: 't', inventory: noInventory });
  await exporter.start();
  const runner = new ExporterRunner(exporter, silentLogger(), metrics, { lingerMs: 1 }, { initialMs: INITIAL_MS, maxMs: 30_000 });
  await runner.start();
  try {
    void runner.enqueue(logRecords(3));
    await new Promise((resolve) => setTimeout(resolve, WINDOW_MS));
    return requests;
  } finally {
    await runner.drain(Date.now() + 10);
    await exporter.stop();
    server.closeAllConnections();
    server.close();
  }
}

test('Retry-After is read bounded: a negative number is no hint, huge values are cut to 5 minutes', () => {
  const now = Date.parse('2026-11-30T00:00:00Z');
  assert.equal(retryAfterMs('-5', now), undefined);
  assert.equal(retryAfterMs('-1', now), undefined);
  assert.equal(retryAfterMs('99999999', now), MAX_RETRY_AFTER_MS);
  assert.equal(retryAfterMs('Fri, 01 Jan 2100 00:00:00 GMT', now), MAX_RETRY_AFTER_MS);
  assert.equal(retryAfterMs('Thu, 01 Jan 1970 00:00:00 GMT', now), 0);
  const retry = { initialMs: INITIAL_MS, maxMs: 30_000 };
  assert.equal(boundedRetryAfterMs(0, retry), INITIAL_MS);
  assert.equal(boundedRetryAfterMs(-5, retry), INITIAL_MS);
  assert.equal(boundedRetryAfterMs(99_999_999_000, retry), MAX_RETRY_AFTER_MS);
  assert.equal(boundedRetryAfterMs(7000, retry), 7000);
  assert.equal(boundedRetryAfterMs(undefined, retry), undefined);
});

test('a backend answering 429 with Retry-After 0, a past date or 99999999 gets a bounded request rate, and no TimeoutOverflowWarning', async () => {
  const warnings: string[] = [];
  const onWarning = (warning: Error) => warnings.push(warning.name);
  process.on('warning', onWarning);
  try {
    const [zero, past, huge] = await Promise.all(['0', 'Thu, 01 Jan 1970 00:00:00 GMT', '99999999'].map(requestsIn));
    // At most one request per retry.initial_ms (plus the first and timer slack); a hot loop makes hundreds.
    const most = WINDOW_MS / INITIAL_MS + 2;
    assert.ok(zero! >= 2 && zero! <= most, `Retry-After 0: ${zero} requests in ${WINDOW_MS} ms`);
    assert.ok(past! >= 2 && past! <= most, `past date: ${past} requests in ${WINDOW_MS} ms`);
    assert.equal(huge, 1, `Retry-After 99999999: ${huge} requests (the next waits 5 minutes)`);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(warnings.filter((name) => name === 'TimeoutOverflowWarning'), []);
  } finally {
    process.off('warning', onWarning);
  }
});
