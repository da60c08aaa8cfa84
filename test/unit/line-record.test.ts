/**
 * LineRecord: the logs collector's record, whose id is made from its parts only when asked. Every
 * exporter must see the same record as before: the same id, and byte for byte the same output from
 * the writers that write the id from its parts (file, Elasticsearch).
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { BodyBuffers, BulkBody } from '../../exporters/elasticsearch/bulk.js';
import { ActionPrefixes, writeLogItem, type DocumentSettings } from '../../exporters/elasticsearch/documents.js';
import { NdjsonWriter } from '../../exporters/file/ndjson.js';
import { ReplayFilter } from '../../exporters/file/replay-filter.js';
import { encodeDeadLetter } from '../../src/pipeline/dead-letter-file.js';
import { LineRecord, plainRecord, type AgentRecord, type ContainerMeta, type LogRecord } from '../../src/records.js';
import { BASE_NS, container } from '../helpers/es-records.js';

const odd: ContainerMeta = { id: 'e'.repeat(64), name: 'db "main"', image: 'pg:16', labels: { 'a.b': 'ü' }, host: 'h\u00e9' };

/** Lines as the collector makes them, across the writers' edges: positions of one to sixteen digits, odd times (the year 9999 too), escapes, cut and parsed lines, an id head to escape. */
function lines(): LineRecord[] {
  const out: LineRecord[] = [];
  const times = [BASE_NS, BASE_NS + 1n, BASE_NS - (BASE_NS % 1_000_000_000n), BASE_NS + 999_999_999n - (BASE_NS % 1_000_000_000n), 5n, 1_000_000_000n, 253_402_300_799_999_999_999n];
  const messages = ['plain', '', 'quote " and \\', 'ü é', 'emoji 😀', 'x'.repeat(3000)];
  let i = 0;
  for (const time of times) {
    for (const message of messages) {
      for (const position of [0, 9, 10, 12_345, Number.MAX_SAFE_INTEGER]) {
        const stream = i % 2 === 0 ? 'stdout' : 'stderr';
        const meta = i % 3 === 0 ? odd : container;
        const head = i % 11 === 0 ? `id "q" \\:${stream}:` : `${meta.id}:${stream}:`;
        const line = new LineRecord(head, time, position, stream, message, meta, undefined);
        if (i % 5 === 0) line.truncated = true;
        if (i % 7 === 0) line.json = { level: 'info', nested: { s: message } };
        out.push(line);
        i++;
      }
    }
  }
  return out;
}

/** The same record as a plain object, as records were before LineRecord. */
function plain(line: LineRecord): LogRecord {
  return { ...line.toJSON() };
}

test('a LineRecord\'s id is its parts joined, and JSON (dead letters, copies) carries it', () => {
  const line = new LineRecord(`${container.id}:stderr:`, BASE_NS, 3, 'stderr', 'hello', container, undefined);
  assert.equal(line.id, `${container.id}:stderr:${BASE_NS}:3`);
  const json = JSON.parse(JSON.stringify(line, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value)));
  assert.equal(json.id, line.id);
  assert.equal(json.time, String(BASE_NS));
  assert.equal(json.truncated, undefined, 'only a cut line says truncated');
  line.truncated = true;
  assert.equal(plain(line).truncated, true);
  // A dead letter keeps the id, also when the record's parsed JSON cannot be encoded and is left out.
  const circular: Record<string, unknown> = {};
  circular.self = circular;
  line.json = circular;
  const letter = JSON.parse(encodeDeadLetter('2026-01-01T00:00:00.000Z', 'file', { record: line, reason: 'refused' }));
  assert.equal(letter.record.id, line.id);
  assert.equal(letter.record.json, undefined);
  assert.equal(letter.record.message, 'hello');
});

test('plainRecord: a copy made by rest-destructuring keeps a LineRecord\'s id (dead letters, a lane taking records back); other records pass as they are', () => {
  const ack = { release() {} } as unknown as NonNullable<LogRecord['ack']>;
  const line = new LineRecord(`${container.id}:stdout:`, BASE_NS, 2, 'stdout', 'kept', container, ack);
  const { ack: _ack, ...rest } = plainRecord(line) as LogRecord;
  assert.equal(rest.id, line.id);
  assert.equal(rest.message, 'kept');
  assert.equal('ack' in rest, false);
  const { ack: _lost, ...bare } = line;
  assert.equal((bare as { id?: string }).id, undefined, 'what the copy loses without it');
  const event = { kind: 'event', id: 'e1', time: BASE_NS, type: 'container', action: 'start', actor: { id: 'c', attributes: {} } } as AgentRecord;
  assert.equal(plainRecord(event), event);
});

test('the Elasticsearch exporter writes a LineRecord byte for byte as the plain record with its id', () => {
  const settingsOf: DocumentSettings[] = [
    { mode: 'data_stream', namespace: 'prod', indexPrefix: 'dockhand', agentVersion: '0.1.0' },
    { mode: 'index', namespace: 'prod', indexPrefix: 'dockhand', agentVersion: '0.1.0' },
  ];
  for (const settings of settingsOf) {
    const fromParts = new BulkBody(new BodyBuffers(), 16);
    const fromIds = new BulkBody(new BodyBuffers(), 16);
    const prefixes = new ActionPrefixes(settings);
    const all = lines();
    for (const line of all) {
      assert.equal(writeLogItem(fromParts, prefixes, line, settings), true);
      assert.equal(writeLogItem(fromIds, prefixes, plain(line), settings), true);
    }
    assert.equal(fromParts.items, all.length);
    for (let i = 0; i < all.length; i++) {
      assert.equal(fromParts.slice(i, i + 1).toString(), fromIds.slice(i, i + 1).toString(), `${all[i]!.id} in ${settings.mode} mode`);
    }
    assert.equal(JSON.parse(fromParts.slice(0, 1).toString().split('\n')[0]!).create._id, all[0]!.id);
  }
});

test('the file exporter writes a LineRecord byte for byte as the plain record with its id', () => {
  const fromParts = new NdjsonWriter();
  const fromIds = new NdjsonWriter();
  const all = lines();
  for (const line of all) {
    fromParts.line(line);
    fromIds.line(plain(line));
  }
  assert.ok(fromParts.written().equals(fromIds.written()));
  const first = JSON.parse(fromParts.written().toString().split('\n')[0]!);
  assert.equal(first.id, all[0]!.id);
});

test('the room made for an id from its parts holds the longest one: the latest time a Date holds (year 275760, 22 digits) and a position of 16 digits', () => {
  const line = new LineRecord(`${container.id}:stdout:`, 8_640_000_000_000_999_999_999n, Number.MAX_SAFE_INTEGER, 'stdout', 'plain', container, undefined);
  const expected = new NdjsonWriter();
  expected.line(plain(line));
  const length = expected.written().length;
  // A buffer exactly as large as the line but the id's last 7 bytes: the writer must grow it, not write past it.
  for (const initial of [length - 7, length - 1, length]) {
    const writer = new NdjsonWriter(Buffer.alloc(initial));
    writer.line(line);
    assert.ok(writer.written().equals(expected.written()), `from a buffer of ${initial} bytes`);
  }
  const body = new BulkBody(new BodyBuffers(), 8);
  const settings: DocumentSettings = { mode: 'data_stream', namespace: 'prod', indexPrefix: 'dockhand', agentVersion: '0.1.0' };
  assert.equal(writeLogItem(body, new ActionPrefixes(settings), line, settings), true);
  assert.equal(JSON.parse(body.slice(0, 1).toString().split('\n')[0]!).create._id, line.id);
});

test('the file exporter\'s replay filter is asked (and an id made) only while replays are expected', () => {
  const filter = new ReplayFilter();
  assert.equal(filter.active, false);
  filter.noteWritten('log', `${container.id}:stdout:${BASE_NS}:1`);
  assert.equal(filter.active, true);
  const replayed = new LineRecord(`${container.id}:stdout:`, BASE_NS, 1, 'stdout', 'again', container, undefined);
  const next = new LineRecord(`${container.id}:stdout:`, BASE_NS, 2, 'stdout', 'new', container, undefined);
  assert.equal(filter.isReplay('log', replayed.id), true);
  assert.equal(filter.isReplay('log', next.id), false);
  assert.equal(filter.active, false, 'the stream went past its high-water mark: nothing left to filter');
});
