/**
 * The OTLP encodings against the official definitions (test/helpers/proto, opentelemetry-proto
 * v0.18.0, decoded by protobufjs): every field dockhand writes, for logs, events and metrics, in
 * protobuf and in the OTLP JSON mapping, the two decoding to the same message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeLogsRequest, severityOf, eventName, type LogsEncoding } from '../../exporters/otlp/logs.js';
import { writeMetricsRequest, type MetricsEncoding } from '../../exporters/otlp/metrics-encoding.js';
import { splitImage } from '../../exporters/otlp/attributes.js';
import { fieldsOf } from '../../exporters/otlp/response.js';
import { JsonOtlpWriter, ProtoOtlpWriter, type Fill } from '../../exporters/otlp/wire.js';
import type { EventRecord, LogRecord, MetricRecord } from '../../src/records.js';
import { BASE_NS, container, eventRecord, logRecord, metricRecord } from '../helpers/es-records.js';
import { attributesOf, otlpProtos, valueOf } from '../helpers/otlp-server.js';

const OBSERVED = BASE_NS + 5_000_000_000n;
const logsSettings: LogsEncoding = { agentVersion: '1.2.3', hostName: () => 'docker-host-1' };

function protobufOf(fill: Fill): Buffer {
  const writer = new ProtoOtlpWriter();
  fill(writer);
  return writer.finish();
}

/** The request decoded from protobuf and from JSON by the official definitions, as plain objects (they must be equal). */
function decodeBoth(type: 'logs' | 'metrics', fill: Fill): Record<string, any> {
  const proto = type === 'logs' ? otlpProtos().logsRequest : otlpProtos().metricsRequest;
  const options = { longs: String, enums: Number, defaults: true, oneofs: true };
  const fromProtobuf = proto.toObject(proto.decode(protobufOf(fill)), options);
  const json = JSON.parse(JsonOtlpWriter.encode(fill).toString('utf8'));
  const fromJson = proto.toObject(proto.fromObject(json), options);
  assert.deepEqual(fromJson, fromProtobuf, 'JSON and protobuf carry the same message');
  return fromProtobuf;
}

test('log lines: resource per container with the container attributes, scope, times, body, stream, uid, severity from parsed JSON', () => {
  const other = { ...container, id: 'a'.repeat(64), name: '/worker', image: 'registry:5000/team/worker@sha256:abc', labels: {} };
  const records: LogRecord[] = [
    logRecord(1),
    logRecord(2, { stream: 'stderr', truncated: true, message: 'héllo "quoted"' }),
    { ...logRecord(3, { json: { level: 'WARN', msg: 'slow', n: 3, ratio: 0.5, ok: true, nested: { a: [1, 'x'] }, nothing: null }, message: '{"level":"WARN"}' }) },
    { ...logRecord(4), container: other, id: 'other-1' },
  ];
  const request = decodeBoth('logs', (w) => writeLogsRequest(w, records, logsSettings, OBSERVED));
  assert.equal(request.resourceLogs.length, 2, 'one ResourceLogs per container');
  const [web, worker] = request.resourceLogs;
  assert.deepEqual(attributesOf(web.resource.attributes), {
    'container.id': container.id,
    'container.name': 'web-1',
    'container.runtime.name': 'docker',
    'container.runtime': 'docker',
    'host.name': 'docker-host-1',
    'service.name': 'web',
    'container.image.name': 'nginx',
    'container.image.tags': ['1.27'],
    'service.namespace': 'shop',
    'container.label.com.docker.compose.project': 'shop',
    'container.label.com.docker.compose.service': 'web',
  });
  assert.deepEqual(attributesOf(worker.resource.attributes), {
    'container.id': other.id, 'container.name': 'worker', 'container.runtime.name': 'docker', 'container.runtime': 'docker',
    'host.name': 'docker-host-1', 'service.name': 'worker', 'container.image.name': 'registry:5000/team/worker',
  });
  const scope = web.scopeLogs[0];
  assert.deepEqual({ name: scope.scope.name, version: scope.scope.version }, { name: 'dockhand', version: '1.2.3' });
  const [first, second, third] = scope.logRecords;
  assert.equal(first.timeUnixNano, String(records[0]!.time));
  assert.equal(first.observedTimeUnixNano, String(OBSERVED));
  assert.equal(first.severityNumber, 0, 'no severity without a parsed level');
  assert.equal(valueOf(first.body), 'line 1');
  assert.deepEqual(attributesOf(first.attributes), { 'log.iostream': 'stdout', 'log.record.uid': records[0]!.id });
  assert.equal(valueOf(second.body), 'héllo "quoted"');
  assert.deepEqual(attributesOf(second.attributes), { 'log.iostream': 'stderr', 'log.record.uid': records[1]!.id, 'dockhand.log.truncated': true });
  assert.equal(third.severityNumber, 13);
  assert.equal(third.severityText, 'WARN');
  assert.deepEqual(valueOf(third.body), { level: 'WARN', msg: 'slow', n: 3n, ratio: 0.5, ok: true, nested: { a: [1n, 'x'] }, nothing: undefined });
  assert.equal(worker.scopeLogs[0].logRecords.length, 1);
});

test('events: event_name (field 12) and the event.name attribute, docker.event.* attributes, host resource without a container', () => {
  const withContainer = eventRecord(1);
  const daemon: EventRecord = { kind: 'event', id: 'ev-2', time: BASE_NS + 2n, type: 'network', action: 'connect', actor: { id: 'net1', attributes: { name: 'bridge', container: 'abc' } }, scope: 'local' };
  const exec: EventRecord = { ...withContainer, id: 'ev-3', action: 'exec_start: sh -c true' };
  const request = decodeBoth('logs', (w) => writeLogsRequest(w, [withContainer, daemon, exec], logsSettings, OBSERVED));
  assert.equal(request.resourceLogs.length, 2);
  const [web, host] = request.resourceLogs;
  assert.equal(attributesOf(web.resource.attributes)['container.id'], container.id);
  assert.deepEqual(attributesOf(host.resource.attributes), { 'host.name': 'docker-host-1', 'service.name': 'docker' });
  const start = web.scopeLogs[0].logRecords[0];
  assert.equal(valueOf(start.body), `container start web-1 (${container.id})`);
  assert.equal(start.timeUnixNano, String(withContainer.time));
  assert.deepEqual(attributesOf(start.attributes), {
    'event.name': 'docker.container.start', 'log.record.uid': withContainer.id, 'docker.event.type': 'container', 'docker.event.action': 'start',
    'docker.event.actor.id': container.id, 'docker.event.scope': 'local',
    'docker.event.actor.attributes.name': 'web-1', 'docker.event.actor.attributes.image': 'nginx:1.27', 'docker.event.actor.attributes.com.docker.compose.project': 'shop',
  });
  assert.equal(attributesOf(web.scopeLogs[0].logRecords[1].attributes)['event.name'], 'docker.container.exec_start');
  assert.equal(attributesOf(host.scopeLogs[0].logRecords[0].attributes)['event.name'], 'docker.network.connect');
  // LogRecord.event_name (12) came after the vendored definitions: read raw from the protobuf, and from the JSON.
  const raw = protobufOf((w) => writeLogsRequest(w, [withContainer], logsSettings, OBSERVED));
  const record = fieldsOf(fieldsOf(fieldsOf(fieldsOf(raw).get(1) as Uint8Array).get(2) as Uint8Array).get(2) as Uint8Array);
  assert.equal(Buffer.from(record.get(12) as Uint8Array).toString(), 'docker.container.start');
  assert.match(JsonOtlpWriter.encode((w) => writeLogsRequest(w, [withContainer], logsSettings, OBSERVED)).toString(), /"eventName":"docker\.container\.start"/);
});

test('the JSON mapping: lowerCamelCase names, 64-bit integers as decimal strings, enums as numbers', () => {
  const json = JSON.parse(JsonOtlpWriter.encode((w) => writeLogsRequest(w, [logRecord(1, { json: { level: 'error', n: 7 } })], logsSettings, OBSERVED)).toString());
  const record = json.resourceLogs[0].scopeLogs[0].logRecords[0];
  assert.equal(record.timeUnixNano, String(BASE_NS + 1000n));
  assert.equal(record.observedTimeUnixNano, String(OBSERVED));
  assert.equal(record.severityNumber, 17);
  assert.equal(record.severityText, 'error');
  assert.deepEqual(record.body.kvlistValue.values[1], { key: 'n', value: { intValue: '7' } });
  assert.deepEqual(record.attributes[0], { key: 'log.iostream', value: { stringValue: 'stdout' } });
  assert.deepEqual(json.resourceLogs[0].resource.attributes.find((a: { key: string }) => a.key === 'container.image.tags').value, { arrayValue: { values: [{ stringValue: '1.27' }] } });
});

test('metrics: semantic-convention names, units, types, temporality, attributes, start times, values', () => {
  const started = BASE_NS - 60_000_000_000n;
  const first = metricRecord(0);
  const second: MetricRecord = { ...metricRecord(2), cpu: { ...first.cpu, usageSeconds: 3.5, userSeconds: 2.5, systemSeconds: 1 },
    blkio: { readBytes: 10, writeBytes: 20, reads: 1, writes: 2, devices: [{ major: 8, minor: 0, device: '/dev/sda', readBytes: 10, writeBytes: 20, reads: 1, writes: 2 }] } };
  const settings: MetricsEncoding = { agentVersion: '1.2.3', startedAt: () => started, previous: () => undefined };
  const request = decodeBoth('metrics', (w) => writeMetricsRequest(w, [second, first], settings));
  assert.equal(request.resourceMetrics.length, 1);
  const rm = request.resourceMetrics[0];
  assert.equal(attributesOf(rm.resource.attributes)['container.id'], container.id);
  const metrics = new Map<string, Record<string, any>>(rm.scopeMetrics[0].metrics.map((m: Record<string, any>) => [m.name, m]));
  assert.deepEqual([...metrics.keys()], ['container.cpu.time', 'container.cpu.usage', 'container.memory.usage', 'container.network.io', 'container.disk.io', 'container.uptime']);
  const units = Object.fromEntries([...metrics].map(([name, m]) => [name, m.unit]));
  assert.deepEqual(units, { 'container.cpu.time': 's', 'container.cpu.usage': '{cpu}', 'container.memory.usage': 'By', 'container.network.io': 'By', 'container.disk.io': 'By', 'container.uptime': 's' });

  const cpu = metrics.get('container.cpu.time')!;
  assert.equal(cpu.data, 'sum');
  assert.equal(cpu.sum.aggregationTemporality, 2, 'cumulative');
  assert.equal(cpu.sum.isMonotonic, true);
  const cpuPoints = cpu.sum.dataPoints.map((p: Record<string, any>) => ({ mode: attributesOf(p.attributes)['cpu.mode'], start: p.startTimeUnixNano, time: p.timeUnixNano, value: p.asDouble }));
  assert.deepEqual(cpuPoints, [
    { mode: 'user', start: String(started), time: String(first.time), value: 1 },
    { mode: 'kernel', start: String(started), time: String(first.time), value: 0.5 },
    { mode: 'user', start: String(started), time: String(second.time), value: 2.5 },
    { mode: 'kernel', start: String(started), time: String(second.time), value: 1 },
  ], 'samples in time order, each with the container start as start time');

  const usage = metrics.get('container.cpu.usage')!;
  assert.equal(usage.data, 'gauge');
  assert.equal(usage.gauge.dataPoints.length, 1, 'only the second sample has one before it');
  assert.equal(usage.gauge.dataPoints[0].asDouble, 1, '2 CPU-seconds over 2 s');

  const memory = metrics.get('container.memory.usage')!;
  assert.equal(memory.sum.isMonotonic, false);
  assert.equal(memory.sum.aggregationTemporality, 2);
  assert.equal(memory.sum.dataPoints[0].asInt, '1000');
  assert.equal(memory.sum.dataPoints[0].value, 'asInt');

  const network = metrics.get('container.network.io')!.sum.dataPoints.slice(0, 4).map((p: Record<string, any>) => [attributesOf(p.attributes), p.asInt]);
  assert.deepEqual(network, [
    [{ 'network.interface.name': 'eth0', 'network.io.direction': 'receive' }, '10'],
    [{ 'network.interface.name': 'eth0', 'network.io.direction': 'transmit' }, '20'],
    [{ 'network.interface.name': 'eth1', 'network.io.direction': 'receive' }, '5'],
    [{ 'network.interface.name': 'eth1', 'network.io.direction': 'transmit' }, '5'],
  ]);
  const disk = metrics.get('container.disk.io')!.sum.dataPoints.map((p: Record<string, any>) => [attributesOf(p.attributes), p.asInt]);
  assert.deepEqual(disk, [
    [{ 'disk.io.direction': 'read' }, '1'], [{ 'disk.io.direction': 'write' }, '2'],
    [{ 'disk.io.direction': 'read', 'system.device': '/dev/sda' }, '10'], [{ 'disk.io.direction': 'write', 'system.device': '/dev/sda' }, '20'],
  ]);
  const uptime = metrics.get('container.uptime')!;
  assert.equal(uptime.gauge.dataPoints[0].asDouble, 60);
});

test('a start time after the sample (the inventory already saw a restart) is left out rather than sent wrong', () => {
  const sample = metricRecord(0);
  const settings: MetricsEncoding = { agentVersion: '', startedAt: () => sample.time + 1n, previous: () => undefined };
  const request = decodeBoth('metrics', (w) => writeMetricsRequest(w, [sample], settings));
  const cpu = request.resourceMetrics[0].scopeMetrics[0].metrics[0];
  assert.equal(cpu.sum.dataPoints[0].startTimeUnixNano, '0');
  assert.ok(!request.resourceMetrics[0].scopeMetrics[0].metrics.some((m: { name: string }) => m.name === 'container.uptime'));
});

test('severity from a parsed level: names in any case, the pino/bunyan numbers; nothing for unknown levels', () => {
  assert.deepEqual(severityOf({ level: 'info' }), { number: 9, text: 'info' });
  assert.deepEqual(severityOf({ severity: 'ERROR' }), { number: 17, text: 'ERROR' });
  assert.deepEqual(severityOf({ level: 50 }), { number: 17, text: '50' });
  assert.deepEqual(severityOf({ level: 60 }), { number: 21, text: '60' });
  assert.deepEqual(severityOf({ lvl: 'warning' }), { number: 13, text: 'warning' });
  assert.equal(severityOf({ level: 'chatty' }), undefined);
  assert.equal(severityOf({ msg: 'no level' }), undefined);
});

test('event names and image references', () => {
  assert.equal(eventName({ type: 'container', action: 'health_status: healthy' }), 'docker.container.health_status');
  assert.equal(eventName({ type: 'image', action: 'pull' }), 'docker.image.pull');
  assert.deepEqual(splitImage('nginx'), { name: 'nginx', tag: 'latest' });
  assert.deepEqual(splitImage('localhost:5000/a/b:v2'), { name: 'localhost:5000/a/b', tag: 'v2' });
  assert.deepEqual(splitImage('busybox@sha256:0123'), { name: 'busybox', tag: undefined });
  assert.deepEqual(splitImage('busybox:1.36@sha256:0123'), { name: 'busybox', tag: '1.36' });
});

test('lone surrogates (a JSON-parsed "\\ud800") are sent as U+FFFD in both encodings: no \\ud800 escape a protojson receiver refuses', () => {
  const record = logRecord(1, { message: 'a\ud800b', json: { m: 'x\udc00y', ['k\ud800']: 'v' } });
  const fill: Fill = (w) => writeLogsRequest(w, [record], logsSettings, OBSERVED);
  const json = JsonOtlpWriter.encode(fill).toString('utf8');
  assert.doesNotMatch(json, /\\ud[89a-f][0-9a-f]{2}/i, 'no surrogate escape in the JSON body');
  assert.ok(json.includes('x\ufffdy') && json.includes('k\ufffd'), 'replaced by U+FFFD');
  const proto = protobufOf(fill);
  assert.ok(proto.includes(Buffer.from('x\ufffdy', 'utf8')), 'protobuf: EF BF BD in place');
  assert.ok(!proto.includes(Buffer.from([0xed, 0xa0, 0x80])), 'protobuf: no CESU-style surrogate bytes');
  const decoded = decodeBoth('logs', fill);
  const body = decoded.resourceLogs[0].scopeLogs[0].logRecords[0].body.kvlistValue.values;
  assert.deepEqual(body.map((kv: { key: string }) => kv.key), ['m', 'k\ufffd']);
  assert.equal(body[0].value.stringValue, 'x\ufffdy');
});
