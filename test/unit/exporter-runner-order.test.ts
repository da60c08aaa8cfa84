/**
 * Several log batches in flight at once (batch.concurrency) finish in any order; a container's
 * checkpoint still moves only over batches that are all stored: it never skips one still in flight.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AckTracker, START, type ResumePoint } from '../../collectors/logs/checkpoints.js';
import type { Exporter } from '../../src/component.js';
import { ExporterRunner } from '../../src/pipeline/exporter-runner.js';
import { Router } from '../../src/pipeline/router.js';
import type { AgentRecord, LogRecord } from '../../src/records.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { SelfMetrics } from '../../src/telemetry/metrics.js';
import { container } from '../helpers/es-records.js';
import { waitFor } from '../helpers/wait.js';

/** Stores batches only when told, in an order the test picks. */
class HeldExporter implements Exporter {
  readonly id = 'held';
  readonly accepts = new Set(['log'] as const);
  readonly batching = { concurrency: 3, maxRecords: 10, lingerMs: 1 };
  readonly held: { records: readonly AgentRecord[]; store: () => void }[] = [];
  readonly stored = new Set<string>();
  async start(): Promise<void> {}
  async export(batch: readonly AgentRecord[]): Promise<void> {
    await new Promise<void>((resolve) => this.held.push({ records: batch, store: resolve }));
    for (const record of batch) this.stored.add((record as LogRecord).id);
  }
  async flush(): Promise<void> {}
  async stop(): Promise<void> {}
  health() { return { healthy: true } as const; }
}

test('batches stored out of order: the checkpoint moves only over batches stored, never past one in flight', async () => {
  const exporter = new HeldExporter();
  const logger = createLogger({ level: 'silent', format: 'json' });
  const runner = new ExporterRunner(exporter, logger, new SelfMetrics({ defaultMetrics: false }), { lingerMs: 1 });
  await runner.start();
  const router = new Router([runner]);
  const commits: number[] = [];
  const tracker = new AckTracker(START, (point: ResumePoint) => commits.push(point.streams[0]!.count));
  // Five collector batches of 10 lines; the checkpoint after batch n is "n × 10 lines read".
  for (let n = 1; n <= 5; n++) {
    const pending = tracker.open();
    const records: LogRecord[] = Array.from({ length: 10 }, (_, i) => ({
      kind: 'log', id: `line-${(n - 1) * 10 + i}`, time: BigInt((n - 1) * 10 + i), stream: 'stdout', message: 'x', container, ack: pending.ack,
    }));
    await router.emit(records);
    tracker.seal(pending, { since: 0n, streams: [{ time: BigInt(n * 10), count: n * 10 }, undefined] }, BigInt(n * 10 - 1));
    pending.ack.release();
  }
  await waitFor(() => exporter.held.length === 3, { what: 'three batches in flight at once' });
  const storeAt = async (i: number) => {
    const batch = exporter.held[i]!;
    batch.store();
    await waitFor(() => (batch.records as LogRecord[]).every((r) => exporter.stored.has(r.id)));
    await new Promise((resolve) => setImmediate(resolve));
  };
  // The third and second finish before the first: nothing may be committed yet.
  await storeAt(2);
  await storeAt(1);
  assert.deepEqual(commits, [], 'batches 2 and 3 stored, batch 1 in flight: the checkpoint stays');
  await storeAt(0);
  assert.deepEqual(commits, [30], 'batch 1 stored: the checkpoint moves over 1, 2 and 3 at once');
  await waitFor(() => exporter.held.length === 5, { what: 'the last two batches in flight' });
  await storeAt(4);
  assert.deepEqual(commits, [30]);
  await storeAt(3);
  assert.deepEqual(commits, [30, 50]);
  for (const commit of commits) {
    for (let i = 0; i < commit; i++) assert.ok(exporter.stored.has(`line-${i}`), `line ${i} stored before a checkpoint at ${commit}`);
  }
  await runner.drain(Date.now() + 1_000);
});
