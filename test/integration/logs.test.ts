/**
 * The log collector end to end: real containers on the real daemon, the real agent process, the
 * file sink. The oracle is the daemon itself: `docker logs` of the same container.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { TestContainers, docker, waitExit } from '../helpers/containers.js';
import type { AgentProcess } from '../helpers/agent-process.js';
import { waitFor } from '../helpers/wait.js';
import { dockerLogs, duplicates, metricValue, readSink, sinkLines, startAgent } from './logs-sink.js';

const containers = new TestContainers();
let agent: AgentProcess;

before(async () => {
  agent = await startAgent(containers, { logs: { max_line_bytes: 1024 * 1024 }, config: { log: { level: process.env.DOCKHAND_TEST_AGENT_LOG ?? 'info' } } });
  await agent.waitReady(60_000);
});

after(async () => {
  await agent?.dispose();
  await containers.removeAll();
});

async function arrived(id: string, count: number, timeoutMs = 120_000): Promise<void> {
  await waitFor(() => sinkLines(readSink(agent.dataDir), id).length >= count, { timeoutMs, intervalMs: 200, what: `${count} lines of ${id.slice(0, 12)} in the sink` });
}

test('100,000 numbered lines across stdout and stderr: each exactly once, in order per stream, stream right', async () => {
  const id = await containers.start(['awk', 'BEGIN { for (i = 1; i <= 50000; i++) { print "out " i; print "err " i > "/dev/stderr" } }']);
  await waitExit(id);
  await arrived(id, 100_000);
  const records = readSink(agent.dataDir).filter((r) => r.container.id === id);
  assert.deepEqual(duplicates(records), []);
  assert.equal(records.length, 100_000);
  const expected = (prefix: string) => Array.from({ length: 50_000 }, (_, i) => `${prefix} ${i + 1}`);
  assert.deepEqual(sinkLines(records, id, 'stdout'), expected('out'));
  assert.deepEqual(sinkLines(records, id, 'stderr'), expected('err'));
  const times = records.filter((r) => r.stream === 'stdout').map((r) => BigInt(r.time_ns));
  for (let i = 1; i < times.length; i++) assert.ok(times[i]! >= times[i - 1]!, 'stdout times never go back');
});

test('a 40,000-byte and a 200,000-byte line arrive whole and byte-identical', async () => {
  const script = 'yes abcdefghijklmnopqrstuvwxyz | tr -d "\\n" | head -c 40000; echo; yes 0123456789 | tr -d "\\n" | head -c 200000; echo; echo after';
  const id = await containers.start(['sh', '-c', script]);
  await waitExit(id);
  await arrived(id, 3);
  const lines = sinkLines(readSink(agent.dataDir), id, 'stdout');
  const first = Array.from({ length: 40_000 }, (_, i) => String.fromCharCode(97 + (i % 26))).join('');
  const second = Array.from({ length: 200_000 }, (_, i) => String.fromCharCode(48 + (i % 10))).join('');
  assert.equal(lines.length, 3);
  assert.equal(lines[0]!.length, 40_000);
  assert.ok(lines[0] === first, '40,000-byte line identical');
  assert.equal(lines[1]!.length, 200_000);
  assert.ok(lines[1] === second, '200,000-byte line identical');
  assert.equal(lines[2], 'after');
  assert.ok(metricValue(await agent.metrics(), 'dockhand_logs_partial_merges_total') >= 2);
});

test('a TTY container\'s lines arrive without \\r; its unterminated last line too', async () => {
  const id = await containers.start(['sh', '-c', 'echo one; echo "two  words"; printf "no newline"'], { flags: ['--tty'] });
  await waitExit(id);
  await arrived(id, 3);
  const records = readSink(agent.dataDir).filter((r) => r.container.id === id);
  assert.deepEqual(records.map((r) => r.message), ['one', 'two  words', 'no newline']);
  assert.ok(records.every((r) => r.stream === 'stdout'));
});

test('invalid UTF-8 arrives replaced by U+FFFD and is counted (json-file: replaced by the daemon; local driver: by us)', async () => {
  const metrics = await agent.metrics();
  const before = { agent: metricValue(metrics, 'dockhand_logs_invalid_utf8_total', 'replaced_by="agent"'), upstream: metricValue(metrics, 'dockhand_logs_invalid_utf8_total', 'replaced_by="upstream"') };
  const command = ['sh', '-c', 'printf "bad \\377\\376 end\\n"; printf "fine é\\n"'];
  const jsonFile = await containers.start(command);
  const local = await containers.start(command, { flags: ['--log-driver', 'local'] });
  await waitExit(jsonFile);
  await waitExit(local);
  await arrived(jsonFile, 2);
  await arrived(local, 2);
  assert.deepEqual(sinkLines(readSink(agent.dataDir), jsonFile), ['bad \uFFFD\uFFFD end', 'fine é']);
  assert.deepEqual(sinkLines(readSink(agent.dataDir), local), ['bad \uFFFD\uFFFD end', 'fine é']);
  await waitFor(async () => {
    const now = await agent.metrics();
    return metricValue(now, 'dockhand_logs_invalid_utf8_total', 'replaced_by="agent"') === before.agent + 1
      && metricValue(now, 'dockhand_logs_invalid_utf8_total', 'replaced_by="upstream"') === before.upstream + 1;
  }, { timeoutMs: 5000, what: 'one line counted as replaced by the agent, one as replaced upstream' });
});

test('a final line without newline is shipped when the container exits', async () => {
  const id = await containers.start(['sh', '-c', 'echo first; printf "last words"']);
  await waitExit(id);
  await arrived(id, 2);
  assert.deepEqual(sinkLines(readSink(agent.dataDir), id), ['first', 'last words']);
});

test('stop and start a container: every line of both runs once, as docker logs has them', async () => {
  const script = 'R=$(cut -d" " -f1 /proc/uptime); i=0; while true; do echo "run $R line $i"; echo "err $i" >&2; i=$((i+1)); usleep 2000; done';
  const id = await containers.start(['sh', '-c', script]);
  await waitFor(async () => (await dockerLogs(id)).stdout.length > 300, { timeoutMs: 30_000 });
  await docker('stop', '-t', '0', id);
  await docker('start', id);
  await waitFor(async () => (await dockerLogs(id)).stdout.length > 900, { timeoutMs: 30_000 });
  await docker('stop', '-t', '0', id);
  const truth = await dockerLogs(id);
  await arrived(id, truth.stdout.length + truth.stderr.length, 60_000);
  const records = readSink(agent.dataDir).filter((r) => r.container.id === id);
  if (duplicates(records).length > 0) {
    for (const entry of agent.logs.filter((l) => JSON.stringify(l).includes(id) || JSON.stringify(l).includes(id.slice(0, 12)))) console.error('AGENTLOG', JSON.stringify(entry));
  }
  assert.deepEqual(duplicates(records), []);
  assert.deepEqual(sinkLines(records, id, 'stdout'), truth.stdout);
  assert.deepEqual(sinkLines(records, id, 'stderr'), truth.stderr);
  assert.equal(new Set(truth.stdout.map((l) => l.split(' ')[1])).size, 2, 'two runs');
});

test('50 containers that print one line and exit within a second: all 50 lines arrive', async () => {
  const ids = await Promise.all(Array.from({ length: 50 }, (_, i) => containers.start(['sh', '-c', `echo "hello from ${i}"`], { labels: { 'dockhand.test.batch': 'fifty' } })));
  await waitFor(() => {
    const records = readSink(agent.dataDir);
    return ids.every((id) => sinkLines(records, id).length === 1);
  }, { timeoutMs: 60_000, intervalMs: 250, what: 'one line from each of 50 short-lived containers' });
  const records = readSink(agent.dataDir);
  assert.deepEqual(ids.map((id) => sinkLines(records, id)[0]), ids.map((_, i) => `hello from ${i}`));
  assert.equal(metricValue(await agent.metrics(), 'dockhand_logs_containers_missed_total'), 0);
});

test('JSON parsing by label keeps the message and adds the object; multiline by label joins a stack trace', async () => {
  const id = await containers.start(['sh', '-c', 'echo \'{"level":"warn","msg":"hi"}\'; echo plain'], { labels: { 'dockhand.logs.json': 'true' } });
  const trace = await containers.start(['sh', '-c', 'echo "Exception: boom"; printf "\\tat a\\n\\tat b\\n"; echo "next"; sleep 30'], {
    labels: { 'dockhand.multiline.pattern': '^\\S', 'dockhand.multiline.timeout_ms': '300' },
  });
  await waitExit(id);
  await arrived(id, 2);
  const json = readSink(agent.dataDir).filter((r) => r.container.id === id);
  assert.equal(json[0]!.message, '{"level":"warn","msg":"hi"}');
  assert.deepEqual(json[0]!.json, { level: 'warn', msg: 'hi' });
  assert.equal(json[1]!.json, undefined);
  // "next" is held until the flush timeout passes without a further line, while the container still runs.
  await arrived(trace, 2, 20_000);
  assert.deepEqual(sinkLines(readSink(agent.dataDir), trace), ['Exception: boom\n\tat a\n\tat b', 'next']);
  await docker('rm', '-f', trace);
});

test('a container labelled dockhand.logs=false is not read', async () => {
  const skipped = await containers.start(['sh', '-c', 'echo secret'], { labels: { 'dockhand.logs': 'false' } });
  await waitExit(skipped);
  // Decided at the skipped container's own events, which come before the next container's.
  const read = await containers.start(['sh', '-c', 'echo visible']);
  await waitExit(read);
  await arrived(read, 1);
  assert.deepEqual(sinkLines(readSink(agent.dataDir), skipped), []);
});
