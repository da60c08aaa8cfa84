/**
 * How the agent wires collectors to exporters, through the real agent process and dockerd:
 * the inventory is the agent's own (turning event records off still ships logs and stats), and a
 * collector whose records no exporter takes is not run at all — its checkpoints stay put, so
 * enabling a sink later ships from where it stopped.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AgentProcess } from '../helpers/agent-process.js';
import { TestContainers } from '../helpers/containers.js';
import { readSink } from '../helpers/file-sink.js';
import { waitFor } from '../helpers/wait.js';

function logLines(lines: Awaited<ReturnType<typeof readSink>>, containerId: string): string[] {
  return lines.filter((l) => l.kind === 'log' && (l.container as { id: string }).id === containerId).map((l) => l.message as string);
}

test('collectors.events.enabled: false still ships logs and stats (the inventory is the agent\'s, not the events collector\'s)', { timeout: 90_000 }, async () => {
  const containers = new TestContainers();
  const agent = await AgentProcess.start({
    config: {
      collectors: {
        events: { enabled: false },
        engine: { enabled: false },
        stats: { interval_ms: 1000 },
        logs: { include: { labels: [`${containers.runLabel}=${containers.run}`] } },
      },
      exporters: { file: { enabled: true }, prometheus: { enabled: true } },
    },
  });
  try {
    await agent.waitReady();
    const name = containers.name('no-events');
    const id = await containers.start(['sh', '-c', 'echo one; echo two; echo three; sleep 60'], { name });
    await waitFor(async () => logLines(await readSink(path.join(agent.dataDir, 'records')), id).length === 3, { timeoutMs: 30_000, what: 'the three log lines in the file sink' });
    assert.deepEqual(logLines(await readSink(path.join(agent.dataDir, 'records')), id), ['one', 'two', 'three']);
    await waitFor(async () => new RegExp(`^container_cpu_usage_seconds_total\\{[^}]*name="${name}"`, 'm').test(await agent.metrics()), { timeoutMs: 30_000, what: 'the container\'s CPU series on /metrics' });
    const status = (await agent.get('/status')).json();
    assert.equal(status.collectors.events, undefined, 'the events collector is off');
    assert.equal(status.inventory.live, true, 'the inventory follows the daemon by itself');
    assert.equal(logLines(await readSink(path.join(agent.dataDir, 'records')), id).length, 3, 'no line twice');
    assert.equal((await readSink(path.join(agent.dataDir, 'records'))).filter((l) => l.kind === 'event').length, 0, 'no event records');
  } finally {
    await agent.dispose();
    await containers.removeAll();
  }
});

test('no exporter takes logs: the logs collector is not run (and /status says so); enabling a sink later ships from the saved position', { timeout: 120_000 }, async () => {
  const containers = new TestContainers();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'dockhand-wiring-'));
  const config = (fileSink: boolean) => ({
    collectors: {
      engine: { enabled: false },
      stats: { enabled: false },
      logs: { include: { labels: [`${containers.runLabel}=${containers.run}`] } },
    },
    exporters: { file: { enabled: fileSink }, prometheus: { enabled: true } },
  });
  const numbers = async (id: string) => logLines(await readSink(path.join(dataDir, 'records')), id).map((m) => Number(m.slice(2)));
  const checkpoints = () => readFileSync(path.join(dataDir, 'state', 'logs-checkpoints.json'), 'utf8');
  try {
    // 1: with the file sink, lines n-1, n-2, … are shipped and checkpointed.
    let agent = await AgentProcess.start({ dataDir, config: config(true) });
    await agent.waitReady();
    const id = await containers.start(['sh', '-c', 'i=0; while [ $i -lt 400 ]; do i=$((i+1)); echo n-$i; usleep 100000; done; sleep 60'], { name: containers.name('later-sink') });
    await waitFor(async () => (await numbers(id)).length >= 10, { timeoutMs: 30_000, what: 'first lines shipped' });
    await agent.stop();
    const shippedFirst = (await numbers(id)).length;
    const saved = checkpoints();

    // 2: no exporter takes logs (Prometheus only): the collector is not run; nothing is read, nothing moves.
    agent = await AgentProcess.start({ dataDir, config: config(false) });
    await agent.waitReady();
    const status = (await agent.get('/status')).json();
    assert.deepEqual(status.collectors.logs, { running: false, reason: 'no exporter takes log records' });
    assert.equal(status.collectors.events.running, true, 'Prometheus takes events: that collector runs');
    assert.ok(agent.logs.some((l) => l.msg === 'collector not run' && l.collector === 'logs'), 'said in the log too');
    await new Promise((resolve) => setTimeout(resolve, 3000)); // the container keeps writing meanwhile
    await agent.stop();
    assert.equal(checkpoints(), saved, 'the checkpoints are untouched');

    // 3: the sink is back: everything written meanwhile arrives, once, from the saved position.
    agent = await AgentProcess.start({ dataDir, config: config(true) });
    await agent.waitReady();
    await waitFor(async () => (await numbers(id)).length >= shippedFirst + 40, { timeoutMs: 30_000, what: 'the lines written while no sink took logs' });
    await agent.stop();
    const shipped = await numbers(id);
    const expected = Array.from({ length: shipped.length }, (_, i) => i + 1);
    assert.deepEqual(shipped, expected, 'n-1 … n-K, each once, no gap');
  } finally {
    await containers.removeAll();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
