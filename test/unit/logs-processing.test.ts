import { test } from 'node:test';
import assert from 'node:assert/strict';
import { logsConfigSchema } from '../../collectors/logs/config.js';
import { ContainerFilter, ContainerSelector, ProcessingRules } from '../../collectors/logs/filters.js';
import { parseJsonObject } from '../../collectors/logs/json.js';
import { MultilineJoiner, type LogLine } from '../../collectors/logs/multiline.js';
import { ownContainerFrom } from '../../collectors/logs/own-container.js';
import { silentLogger } from '../../src/telemetry/logger.js';

const OWN = 'a1b2c3d4e5f6'.padEnd(64, '0');

function container(name: string, image: string, labels: Record<string, string> = {}, id = 'b'.repeat(64)) {
  return { meta: { id, name, image, labels: {}, host: 'h' }, allLabels: labels };
}

function line(i: number, message: string, stream: 0 | 1 = 0): LogLine {
  return { stream, time: BigInt(i), index: 0, lastTime: BigInt(i), lastIndex: 0, message, bytes: Buffer.byteLength(message), truncated: false };
}

test('config: defaults, strictness, regex validation', () => {
  const config = logsConfigSchema.parse({});
  assert.equal(config.enabled, true);
  assert.equal(config.max_line_bytes, 1024 * 1024);
  assert.equal(config.exclude_self, true);
  assert.equal(config.history, 'running');
  assert.equal(config.checkpoint_interval_ms, 200);
  assert.throws(() => logsConfigSchema.parse({ max_line: 5 }));
  assert.throws(() => logsConfigSchema.parse({ multiline: [{ pattern: '([' }] }));
  assert.throws(() => logsConfigSchema.parse({ include: { name: ['x'] } }));
  assert.equal(logsConfigSchema.parse({ multiline: [{ pattern: '^\\S' }] }).multiline[0]!.max_lines, 500);
});

test('multiline: a stack trace becomes one record; streams never mix', () => {
  const joiner = new MultilineJoiner({ pattern: /^\S/, maxLines: 100, maxBytes: 10_000, timeoutMs: 1000 });
  const out: LogLine[] = [];
  const input = [
    line(1, 'Exception in thread "main" java.lang.IllegalStateException: boom'),
    line(2, '\tat com.example.App.run(App.java:10)'),
    line(3, 'stderr line', 1),
    line(4, '\tat com.example.App.main(App.java:5)'),
    line(5, 'next record'),
  ];
  for (const l of input) joiner.push(l, out);
  assert.equal(out.length, 1);
  assert.equal(out[0]!.message, 'Exception in thread "main" java.lang.IllegalStateException: boom\n\tat com.example.App.run(App.java:10)\n\tat com.example.App.main(App.java:5)');
  assert.equal(out[0]!.time, 1n);
  assert.equal(out[0]!.lastTime, 4n);
  assert.equal(joiner.heldTime(0), 5n);
  assert.equal(joiner.heldTime(1), 3n);
  joiner.complete(0, out);
  joiner.complete(1, out);
  assert.deepEqual(out.slice(1).map((l) => l.message).sort(), ['next record', 'stderr line']);
  assert.equal(joiner.holding, false);
});

test('multiline: max_lines and max_bytes close a record early, nothing is lost', () => {
  const joiner = new MultilineJoiner({ pattern: /^START/, maxLines: 3, maxBytes: 20, timeoutMs: 1000 });
  const out: LogLine[] = [];
  for (const [i, m] of ['START', 'a', 'b', 'c', 'd', 'START', 'xxxxxxxxxx', 'yyyyyyyyyy'].entries()) joiner.push(line(i, m), out);
  joiner.complete(0, out);
  joiner.complete(1, out);
  assert.deepEqual(out.map((l) => l.message), ['START\na\nb', 'c\nd', 'START\nxxxxxxxxxx', 'yyyyyyyyyy']);
});

test('json: objects parsed, anything else left alone', () => {
  assert.deepEqual(parseJsonObject('{"a":1,"b":{"c":[1,2]}}'), { a: 1, b: { c: [1, 2] } });
  assert.deepEqual(parseJsonObject('  {"a":1}\r'), { a: 1 });
  for (const text of ['[1,2]', '"s"', '42', 'null', '{broken', '{"a":1} trailing', '', 'plain']) assert.equal(parseJsonObject(text), undefined, text);
});

test('selectors: names, images, label key or key=value globs', () => {
  const s = new ContainerSelector({ names: ['web-*'], images: ['nginx:*'], labels: ['team=pay*', 'debug'] });
  assert.equal(s.matches(container('web-1', 'x')), true);
  assert.equal(s.matches(container('db', 'nginx:1.25')), true);
  assert.equal(s.matches(container('db', 'postgres', { team: 'payments' })), true);
  assert.equal(s.matches(container('db', 'postgres', { team: 'search' })), false);
  assert.equal(s.matches(container('db', 'postgres', { debug: '' })), true);
  assert.equal(new ContainerSelector({}).matches(container('any', 'any')), false);
});

test('filter: dockhand.logs=false, include, exclude, the agent\'s own container', () => {
  const filter = new ContainerFilter(logsConfigSchema.parse({ include: { names: ['app-*', 'own'] }, exclude: { labels: ['tier=debug'] } }), { id: OWN });
  assert.equal(filter.rejects(container('app-1', 'x')), undefined);
  assert.match(filter.rejects(container('other', 'x'))!, /not included/);
  assert.match(filter.rejects(container('app-2', 'x', { tier: 'debug' }))!, /excluded/);
  assert.match(filter.rejects(container('app-3', 'x', { 'dockhand.logs': 'false' }))!, /dockhand.logs=false/);
  assert.match(filter.rejects(container('own', 'x', {}, OWN))!, /own container/);
  const keepSelf = new ContainerFilter(logsConfigSchema.parse({ exclude_self: false }), { shortId: OWN.slice(0, 12) });
  assert.equal(keepSelf.rejects(container('own', 'x', {}, OWN)), undefined);
  const byHostname = new ContainerFilter(logsConfigSchema.parse({}), { shortId: OWN.slice(0, 12) });
  assert.match(byHostname.rejects(container('own', 'x', {}, OWN))!, /own container/);
});

test('own container from cgroup v1, cgroup v2 mountinfo, or HOSTNAME inside a container', () => {
  assert.deepEqual(ownContainerFrom(`12:memory:/docker/${OWN}\n0::/`, '', undefined, true), { id: OWN });
  assert.deepEqual(ownContainerFrom(`0::/system.slice/docker-${OWN}.scope`, '', undefined, true), { id: OWN });
  const mountinfo = `612 590 254:1 /var/lib/docker/containers/${OWN}/hostname /etc/hostname rw,relatime - ext4 /dev/vda1 rw`;
  assert.deepEqual(ownContainerFrom('0::/', mountinfo, 'whatever', true), { id: OWN });
  assert.deepEqual(ownContainerFrom('0::/', '', 'a1b2c3d4e5f6', true), { shortId: 'a1b2c3d4e5f6' });
  assert.deepEqual(ownContainerFrom('0::/', '', 'a1b2c3d4e5f6', false), {});
  assert.deepEqual(ownContainerFrom('4:memory:/process_api/8db56de39234ce3f42735c6daea7ccb5', '', 'vm', true), {});
});

test('processing rules: config by name/image, labels override', () => {
  const rules = new ProcessingRules(logsConfigSchema.parse({
    multiline: [{ images: ['java:*'], pattern: '^\\d{4}-', timeout_ms: 500 }],
    json: { names: ['api-*'] },
  }), silentLogger());
  const java = rules.for(container('svc', 'java:17'));
  assert.equal(java.multiline!.pattern.source, '^\\d{4}-');
  assert.equal(java.multiline!.timeoutMs, 500);
  assert.equal(java.json, false);
  assert.equal(rules.for(container('api-1', 'node')).json, true);
  assert.equal(rules.for(container('api-1', 'node', { 'dockhand.logs.json': 'false' })).json, false);
  assert.equal(rules.for(container('x', 'node', { 'dockhand.logs.json': 'true' })).json, true);
  const labelled = rules.for(container('x', 'node', { 'dockhand.multiline.pattern': '^[A-Z]', 'dockhand.multiline.max_lines': '7' }));
  assert.equal(labelled.multiline!.pattern.source, '^[A-Z]');
  assert.equal(labelled.multiline!.maxLines, 7);
  assert.equal(rules.for(container('x', 'node', { 'dockhand.multiline.pattern': '([' })).multiline, undefined, 'a bad label pattern is ignored');
  assert.equal(rules.for(container('x', 'node')).multiline, undefined);
});
