/**
 * What the Loki exporter writes, read back with the official message definitions (protobufjs over
 * the vendored push.proto, snappyjs): stream labels and their text, entry order, the Docker
 * timestamp and the message exactly, structured metadata, events, JSON bodies.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import type { ContainerMeta, EventRecord, LogRecord } from '../../src/records.js';
import { ProtoWriter } from '../../src/util/protobuf-writer.js';
import { lokiConfigSchema } from '../../exporters/loki/config.js';
import { StreamLabels, labelsText, sanitizeLabelName } from '../../exporters/loki/labels.js';
import { encodeJson, encodeProtobuf, eventLine, groupStreams } from '../../exporters/loki/push-body.js';
import { decodePush, parseLabels } from '../helpers/loki-server.js';

const gunzip = promisify(zlib.gunzip);

const plain: ContainerMeta = { id: 'c'.repeat(64), name: 'web', image: 'nginx:1.27', labels: {}, host: 'node-1' };
const composed: ContainerMeta = {
  id: 'd'.repeat(64), name: 'shop-api-1', image: 'shop/api:2', host: 'node-1',
  labels: { 'com.docker.compose.project': 'shop', 'com.docker.compose.service': 'api', team: 'payments' },
};

let seq = 0;
function log(container: ContainerMeta, time: bigint, message: string, stream: 'stdout' | 'stderr' = 'stdout'): LogRecord {
  return { kind: 'log', id: `${container.id}-${stream}-${time}-${seq++}`, time, stream, message, container };
}

function labels(overrides: Record<string, unknown> = {}): StreamLabels {
  return new StreamLabels(lokiConfigSchema.parse({ labels: overrides }).labels);
}

test('label text: names sorted, values quoted so that Loki\'s parser reads them back exactly', () => {
  const tricky = { b: 'say "hi"\\ now', a: 'line\nbreak\ttab', c: 'ünïcode ✓', empty: '' };
  const text = labelsText(tricky);
  assert.equal(text, '{a="line\\nbreak\\ttab", b="say \\"hi\\"\\\\ now", c="ünïcode ✓"}');
  assert.deepEqual(parseLabels(text), { a: tricky.a, b: tricky.b, c: tricky.c });
  assert.equal(sanitizeLabelName('com.docker.compose.project'), 'com_docker_compose_project');
  assert.equal(sanitizeLabelName('1st-label'), '_1st_label');
});

const replica2: ContainerMeta = { ...composed, id: 'e'.repeat(64), name: 'shop-api-2' };

test('default stream labels: host, container_name, stream and service_name; compose containers also by project and service, each replica its own stream', () => {
  const l = labels();
  assert.deepEqual(l.logLabels(plain, 'stderr'), { host: 'node-1', container_name: 'web', stream: 'stderr', service_name: 'web' });
  assert.deepEqual(l.logLabels(composed, 'stdout'), { host: 'node-1', compose_project: 'shop', compose_service: 'api', container_name: 'shop-api-1', stream: 'stdout', service_name: 'api' });
  // Replicas of one service never share a stream: one replica's backlog is never "too far behind" another's newer lines.
  assert.notEqual(labelsText(l.logLabels(composed, 'stdout')), labelsText(l.logLabels(replica2, 'stdout')));
  const custom = labels({ container_name: 'unless_compose', host: false, static: { env: 'prod' }, from_container_labels: { team: 'team' } });
  assert.deepEqual(custom.logLabels(composed, 'stdout'), { env: 'prod', team: 'payments', compose_project: 'shop', compose_service: 'api', stream: 'stdout', service_name: 'api' });
});

test('protobuf: one stream per label set, entries in timestamp order (stable), the Docker timestamp and the message exactly, metadata; decoded with the official proto', async () => {
  const records = [
    log(plain, 1_764_475_200_000_000_300n, 'third'),
    log(composed, 1_764_475_200_000_000_000n, 'api line', 'stderr'),
    log(plain, 1_764_475_200_000_000_100n, 'first'),
    log(plain, 1_764_475_200_000_000_100n, 'first, same ns, after'),
    log(plain, 5n, ''),
    { ...log(plain, 1_764_475_200_000_000_200n, 'x'.repeat(70_000)), truncated: true } as LogRecord,
  ];
  const push = encodeProtobuf(groupStreams(records, labels(), true), new ProtoWriter(64));
  assert.equal(push.entries, 6);
  assert.equal(push.headers['content-type'], 'application/x-protobuf');
  const streams = await decodePush(push.headers, push.body);
  assert.deepEqual(streams.map((s) => s.labelsText), [
    '{container_name="web", host="node-1", service_name="web", stream="stdout"}',
    '{compose_project="shop", compose_service="api", container_name="shop-api-1", host="node-1", service_name="api", stream="stderr"}',
  ]);
  const web = streams[0]!;
  assert.deepEqual(web.entries.map((e) => [e.time, e.line.slice(0, 30)]), [
    [5n, ''],
    [1_764_475_200_000_000_100n, 'first'],
    [1_764_475_200_000_000_100n, 'first, same ns, after'],
    [1_764_475_200_000_000_200n, 'x'.repeat(30)],
    [1_764_475_200_000_000_300n, 'third'],
  ]);
  assert.equal(web.entries[3]!.line.length, 70_000);
  assert.deepEqual(web.entries[1]!.metadata, { container_id: plain.id, container_image: 'nginx:1.27', dockhand_record_id: records[2]!.id });
  assert.equal(web.entries[3]!.metadata.truncated, 'true');
  // container_name is a label, so not metadata too; with unless_compose a compose container's name is metadata.
  assert.equal(streams[1]!.entries[0]!.metadata.container_name, undefined);
  const byService = await decodePush(...(() => { const p = encodeProtobuf(groupStreams([records[1]!], labels({ container_name: 'unless_compose' }), true), new ProtoWriter()); return [p.headers, p.body] as const; })());
  assert.equal(byService[0]!.entries[0]!.metadata.container_name, 'shop-api-1');
});

test('without structured metadata (Loki before 3), entries carry none', async () => {
  const push = encodeProtobuf(groupStreams([log(plain, 10n, 'a')], labels(), false), new ProtoWriter());
  const [stream] = await decodePush(push.headers, push.body);
  assert.deepEqual(stream!.entries[0]!.metadata, {});
});

test('the same records encode to the same bytes: a replay is the same push', () => {
  const records = [log(plain, 2n, 'b'), log(plain, 1n, 'a'), log(composed, 3n, 'c')];
  const a = encodeProtobuf(groupStreams(records, labels(), true), new ProtoWriter());
  const b = encodeProtobuf(groupStreams([...records], new StreamLabels(lokiConfigSchema.parse({}).labels), true), new ProtoWriter());
  assert.ok(a.body.equals(b.body));
});

test('events: their own stream per type, the event as one JSON line with sorted attributes', async () => {
  const event: EventRecord = {
    kind: 'event', id: 'ev1', time: 1_764_475_200_123_456_789n, type: 'container', action: 'die',
    actor: { id: plain.id, attributes: { name: 'web', exitCode: '0', image: 'nginx:1.27' } }, scope: 'local', container: plain,
  };
  const push = encodeProtobuf(groupStreams([event], labels(), true), new ProtoWriter());
  const [stream] = await decodePush(push.headers, push.body);
  assert.equal(stream!.labelsText, '{event_type="container", service_name="docker", source="docker_events"}');
  const entry = stream!.entries[0]!;
  assert.equal(entry.time, event.time);
  assert.equal(entry.line, eventLine(event));
  assert.deepEqual(Object.keys(JSON.parse(entry.line).actor.attributes), ['exitCode', 'image', 'name']);
  assert.deepEqual(entry.metadata, { dockhand_record_id: 'ev1', container_id: plain.id });
});

test('JSON bodies, gzipped or not, carry the same streams', async () => {
  const records = [log(plain, 1_764_475_200_000_000_001n, 'one'), log(composed, 7n, 'two', 'stderr')];
  const streams = groupStreams(records, labels(), true);
  const proto = await decodePush(...(() => { const p = encodeProtobuf(streams, new ProtoWriter()); return [p.headers, p.body] as const; })());
  for (const gzip of [true, false]) {
    const push = await encodeJson(streams, gzip);
    assert.equal(push.headers['content-encoding'], gzip ? 'gzip' : undefined);
    const decoded = await decodePush(push.headers, push.body);
    assert.deepEqual(decoded.map((s) => [s.labels, s.entries]), proto.map((s) => [s.labels, s.entries]));
    const text = (gzip ? await gunzip(push.body) : push.body).toString('utf8');
    assert.match(text, /"values":\[\["1764475200000000001","one",\{"container_id":/);
  }
});
