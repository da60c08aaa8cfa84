/**
 * Backpressure: a sink much slower than the container. The daemon keeps the lines in its log
 * file, the agent reads only as fast as the sink stores, and its memory stays bounded. Runs alone
 * (serial/) because it measures the agent's RSS.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { TestContainers, waitExit } from '../../helpers/containers.js';
import type { AgentProcess } from '../../helpers/agent-process.js';
import { waitFor } from '../../helpers/wait.js';
import { duplicates, readSink, rssBytes, sinkLines, startAgent } from '../logs-sink.js';

const containers = new TestContainers();
let agent: AgentProcess | undefined;

after(async () => {
  await agent?.dispose();
  await containers.removeAll();
});

const LINES = 500_000;
// Measured: ~120 MiB at rest, ~250 MiB peak; the live heap after a major GC stays ~55 MiB (the queue holds 20,000 records),
// the rest is garbage V8 lets accumulate before collecting. Without backpressure the 480,000-line backlog would be held.
const RSS_BOUND = 320 * 1024 * 1024;

test(`a slow sink and ${LINES.toLocaleString('en')} lines: RSS stays under ${RSS_BOUND / 1024 / 1024} MiB, every line arrives once`, async (t) => {
  // ~20,000 records/s into the sink while the container writes its 500,000 lines in a second or two.
  agent = await startAgent(containers, { file: { batch_records: 1000 }, sinkWriteDelayMs: 50 });
  await agent.waitReady(60_000);
  const pid = agent.child.pid!;
  const baseline = rssBytes(pid);
  const id = await containers.start(['sh', '-c', `seq 1 ${LINES} | sed "s/^/a log line of ordinary length, number /"`]);
  let peak = baseline;
  const sampler = setInterval(() => { peak = Math.max(peak, rssBytes(pid)); }, 100);
  try {
    await waitExit(id);
    const writtenAt = Date.now();
    const inSinkWhenWritten = sinkLines(readSink(agent.dataDir), id).length;
    assert.ok(inSinkWhenWritten < LINES / 2, `the sink is the bottleneck (${inSinkWhenWritten} stored when the container finished)`);
    await waitFor(() => {
      peak = Math.max(peak, rssBytes(pid));
      return sinkLines(readSink(agent!.dataDir), id).length >= LINES;
    }, { timeoutMs: 180_000, intervalMs: 1000, what: `${LINES} lines in the sink` });
    t.diagnostic(`baseline RSS ${(baseline / 1048576).toFixed(0)} MiB, peak RSS ${(peak / 1048576).toFixed(0)} MiB; drained in ${((Date.now() - writtenAt) / 1000).toFixed(1)} s after the container finished`);
  } finally {
    clearInterval(sampler);
  }
  const records = readSink(agent.dataDir).filter((r) => r.container.id === id);
  assert.deepEqual(duplicates(records), []);
  assert.equal(records.length, LINES);
  records.forEach((r, i) => { if (r.message !== `a log line of ordinary length, number ${i + 1}`) assert.fail(`line ${i}: ${r.message}`); });
  assert.ok(peak < RSS_BOUND, `peak RSS ${(peak / 1048576).toFixed(0)} MiB`);
});
