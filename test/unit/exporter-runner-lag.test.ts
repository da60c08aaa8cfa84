/**
 * Each lane's ack lag (/status lanes.<kind>.ack_lag_seconds, drawn on the live page): from its oldest
 * record not yet stored — waiting or being delivered — to now, by the record's own time; 0 once
 * everything is stored.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Exporter } from '../../src/component.js';
import type { AgentRecord, RecordKind } from '../../src/records.js';
import { ExporterRunner } from '../../src/pipeline/exporter-runner.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { SelfMetrics } from '../../src/telemetry/metrics.js';
import { logRecord } from '../helpers/es-records.js';
import { waitFor } from '../helpers/wait.js';

/** An exporter that stores a batch only when the test opens its gate. */
function gatedExporter() {
  const gates: (() => void)[] = [];
  const stored: AgentRecord[] = [];
  const exporter: Exporter = {
    id: 'gated',
    accepts: new Set<RecordKind>(['log']),
    start: async () => undefined,
    export: (batch) => new Promise<void>((resolve) => gates.push(() => { stored.push(...batch); resolve(); })),
    flush: async () => undefined,
    stop: async () => undefined,
    health: () => ({ healthy: true }),
  };
  return { exporter, gates, stored };
}

const lag = (runner: ExporterRunner) => ((runner.status().lanes as Record<string, { ack_lag_seconds: number }>).log!.ack_lag_seconds);

test('a lane\'s ack lag runs from its oldest record not yet stored, waiting or in flight, and is 0 once all is stored', async (t) => {
  const { exporter, gates, stored } = gatedExporter();
  const runner = new ExporterRunner(exporter, createLogger({ level: 'silent', format: 'json' }), new SelfMetrics({ defaultMetrics: false }), { maxRecords: 2, lingerMs: 1, concurrency: 1 });
  await runner.start();
  t.after(() => runner.drain(Date.now() + 1000));
  assert.equal(lag(runner), 0, 'nothing queued: no lag');

  const nowNs = BigInt(Date.now()) * 1_000_000n;
  const secondsAgo = (s: number) => nowNs - BigInt(s) * 1_000_000_000n;
  // Two records written 30 s and 20 s ago go out in the first batch; one written 5 s ago waits.
  await runner.enqueue([logRecord(1, { time: secondsAgo(30) }), logRecord(2, { time: secondsAgo(20) }), logRecord(3, { time: secondsAgo(5) })]);
  await waitFor(() => gates.length === 1, { timeoutMs: 2000, what: 'the first batch in flight' });
  const inFlight = lag(runner);
  assert.ok(inFlight >= 30 && inFlight < 32, `the batch in flight holds the oldest record (30 s): ${inFlight}`);

  gates.shift()!();
  await waitFor(() => gates.length === 1, { timeoutMs: 2000, what: 'the second batch in flight' });
  const next = lag(runner);
  assert.ok(next >= 5 && next < 7, `the first batch stored: the lag runs from the 5 s old record now: ${next}`);

  gates.shift()!();
  await waitFor(() => stored.length === 3, { timeoutMs: 2000, what: 'all stored' });
  await waitFor(() => lag(runner) === 0, { timeoutMs: 2000, what: 'no lag once all is stored' });
});
