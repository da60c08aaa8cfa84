/**
 * Run boundaries against the real daemon: a container whose last line has no newline and that runs
 * again (`docker start`, a restart policy), one removed right after it exits (`--rm`), and one in a
 * crash loop. The agent reads through a recording proxy, so the test can count its logs requests.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { TestContainers, docker, waitExit } from '../helpers/containers.js';
import type { AgentProcess } from '../helpers/agent-process.js';
import { startDockerProxy, type DockerProxy } from '../helpers/docker-proxy.js';
import { waitFor } from '../helpers/wait.js';
import { duplicates, metricValue, readSink, sinkLines, startAgent, type SinkLog } from './logs-sink.js';

const containers = new TestContainers();
let proxy: DockerProxy;
let agent: AgentProcess;

before(async () => {
  proxy = await startDockerProxy();
  agent = await startAgent(containers, { config: { docker: { host: proxy.host }, log: { level: process.env.DOCKHAND_TEST_AGENT_LOG ?? 'info' } } });
  await agent.waitReady(60_000);
});

after(async () => {
  if (process.env.DOCKHAND_TEST_AGENT_LOG) for (const entry of agent?.logs ?? []) console.error('AGENTLOG', JSON.stringify(entry));
  await agent?.dispose();
  await containers.removeAll();
  await proxy?.close();
});

const UNTERMINATED = ['sh', '-c', 'printf "first\\nsecond\\nlast-no-newline"'];
const THREE_RUNS = ['first', 'second', 'last-no-newline', 'first', 'second', 'last-no-newline', 'first', 'second', 'last-no-newline'];

/** A message for an error text: long ones by their length. */
function short(message: string): string {
  return message.length > 40 ? `${message.slice(0, 20)}… (${message.length} chars)` : message;
}

function recordsOf(id: string): SinkLog[] {
  return readSink(agent.dataDir).filter((r) => r.container.id === id);
}

/** Waits until `count` records of `id` end with `last`, then a little longer for anything that should not come. */
async function settled(id: string, last: string, count: number): Promise<SinkLog[]> {
  await waitFor(() => sinkLines(recordsOf(id), id).filter((m) => m === last).length >= count, { timeoutMs: 60_000, intervalMs: 200, what: `${count} × "${short(last)}" of ${id.slice(0, 12)} in the sink (so far: ${JSON.stringify(sinkLines(recordsOf(id), id).map(short))})` });
  const before = recordsOf(id).length;
  await waitFor(async () => {
    await new Promise((resolve) => setTimeout(resolve, 500));
    return recordsOf(id).length === before;
  }, { timeoutMs: 10_000 });
  return recordsOf(id);
}

async function waitStatus(id: string, status: string, restarts: number): Promise<void> {
  await waitFor(async () => (await docker('inspect', '-f', '{{.State.Status}} {{.RestartCount}}', id)) === `${status} ${restarts}`, { timeoutMs: 60_000, intervalMs: 100, what: `${id.slice(0, 12)} ${status} after ${restarts} restarts` });
}

test('a last line without newline, then docker start twice (read between runs): every line of every run once, none merged', async () => {
  const id = await containers.start(UNTERMINATED);
  for (let run = 1; run <= 3; run++) {
    if (run > 1) await docker('start', id);
    await waitExit(id);
    await waitFor(() => sinkLines(recordsOf(id), id).filter((m) => m === 'last-no-newline').length >= run, { timeoutMs: 60_000, intervalMs: 100, what: `run ${run}'s last line (so far: ${JSON.stringify(sinkLines(recordsOf(id), id))})` });
  }
  const records = await settled(id, 'last-no-newline', 3);
  assert.deepEqual(duplicates(records), []);
  assert.deepEqual(records.map((r) => r.message), THREE_RUNS);
});

test('the same with three runs back to back (the agent may read them in one stream), and as a TTY container', async () => {
  const plain = await containers.create(UNTERMINATED);
  const tty = await containers.create(UNTERMINATED, { flags: ['--tty'] });
  for (let run = 1; run <= 3; run++) await Promise.all([docker('start', '-a', plain), docker('start', '-a', tty)]);
  for (const id of [plain, tty]) {
    const records = await settled(id, 'last-no-newline', 3);
    assert.deepEqual(duplicates(records), [], id === tty ? 'tty' : 'plain');
    assert.deepEqual(records.map((r) => r.message), THREE_RUNS, id === tty ? 'tty' : 'plain');
  }
});

test('TTY: a line holding a future time in the daemon\'s format ("next backup at …Z daily") is one line, and the next run is read', async () => {
  const future = new Date(Date.now() + 3_600_000).toISOString().replace(/\.\d+Z$/, 'Z');
  const said = `next backup at ${future} daily`;
  const id = await containers.create(['sh', '-c', `printf "${said}\\ndone\\n"`], { flags: ['--tty'] });
  for (let run = 1; run <= 2; run++) await docker('start', '-a', id);
  const records = await settled(id, 'done', 2);
  assert.deepEqual(duplicates(records), []);
  assert.deepEqual(records.map((r) => r.message), [said, 'done', said, 'done']);
});

test('a restart policy (on-failure:2) with an unterminated last line: three runs, nine lines, none merged', async () => {
  const id = await containers.start(['sh', '-c', 'printf "first\\nsecond\\nlast-no-newline"; exit 1'], { flags: ['--restart', 'on-failure:2'] });
  await waitStatus(id, 'exited', 2);
  const records = await settled(id, 'last-no-newline', 3);
  assert.deepEqual(duplicates(records), []);
  assert.deepEqual(records.map((r) => r.message), THREE_RUNS);
});

test('--rm: the unterminated last line (the fatal error) is shipped although the container is gone', async () => {
  const short = await containers.start(['sh', '-c', 'echo starting; sleep 1; printf "fatal: boom"'], { flags: ['--rm'] });
  // A long last line in pieces: the daemon cuts it at 16 KiB, the pieces share one timestamp.
  const long = await containers.start(['sh', '-c', 'echo starting; sleep 1; head -c 40000 /dev/zero | tr "\\0" x'], { flags: ['--rm'] });
  await waitFor(async () => (await docker('ps', '-aq', '--no-trunc', '--filter', `id=${short}`, '--filter', `id=${long}`)) === '', { timeoutMs: 30_000, what: 'both containers removed' });
  assert.deepEqual((await settled(short, 'fatal: boom', 1)).map((r) => r.message), ['starting', 'fatal: boom']);
  const x = 'x'.repeat(40_000);
  assert.deepEqual((await settled(long, x, 1)).map((r) => r.message.length), [8, 40_000]);
});

test('a crash-looping container (--restart always, exits at once) is followed with backoff: a few logs requests a second at most', async (t) => {
  const id = await containers.start(['sh', '-c', 'echo "crash $(cut -d" " -f1 /proc/uptime)"; exit 1'], { flags: ['--restart', 'always'] });
  const started = Date.now();
  await waitFor(async () => Number(await docker('inspect', '-f', '{{.RestartCount}}', id)) >= 4, { timeoutMs: 30_000, intervalMs: 100, what: 'four restarts' });
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, 4000 - (Date.now() - started))));
  const window = (Date.now() - started) / 1000;
  const requests = proxy.requests.filter((r) => r.url.includes(`/containers/${id}/logs`)).length;
  const restarts = await docker('inspect', '-f', '{{.RestartCount}}', id);
  await docker('rm', '-f', id);
  t.diagnostic(`${requests} logs requests in ${window.toFixed(1)} s, ${restarts} restarts`);
  assert.ok(requests >= 2, `the container's log was read (${requests} requests)`);
  assert.ok(requests / window <= 4, `${requests} logs requests in ${window.toFixed(1)} s`);
});

test('containers removed before they could be read are counted as missed, each once at most', async () => {
  const missed = async () => metricValue(await agent.metrics(), 'dockhand_logs_containers_missed_total');
  const before = await missed();
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) ids.push(await containers.start(['true'], { flags: ['--rm'] }));
  await waitFor(async () => (await docker('ps', '-aq', '--no-trunc', ...ids.flatMap((id) => ['--filter', `id=${id}`]))) === '', { timeoutMs: 30_000, what: 'the five containers removed' });
  // Settled: the count stays the same for a while.
  let last = -1;
  await waitFor(async () => {
    const now = await missed();
    const stable = now === last;
    last = now;
    if (!stable) await new Promise((resolve) => setTimeout(resolve, 1500));
    return stable;
  }, { timeoutMs: 30_000, intervalMs: 0, what: 'the missed count to settle' });
  const logged = agent.logs.filter((l) => l.msg === 'container removed before its logs could be read' && ids.includes(String(l.id))).map((l) => String(l.id));
  assert.ok(last - before <= ids.length, `${last - before} missed for ${ids.length} containers`);
  assert.equal(new Set(logged).size, logged.length, 'no container counted twice');
  assert.equal(last - before, logged.length, 'the metric and the log lines agree');
});
