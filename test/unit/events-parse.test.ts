import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  JsonObjectSplitter, actionVerb, eventId, extractTimeNano, healthFromAction, parseEvent, shippedAttributes, toEventRecord,
} from '../../collectors/events/parse.js';

// A message as dockerd 20.10 writes it (captured from `GET /events`).
const START = '{"status":"start","id":"9310cf477c6f","from":"dockhand-test/busybox:latest","Type":"container","Action":"start","Actor":{"ID":"9310cf477c6f","Attributes":{"dockhand.test":"1","image":"dockhand-test/busybox:latest","name":"dreamy_golick","probe":"since"}},"scope":"local","time":1795825898,"timeNano":1795825898162393280}';
const DIE = '{"status":"die","id":"9310cf477c6f","from":"dockhand-test/busybox:latest","Type":"container","Action":"die","Actor":{"ID":"9310cf477c6f","Attributes":{"exitCode":"0","image":"dockhand-test/busybox:latest","name":"dreamy_golick"}},"scope":"local","time":1795825898,"timeNano":1795825898181696817}';

test('splitter: several objects in one chunk, newline separated or not', () => {
  const splitter = new JsonObjectSplitter();
  assert.deepEqual(splitter.push(`${START}\n${DIE}\n`), [START, DIE]);
  assert.deepEqual(splitter.push(`${START}${DIE}`), [START, DIE]);
  assert.equal(splitter.buffered, 0);
});

test('splitter: an object split across chunks at every possible byte', () => {
  const bytes = Buffer.from(`${START}\n${DIE}\n`);
  for (let cut = 1; cut < bytes.length; cut++) {
    const splitter = new JsonObjectSplitter();
    const out = [...splitter.push(bytes.subarray(0, cut)), ...splitter.push(bytes.subarray(cut))];
    assert.deepEqual(out, [START, DIE], `cut at ${cut}`);
  }
});

test('splitter: byte-at-a-time with braces, quotes and a multi-byte character inside strings', () => {
  const tricky = '{"Type":"container","Action":"rename","Actor":{"ID":"x","Attributes":{"label":"a } { \\" \\\\ é😀","name":"n"}},"time":1,"timeNano":1000000001}';
  const bytes = Buffer.from(`${tricky}\n${START}\n`);
  const splitter = new JsonObjectSplitter();
  const out: string[] = [];
  for (let i = 0; i < bytes.length; i++) out.push(...splitter.push(bytes.subarray(i, i + 1)));
  assert.deepEqual(out, [tricky, START]);
  assert.equal(JSON.parse(out[0]!).Actor.Attributes.label, 'a } { " \\ é😀');
});

test('timeNano is kept exact (it does not fit a double)', () => {
  assert.equal(extractTimeNano(START), 1795825898162393280n);
  assert.notEqual(BigInt(JSON.parse(START).timeNano), 1795825898162393280n, 'JSON.parse would have rounded it');
  // A label value that looks like a timeNano field does not fool it: the real field is last.
  const spoof = '{"Type":"container","Action":"start","Actor":{"ID":"x","Attributes":{"l":"\\"timeNano\\":5}"}},"time":1,"timeNano":1000000007}';
  assert.equal(extractTimeNano(spoof), 1000000007n);
});

test('parseEvent normalises a message; falls back to time in seconds without timeNano', () => {
  const event = parseEvent(START)!;
  assert.equal(event.type, 'container');
  assert.equal(event.action, 'start');
  assert.equal(event.actorId, '9310cf477c6f');
  assert.equal(event.time, 1795825898162393280n);
  assert.equal(event.attributes.name, 'dreamy_golick');
  const old = parseEvent('{"status":"stop","id":"abc","from":"img","time":1700000000}')!;
  assert.equal(old.type, 'container');
  assert.equal(old.action, 'stop');
  assert.equal(old.actorId, 'abc');
  assert.equal(old.time, 1700000000000000000n);
  assert.equal(parseEvent('not json'), undefined);
  assert.equal(parseEvent('{"foo":1}'), undefined);
});

test('event ids are deterministic and differ for different events', () => {
  assert.equal(parseEvent(START)!.id, parseEvent(START)!.id);
  assert.notEqual(parseEvent(START)!.id, parseEvent(DIE)!.id);
  assert.equal(eventId(1n, 'container', 'start', 'a'), eventId(1n, 'container', 'start', 'a'));
  assert.notEqual(eventId(1n, 'container', 'start', 'a'), eventId(2n, 'container', 'start', 'a'));
  assert.notEqual(eventId(1n, 'container', 'start', 'a'), eventId(1n, 'container', 'stop', 'a'));
  assert.match(eventId(1n, 'container', 'start', 'a'), /^[0-9a-f]{32}$/);
});

test('actions: health status and verb', () => {
  assert.equal(healthFromAction('health_status: healthy'), 'healthy');
  assert.equal(healthFromAction('health_status: unhealthy'), 'unhealthy');
  assert.equal(healthFromAction('health_status: starting'), 'starting');
  assert.equal(healthFromAction('start'), undefined);
  assert.equal(actionVerb('exec_start: sh -c echo hi'), 'exec_start');
  assert.equal(actionVerb('die'), 'die');
});

test('shipped attributes: daemon attributes and allow-listed labels only', () => {
  const attributes = { name: 'web', image: 'nginx', exitCode: '1', 'com.docker.compose.project': 'shop', secret_label: 'x', 'dockhand.test': '1' };
  const out = shippedAttributes(attributes, (key) => key.startsWith('com.docker.compose.'));
  assert.deepEqual(out, { name: 'web', image: 'nginx', exitCode: '1', 'com.docker.compose.project': 'shop' });
});

test('toEventRecord carries the container meta and scope', () => {
  const event = parseEvent(START)!;
  const meta = { id: '9310cf477c6f', name: 'dreamy_golick', image: 'dockhand-test/busybox:latest', labels: {}, host: 'h' };
  const record = toEventRecord(event, { name: 'dreamy_golick' }, meta);
  assert.equal(record.kind, 'event');
  assert.equal(record.id, event.id);
  assert.equal(record.scope, 'local');
  assert.deepEqual(record.container, meta);
  assert.deepEqual(record.actor, { id: '9310cf477c6f', attributes: { name: 'dreamy_golick' } });
});
