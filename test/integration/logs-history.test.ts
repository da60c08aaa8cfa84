/**
 * Which logs the collector reads: history before its first start (config `history`), containers
 * that ran while the agent was down, and the cleanup of checkpoints of removed containers.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { TestContainers, docker, waitExit } from '../helpers/containers.js';
import type { AgentProcess } from '../helpers/agent-process.js';
import { waitFor } from '../helpers/wait.js';
import { dockerLogs, duplicates, metricValue, readSink, sinkLines, startAgent } from './logs-sink.js';

const containers = new TestContainers();
const agents: AgentProcess[] = [];

after(async () => {
  for (const agent of agents.reverse()) await agent.dispose();
  await containers.removeAll();
});

async function arrived(agent: AgentProcess, id: string, count: number): Promise<void> {
  await waitFor(() => sinkLines(readSink(agent.dataDir), id).length >= count, { timeoutMs: 60_000, intervalMs: 200, what: `${count} lines of ${id.slice(0, 12)}` });
}

function checkpoints(agent: AgentProcess): Record<string, unknown> {
  try {
    return (JSON.parse(readFileSync(path.join(agent.dataDir, 'state', 'logs-checkpoints.json'), 'utf8')) as { containers: Record<string, unknown> }).containers;
  } catch {
    return {};
  }
}

test('first start: running containers read from their first line, exited history skipped, later containers read whole; a container that ran while the agent was down is read at the next start', async () => {
  const old = await containers.start(['sh', '-c', 'echo old-exited']);
  await waitExit(old);
  const running = await containers.start(['sh', '-c', 'echo old-running; sleep 300']);
  await waitFor(async () => (await dockerLogs(running)).stdout.length === 1, { timeoutMs: 20_000 });

  const first = await startAgent(containers);
  agents.push(first);
  await first.waitReady(60_000);
  const later = await containers.start(['sh', '-c', 'echo later']);
  await waitExit(later);
  await arrived(first, running, 1);
  await arrived(first, later, 1);
  assert.deepEqual(sinkLines(readSink(first.dataDir), old), [], 'exited before the first start: history, not read by default');

  await first.stop();
  const whileDown = await containers.start(['sh', '-c', 'echo ran-while-down; printf tail']);
  await waitExit(whileDown);
  const second = await startAgent(containers, { dataDir: first.dataDir });
  agents.push(second);
  await second.waitReady(60_000);
  await arrived(second, whileDown, 2);
  const records = readSink(second.dataDir);
  assert.deepEqual(sinkLines(records, whileDown), ['ran-while-down', 'tail']);
  assert.deepEqual(sinkLines(records, running), ['old-running'], 'resumed from its checkpoint, nothing twice');
  assert.deepEqual(sinkLines(records, later), ['later'], 'a run read to its end is not read again');
  assert.deepEqual(duplicates(records), []);
  assert.deepEqual(sinkLines(records, old), []);
  await second.stop();
  await docker('rm', '-f', running);
});

test('history: all also reads containers that exited before the first start', async () => {
  const old = await containers.start(['sh', '-c', 'echo from-the-past']);
  await waitExit(old);
  const agent = await startAgent(containers, { logs: { history: 'all' } });
  agents.push(agent);
  await agent.waitReady(60_000);
  await arrived(agent, old, 1);
  assert.deepEqual(sinkLines(readSink(agent.dataDir), old), ['from-the-past']);
  await agent.stop();
});

test('per-container metrics count lines and bytes; the checkpoint of a removed container is deleted', async () => {
  const agent = await startAgent(containers);
  agents.push(agent);
  await agent.waitReady(60_000);
  const name = containers.name('metrics');
  const id = await containers.start(['sh', '-c', 'echo 12345; echo abc >&2'], { name });
  await waitExit(id);
  await arrived(agent, id, 2);
  await waitFor(() => id in checkpoints(agent), { timeoutMs: 10_000, what: 'its checkpoint saved' });
  const metrics = await agent.metrics();
  assert.equal(metricValue(metrics, 'dockhand_logs_lines_total', `container="${name}",stream="stdout"`), 1);
  assert.equal(metricValue(metrics, 'dockhand_logs_bytes_total', `container="${name}",stream="stdout"`), 5);
  assert.equal(metricValue(metrics, 'dockhand_logs_lines_total', `container="${name}",stream="stderr"`), 1);
  assert.match(metrics, /dockhand_logs_streams_open \d+/);
  await docker('rm', id);
  await waitFor(() => !(id in checkpoints(agent)), { timeoutMs: 20_000, what: 'the checkpoint of the removed container deleted' });
  await waitFor(async () => !(await agent.metrics()).includes(`container="${name}"`), { timeoutMs: 10_000, what: 'its series dropped' });
  await agent.stop();
});
