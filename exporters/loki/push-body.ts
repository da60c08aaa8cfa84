/**
 * One push request from one batch: records grouped by stream in one pass, each stream's entries in
 * timestamp order (stable: lines of one timestamp keep the order the daemon gave them), then written
 * straight into a protobuf PushRequest (snappy-compressed) or a JSON body (gzip optional).
 *
 * An entry's timestamp is the Docker timestamp of the line (record.time, in ns) and its line is the
 * message exactly: a record sent again after a crash is the same (timestamp, line) pair in the
 * same stream, which Loki drops as a duplicate while those entries are in the stream's open head
 * block (its recent writes, where a replay lands); an older repeat would be stored twice.
 *
 * logproto (grafana/loki pkg/push/push.proto): PushRequest{1 streams: StreamAdapter}
 * StreamAdapter{1 labels, 2 entries: EntryAdapter} EntryAdapter{1 timestamp: google.protobuf.Timestamp
 * {1 seconds, 2 nanos}, 2 line, 3 structuredMetadata: LabelPairAdapter{1 name, 2 value}}.
 */
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import type { ContainerMeta, EventRecord, LogRecord } from '../../src/records.js';
import { ProtoWriter } from '../../src/util/protobuf-writer.js';
import { snappyCompress } from '../../src/util/snappy.js';
import { containerName, type StreamKey, type StreamLabels } from './labels.js';

const gzip = promisify(zlib.gzip);

export type ShippedRecord = LogRecord | EventRecord;
type Pairs = readonly (readonly [string, string])[];

/** Structured metadata every line of a container shares, also encoded once as LabelPairAdapter fields. */
interface SharedMetadata {
  readonly pairs: Pairs;
  readonly encoded: Buffer;
}

export interface PushStream {
  readonly key: StreamKey;
  /** In timestamp order. Entries are written straight from the records: no object per entry. */
  readonly records: ShippedRecord[];
}

/** One batch grouped into streams, and how its entries are written. */
export interface Push {
  readonly streams: readonly PushStream[];
  readonly labels: StreamLabels;
  readonly withMetadata: boolean;
}

export interface EncodedPush {
  readonly body: Buffer;
  readonly headers: Record<string, string>;
  readonly entries: number;
  /** Bytes before compression. */
  readonly rawBytes: number;
}

/** Groups records by stream in one pass, each stream's records in timestamp order. */
export function groupStreams(records: readonly ShippedRecord[], labels: StreamLabels, withMetadata: boolean): Push {
  const streams = new Map<string, PushStream>();
  for (const record of records) {
    const key = record.kind === 'log' ? labels.forLog(record) : labels.forEvent(record);
    let stream = streams.get(key.text);
    if (!stream) streams.set(key.text, stream = { key, records: [] });
    stream.records.push(record);
  }
  const out = [...streams.values()];
  for (const stream of out) sortByTime(stream.records);
  return { streams: out, labels, withMetadata };
}

function sortByTime(records: ShippedRecord[]): void {
  for (let i = 1; i < records.length; i++) {
    if (records[i]!.time < records[i - 1]!.time) {
      records.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
      return;
    }
  }
}

/** The entry's line: a log line's message exactly, an event as one JSON line. */
export function lineOf(record: ShippedRecord): string {
  return record.kind === 'log' ? record.message : eventLine(record);
}

/**
 * Per label settings (whether container_name is a label decides whether it is metadata) and per
 * container meta object (the inventory hands out one per container state): its shared metadata.
 */
const sharedCaches = new WeakMap<StreamLabels, WeakMap<ContainerMeta, SharedMetadata>>();

function sharedMetadata(container: ContainerMeta, labels: StreamLabels): SharedMetadata {
  let sharedByContainer = sharedCaches.get(labels);
  if (!sharedByContainer) sharedCaches.set(labels, sharedByContainer = new WeakMap());
  let shared = sharedByContainer.get(container);
  if (!shared) {
    const pairs: [string, string][] = [['container_id', container.id]];
    if (!labels.namesContainer(container)) pairs.push(['container_name', containerName(container)]);
    if (container.image) pairs.push(['container_image', container.image]);
    const writer = new ProtoWriter(256);
    for (const [name, value] of pairs) writePair(writer, name, value);
    shared = { pairs, encoded: writer.finish() };
    sharedByContainer.set(container, shared);
  }
  return shared;
}

/** The record's own structured metadata (beside its container's shared pairs). */
function ownMetadata(record: ShippedRecord): Pairs {
  if (record.kind === 'log') return record.truncated ? [['dockhand_record_id', record.id], ['truncated', 'true']] : [['dockhand_record_id', record.id]];
  return record.container ? [['dockhand_record_id', record.id], ['container_id', record.container.id]] : [['dockhand_record_id', record.id]];
}

/** Every structured metadata pair of an entry, shared ones first. */
function metadataOf(record: ShippedRecord, push: Push): Pairs {
  if (!push.withMetadata) return [];
  const own = ownMetadata(record);
  return record.kind === 'log' ? [...sharedMetadata(record.container, push.labels).pairs, ...own] : own;
}

/** The event as one JSON line, keys in a fixed order and attributes sorted: the same event is always the same line. */
export function eventLine(record: EventRecord): string {
  const attributes: Record<string, string> = {};
  for (const key of Object.keys(record.actor.attributes).sort()) attributes[key] = record.actor.attributes[key]!;
  const c = record.container;
  return JSON.stringify({
    type: record.type,
    action: record.action,
    actor: { id: record.actor.id, attributes },
    ...(record.scope ? { scope: record.scope } : {}),
    ...(c ? { container: { id: c.id, name: containerName(c), image: c.image, host: c.host } } : {}),
  });
}

const NS_PER_SECOND = 1_000_000_000n;

/** A protobuf PushRequest, snappy-compressed, as Loki's clients send it. */
export function encodeProtobuf(push: Push, writer: ProtoWriter): EncodedPush {
  writer.reset();
  let entries = 0;
  for (const stream of push.streams) {
    writer.message(1, (s) => {
      s.string(1, stream.key.text);
      for (const record of stream.records) s.message(2, (e) => writeEntry(e, record, push));
    });
    entries += stream.records.length;
  }
  // Compressed at once, before the writer is used again: no copy of the uncompressed body.
  const raw = writer.view();
  return {
    body: snappyCompress(raw),
    // Snappy is implied by the content type; Promtail sends no Content-Encoding, and some proxies refuse `snappy`.
    headers: { 'content-type': 'application/x-protobuf' },
    entries,
    rawBytes: raw.length,
  };
}

function writeEntry(e: ProtoWriter, record: ShippedRecord, push: Push): void {
  const seconds = record.time / NS_PER_SECOND;
  const nanos = Number(record.time % NS_PER_SECOND);
  e.message(1, (t) => {
    if (seconds !== 0n) t.varint(1, seconds);
    if (nanos !== 0) t.varint(2, nanos);
  });
  const line = lineOf(record);
  if (line !== '') e.string(2, line);
  if (!push.withMetadata) return;
  if (record.kind !== 'log') {
    for (const [name, value] of ownMetadata(record)) writePair(e, name, value);
    return;
  }
  // ownMetadata's pairs of a log line, written without building them: this runs once per line.
  e.raw(sharedMetadata(record.container, push.labels).encoded);
  writePair(e, 'dockhand_record_id', record.id);
  if (record.truncated) writePair(e, 'truncated', 'true');
}

/** A structuredMetadata field (3) of an EntryAdapter: one LabelPairAdapter. */
function writePair(e: ProtoWriter, name: string, value: string): void {
  e.message(3, (pair) => {
    pair.string(1, name);
    if (value !== '') pair.string(2, value);
  });
}

/** The JSON push body: `{"streams":[{"stream":{…},"values":[["<ns>","line",{metadata}]]}]}`, gzipped or not. */
export async function encodeJson(push: Push, compress: boolean): Promise<EncodedPush> {
  let entries = 0;
  const body = {
    streams: push.streams.map((stream) => {
      entries += stream.records.length;
      return {
        stream: stream.key.labels,
        values: stream.records.map((record) => {
          const metadata = metadataOf(record, push);
          return metadata.length > 0 ? [record.time.toString(), lineOf(record), Object.fromEntries(metadata)] : [record.time.toString(), lineOf(record)];
        }),
      };
    }),
  };
  const raw = Buffer.from(JSON.stringify(body), 'utf8');
  if (!compress) return { body: raw, headers: { 'content-type': 'application/json' }, entries, rawBytes: raw.length };
  return {
    body: await gzip(raw, { level: 1 }),
    headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
    entries,
    rawBytes: raw.length,
  };
}
