/**
 * The OTLP exporter against the test receiver: status classification
 * (429, 401/403/404/408 and every 5xx retryable with Retry-After, 413 split in halves, 400 permanent, the Status message as the
 * error text), partial success counted and not retried, no answer → whenAnswering, the JSON and
 * uncompressed variants, headers sent and never logged; and through the shared ExporterRunner, a
 * refused batch lands in the local dead-letter file and its acknowledgement is released only then.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { OtlpExporter } from '../../exporters/otlp/exporter.js';
import { otlpConfigSchema } from '../../exporters/otlp/config.js';
import { PartialExportError, PermanentError, RetryableError } from '../../src/errors.js';
import { Ack } from '../../src/pipeline/ack.js';
import { DeadLetterFile, deadLetterEvents, deadLetterFileName } from '../../src/pipeline/dead-letter-file.js';
import { ExporterRunner } from '../../src/pipeline/exporter-runner.js';
import type { InventoryView } from '../../src/docker/inventory.js';
import type { LogRecord } from '../../src/records.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { SelfMetrics } from '../../src/telemetry/metrics.js';
import { eventRecord, logRecord, logRecords, metricRecord } from '../helpers/es-records.js';
import { OtlpTestServer } from '../helpers/otlp-server.js';
import { waitFor } from '../helpers/wait.js';

const noInventory: InventoryView = { list: () => [], get: () => undefined, currentAsOf: () => 0 };

interface Setup {
  server: OtlpTestServer;
  exporter: OtlpExporter;
  metrics: SelfMetrics;
  logs: string[];
}

async function setup(t: TestContext, overrides: Record<string, unknown> = {}): Promise<Setup> {
  const server = await OtlpTestServer.start();
  const logs: string[] = [];
  const sink = new Writable({ write(chunk, _encoding, done) { logs.push(String(chunk)); done(); } });
  const metrics = new SelfMetrics({ defaultMetrics: false });
  const config = otlpConfigSchema.parse({ enabled: true, endpoint: server.url, retry: { initial_ms: 10, max_ms: 50 }, batch: { linger_ms: 5 }, metrics: { enabled: true }, ...overrides });
  const exporter = new OtlpExporter(config, { logger: createLogger({ level: 'debug', format: 'json' }, sink), metrics, agentVersion: '0.1.0-test', inventory: noInventory });
  await exporter.start();
  t.after(async () => {
    await exporter.stop();
    await server.close();
  });
  return { server, exporter, metrics, logs };
}

async function metricValue(metrics: SelfMetrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = metrics.registry.getSingleMetric(name);
  if (!metric) return 0;
  const { values } = await metric.get();
  return values.filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l)).reduce((sum, v) => sum + v.value, 0);
}

function thrown(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(() => assert.fail('expected export() to throw'), (error: unknown) => error);
}

test('protobuf, gzip: logs and events to /v1/logs, metrics to /v1/metrics, counted', async (t) => {
  const { server, exporter, metrics } = await setup(t);
  await exporter.export(logRecords(3));
  await exporter.export([eventRecord(1)]);
  await exporter.export([metricRecord(0)]);
  assert.deepEqual(server.requests.map((r) => [r.signal, r.contentType, r.contentEncoding, r.status]), [
    ['logs', 'application/x-protobuf', 'gzip', 200], ['logs', 'application/x-protobuf', 'gzip', 200], ['metrics', 'application/x-protobuf', 'gzip', 200],
  ]);
  assert.equal(server.logs.length, 4);
  assert.ok(server.metrics.some((m) => m.name === 'container.cpu.time'));
  assert.equal(await metricValue(metrics, 'dockhand_otlp_records_stored_total', { signal: 'logs' }), 4);
  assert.equal(await metricValue(metrics, 'dockhand_otlp_records_stored_total', { signal: 'metrics' }), 1);
  assert.equal(await metricValue(metrics, 'dockhand_otlp_requests_total', { outcome: 'ok' }), 3);
  assert.ok(await metricValue(metrics, 'dockhand_otlp_bytes_sent_total', { signal: 'logs' }) > 0);
});

test('http/json without compression: application/json, no content-encoding, the same records', async (t) => {
  const { server, exporter } = await setup(t, { protocol: 'http/json', compression: 'none' });
  await exporter.export(logRecords(2));
  assert.deepEqual(server.requests.map((r) => [r.contentType, r.contentEncoding]), [['application/json', '']]);
  assert.deepEqual(server.logs.map((l) => l.body), ['line 0', 'line 1']);
});

test('headers go with every request and are never logged', async (t) => {
  const { server, exporter, logs } = await setup(t, { headers: { authorization: 'Bearer s3cret-token' } });
  await exporter.export(logRecords(1));
  server.answer({ status: 400, message: 'bad' });
  await thrown(exporter.export(logRecords(1)));
  await server.refuseConnections();
  await thrown(exporter.export(logRecords(1)));
  assert.equal(server.requests[0]!.headers.authorization, 'Bearer s3cret-token');
  assert.ok(logs.length > 0);
  assert.doesNotMatch(logs.join(''), /s3cret/);
  assert.doesNotMatch(JSON.stringify(exporter.status()), /s3cret/);
});

test('429 with Retry-After: RetryableError carrying the delay; 502/503/504 retryable too; counted as throttled / unavailable', async (t) => {
  const { server, exporter, metrics } = await setup(t);
  server.answer({ status: 429, retryAfter: '3' });
  const throttled = await thrown(exporter.export(logRecords(2)));
  assert.ok(throttled instanceof RetryableError, String(throttled));
  assert.equal(throttled.retryAfterMs, 3000);
  assert.match(throttled.message, /HTTP 429: test server answers 429/);
  for (const status of [502, 503, 504]) {
    server.answer({ status });
    const error = await thrown(exporter.export(logRecords(1)));
    assert.ok(error instanceof RetryableError, `${status}: ${String(error)}`);
  }
  assert.equal(await metricValue(metrics, 'dockhand_otlp_failures_total', { reason: 'throttled' }), 1);
  assert.equal(await metricValue(metrics, 'dockhand_otlp_failures_total', { reason: 'unavailable' }), 3);
  assert.equal(server.logs.length, 0, 'nothing stored');
  await exporter.export(logRecords(2));
  assert.equal(server.logs.length, 2);
  assert.equal(await metricValue(metrics, 'dockhand_otlp_consecutive_failures'), 0);
});

test('400 with a Status body: PermanentError with the server\'s message (protobuf and JSON); 413 for a single record too', async (t) => {
  const { server, exporter } = await setup(t);
  server.answer({ status: 400, message: 'body too weird' });
  const refused = await thrown(exporter.export(logRecords(1)));
  assert.ok(refused instanceof PermanentError, String(refused));
  assert.match(refused.message, /^OTLP logs export to http:\/\/127\.0\.0\.1:\d+\/v1\/logs: HTTP 400: body too weird$/);
  server.answer({ status: 413 });
  assert.ok(await thrown(exporter.export(logRecords(1))) instanceof PermanentError, 'one record too large');
  const json = await setup(t, { protocol: 'http/json' });
  json.server.answer({ status: 400, message: 'json says no' });
  const error = await thrown(json.exporter.export(logRecords(1)));
  assert.ok(error instanceof PermanentError);
  assert.match(error.message, /HTTP 400: json says no$/);
});

test('401, 403, 404, 408 and every 5xx are retried (fixed by an operator, never by the dead-letter file)', async (t) => {
  const { server, exporter } = await setup(t);
  for (const status of [401, 403, 404, 408, 500, 501, 505]) {
    server.answer({ status });
    const error = await thrown(exporter.export(logRecords(1)));
    assert.ok(error instanceof RetryableError, `${status}: ${String(error)}`);
  }
  for (const status of [400, 405, 415, 422]) {
    server.answer({ status });
    assert.ok(await thrown(exporter.export(logRecords(1))) instanceof PermanentError, String(status));
  }
});

test('413 (too large): the batch is sent again in halves; the first part stored, the rest handed back to the runner', async (t) => {
  const { server, exporter } = await setup(t);
  server.answer({ status: 413, times: 2 });
  const batch = logRecords(8);
  const error = await thrown(exporter.export(batch));
  assert.ok(error instanceof PartialExportError, String(error));
  assert.deepEqual(server.requests.map((r) => r.status), [413, 413, 200]);
  const sizes = server.requests.map((r) => Number(r.headers['content-length']));
  assert.ok(sizes[0]! > sizes[1]! && sizes[1]! > sizes[2]!, `each request smaller: ${sizes.join(', ')}`);
  assert.deepEqual(error.retry, batch.slice(2));
  assert.deepEqual(error.rejected, []);
  assert.equal(server.logs.length, 2);
});

test('partial success: the request counts as delivered (not retried, as the spec says), the rejected records are counted and logged', async (t) => {
  for (const protocol of ['http/protobuf', 'http/json']) {
    const { server, exporter, metrics, logs } = await setup(t, { protocol });
    server.answer({ status: 200, rejected: 2 });
    await exporter.export(logRecords(5));
    server.answer({ status: 200, rejected: 1, signal: 'metrics' });
    await exporter.export([metricRecord(0)]);
    assert.equal(server.requests.length, 2, `${protocol}: one request each, nothing sent again`);
    assert.equal(await metricValue(metrics, 'dockhand_otlp_records_rejected_total', { signal: 'logs' }), 2, protocol);
    assert.equal(await metricValue(metrics, 'dockhand_otlp_records_rejected_total', { signal: 'metrics' }), 1, protocol);
    assert.equal(await metricValue(metrics, 'dockhand_otlp_records_stored_total', { signal: 'logs' }), 3, protocol);
    assert.equal(await metricValue(metrics, 'dockhand_otlp_requests_total', { outcome: 'partial' }), 2, protocol);
    assert.equal(exporter.status().records_rejected, 3);
    assert.match(logs.join(''), /"rejected":2,"records":5,"message":"2 rejected by the test server","msg":"the OTLP receiver rejected part of a request/);
  }
});

test('no answer: RetryableError, unhealthy naming the receiver; whenAnswering resolves once it listens again, not while it answers errors', async (t) => {
  const { server, exporter, metrics } = await setup(t);
  await exporter.export(logRecords(1));
  const idle = new AbortController();
  let resolvedWhileUp = false;
  void exporter.whenAnswering(idle.signal).then(() => { resolvedWhileUp = !idle.signal.aborted; });
  await server.refuseConnections();
  const error = await thrown(exporter.export(logRecords(1)));
  assert.ok(error instanceof RetryableError);
  assert.match(exporter.health().reason ?? '', /OTLP receiver not answering \(logs\): POST http:\/\/127\.0\.0\.1:\d+\/v1\/logs: no answer/);
  assert.equal(await metricValue(metrics, 'dockhand_otlp_failures_total', { reason: 'unreachable' }), 1);
  const stop = new AbortController();
  let answered = false;
  const waiting = exporter.whenAnswering(stop.signal).then(() => { answered = true; });
  await new Promise((resolve) => setTimeout(resolve, 600));
  assert.equal(answered, false, 'still down');
  await server.acceptConnections();
  await waitFor(() => answered, { timeoutMs: 3_000, what: 'whenAnswering after the receiver is back' });
  await waiting;
  await exporter.export(logRecords(1));
  assert.equal(exporter.health().healthy, true);
  idle.abort();
  assert.equal(resolvedWhileUp, false, 'a waiter from before the outage resolved only by its abort');
  stop.abort();
});

test('through the runner: 429 then 503 are retried to success, a 400 batch goes to the local dead-letter file; acks released only then', async (t) => {
  const { server, exporter, metrics } = await setup(t);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dh-otlp-dl-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const silent = createLogger({ level: 'silent', format: 'json' });
  const deadLetters = new DeadLetterFile(dir, deadLetterEvents(metrics, silent));
  const runner = new ExporterRunner(exporter, silent, metrics, { lingerMs: 5 }, { initialMs: 10, maxMs: 50 }, deadLetters);
  await runner.start();
  t.after(() => runner.drain(Date.now() + 2_000));
  server.answer({ status: 429, retryAfter: '0' });
  server.answer({ status: 503 });
  let settled = 0;
  const ack = new Ack(() => { settled++; });
  const first: LogRecord[] = logRecords(3).map((r) => ({ ...r, ack }));
  await runner.enqueue(first);
  ack.release();
  await waitFor(() => settled === 1, { timeoutMs: 5_000, what: 'the batch stored after 429 and 503' });
  assert.deepEqual(server.requests.map((r) => r.status), [429, 503, 200]);
  assert.equal(server.logs.length, 3);

  server.answer({ status: 400, message: 'never' });
  let refusedSettled = false;
  const refusedAck = new Ack(() => { refusedSettled = true; });
  await runner.enqueue([logRecord(9, { message: 'poison', ack: refusedAck })]);
  refusedAck.release();
  await waitFor(() => refusedSettled, { timeoutMs: 5_000, what: 'the refused batch acknowledged once dead-lettered' });
  const lines = readFileSync(path.join(dir, deadLetterFileName('otlp')), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  assert.equal(lines.length, 1);
  assert.match(JSON.stringify(lines[0]), /poison/);
  assert.match(JSON.stringify(lines[0]), /HTTP 400: never/);
  assert.equal(server.logs.length, 3, 'the refused line was not stored');
});

test('a receiver down at start: not healthy (probed in the background) until it answers, before anything is sent', async (t) => {
  const { server, exporter } = await setup(t);
  await waitFor(() => exporter.health().healthy, { timeoutMs: 3_000, what: 'healthy once the receiver answered the probe' });
  const config = otlpConfigSchema.parse({ enabled: true, endpoint: server.url });
  await server.refuseConnections();
  const late = new OtlpExporter(config, { logger: createLogger({ level: 'silent', format: 'json' }), metrics: new SelfMetrics({ defaultMetrics: false }), agentVersion: '0', inventory: noInventory });
  t.after(() => late.stop());
  assert.match(late.health().reason ?? '', /not started/);
  await late.start();
  await new Promise((resolve) => setTimeout(resolve, 600));
  assert.match(late.health().reason ?? '', /OTLP receiver not answering \(logs\): not reached yet/);
  await server.acceptConnections();
  await waitFor(() => late.health().healthy, { timeoutMs: 3_000, what: 'healthy once the receiver answers' });
  assert.equal(server.requests.length, 0, 'nothing was sent to find out');
});

test('a record that cannot be encoded (JSON nested deeper than the stack) is rejected alone; the rest of its batch is handed back and then stored', async (t) => {
  const { server, exporter } = await setup(t);
  let deep: Record<string, unknown> = { end: true };
  for (let i = 0; i < 20_000; i++) deep = { d: deep };
  const poison = logRecord(1, { json: deep, message: '{"d":…}' });
  const batch = [logRecord(0), poison, logRecord(2)];
  const error = await thrown(exporter.export(batch));
  assert.ok(error instanceof PartialExportError, String(error));
  assert.deepEqual(error.rejected.map((r) => r.record), [poison]);
  assert.match(error.rejected[0]!.reason, /cannot be encoded as OTLP/);
  assert.deepEqual(error.retry, [batch[0], batch[2]]);
  assert.equal(server.requests.length, 0, 'nothing sent with the poison in it');
  await exporter.export(error.retry as LogRecord[]);
  assert.deepEqual(server.logs.map((l) => l.body), ['line 0', 'line 2']);
});

test('through the runner: a 401 echoing the credentials is retried, never dead-lettered, and no secret shows in status, health, logs or dead-letter reasons', async (t) => {
  const { server, exporter, metrics, logs } = await setup(t, { headers: { authorization: 'Bearer s3cr3t-token', 'x-api-key': 'k3y-98765' } });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dh-otlp-dl-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const runnerLog = new Writable({ write(chunk, _encoding, done) { logs.push(String(chunk)); done(); } });
  const logger = createLogger({ level: 'debug', format: 'json' }, runnerLog);
  const deadLetters = new DeadLetterFile(dir, deadLetterEvents(metrics, logger));
  const runner = new ExporterRunner(exporter, logger, metrics, { lingerMs: 5 }, { initialMs: 10, maxMs: 50 }, deadLetters);
  await runner.start();
  t.after(() => runner.drain(Date.now() + 2_000));
  const echo = 'invalid credentials: Bearer s3cr3t-token (key k3y-98765)';
  server.answer({ status: 401, message: echo, times: 1_000_000 });
  let settled = false;
  const ack = new Ack(() => { settled = true; });
  await runner.enqueue(logRecords(3).map((r) => ({ ...r, ack })));
  ack.release();
  await waitFor(() => server.requests.length >= 3, { timeoutMs: 5_000, what: 'the 401 retried' });
  assert.equal(settled, false, 'not acknowledged while refused');
  assert.equal(runner.status().dead_lettered, 0);
  const shown = JSON.stringify([runner.status(), exporter.status(), runner.health()]) + logs.join('');
  assert.match(shown, /HTTP 401: invalid credentials: \[redacted\]/);
  assert.doesNotMatch(shown, /s3cr3t|k3y-98765/);

  server.clearAnswers(); // the operator fixed the token: the next retry is stored
  await waitFor(() => settled, { timeoutMs: 5_000, what: 'stored once the receiver takes the token' });
  assert.equal(server.logs.length, 3);

  server.answer({ status: 400, message: echo });
  let refused = false;
  const poisonAck = new Ack(() => { refused = true; });
  await runner.enqueue([logRecord(9, { message: 'poison', ack: poisonAck })]);
  poisonAck.release();
  await waitFor(() => refused, { timeoutMs: 5_000, what: 'the 400 batch dead-lettered' });
  const deadLetter = readFileSync(path.join(dir, deadLetterFileName('otlp')), 'utf8');
  assert.match(deadLetter, /HTTP 400: invalid credentials: \[redacted\]/);
  assert.doesNotMatch(deadLetter, /s3cr3t|k3y-98765/);
});
