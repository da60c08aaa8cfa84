/**
 * Records as ECS documents, where each goes (data stream or daily index), and the document id that
 * makes a replay a harmless 409. Field names follow what Filebeat's container input and Metricbeat's
 * docker module write, so existing dashboards and habits carry over.
 */
import type { ContainerMeta, EventRecord, LogRecord, MetricRecord } from '../../src/records.js';
import { formatRfc3339Nano } from '../../src/records.js';
import type { BulkBody } from './bulk.js';

/** The record kinds this exporter ships (engine figures are Prometheus' business). */
export type ShippedRecord = LogRecord | EventRecord | MetricRecord;
export type ShippedKind = ShippedRecord['kind'];

export const ECS_VERSION = '8.11.0';

export interface DocumentSettings {
  readonly mode: 'data_stream' | 'index';
  readonly namespace: string;
  readonly indexPrefix: string;
  readonly agentVersion: string;
}

export interface PreparedDocument {
  /** `_id`: the record's deterministic id. */
  readonly id: string;
  /** Data stream or index name the document is written to. */
  readonly index: string;
  readonly source: Record<string, unknown>;
  /**
   * `source` as JSON, when built faster than `JSON.stringify(source)` (log lines: only the timestamp,
   * message and stream differ from line to line). Absent when it could not be built.
   */
  readonly json?: string;
}

export const DATASETS = { log: 'docker.logs', event: 'docker.events', metric: 'docker.metrics' } as const;
const TYPES = { log: 'logs', event: 'logs', metric: 'metrics' } as const;

/** The data stream of a record kind: `<type>-<dataset>-<namespace>`, as the data stream naming scheme has it. */
export function dataStreamName(kind: ShippedKind, namespace: string): string {
  return `${TYPES[kind]}-${DATASETS[kind]}-${namespace}`;
}

const MS_PER_DAY = 86_400_000;
// Lines come in time order, so the day mostly repeats: formatting the date took ~0.6 µs a line.
let cachedDay = Number.NaN;
let cachedDayText = '';

/** Where a record goes: its data stream, or `<prefix>-yyyy.MM.dd` of its own (UTC) day. */
export function targetIndex(record: ShippedRecord, settings: DocumentSettings): string {
  if (settings.mode === 'data_stream') return dataStreamName(record.kind, settings.namespace);
  const ms = Number(record.time / 1_000_000n);
  const day = Math.floor(ms / MS_PER_DAY);
  if (day !== cachedDay) {
    cachedDayText = new Date(ms).toISOString().slice(0, 10).replace(/-/g, '.');
    cachedDay = day;
  }
  return `${settings.indexPrefix}-${cachedDayText}`;
}

/** Metric samples carry no id of their own: one sample per container and instant. */
export function documentId(record: ShippedRecord): string {
  if (record.kind === 'metric') return `${record.container.id}-${record.time}-${record.source}`;
  return record.id;
}

export function toDocument(record: ShippedRecord, settings: DocumentSettings): PreparedDocument {
  const id = documentId(record);
  const index = targetIndex(record, settings);
  if (record.kind === 'log') {
    let json: string | undefined;
    try {
      json = logJson(record, settings);
    } catch {
      // JSON.stringify(source) meets the same problem (a bigint in parsed JSON, say) and says what it is.
    }
    if (json !== undefined) {
      // The object is needed only when the document is refused (dead letters): build it then.
      let built: Record<string, unknown> | undefined;
      return { id, index, json, get source() { return built ??= sourceOf(record, settings); } };
    }
  }
  return { id, index, source: sourceOf(record, settings) };
}

function sourceOf(record: ShippedRecord, settings: DocumentSettings): Record<string, unknown> {
  const source = record.kind === 'log' ? logSource(record) : record.kind === 'event' ? eventSource(record) : metricSource(record);
  source.event = { kind: record.kind === 'metric' ? 'metric' : 'event', module: 'docker', dataset: DATASETS[record.kind], ...(source.event as object | undefined) };
  source.agent = { type: 'dockhand', version: settings.agentVersion };
  source.ecs = { version: ECS_VERSION };
  if (settings.mode === 'data_stream') {
    // Must equal the data stream's name parts: the templates map them as constant_keyword.
    source.data_stream = { type: TYPES[record.kind], dataset: DATASETS[record.kind], namespace: settings.namespace };
  }
  return source;
}

// The fields of a log document that are the same for every line of a container, as JSON (and its
// bytes), made once: building and stringifying them per line took about half the encoding time.
interface LogTail {
  readonly text: string;
  readonly bytes: Buffer;
}
const logTails = new WeakMap<DocumentSettings, WeakMap<ContainerMeta, LogTail>>();

// Lines come in runs of one container: the last tail is kept at hand (two WeakMap lookups a line otherwise).
let lastTail: { readonly container: ContainerMeta; readonly settings: DocumentSettings; readonly tail: LogTail } | undefined;

function logTail(container: ContainerMeta, settings: DocumentSettings): LogTail {
  if (lastTail?.container === container && lastTail.settings === settings) return lastTail.tail;
  const tail = containerTail(container, settings);
  lastTail = { container, settings, tail };
  return tail;
}

function containerTail(container: ContainerMeta, settings: DocumentSettings): LogTail {
  let tails = logTails.get(settings);
  if (!tails) logTails.set(settings, tails = new WeakMap());
  let tail = tails.get(container);
  if (tail === undefined) {
    const constant: Record<string, unknown> = {
      ...containerFields(container),
      event: { kind: 'event', module: 'docker', dataset: DATASETS.log },
      agent: { type: 'dockhand', version: settings.agentVersion },
      ecs: { version: ECS_VERSION },
      ...(settings.mode === 'data_stream' ? { data_stream: { type: TYPES.log, dataset: DATASETS.log, namespace: settings.namespace } } : {}),
    };
    const text = `,${JSON.stringify(constant).slice(1)}`;
    tail = { text, bytes: Buffer.from(text) };
    tails.set(container, tail);
  }
  return tail;
}

/** The same document as `source` (keys in another order), without stringifying the constant part per line. */
function logJson(record: LogRecord, settings: DocumentSettings): string {
  // The timestamp is digits and -:.TZ only: nothing to escape.
  let json = `{"@timestamp":"${formatRfc3339Nano(record.time)}","message":${JSON.stringify(record.message)},"stream":"${record.stream}"`;
  if (record.truncated) json += ',"log":{"flags":["truncated"]}';
  if (record.json) json += `,"json":${JSON.stringify(record.json)}`;
  return json + logTail(record.container, settings).text;
}

/**
 * `{"create":{"_index":<index>,"_id":` as bytes, for one exporter's settings: per record kind in data
 * stream mode, per day in index mode (names built per line were hashed per line to look them up).
 */
export class ActionPrefixes {
  private readonly byIndex = new Map<string, Buffer>();
  private readonly byKind = new Map<ShippedKind, Buffer>();
  private day = Number.NaN;
  private dayPrefix: Buffer | undefined;

  constructor(private readonly settings: DocumentSettings) {}

  forRecord(record: ShippedRecord): Buffer {
    if (this.settings.mode === 'data_stream') {
      let prefix = this.byKind.get(record.kind);
      if (!prefix) this.byKind.set(record.kind, prefix = this.of(dataStreamName(record.kind, this.settings.namespace)));
      return prefix;
    }
    const day = Math.floor(Number(record.time / 1_000_000n) / MS_PER_DAY);
    if (day !== this.day || !this.dayPrefix) {
      this.day = day;
      this.dayPrefix = this.of(targetIndex(record, this.settings));
    }
    return this.dayPrefix;
  }

  of(index: string): Buffer {
    let prefix = this.byIndex.get(index);
    if (!prefix) {
      if (this.byIndex.size > 64) this.byIndex.clear(); // daily indices: a new name every day
      prefix = Buffer.from(`{"create":{"_index":${JSON.stringify(index)},"_id":`);
      this.byIndex.set(index, prefix);
    }
    return prefix;
  }
}

/**
 * Writes a log line's `create` pair straight into `body`: the same bytes as toDocument then
 * JSON.stringify, without a document object. The cached action prefix and per-container tail are
 * copied as bytes, the rest is one string written once: as Latin-1 when the id and message are
 * printable ASCII without `"` or `\\` (JSON as they are: no JSON.stringify, and a plain copy instead
 * of UTF-8 encoding), else through JSON.stringify and UTF-8. False, with nothing added, when the
 * line's parsed JSON cannot be serialised (toDocument then says why).
 */
export function writeLogItem(body: BulkBody, prefixes: ActionPrefixes, record: LogRecord, settings: DocumentSettings): boolean {
  let json: string | undefined;
  if (record.json) {
    try {
      json = JSON.stringify(record.json);
    } catch {
      return false;
    }
  }
  body.beginItem(prefixes.forRecord(record));
  const { id, message } = record;
  // The timestamp is digits and -:.TZ only: nothing to escape.
  const flags = record.truncated ? ',"log":{"flags":["truncated"]}' : '';
  if (PLAIN_ASCII.test(message) && PLAIN_ASCII.test(id)) {
    body.ascii(`"${id}"}}\n{"@timestamp":"${formatRfc3339Nano(record.time)}","message":"${message}","stream":"${record.stream}"${flags}`);
  } else {
    body.utf8(`${JSON.stringify(id)}}}\n{"@timestamp":"${formatRfc3339Nano(record.time)}","message":${JSON.stringify(message)},"stream":"${record.stream}"${flags}`);
  }
  if (json !== undefined) body.utf8(`,"json":${json}`);
  body.bytes(logTail(record.container, settings).bytes);
  body.endItem();
  return true;
}

/** Printable ASCII but `"` and `\\`: a JSON string's content as it is. */
const PLAIN_ASCII = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

function logSource(record: LogRecord): Record<string, unknown> {
  return {
    '@timestamp': formatRfc3339Nano(record.time),
    message: record.message,
    stream: record.stream,
    ...containerFields(record.container),
    ...(record.truncated ? { log: { flags: ['truncated'] } } : {}),
    ...(record.json ? { json: record.json } : {}),
  };
}

function eventSource(record: EventRecord): Record<string, unknown> {
  const name = record.actor.attributes.name;
  return {
    '@timestamp': formatRfc3339Nano(record.time),
    message: `${record.type} ${record.action}${name ? ` ${name}` : ''} (${record.actor.id})`,
    ...(record.container ? containerFields(record.container) : {}),
    event: { action: record.action },
    docker: {
      event: {
        type: record.type,
        action: record.action,
        ...(record.scope ? { scope: record.scope } : {}),
        actor: { id: record.actor.id, attributes: dedot(record.actor.attributes) },
      },
    },
  };
}

function metricSource(record: MetricRecord): Record<string, unknown> {
  const { cpu, memory, blkio } = record;
  const network = { rx_bytes: 0, rx_packets: 0, rx_errors: 0, rx_dropped: 0, tx_bytes: 0, tx_packets: 0, tx_errors: 0, tx_dropped: 0 };
  for (const n of record.network) {
    network.rx_bytes += n.rxBytes; network.rx_packets += n.rxPackets; network.rx_errors += n.rxErrors; network.rx_dropped += n.rxDropped;
    network.tx_bytes += n.txBytes; network.tx_packets += n.txPackets; network.tx_errors += n.txErrors; network.tx_dropped += n.txDropped;
  }
  return {
    '@timestamp': formatRfc3339Nano(record.time),
    ...containerFields(record.container),
    docker: {
      source: record.source,
      cpu: {
        usage_seconds: cpu.usageSeconds, user_seconds: cpu.userSeconds, system_seconds: cpu.systemSeconds,
        throttled_seconds: cpu.throttledSeconds, throttled_periods: cpu.throttledPeriods, periods: cpu.periods,
        ...(cpu.quotaMicros !== undefined ? { quota_micros: cpu.quotaMicros } : {}),
        ...(cpu.periodMicros !== undefined ? { period_micros: cpu.periodMicros } : {}),
      },
      memory: {
        usage_bytes: memory.usageBytes, working_set_bytes: memory.workingSetBytes, rss_bytes: memory.rssBytes,
        cache_bytes: memory.cacheBytes, fail_count: memory.failcnt,
        ...(memory.limitBytes !== undefined ? { limit_bytes: memory.limitBytes } : {}),
      },
      network,
      diskio: { read_bytes: blkio.readBytes, write_bytes: blkio.writeBytes, reads: blkio.reads, writes: blkio.writes },
      pids: record.pids,
    },
  };
}

// Records of one container share its ContainerMeta object: build its fields once, not per line.
const containerFieldsCache = new WeakMap<ContainerMeta, Readonly<Record<string, unknown>>>();

/** The container and host fields; shared between documents, so never modified after this. */
function containerFields(container: ContainerMeta): Readonly<Record<string, unknown>> {
  let fields = containerFieldsCache.get(container);
  if (!fields) {
    const labels = dedot(container.labels);
    fields = {
      container: {
        id: container.id,
        name: container.name.replace(/^\//, ''),
        image: { name: container.image },
        ...(Object.keys(labels).length > 0 ? { labels } : {}),
      },
      host: { name: container.host },
    };
    containerFieldsCache.set(container, fields);
  }
  return fields;
}

/**
 * Replaces dots in keys with underscores, as Beats' `labels.dedot` does: Elasticsearch reads a dot as
 * an object path, so `a.b` and `a.b.c` labels would otherwise clash in the mapping.
 */
export function dedot(values: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(values)) out[key.replace(/\./g, '_')] = value;
  return out;
}

export interface RefusedDocument {
  readonly document: PreparedDocument;
  readonly status: number;
  readonly type: string;
  readonly reason: string;
}

/**
 * The dead-letter document for one Elasticsearch refused: the reason, where it was going, and the
 * original as text (event.original, not indexed) so it can be fixed and replayed. Same `_id` as the
 * original, so dead-lettering twice is a 409 too.
 */
export function deadLetterDocument(refused: RefusedDocument, deadLetterIndex: string, agentVersion: string): PreparedDocument {
  const original = refused.document.source;
  const container = original.container as { id?: unknown; name?: unknown } | undefined;
  const event = original.event as { dataset?: unknown } | undefined;
  const timestamp = typeof original['@timestamp'] === 'string' ? original['@timestamp'] : new Date().toISOString();
  return {
    id: refused.document.id,
    index: deadLetterIndex,
    source: {
      '@timestamp': timestamp,
      message: typeof original.message === 'string' ? original.message : undefined,
      error: { type: refused.type, message: refused.reason },
      event: { kind: 'pipeline_error', dataset: event?.dataset, original: JSON.stringify(original) },
      dockhand: { dead_letter: { index: refused.document.index, id: refused.document.id, status: refused.status } },
      ...(container ? { container: { id: container.id, name: container.name } } : {}),
      host: original.host,
      agent: { type: 'dockhand', version: agentVersion },
      ecs: { version: ECS_VERSION },
    },
  };
}
