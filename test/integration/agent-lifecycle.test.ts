/**
 * The agent end to end as a process: a daemon restart under it (private daemon, killed and started
 * again), and SIGTERM draining a slow sink within the grace period.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { AgentProcess } from '../helpers/agent-process.js';
import { TEST_WRITE_DELAY_ENV } from '../../exporters/file/index.js';
import { startPrivateDaemon } from '../helpers/private-daemon.js';
import { TestContainers, TEST_IMAGE, TEST_LABEL } from '../helpers/containers.js';
import { readSink, type SinkLine } from '../helpers/file-sink.js';
import { waitFor } from '../helpers/wait.js';

interface EventLine extends SinkLine {
  action: string;
  type: string;
  time_ns: string;
  actor: { id: string };
  container?: { name: string; image: string };
}

const events = async (dir: string) => (await readSink(path.join(dir, 'records'))).filter((l): l is EventLine => l.kind === 'event');

test('a daemon restart: /readyz goes 503 then 200 by itself, later events arrive, none twice', { timeout: 240_000 }, async () => {
  const daemon = await startPrivateDaemon();
  const agent = await AgentProcess.start({ env: { DOCKER_HOST: daemon.host }, config: { docker: { reconnect_initial_ms: 100, reconnect_max_ms: 1000 } } });
  try {
    await agent.waitReady();
    const before = await daemon.docker('run', '-d', '--label', `${TEST_LABEL}=1`, '--name', 'before-restart', TEST_IMAGE, 'sleep', '300');
    await waitFor(async () => (await events(agent.dataDir)).some((e) => e.action === 'start' && e.actor.id === before), { timeoutMs: 30_000, what: 'start event of the first container' });

    await daemon.kill('SIGKILL');
    await waitFor(async () => (await agent.get('/readyz')).status === 503, { timeoutMs: 30_000, what: '/readyz 503 while the daemon is down' });
    const down = (await agent.get('/readyz')).json();
    assert.ok(down.not_ready.docker, 'the docker check is the one not ready');

    await daemon.restart();
    await waitFor(async () => (await agent.get('/readyz')).status === 200, { timeoutMs: 60_000, what: '/readyz back to 200 by itself' });

    const after = await daemon.docker('run', '-d', '--label', `${TEST_LABEL}=1`, '--name', 'after-restart', TEST_IMAGE, 'sleep', '300');
    const seen = await waitFor(async () => {
      const all = await events(agent.dataDir);
      return all.some((e) => e.action === 'start' && e.actor.id === after) ? all : undefined;
    }, { timeoutMs: 30_000, what: 'start event of the container started after the restart' });

    const starts = seen.find((e) => e.action === 'start' && e.actor.id === after)!;
    assert.equal(starts.container?.name, 'after-restart');
    assert.equal(starts.container?.image, TEST_IMAGE);
    assert.equal(seen.filter((e) => e.action === 'start' && e.actor.id === before).length, 1, 'the event before the restart arrives once');
    const ids = seen.map((e) => e.id);
    assert.equal(new Set(ids).size, ids.length, `no event twice: ${ids.filter((id, i) => ids.indexOf(id) !== i).join(', ')}`);
    const keys = seen.map((e) => `${e.time_ns}/${e.type}/${e.action}/${e.actor.id}`);
    assert.equal(new Set(keys).size, keys.length, 'no daemon event recorded twice under another id');
    assert.ok(agent.logs.some((l) => l.msg === 'docker daemon reachable again'), 'the agent says it reconnected');
  } finally {
    await agent.dispose();
    await daemon.stop();
  }
});

/**
 * A private daemon (so every event the agent queues is one the test caused), an agent on it whose
 * file sink is slow, and `count` created containers whose create events are queued for that sink.
 */
async function agentWithQueuedEvents(count: number, graceMs: number, sink: { writeDelayMs: number; batch_records: number }) {
  const daemon = await startPrivateDaemon();
  const agent = await AgentProcess.start({
    env: { DOCKER_HOST: daemon.host, [TEST_WRITE_DELAY_ENV]: String(sink.writeDelayMs) },
    config: { shutdown: { grace_ms: graceMs }, exporters: { file: { batch_records: sink.batch_records } } },
  });
  const dispose = async () => {
    await agent.dispose();
    await daemon.stop();
  };
  try {
    await agent.waitReady();
    const ids: string[] = [];
    for (let i = 0; i < count; i++) ids.push(await daemon.docker('create', '--label', `${TEST_LABEL}=1`, TEST_IMAGE, 'true'));
    const queued = (text: string) => Number(/^dockhand_records_in_total\{component="file",kind="event"\} (\d+)/m.exec(text)?.[1] ?? 0);
    await waitFor(async () => queued(await agent.metrics()) >= count, { timeoutMs: 30_000, what: 'create events queued for the slow sink' });
    return { agent, ids, dispose };
  } catch (error) {
    await dispose();
    throw error;
  }
}

test('SIGTERM drains everything queued into a slow sink and exits 0 within the grace period', { timeout: 180_000 }, async () => {
  const { agent, ids, dispose } = await agentWithQueuedEvents(6, 60_000, { writeDelayMs: 400, batch_records: 2 });
  try {
    const written = (await events(agent.dataDir)).filter((e) => e.action === 'create' && ids.includes(e.actor.id)).length;
    assert.ok(written < ids.length, `the slow sink has not written them all yet (${written} of ${ids.length}), so the stop has work to drain`);

    const stopStarted = Date.now();
    const { code } = await agent.stop(70_000);
    assert.equal(code, 0);
    assert.ok(Date.now() - stopStarted < 60_000, 'within the grace period');
    const creates = (await events(agent.dataDir)).filter((e) => e.action === 'create' && ids.includes(e.actor.id));
    assert.deepEqual(creates.map((e) => e.actor.id).sort(), [...ids].sort(), 'every queued event was written before exit');
    assert.ok(agent.logs.some((l) => l.msg === 'stopped; everything queued was written'));
  } finally {
    await dispose();
  }
});

test('/status?top=<name>, once enabled, lists a tracked container\'s processes; an ignored container is not found', { timeout: 120_000 }, async () => {
  const containers = new TestContainers();
  const agent = await AgentProcess.start({ config: { server: { status_top: true }, collectors: { logs: { enabled: false }, stats: { enabled: false } } } });
  try {
    await agent.waitReady();
    const name = containers.name('top');
    await containers.start(['sleep', '300'], { name });
    const hidden = containers.name('top-hidden');
    await containers.start(['sleep', '300'], { name: hidden, labels: { 'dockhand.enable': 'false' } });
    const top = await waitFor(async () => {
      const response = await agent.get(`/status?top=${name}`);
      return response.status === 200 ? response.json().top : undefined;
    }, { timeoutMs: 30_000, what: 'top of the tracked container' });
    assert.equal(top.name, name);
    assert.ok(top.titles.includes('PID'));
    assert.ok(top.processes.some((p: string[]) => p.join(' ').includes('sleep 300')), JSON.stringify(top.processes));
    const ignored = await agent.get(`/status?top=${hidden}`);
    assert.equal(ignored.status, 404);
  } finally {
    await agent.dispose();
    await containers.removeAll();
  }
});

test('a second SIGTERM during a slow drain exits at once with a non-zero code', { timeout: 120_000 }, async () => {
  const { agent, dispose } = await agentWithQueuedEvents(3, 120_000, { writeDelayMs: 5_000, batch_records: 1 });
  try {
    agent.child.kill('SIGTERM');
    await waitFor(() => agent.logs.some((l) => l.msg === 'stopping'), { timeoutMs: 10_000, what: 'the first signal starts the stop' });
    const secondAt = Date.now();
    agent.child.kill('SIGTERM');
    const { code } = await agent.exited;
    assert.equal(code, 143);
    assert.ok(Date.now() - secondAt < 5_000, 'exits at once, not after the drain');
  } finally {
    await dispose();
  }
});
