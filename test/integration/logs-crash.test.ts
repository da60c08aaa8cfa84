/**
 * Crash safety: the agent is SIGKILLed while a container writes, and started again on the same
 * data directory. After the container finishes, every line is in the file sink exactly once.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { TestContainers, waitExit } from '../helpers/containers.js';
import type { AgentProcess } from '../helpers/agent-process.js';
import { waitFor } from '../helpers/wait.js';
import { dockerLogs, duplicates, metricValue, readSink, sinkLines, startAgent } from './logs-sink.js';

const containers = new TestContainers();
const agents: AgentProcess[] = [];

after(async () => {
  for (const agent of agents.reverse()) await agent.dispose();
  await containers.removeAll();
});

/** ~2,000 lines/s: 20 lines, then 10 ms of sleep. */
const WRITER = (count: number) => `i=0; while [ $i -lt ${count} ]; do echo "line $i"; i=$((i+1)); if [ $((i % 20)) -eq 0 ]; then usleep 10000; fi; done`;

for (const scenario of [
  { name: 'default settings', file: {}, sinkWriteDelayMs: 0 },
  { name: 'a slow sink (queue full, many batches in flight)', file: { batch_records: 500 }, sinkWriteDelayMs: 40 },
]) {
  test(`SIGKILL while a container writes 2,000 lines/s, then restart (${scenario.name}): every line once`, async (t) => {
    const first = await startAgent(containers, { file: scenario.file, sinkWriteDelayMs: scenario.sinkWriteDelayMs });
    agents.push(first);
    await first.waitReady(60_000);
    const total = 20_000;
    const id = await containers.start(['sh', '-c', WRITER(total)]);
    await waitFor(() => sinkLines(readSink(first.dataDir), id).length > 3000, { timeoutMs: 60_000, intervalMs: 100, what: 'the first agent mid-stream' });
    await first.kill();
    const atKill = sinkLines(readSink(first.dataDir), id).length;
    // The container writes on while no agent runs.
    await waitFor(async () => (await dockerLogs(id)).stdout.length > atKill + 4000, { timeoutMs: 30_000, intervalMs: 200 });
    const second = await startAgent(containers, { dataDir: first.dataDir, file: scenario.file, sinkWriteDelayMs: scenario.sinkWriteDelayMs });
    agents.push(second);
    await second.waitReady(60_000);
    await waitExit(id);
    const truth = (await dockerLogs(id)).stdout;
    assert.equal(truth.length, total);
    await waitFor(() => sinkLines(readSink(second.dataDir), id).length >= total, { timeoutMs: 120_000, intervalMs: 250, what: `${total} lines in the sink` });
    const records = readSink(second.dataDir).filter((r) => r.container.id === id);
    assert.deepEqual(duplicates(records), []);
    assert.deepEqual(records.map((r) => r.message), truth);
    const metrics = await second.metrics();
    t.diagnostic(`lines in the sink at the kill: ${atKill}; resumed streams: ${metricValue(metrics, 'dockhand_logs_resumes_total', 'reason="checkpoint"')}; `
      + `lines re-sent by the daemon and skipped by the collector: ${metricValue(metrics, 'dockhand_logs_replay_skipped_total')}; `
      + `records written before the kill but not yet checkpointed, skipped by the file exporter: ${metricValue(metrics, 'dockhand_file_replays_skipped_total')}`);
    assert.ok(metricValue(metrics, 'dockhand_logs_resumes_total', 'reason="checkpoint"') >= 1, 'the second agent resumed from a checkpoint');
  });
}
