/**
 * One push request from one batch: records grouped by stream in one pass, each stream's entries in
 * timestamp order (stable: lines of one timestamp keep the order the daemon gave them), then written
 * straight into a protobuf PushRequest (snappy-compressed) or a JSON body (gzip optional).
 *
 * An entry's timestamp is the Docker timestamp of the line (record.time, in ns) and its line is the
 * message exactly: a record sent again after a crash is the same (timestamp, line) pair in the
 * same stream, which Loki stores once.
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
export interface SharedMetadata {
  readonly pairs: Pairs;
  readonly encoded: Buffer;
}

export interface Entry {
  readonly time: bigint;
  readonly line: string;
  /** The container's metadata (the same object for all its lines), then the entry's own. */
  readonly shared: SharedMetadata | undefined;
  readonly own: Pairs;
}

const NO_PAIRS: Pairs = [];

/** An entry's structured metadata, shared pairs first. */
export function metadataOf(entry: Entry): Pairs {
  return entry.shared ? [...entry.shared.pairs, ...entry.own] : entry.own;
}

export interface PushStream {
  readonly key: StreamKey;
  readonly entries: Entry[];
}

export interface EncodedPush {
  readonly body: Buffer;
  readonly headers: Record<string, string>;
  readonly entries: number;
  /** Bytes before compression. */
  readonly rawBytes: number;
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

/** Groups records by stream, entries in timestamp order within each. */
export function groupStreams(records: readonly ShippedRecord[], labels: StreamLabels, withMetadata: boolean): PushStream[] {
  const streams = new Map<string, PushStream>();
  for (const record of records) {
    const key = record.kind === 'log' ? labels.forLog(record) : labels.forEvent(record);
    let stream = streams.get(key.text);
    if (!stream) streams.set(key.text, stream = { key, entries: [] });
    stream.entries.push(record.kind === 'log' ? logEntry(record, labels, withMetadata) : eventEntry(record, withMetadata));
  }
  const out = [...streams.values()];
  for (const stream of out) sortByTime(stream.entries);
  return out;
}

function sortByTime(entries: Entry[]): void {
  for (let i = 1; i < entries.length; i++) {
    if (entries[i]!.time < entries[i - 1]!.time) {
      entries.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
      return;
    }
  }
}

function logEntry(record: LogRecord, labels: StreamLabels, withMetadata: boolean): Entry {
  if (!withMetadata) return { time: record.time, line: record.message, shared: undefined, own: NO_PAIRS };
  const own: Pairs = record.truncated ? [['dockhand_record_id', record.id], ['truncated', 'true']] : [['dockhand_record_id', record.id]];
  return { time: record.time, line: record.message, shared: sharedMetadata(record.container, labels), own };
}

function eventEntry(record: EventRecord, withMetadata: boolean): Entry {
  const own: Pairs = !withMetadata ? NO_PAIRS
    : record.container ? [['dockhand_record_id', record.id], ['container_id', record.container.id]] : [['dockhand_record_id', record.id]];
  return { time: record.time, line: eventLine(record), shared: undefined, own };
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
export function encodeProtobuf(streams: readonly PushStream[], writer: ProtoWriter): EncodedPush {
  writer.reset();
  let entries = 0;
  for (const stream of streams) {
    writer.message(1, (s) => {
      s.string(1, stream.key.text);
      for (const entry of stream.entries) s.message(2, (e) => writeEntry(e, entry));
    });
    entries += stream.entries.length;
  }
  const raw = writer.finish();
  return {
    body: snappyCompress(raw),
    // Snappy is implied by the content type; Promtail sends no Content-Encoding, and some proxies refuse `snappy`.
    headers: { 'content-type': 'application/x-protobuf' },
    entries,
    rawBytes: raw.length,
  };
}

function writeEntry(e: ProtoWriter, entry: Entry): void {
  const seconds = entry.time / NS_PER_SECOND;
  const nanos = Number(entry.time % NS_PER_SECOND);
  e.message(1, (t) => {
    if (seconds !== 0n) t.varint(1, seconds);
    if (nanos !== 0) t.varint(2, nanos);
  });
  if (entry.line !== '') e.string(2, entry.line);
  if (entry.shared) e.raw(entry.shared.encoded);
  for (const [name, value] of entry.own) writePair(e, name, value);
}

/** A structuredMetadata field (3) of an EntryAdapter: one LabelPairAdapter. */
function writePair(e: ProtoWriter, name: string, value: string): void {
  e.message(3, (pair) => {
    pair.string(1, name);
    if (value !== '') pair.string(2, value);
  });
}

/** The JSON push body: `{"streams":[{"stream":{…},"values":[["<ns>","line",{metadata}]]}]}`, gzipped or not. */
export async function encodeJson(streams: readonly PushStream[], compress: boolean): Promise<EncodedPush> {
  let entries = 0;
  const body = {
    streams: streams.map((stream) => {
      entries += stream.entries.length;
      return {
        stream: stream.key.labels,
        values: stream.entries.map((entry) => {
          const metadata = metadataOf(entry);
          return metadata.length > 0 ? [entry.time.toString(), entry.line, Object.fromEntries(metadata)] : [entry.time.toString(), entry.line];
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
