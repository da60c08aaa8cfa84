/**
 * The Loki exporter under the real exporter runner, against the Loki test server: what reaches the
 * dead-letter sink and how many pushes it takes when Loki refuses something for good.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RejectedRecord } from '../../src/errors.js';
import type { DeadLetterSink } from '../../src/pipeline/dead-letter-file.js';
import { ExporterRunner } from '../../src/pipeline/exporter-runner.js';
import type { AgentRecord, ContainerMeta, LogRecord } from '../../src/records.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { SelfMetrics } from '../../src/telemetry/metrics.js';
import { lokiConfigSchema, type LokiConfigInput } from '../../exporters/loki/config.js';
import { LokiExporter } from '../../exporters/loki/exporter.js';
import { LokiTestServer } from '../helpers/loki-server.js';
import { waitFor } from '../helpers/wait.js';

const container: ContainerMeta = { id: 'f'.repeat(64), name: '/loki-runner', image: 'busybox:latest', labels: {}, host: 'runner-host' };

function lines(messages: readonly string[]): LogRecord[] {
  const start = BigInt(Date.now()) * 1_000_000n;
  return messages.map((message, i) => ({ kind: 'log' as const, id: `r${i}`, time: start + BigInt(i) * 1_000n, stream: 'stdout' as const, message, container }));
}

/** A Loki exporter behind a runner whose dead letters are kept in memory; everything stopped after `body`. */
async function withRunner(server: LokiTestServer, config: Partial<LokiConfigInput>, body: (runner: ExporterRunner, exporter: LokiExporter, deadLetters: RejectedRecord<AgentRecord>[]) => Promise<void>): Promise<void> {
  const deadLetters: RejectedRecord<AgentRecord>[] = [];
  const sink: DeadLetterSink = { write: async (_exporter, entries) => void deadLetters.push(...entries) };
  const metrics = new SelfMetrics({ defaultMetrics: false });
  const exporter = new LokiExporter(lokiConfigSchema.parse({ enabled: true, url: server.url, events: false, ...config }), { logger: silentLogger(), metrics });
  const runner = new ExporterRunner(exporter, silentLogger(), metrics, { lingerMs: 10 }, { initialMs: 200, maxMs: 30_000 }, sink);
  await exporter.start();
  await runner.start();
  try {
    await body(runner, exporter, deadLetters);
  } finally {
    await runner.drain(Date.now() + 1_000);
    await exporter.stop();
    await server.close();
  }
}

test('a 400 naming structured metadata, forever: metadata is turned off once, then the batch is dead-lettered once (no 0 ms retry loop)', async () => {
  const server = await LokiTestServer.start();
  const text = "stream '{team=\"structured metadata is disallowed here\"}' has label value too long";
  server.failRequests({ status: 400, body: text });
  await withRunner(server, {}, async (runner, exporter, deadLetters) => {
    await runner.enqueue(lines(['one', 'two', 'three']));
    await waitFor(() => deadLetters.length === 3, { timeoutMs: 5_000, what: `3 dead letters (have ${deadLetters.length}, after ${server.counters.pushes} pushes)` });
    assert.equal(server.counters.pushes, 2, 'one push with metadata, one without, no more');
    assert.equal(exporter.status().structured_metadata, false);
    assert.match(deadLetters[0]!.reason, /HTTP 400: .*has label value too long/);
  });
});

test('compose replicas under the default labels: one replica\'s two-hour-old backlog is stored after another replica pushed a line now', async () => {
  const server = await LokiTestServer.start();
  const compose = { 'com.docker.compose.project': 'shop', 'com.docker.compose.service': 'web' };
  const replica = (n: number): ContainerMeta => ({ id: String(n).repeat(64), name: `/shop-web-${n}`, image: 'busybox:latest', labels: compose, host: 'h' });
  const exporter = new LokiExporter(lokiConfigSchema.parse({ enabled: true, url: server.url }), { logger: silentLogger(), metrics: new SelfMetrics({ defaultMetrics: false }) });
  await exporter.start();
  try {
    const now = BigInt(Date.now()) * 1_000_000n;
    await exporter.export([{ kind: 'log', id: 'new', time: now, stream: 'stdout', message: 'replica 2, now', container: replica(2) }]);
    await exporter.export([{ kind: 'log', id: 'old', time: now - 7_200_000_000_000n, stream: 'stdout', message: 'replica 1, two hours ago', container: replica(1) }]);
    assert.equal(server.counters.stored, 2);
    assert.equal(server.streamNames().length, 2, 'a stream per replica');
  } finally {
    await exporter.stop();
    await server.close();
  }
});

test('a line longer than max_line_bytes (256 KiB, Loki\'s max_line_size) is dead-lettered alone, with the reason; the rest of its batch is stored', async () => {
  const server = await LokiTestServer.start();
  await withRunner(server, {}, async (runner, exporter, deadLetters) => {
    const batch = lines(['before', 'x'.repeat(300 * 1024), 'after', 'last']);
    await runner.enqueue(batch);
    await waitFor(() => deadLetters.length === 1 && server.counters.stored === 3, { timeoutMs: 5_000, what: `1 dead letter and 3 stored (have ${deadLetters.length}, ${server.counters.stored})` });
    assert.equal(deadLetters[0]!.record, batch[1]);
    assert.match(deadLetters[0]!.reason, /^line_too_long: 307200 bytes, above exporters\.loki\.max_line_bytes \(262144/);
    assert.deepEqual(server.entries().map((e) => e.line).sort(), ['after', 'before', 'last']);
    assert.equal(server.counters.pushes, 1);
    assert.deepEqual((exporter.status().entries as { rejected: Record<string, number> }).rejected, { line_too_long: 1 });
  });
});

test('the long line is dead-lettered even when the push of the rest is refused for now: the rest is retried, then stored once', async () => {
  const server = await LokiTestServer.start();
  server.failRequests({ status: 503, count: 1 });
  await withRunner(server, {}, async (runner, _exporter, deadLetters) => {
    await runner.enqueue(lines(['a', 'y'.repeat(300 * 1024), 'b']));
    await waitFor(() => server.counters.stored === 2, { timeoutMs: 5_000, what: `2 stored (have ${server.counters.stored})` });
    assert.equal(deadLetters.length, 1);
    assert.equal(server.counters.pushes, 2);
    assert.equal(server.counters.duplicates, 0);
  });
});

test('a batch of nothing but long lines sends no push at all', async () => {
  const server = await LokiTestServer.start();
  await withRunner(server, { max_line_bytes: 1000 }, async (runner, _exporter, deadLetters) => {
    await runner.enqueue(lines(['é'.repeat(501), 'q'.repeat(1001)]));
    await waitFor(() => deadLetters.length === 2, { timeoutMs: 5_000, what: `2 dead letters (have ${deadLetters.length})` });
    assert.match(deadLetters[0]!.reason, /^line_too_long: 1002 bytes/, 'counted in UTF-8 bytes');
    assert.equal(server.counters.pushes, 0);
  });
});

test('max_line_bytes: 0 sends every line (a Loki with a higher limit decides); the test server, like Loki, refuses the long one with its words', async () => {
  const server = await LokiTestServer.start();
  await withRunner(server, { max_line_bytes: 0 }, async (runner, _exporter, deadLetters) => {
    await runner.enqueue(lines(['a', 'z'.repeat(300 * 1024)]));
    await waitFor(() => deadLetters.length === 2, { timeoutMs: 5_000, what: `the batch dead-lettered (have ${deadLetters.length})` });
    assert.match(deadLetters[0]!.reason, /HTTP 400: Max entry size '262144' bytes exceeded/);
    assert.equal(server.counters.lineTooLong, 1);
  });
});
