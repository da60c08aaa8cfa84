/**
 * Issue 12, end to end through the agent into the OTLP test receiver (enabled by
 * OTEL_EXPORTER_OTLP_ENDPOINT): a compose-labelled container's lines arrive once under a resource
 * with the semantic conventions' container attributes, its start and die events as log records
 * with event names, its metrics with the conventions' names and units and the container's start as
 * the start time of the cumulative sums; a 429 with Retry-After on the way is waited out, not lost.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from '../helpers/agent-process.js';
import { TestContainers, docker, waitExit } from '../helpers/containers.js';
import { describeTally } from '../helpers/es-agent.js';
import { startOtlpAgent, tallyOtlpLines } from '../helpers/otlp-agent.js';
import { OtlpTestServer } from '../helpers/otlp-server.js';
import { parseRfc3339Nano } from '../../src/records.js';
import { waitFor } from '../helpers/wait.js';

const LINES = 500;

test('logs, events and container metrics over OTLP: resource attributes, event names, semantic-convention metrics; a 429 waited out', { timeout: 120_000 }, async (t) => {
  const containers = new TestContainers();
  const server = await OtlpTestServer.start();
  const agent = await startOtlpAgent({ server, logsLabel: `${containers.runLabel}=${containers.run}`, stats: true, otlp: { metrics: { enabled: true } } });
  try {
    await agent.waitReady();
    server.answer({ status: 429, retryAfter: '1', signal: 'logs', withLines: true });
    const name = containers.name('otlp-e2e');
    const id = await containers.start(['sh', '-c', `seq 1 ${LINES}; seq 1 ${LINES} >&2; sleep 4`], {
      name, labels: { 'com.docker.compose.project': 'dhproj', 'com.docker.compose.service': 'websvc' },
    });
    assert.equal(await waitExit(id), 0);
    await waitFor(() => new Set(server.logsOf(id).map((l) => l.attributes['log.record.uid'])).size >= 2 * LINES, { timeoutMs: 30_000, what: `${2 * LINES} lines (have ${server.logsOf(id).length})` });
    const logs = server.logsOf(id);
    const tally = tallyOtlpLines(logs, LINES);
    assert.ok(tally.missing.length === 0 && tally.twice.length === 0 && tally.unexpected.length === 0, describeTally(tally));
    assert.deepEqual(server.duplicates().filter((uid) => uid.startsWith(id.slice(0, 12))), [], 'no line sent twice');
    const throttled = server.requests.findIndex((r) => r.status === 429);
    assert.ok(throttled >= 0, 'the receiver answered 429 once');
    // Other lanes (events, the second log worker) go on meanwhile: the agent's own account says the throttled batch waited the receiver's 1 s.
    const retry = agent.logs.find((l) => l.msg === 'export failed, will retry' && /HTTP 429/.test(String(l.err)));
    assert.ok(retry, `the runner logged the 429 (${agent.stderr.slice(-500)})`);
    assert.equal(retry.retryInMs, 1000, 'retried after the receiver\'s Retry-After: 1');

    const resource = logs[0]!.resource;
    assert.deepEqual({ ...resource, 'host.name': typeof resource['host.name'] }, {
      'container.id': id, 'container.name': name, 'container.runtime.name': 'docker', 'container.runtime': 'docker', 'host.name': 'string',
      'service.name': 'websvc', 'service.namespace': 'dhproj',
      'container.image.name': 'dockhand-test/busybox', 'container.image.tags': ['latest'],
      'container.label.com.docker.compose.project': 'dhproj', 'container.label.com.docker.compose.service': 'websvc',
    });
    assert.ok(String(resource['host.name']).length > 0);
    const [first] = logs;
    assert.equal(first!.scope.name, 'dockhand');
    assert.ok(first!.observedTimeUnixNano >= first!.timeUnixNano, 'observed after it happened');
    assert.ok(logs.every((l) => l.attributes['log.record.uid'] && (l.attributes['log.iostream'] === 'stdout' || l.attributes['log.iostream'] === 'stderr')));

    const events = await waitFor(() => {
      const names = server.logs.filter((l) => l.attributes['docker.event.actor.id'] === id).map((l) => l.attributes['event.name']);
      return names.includes('docker.container.start') && names.includes('docker.container.die') ? names : undefined;
    }, { timeoutMs: 20_000, what: 'the start and die events of the container' });
    const die = server.logs.find((l) => l.attributes['docker.event.actor.id'] === id && l.attributes['event.name'] === 'docker.container.die')!;
    assert.equal(die.resource['container.id'], id);
    assert.equal(die.attributes['docker.event.actor.attributes.exitCode'], '0');
    assert.equal(die.attributes['docker.event.type'], 'container');

    const startedAt = parseRfc3339Nano(await docker('inspect', '-f', '{{.State.StartedAt}}', id))!;
    const metrics = await waitFor(() => {
      const mine = server.metrics.filter((m) => m.resource['container.id'] === id);
      const names = new Set(mine.map((m) => m.name));
      return ['container.cpu.time', 'container.memory.usage', 'container.network.io', 'container.disk.io'].every((n) => names.has(n)) ? mine : undefined;
    }, { timeoutMs: 20_000, what: 'container metrics of the container' });
    const byName = new Map(metrics.map((m) => [m.name, m]));
    const shape = (n: string) => { const m = byName.get(n)!; return [m.unit, m.type, m.monotonic, m.temporality]; };
    assert.deepEqual(shape('container.cpu.time'), ['s', 'sum', true, 2]);
    assert.deepEqual(shape('container.memory.usage'), ['By', 'sum', false, 2]);
    assert.deepEqual(shape('container.network.io'), ['By', 'sum', true, 2]);
    assert.deepEqual(shape('container.disk.io'), ['By', 'sum', true, 2]);
    const cpu = byName.get('container.cpu.time')!;
    assert.deepEqual(new Set(cpu.points.map((p) => p.attributes['cpu.mode'])), new Set(['user', 'kernel']));
    for (const point of cpu.points) {
      const offMs = Number(point.startTimeUnixNano - startedAt) / 1e6;
      assert.ok(Math.abs(offMs) < 2, `start_time_unix_nano is the container's start (off by ${offMs} ms)`);
      assert.ok(point.timeUnixNano > point.startTimeUnixNano);
    }
    const network = byName.get('container.network.io')!;
    assert.deepEqual(new Set(network.points.map((p) => p.attributes['network.io.direction'])), new Set(['receive', 'transmit']));
    assert.ok(network.points.every((p) => typeof p.attributes['network.interface.name'] === 'string' && p.integer));
    t.diagnostic(`${logs.length} log records, ${server.requests.length} requests (one 429, retried after ${String(retry.retryInMs)} ms), ${metrics.length} metric entries: ${[...byName.keys()].join(', ')}`);
  } finally {
    await agent.dispose();
    await containers.removeAll();
    await server.close();
  }
});

test('the CLI: grpc refused with exit 2 naming the key and the variable; --check-config shows header names, never values', async () => {
  const grpc = await runCli(['--check-config'], { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4317', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' });
  assert.equal(grpc.code, 2, grpc.stderr);
  assert.match(grpc.stderr, /exporters\.otlp\.protocol.*grpc is not supported: use http\/protobuf or http\/json/);
  assert.match(grpc.stderr, /OTEL_EXPORTER_OTLP_PROTOCOL/);
  const shown = await runCli(['--check-config'], { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20s3cret' });
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, /authorization: "?\*{8}"?/);
  assert.doesNotMatch(shown.stdout + shown.stderr, /s3cret/);
});

test('http/json without compression, set by the standard variables, with headers: the same lines arrive once', { timeout: 60_000 }, async () => {
  const containers = new TestContainers();
  const server = await OtlpTestServer.start();
  const agent = await startOtlpAgent({
    server, logsLabel: `${containers.runLabel}=${containers.run}`,
    env: { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_COMPRESSION: 'none', OTEL_EXPORTER_OTLP_HEADERS: 'x-scope-orgid=team%20a' },
  });
  try {
    await agent.waitReady();
    const id = await containers.start(['sh', '-c', 'seq 1 50; seq 1 50 >&2'], { name: containers.name('otlp-json') });
    assert.equal(await waitExit(id), 0);
    await waitFor(() => server.logsOf(id).length >= 100, { timeoutMs: 20_000, what: `100 lines (have ${server.logsOf(id).length})` });
    const tally = tallyOtlpLines(server.logsOf(id), 50);
    assert.ok(tally.missing.length === 0 && tally.twice.length === 0 && tally.unexpected.length === 0, describeTally(tally));
    const requests = server.requests.filter((r) => r.signal === 'logs');
    assert.ok(requests.length > 0 && requests.every((r) => r.contentType === 'application/json' && r.contentEncoding === '' && r.headers['x-scope-orgid'] === 'team a'),
      JSON.stringify(requests.map((r) => [r.contentType, r.contentEncoding, r.headers['x-scope-orgid']])));
    assert.doesNotMatch(agent.stderr, /team a/, 'header values never logged');
  } finally {
    await agent.dispose();
    await containers.removeAll();
    await server.close();
  }
});
