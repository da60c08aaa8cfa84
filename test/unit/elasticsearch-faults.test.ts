/**
 * The Elasticsearch exporter under faults only the test server can inject: refused connections,
 * 503s, slow answers, per-item 429s, poison documents, write blocks, authentication failures,
 * requests refused as a whole (by Elasticsearch or a proxy). One export() sends its batch once and
 * says what is left (PartialExportError / RetryableError); records go through the shared
 * ExporterRunner with acknowledgements, as in the agent, to prove a batch is acknowledged only once
 * Elasticsearch (or the local dead-letter file) holds every record of it.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { ElasticsearchExporter } from '../../exporters/elasticsearch/exporter.js';
import { elasticsearchConfigSchema, type ElasticsearchConfigInput } from '../../exporters/elasticsearch/config.js';
import { Ack } from '../../src/pipeline/ack.js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ExporterRunner } from '../../src/pipeline/exporter-runner.js';
import { DeadLetterFile, deadLetterEvents, deadLetterFileName } from '../../src/pipeline/dead-letter-file.js';
import { PartialExportError, RetryableError } from '../../src/errors.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { SelfMetrics } from '../../src/telemetry/metrics.js';
import type { AgentRecord, LogRecord } from '../../src/records.js';
import { EsTestServer, type EsTestServerOptions } from '../helpers/es-server.js';
import { logRecord, logRecords } from '../helpers/es-records.js';
import { waitFor } from '../helpers/wait.js';

const LOGS = 'logs-docker.logs-default';

interface Setup {
  server: EsTestServer;
  exporter: ElasticsearchExporter;
  metrics: SelfMetrics;
  logs: string[];
  make(overrides?: Partial<ElasticsearchConfigInput>): ElasticsearchExporter;
}

async function setup(t: TestContext, overrides: Partial<ElasticsearchConfigInput> = {}, serverOptions: EsTestServerOptions = {}): Promise<Setup> {
  const server = await EsTestServer.start(serverOptions);
  const logs: string[] = [];
  const sink = new Writable({ write(chunk, _encoding, done) { logs.push(String(chunk)); done(); } });
  const logger = createLogger({ level: 'debug', format: 'json' }, sink);
  const metrics = new SelfMetrics({ defaultMetrics: false });
  const made: ElasticsearchExporter[] = [];
  const make = (more: Partial<ElasticsearchConfigInput> = {}) => {
    const config = elasticsearchConfigSchema.parse({
      enabled: true, urls: [server.url], retry: { initial_ms: 10, max_ms: 50 }, batch: { linger_ms: 5 }, ...overrides, ...more,
    });
    const exporter = new ElasticsearchExporter(config, { logger, metrics, agentVersion: '0.1.0-test' });
    made.push(exporter);
    return exporter;
  };
  t.after(async () => {
    for (const e of made) await e.stop();
    await server.close();
  });
  return { server, exporter: make(), metrics, logs, make };
}

const DEAD_LETTERS = 'dockhand-dead-letter';

function runnerFor(exporter: ElasticsearchExporter, metrics: SelfMetrics, deadLetters?: DeadLetterFile): ExporterRunner {
  const logger = createLogger({ level: 'silent', format: 'json' });
  const runner = new ExporterRunner(exporter, logger, metrics, {}, { initialMs: 10, maxMs: 50 }, deadLetters);
  runner.start();
  return runner;
}

/** The runner's local dead-letter file in a temporary folder, and its lines. */
function localDeadLetters(t: TestContext, metrics: SelfMetrics): { file: DeadLetterFile; lines(): Record<string, any>[] } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dh-es-dl-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = new DeadLetterFile(dir, deadLetterEvents(metrics, createLogger({ level: 'silent', format: 'json' })));
  const lines = () => {
    try {
      return readFileSync(path.join(dir, deadLetterFileName('elasticsearch')), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    } catch {
      return [];
    }
  };
  return { file, lines };
}

/** What export() threw: a PartialExportError (asserted), or undefined when it resolved. */
async function partial(exported: Promise<void>): Promise<PartialExportError<AgentRecord> | undefined> {
  const error = await exported.then(() => undefined, (e: unknown) => e);
  if (error === undefined) return undefined;
  assert.ok(error instanceof PartialExportError, `a partial result, not ${String(error)}`);
  return error as PartialExportError<AgentRecord>;
}

/** Emits `batches` batches of `size` log lines, one Ack each, as a collector does; returns them with their settle flags. */
async function emit(runner: ExporterRunner, batches: number, size: number, onSettled: (records: LogRecord[]) => void = () => {}, firstLine = 0) {
  const emitted: { records: LogRecord[]; settled: boolean }[] = [];
  for (let b = 0; b < batches; b++) {
    const entry = { records: [] as LogRecord[], settled: false };
    const ack = new Ack(() => {
      entry.settled = true;
      onSettled(entry.records);
    });
    for (let i = 0; i < size; i++) entry.records.push(logRecord(firstLine + b * size + i, { message: `line ${firstLine + b * size + i}`, ack }));
    emitted.push(entry);
    await runner.enqueue(entry.records);
    ack.release(); // the emitter's own hold
  }
  return emitted;
}

async function metricValue(metrics: SelfMetrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = metrics.registry.getSingleMetric(name);
  if (!metric) return 0;
  const { values } = await metric.get();
  return values.filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l)).reduce((sum, v) => sum + v.value, 0);
}

test('start installs the templates once; a second start finds them current and writes nothing', async (t) => {
  const { server, exporter, make } = await setup(t, { ilm: { enabled: true } });
  await exporter.start();
  assert.equal(exporter.status().templates, 'installed');
  const puts = server.requestLog.filter((line) => line.startsWith('PUT '));
  assert.deepEqual(puts, [
    'PUT /_ilm/policy/dockhand',
    'PUT /_component_template/dockhand@settings',
    'PUT /_component_template/dockhand@mappings',
    'PUT /_component_template/dockhand-metrics@mappings',
    'PUT /_index_template/dockhand-docker.logs',
    'PUT /_index_template/dockhand-docker.events',
    'PUT /_index_template/dockhand-dead-letter',
  ]);
  assert.equal((server.indexTemplate('dockhand-docker.logs')!.template!.settings as Record<string, unknown>)['index.lifecycle.name'], 'dockhand');
  const again = make({ ilm: { enabled: true } });
  await again.start();
  assert.equal(again.status().templates, 'installed');
  assert.equal(server.requestLog.filter((line) => line.startsWith('PUT ')).length, puts.length, 'no second PUT');
});

test('an unreachable cluster at start is no crash: unhealthy, retried in the background, ready once it answers', async (t) => {
  const { server, exporter } = await setup(t);
  await server.refuseConnections();
  await exporter.start();
  assert.equal(exporter.health().healthy, false);
  assert.match(exporter.health().reason!, /Elasticsearch not reachable: connection failed/);
  await assert.rejects(exporter.export([logRecord(0)]), RetryableError);
  await server.acceptConnections();
  await waitFor(() => exporter.health().healthy, { what: 'exporter healthy after the cluster came up' });
  assert.equal(exporter.status().templates, 'installed');
  await exporter.export([logRecord(0)]);
  assert.equal(server.count(LOGS), 1);
});

test('a cluster that forbids template installation gets a warning, and documents still flow', async (t) => {
  const { server, exporter, logs } = await setup(t);
  server.forbid(/^PUT \/_(index|component)_template\//);
  await exporter.start();
  assert.deepEqual(exporter.health(), { healthy: true });
  assert.equal(exporter.status().templates, 'forbidden');
  const warning = logs.map((l) => JSON.parse(l)).find((l) => /could not install the Elasticsearch templates/.test(l.msg));
  assert.ok(warning, 'a warning is logged');
  assert.equal(warning.level, 40);
  assert.match(warning.err, /403 security_exception: action \[cluster:admin\/component_template\/put\] is unauthorized/);
  await exporter.export([logRecord(0), logRecord(1)]);
  assert.equal(server.count(LOGS), 2);
  assert.equal(server.dataStream(LOGS)?.template, 'logs', 'the built-in template applied instead');
});

test('30% of items answered 429: only the rejected items are resent, each batch acknowledged once all of it is stored', async (t) => {
  const { server, exporter, metrics } = await setup(t, { batch: { max_records: 250, linger_ms: 5, concurrency: 2 } });
  await exporter.start();
  server.rejectItems({ share: 0.3, seed: 42 });
  const runner = runnerFor(exporter, metrics);
  const missingAtSettle: string[] = [];
  const emitted = await emit(runner, 12, 250, (records) => {
    for (const r of records) if (!server.document(LOGS, r.id)) missingAtSettle.push(r.id);
  });
  await waitFor(() => emitted.every((e) => e.settled), { timeoutMs: 30_000, what: 'every batch acknowledged' });
  assert.deepEqual(missingAtSettle, [], 'no batch was acknowledged before all its records were stored');
  const total = 12 * 250;
  assert.equal(server.count(LOGS), total);
  assert.ok(server.counters.rejected > total * 0.3, `rejections happened (${server.counters.rejected})`);
  let received = 0;
  for (const e of emitted) for (const r of e.records) received += server.timesReceived(r.id);
  assert.equal(received, total + server.counters.rejected, 'every resend answers one rejection: only rejected items were resent');
  assert.equal(server.counters.duplicates, 0, 'no whole batch was sent again');
  assert.equal(await metricValue(metrics, 'dockhand_elasticsearch_documents_retried_total'), server.counters.rejected);
  assert.equal(await metricValue(metrics, 'dockhand_elasticsearch_documents_stored_total'), total);
  assert.equal(await metricValue(metrics, 'dockhand_elasticsearch_documents_sent_total'), received);
  assert.deepEqual(exporter.health(), { healthy: true });
  await runner.drain(Date.now() + 5_000);
});

test('one export() sends its batch once: the items answered 429 come back in a PartialExportError, the rest is stored, nothing waits in the exporter', async (t) => {
  const { server, exporter } = await setup(t, { retry: { initial_ms: 5_000, max_ms: 10_000 } });
  await exporter.start();
  server.rejectItems({ share: 0.3, seed: 7 });
  const records = Array.from({ length: 1000 }, (_, i) => logRecord(i));
  const started = Date.now();
  const error = await partial(exporter.export(records));
  assert.ok(Date.now() - started < 2_500, 'no retry wait inside export()');
  assert.equal(server.counters.bulkRequests, 1, 'one request: the exporter does not resend');
  assert.ok(error && error.retry.length === server.counters.rejected, `the ${server.counters.rejected} rejected items are handed back`);
  assert.deepEqual(error.rejected, []);
  assert.equal(server.count(LOGS), 1000 - error.retry.length, 'everything else is stored');
  assert.ok(error.retry.every((r) => !server.document(LOGS, (r as LogRecord).id)), 'exactly the ones not stored');
  assert.equal((exporter.status().documents as Record<string, number>).retried, error.retry.length);
  // The runner sends them again: only those.
  server.rejectItems(undefined);
  await exporter.export(error.retry);
  assert.equal(server.count(LOGS), 1000);
  assert.equal(server.counters.duplicates, 0);
});

test('poison documents go to the dead-letter index with the reason; everything else flows; nothing is retried forever', async (t) => {
  const { server, exporter, metrics } = await setup(t);
  await exporter.start();
  server.poison({ pattern: /POISON/, index: 'logs-*' });
  const runner = runnerFor(exporter, metrics);
  const ack = new Ack(() => {});
  const records = Array.from({ length: 50 }, (_, i) => logRecord(i, { message: i % 10 === 3 ? `POISON ${i}` : `fine ${i}`, ack }));
  await runner.enqueue(records);
  ack.release();
  await waitFor(() => ack.isSettled, { what: 'the batch acknowledged' });
  assert.equal(server.count(LOGS), 45);
  const poisoned = records.filter((r) => r.message.startsWith('POISON'));
  for (const r of poisoned) {
    const dead = server.document('dockhand-dead-letter', r.id);
    assert.ok(dead, `${r.id} dead-lettered`);
    assert.equal((dead._source.error as Record<string, unknown>).type, 'mapper_parsing_exception');
    assert.match(String((dead._source.error as Record<string, unknown>).message), /matches the poison pattern/);
    assert.equal(JSON.parse(String((dead._source.event as Record<string, unknown>).original)).message, r.message);
    assert.equal(server.timesReceived(r.id), 2, 'sent once to its data stream, once to the dead letters');
  }
  assert.equal((exporter.status().documents as Record<string, number>).dead_lettered, 5);
  assert.equal(await metricValue(metrics, 'dockhand_elasticsearch_documents_dead_lettered_total'), 5);
  await runner.drain(Date.now() + 5_000);
});

test('a dead-letter write answered with an index block is retried, straight to the dead-letter index, until it lands', async (t) => {
  const { server, exporter, metrics } = await setup(t);
  await exporter.start();
  server.poison({ pattern: /POISON/, index: 'logs-*' });
  server.blockWrites(DEAD_LETTERS);
  const record = logRecord(0, { message: 'POISON' });
  const first = await partial(exporter.export([record, logRecord(1)]));
  assert.deepEqual(first?.retry, [record], 'the blocked dead letter is to be sent again');
  const runner = runnerFor(exporter, metrics);
  const ack = new Ack(() => {});
  await runner.enqueue([{ ...record, ack }]);
  ack.release();
  await waitFor(() => server.timesReceived(record.id) >= 4, { what: 'the dead-letter write retried' });
  assert.equal(ack.isSettled, false, 'not acknowledged while the dead letter is blocked');
  server.blockWrites(undefined);
  await waitFor(() => ack.isSettled, { what: 'acknowledged once the dead letter landed' });
  assert.ok(server.document(DEAD_LETTERS, record.id));
  assert.equal(server.count(LOGS), 1);
  await runner.drain(Date.now() + 5_000);
  // A record object the exporter saw refused is sent straight to the dead letters; a new one (after
  // a restart) is judged again at its own index: either way once in the data stream per judgement.
  assert.equal(server.counters.poisoned, 2);
});

test('a dead-letter document refused as well is handed back as rejected with both reasons, for the local dead-letter file: nothing lost', async (t) => {
  const { server, exporter, metrics, logs } = await setup(t);
  await exporter.start();
  server.poison({ pattern: /POISON/, index: 'logs-*' });
  server.refuseIndex(DEAD_LETTERS);
  const record = logRecord(0, { message: 'POISON' });
  const error = await partial(exporter.export([record, logRecord(1)]));
  assert.deepEqual(error?.retry, []);
  assert.equal(error?.rejected.length, 1);
  assert.equal(error.rejected[0]!.record, record);
  assert.match(error.rejected[0]!.reason, /^mapper_parsing_exception: .*poison pattern.*; the dead-letter index dockhand-dead-letter refused it too: strict_dynamic_mapping_exception: /);
  assert.equal(server.timesReceived(record.id), 2, 'once to its index, once to the dead letters: not retried');
  assert.equal(server.count(LOGS), 1);
  assert.equal((exporter.status().documents as Record<string, number>).rejected, 1);
  assert.equal(await metricValue(metrics, 'dockhand_elasticsearch_documents_rejected_total'), 1);
  assert.ok(logs.map((l) => JSON.parse(l)).some((l) => /handing them to the local dead-letter file/.test(l.msg) && l.level === 50));
  assert.ok(!logs.some((l) => /are lost/.test(l)), 'nothing is declared lost');

  // Through the runner: the record lands in the local dead-letter file, with the reason, and is acknowledged.
  const local = localDeadLetters(t, metrics);
  const runner = runnerFor(exporter, metrics, local.file);
  const ack = new Ack(() => {});
  const again = logRecord(2, { message: 'POISON again', ack });
  await runner.enqueue([again]);
  ack.release();
  await waitFor(() => ack.isSettled, { what: 'acknowledged once in the local dead-letter file' });
  const line = local.lines()[0]!;
  assert.equal(line.record.id, again.id);
  assert.equal(line.record.message, 'POISON again');
  assert.match(line.reason, /^mapper_parsing_exception: .*refused it too: strict_dynamic_mapping_exception/);
  await runner.drain(Date.now() + 5_000);
});

test('cluster down mid-stream: unhealthy while refused, then every line lands once', async (t) => {
  const { server, exporter, metrics } = await setup(t, { batch: { max_records: 100, linger_ms: 5, concurrency: 2 } });
  await exporter.start();
  const runner = runnerFor(exporter, metrics);
  const first = await emit(runner, 5, 100);
  await waitFor(() => first.every((e) => e.settled), { what: 'the first batches stored' });
  await server.refuseConnections();
  const second = await emit(runner, 5, 100, () => {}, 500);
  await waitFor(() => !runner.health().healthy, { what: 'unhealthy during the outage' });
  assert.match(runner.health().reason!, /connection failed/);
  assert.ok(second.every((e) => !e.settled), 'nothing acknowledged while the cluster is down');
  await server.acceptConnections();
  await waitFor(() => second.every((e) => e.settled), { timeoutMs: 15_000, what: 'the rest stored after the outage' });
  await waitFor(() => runner.health().healthy, { what: 'healthy again' });
  assert.equal(server.count(LOGS), 1000);
  assert.equal(server.counters.created, 1000, 'each line stored once');
  await runner.drain(Date.now() + 5_000);
});

test('503 to every request: a RetryableError and unhealthy; healthy again once answered', async (t) => {
  const { server, exporter, metrics } = await setup(t);
  await exporter.start();
  server.failRequests({ status: 503 });
  await assert.rejects(exporter.export([logRecord(0)]), (error: unknown) => {
    assert.ok(error instanceof RetryableError);
    assert.match(error.message, /HTTP 503 cluster_block_exception/);
    return true;
  });
  assert.equal(exporter.health().healthy, false);
  assert.match(exporter.health().reason!, /bulk requests failing \(1 in a row\)/);
  assert.equal(await metricValue(metrics, 'dockhand_elasticsearch_consecutive_failures'), 1);
  server.failRequests(undefined);
  await exporter.export([logRecord(0)]);
  assert.deepEqual(exporter.health(), { healthy: true });
  assert.equal(await metricValue(metrics, 'dockhand_elasticsearch_bulk_requests_total', { outcome: 'error' }), 1);
});

test('a 429 for the whole request with Retry-After: the runner is told how long to wait, for the whole batch or only the part not taken', async (t) => {
  const { server, exporter } = await setup(t, { batch: { max_records: 1000, max_bytes: 2048, linger_ms: 5, concurrency: 1 }, compression: false });
  await exporter.start();
  server.failRequests({ status: 429, retryAfterSeconds: 3, match: /_bulk$/ });
  const records = Array.from({ length: 20 }, (_, i) => logRecord(i, { message: `${i} ${'r'.repeat(200)}` }));
  await assert.rejects(exporter.export(records), (error: unknown) => {
    assert.ok(error instanceof RetryableError);
    assert.equal(error.retryAfterMs, 3_000);
    return true;
  });
  // Only the first of several requests answered 429: the rest is stored, the 429'd part handed back with the wait.
  server.failRequests({ status: 429, retryAfterSeconds: 2, match: /_bulk$/, count: 1 });
  const error = await partial(exporter.export(records));
  assert.ok(server.counters.bulkRequests > 3, 'the batch went out in several requests');
  assert.equal(error?.retryAfterMs, 2_000);
  assert.ok(error.retry.length > 0 && error.retry.length < records.length);
  assert.equal(server.count(LOGS), records.length - error.retry.length);
});

test('a request that times out after Elasticsearch stored it: the replay is all 409s, counted as duplicates', async (t) => {
  const { server, exporter } = await setup(t, { request_timeout_ms: 300 });
  await exporter.start();
  const batch = Array.from({ length: 10 }, (_, i) => logRecord(i));
  server.delayResponses(2_500);
  await assert.rejects(exporter.export(batch), /timed out/);
  assert.equal(server.count(LOGS), 10, 'the cluster had stored them');
  server.delayResponses(undefined);
  await exporter.export(batch);
  assert.equal(server.count(LOGS), 10);
  assert.equal((exporter.status().documents as Record<string, number>).duplicates, 10);
});

test('a batch is cut into bulk requests by bytes, at most batch.concurrency in flight', async (t) => {
  const { server, exporter } = await setup(t, { batch: { max_records: 1000, max_bytes: 4096, linger_ms: 5, concurrency: 2 }, compression: false });
  await exporter.start();
  server.delayResponses(20);
  const batch = Array.from({ length: 200 }, (_, i) => logRecord(i, { message: `${i} ${'x'.repeat(300)}` }));
  await Promise.all([exporter.export(batch.slice(0, 100)), exporter.export(batch.slice(100))]);
  assert.equal(server.count(LOGS), 200);
  assert.ok(server.counters.bulkRequests >= 20, `split into ${server.counters.bulkRequests} requests`);
  assert.ok(server.counters.bytesReceived / server.counters.bulkRequests <= 4096);
  assert.equal(server.counters.maxConcurrentBulk, 2);
});

test('a request too large for the cluster (413) is halved until it fits', async (t) => {
  const { server, exporter } = await setup(t, { compression: false }, { maxContentLength: 3000 });
  await exporter.start();
  const batch = Array.from({ length: 40 }, (_, i) => logRecord(i, { message: `${i} ${'y'.repeat(200)}` }));
  await exporter.export(batch);
  assert.equal(server.count(LOGS), 40);
  assert.deepEqual(exporter.health(), { healthy: true });
});

test('credentials never reach status, health or logs, even when authentication fails', async (t) => {
  const password = 'Sup3r-Secret-Pw';
  const apiKey = 'key-id:Sup3r-Secret-Key';
  const encodedKey = Buffer.from(apiKey).toString('base64');
  const { server, logs, make } = await setup(t);
  server.requireAuth({ basic: { username: 'elastic', password: 'another' }, apiKey: 'not-this-one' });
  const withUrlCredentials = make({ urls: [server.url.replace('http://', `http://elastic:${password}@`)] });
  const withPassword = make({ username: 'elastic', password });
  const withKey = make({ api_key: apiKey });
  for (const exporter of [withUrlCredentials, withPassword, withKey]) {
    await exporter.start();
    await assert.rejects(exporter.export([logRecord(0)]), (error: unknown) => {
      assert.match(String(error), /401/);
      assert.doesNotMatch(String(error), /Sup3r-Secret/);
      return true;
    });
    const visible = JSON.stringify([exporter.status(), exporter.health()]);
    assert.match(visible, /security_exception/);
    for (const secret of [password, apiKey, encodedKey, 'Sup3r-Secret']) assert.ok(!visible.includes(secret), `status/health leak ${secret}`);
  }
  assert.equal(withKey.status().auth, 'api_key');
  assert.deepEqual(withUrlCredentials.status().urls, [server.url]);
  const logText = logs.join('');
  assert.ok(logText.length > 0);
  for (const secret of [password, apiKey, encodedKey, 'Sup3r-Secret']) assert.ok(!logText.includes(secret), `logs leak ${secret}`);
  server.requireAuth({ apiKey: encodedKey });
  await waitFor(() => withKey.health().healthy, { what: 'the API key exporter ready once the key is accepted' });
  await withKey.export([logRecord(0)]);
  assert.equal(server.count(LOGS), 1);
});

test('stop() ends an export waiting for an answer at once, with a RetryableError: nothing acknowledged', async (t) => {
  const { server, exporter } = await setup(t);
  await exporter.start();
  server.delayResponses({ ms: 10_000, when: 'before' });
  const exported = exporter.export([logRecord(0)]).then(() => undefined, (error: unknown) => error);
  await waitFor(() => server.counters.bulkRequests > 0, { what: 'the request sent' });
  const started = Date.now();
  await exporter.stop();
  const error = await exported;
  assert.ok(error instanceof RetryableError);
  assert.match(error.message, /stopping/);
  assert.ok(Date.now() - started < 1_000);
});

test('documents rejected round after round turn health unhealthy, with the reason; the runner keeps sending them until taken', async (t) => {
  const { server, exporter, metrics } = await setup(t);
  await exporter.start();
  server.rejectItems({ share: 1 });
  const runner = runnerFor(exporter, metrics);
  const ack = new Ack(() => {});
  await runner.enqueue([logRecord(0, { ack })]);
  ack.release();
  await waitFor(() => !exporter.health().healthy, { what: 'unhealthy while everything is rejected' });
  assert.match(exporter.health().reason!, /keeps rejecting documents, retrying: HTTP 429 es_rejected_execution_exception/);
  server.rejectItems(undefined);
  await waitFor(() => ack.isSettled, { what: 'stored once the cluster takes it' });
  assert.deepEqual(exporter.health(), { healthy: true });
  assert.equal(server.count(LOGS), 1);
  await runner.drain(Date.now() + 5_000);
});

// ---- requests refused as a whole (issue 9): an outage unless one document is proven at fault ----------

/** Asserts `exported` failed as an outage: a RetryableError whose reason matches, nothing dead-lettered. */
async function assertOutage(exported: Promise<void>, server: EsTestServer, reason: RegExp): Promise<void> {
  await assert.rejects(exported, (error: unknown) => {
    assert.ok(error instanceof RetryableError, `an outage, not ${String(error)}`);
    assert.match(error.message, reason);
    return true;
  });
  assert.equal(server.count(DEAD_LETTERS), 0, 'nothing dead-lettered');
}

test('every bulk request refused with a proxy\'s 400 (HTML, no x-elastic-product): an outage, unhealthy with the reason, no halving, nothing dead-lettered; all stored once it ends', async (t) => {
  const { server, exporter, metrics } = await setup(t);
  await exporter.start();
  server.failRequests({ status: 400, as: 'proxy', match: /_bulk$/ });
  const records = Array.from({ length: 200 }, (_, i) => logRecord(i));
  await assertOutage(exporter.export(records), server, /refused as a whole, not about one document: HTTP 400 \(not from Elasticsearch: no x-elastic-product header\): 400 Bad Request/);
  assert.equal(server.counters.bulkRequests, 1, 'a proxy\'s refusal is not bisected');
  assert.equal(exporter.health().healthy, false);
  assert.match(exporter.health().reason!, /bulk requests failing \(1 in a row\): refused as a whole, not about one document: HTTP 400 .*nginx/);
  assert.equal((exporter.status().documents as Record<string, number>).dead_lettered, 0);
  assert.equal(await metricValue(metrics, 'dockhand_elasticsearch_request_refusals_total', { by: 'proxy' }), 1);

  // Through the runner: nothing acknowledged while refused, every record stored once after.
  const runner = runnerFor(exporter, metrics);
  let settled = false;
  const ack = new Ack(() => { settled = true; });
  await runner.enqueue(records.map((r) => ({ ...r, ack })));
  ack.release();
  await waitFor(() => server.counters.bulkRequests >= 3, { what: 'the runner retrying' });
  assert.equal(settled, false);
  assert.equal(runner.health().healthy, false);
  server.failRequests(undefined);
  await waitFor(() => settled, { what: 'stored once the proxy lets requests through' });
  assert.equal(server.count(LOGS), 200);
  assert.equal(server.counters.created, 200, 'each stored once');
  assert.equal(server.count(DEAD_LETTERS), 0);
  assert.deepEqual(exporter.health(), { healthy: true });
  await runner.drain(Date.now() + 5_000);
});

test('every bulk request refused with Elasticsearch\'s own 400 (illegal_argument_exception): bisected a few levels, then an outage; nothing dead-lettered', async (t) => {
  const { server, exporter, metrics } = await setup(t);
  await exporter.start();
  server.failRequests({ status: 400, type: 'illegal_argument_exception', reason: 'The bulk request must be terminated by a newline [\\n]', match: /_bulk$/ });
  const records = Array.from({ length: 1000 }, (_, i) => logRecord(i));
  await assertOutage(exporter.export(records), server, /refused as a whole, every part refused alike, not one document's fault: HTTP 400 illegal_argument_exception/);
  assert.equal(server.counters.bulkRequests, 1 + 2 + 4 + 8, 'three levels of halves, then it gives up: not 2 × 1,000 requests');
  assert.match(exporter.health().reason!, /refused as a whole, every part refused alike/);
  assert.equal(await metricValue(metrics, 'dockhand_elasticsearch_request_refusals_total', { by: 'elasticsearch' }), 1);
  assert.equal(await metricValue(metrics, 'dockhand_elasticsearch_bulk_requests_total', { outcome: 'refused' }), 15);
  server.failRequests(undefined);
  await exporter.export(records);
  assert.equal(server.count(LOGS), 1000);
  assert.deepEqual(exporter.health(), { healthy: true });
});

test('a gzipped body read without its content encoding (a proxy dropping the header): an outage, not 1,000 poison documents', async (t) => {
  const { server, exporter } = await setup(t, { compression: true });
  await exporter.start();
  server.ignoreContentEncoding(true);
  const records = Array.from({ length: 1000 }, (_, i) => logRecord(i));
  await assertOutage(exporter.export(records), server, /refused as a whole, every part refused alike.*HTTP 400 (x_content_parse_exception|illegal_argument_exception)/);
  assert.equal(server.count(), 0);
  server.ignoreContentEncoding(false);
  await exporter.export(records);
  assert.equal(server.count(LOGS), 1000);
});

test('two documents that each get the whole request refused, in different halves: both found and dead-lettered, the rest stored', async (t) => {
  const { server, exporter } = await setup(t);
  await exporter.start();
  // Only the original documents (message then stream), not their dead letters (message then error).
  server.failRequests({ status: 400, type: 'action_request_validation_exception', reason: 'Validation Failed: 1: id is too long;', body: /"message":"BAD \d+","stream"/, match: /_bulk$/ });
  const records = Array.from({ length: 64 }, (_, i) => logRecord(i, { message: i === 5 || i === 50 ? `BAD ${i}` : `fine ${i}` }));
  await exporter.export(records);
  assert.equal(server.count(LOGS), 62);
  const letters = server.documents(DEAD_LETTERS);
  assert.deepEqual(letters.map((d) => d._id).sort(), [records[5]!.id, records[50]!.id].sort());
  for (const letter of letters) assert.equal((letter._source.error as Record<string, unknown>).type, 'action_request_validation_exception');
  assert.deepEqual(exporter.health(), { healthy: true });
});

test('a document too large for the cluster alone (413) is dead-lettered once other requests get through; its dead letter, too large as well, goes to the local file', async (t) => {
  const { server, exporter, metrics } = await setup(t, { compression: false }, { maxContentLength: 3000 });
  await exporter.start();
  const huge = logRecord(0, { message: `huge ${'z'.repeat(4000)}` });
  // Alone, with no other request accepted since it was refused: nothing proves it is the document.
  await assertOutage(exporter.export([huge]), server, /refused alone, but no request was accepted since.*HTTP 413/);
  assert.equal(exporter.health().healthy, false);
  // Another request gets through; the same record refused again alone is now proven at fault.
  await exporter.export([logRecord(1)]);
  const error = await partial(exporter.export([huge, logRecord(2), logRecord(3)]));
  assert.equal(error?.rejected.length, 1, 'its dead letter (which carries it) is too large as well');
  assert.equal(error.rejected[0]!.record, huge);
  assert.match(error.rejected[0]!.reason, /^content_too_long_exception: .*; the dead-letter index dockhand-dead-letter refused it too: content_too_long_exception/);
  assert.equal(server.count(LOGS), 3);
  assert.deepEqual(exporter.health(), { healthy: true });

  // In one batch with others, the evidence comes from the same export: the runner's local file gets it.
  const local = localDeadLetters(t, metrics);
  const runner = runnerFor(exporter, metrics, local.file);
  const ack = new Ack(() => {});
  const batch = [logRecord(10, { ack }), logRecord(11, { message: `huge ${'y'.repeat(4000)}`, ack }), logRecord(12, { ack })];
  await runner.enqueue(batch);
  ack.release();
  await waitFor(() => ack.isSettled, { what: 'the batch acknowledged' });
  assert.equal(server.count(LOGS), 5);
  assert.deepEqual(local.lines().map((l) => l.record.id), [batch[1]!.id]);
  await runner.drain(Date.now() + 5_000);
});

test('a record whose parsed JSON nests 6,000 deep (JSON.stringify overflows): dead-lettered with the reason and what can be kept; the rest stored', async (t) => {
  const { server, exporter } = await setup(t);
  await exporter.start();
  let json: Record<string, unknown> = { leaf: true };
  for (let d = 0; d < 6_000; d++) json = { a: json };
  const hostile = logRecord(1, { message: 'nested 6000', json });
  await exporter.export([logRecord(0), hostile, logRecord(2)]);
  assert.equal(server.count(LOGS), 2);
  const letter = server.document(DEAD_LETTERS, hostile.id);
  assert.ok(letter, 'dead-lettered under its id');
  assert.equal((letter._source.error as Record<string, unknown>).type, 'serialization_error');
  assert.match(String((letter._source.error as Record<string, unknown>).message), /Maximum call stack size exceeded/);
  assert.equal(letter._source.message, 'nested 6000');
  // The dead-letter index refusing it too: handed back for the local file, not lost, not retried.
  server.refuseIndex(DEAD_LETTERS);
  const again = logRecord(3, { message: 'nested again', json });
  const error = await partial(exporter.export([again, logRecord(4)]));
  assert.deepEqual(error?.retry, []);
  assert.equal(error?.rejected[0]?.record, again);
  assert.match(error.rejected[0]!.reason, /^serialization_error: .*Maximum call stack size exceeded; the dead-letter index dockhand-dead-letter refused it too/);
  assert.equal(server.count(LOGS), 3);
});

test('a large batch is encoded in slices with waiting I/O let in between: a followed log stream is not left unread for a whole body', async (t) => {
  const { server, exporter } = await setup(t);
  await exporter.start();
  const sent = () => (exporter.status().documents as { sent: number }).sent;
  let turnsBeforeSending = 0;
  let exporting = true;
  const look = () => {
    if (sent() === 0) turnsBeforeSending++;
    if (exporting) setImmediate(look);
  };
  setImmediate(look);
  await exporter.export(logRecords(5_000));
  exporting = false;
  // 5,000 records in slices of 500: nine turns of the event loop before the request is made (encoded in one go: none).
  assert.ok(turnsBeforeSending >= 8, `${turnsBeforeSending} turns of the event loop while encoding`);
  assert.equal(server.counters.created, 5_000);
});

test('stop() while a batch is being encoded: the export fails retryable and nothing is sent', async (t) => {
  const { server, exporter } = await setup(t);
  await exporter.start();
  const exporting = exporter.export(logRecords(5_000));
  setImmediate(() => void exporter.stop());
  await assert.rejects(exporting, (error: unknown) => error instanceof RetryableError && /stopping/.test(error.message));
  assert.equal(server.counters.bulkRequests, 0);
  assert.equal((exporter.status().documents as { sent: number }).sent, 0);
});
