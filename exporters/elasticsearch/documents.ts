/**
 * Records as ECS documents, where each goes (data stream or daily index), and the document id that
 * makes a replay a harmless 409. Field names follow what Filebeat's container input and Metricbeat's
 * docker module write, so existing dashboards and habits carry over.
 */
import os from 'node:os';
import type { ContainerMeta, EventRecord, LogRecord, MetricRecord } from '../../src/records.js';
import { formatRfc3339Nano, plainIdLine } from '../../src/records.js';
import type { BulkBody } from './bulk.js';
import { PLAIN_ASCII } from '../../src/util/byte-writer.js';

/** The record kinds this exporter ships (engine figures are Prometheus' business). */
export type ShippedRecord = LogRecord | EventRecord | MetricRecord;
export type ShippedKind = ShippedRecord['kind'];

export const ECS_VERSION = '8.11.0';

export interface DocumentSettings {
  readonly mode: 'data_stream' | 'index';
  readonly namespace: string;
  readonly indexPrefix: string;
  readonly agentVersion: string;
  /** The host's CPUs and memory, to normalise CPU and memory fractions as Metricbeat does (its own host's, by default). */
  readonly host?: HostResources;
  /** Earlier samples per container, for the figures taken between two (CPU fractions, deltas, rates); none without it. */
  readonly metricHistory?: MetricHistory;
}

export interface HostResources {
  readonly cpus: number;
  readonly memoryBytes: number;
}

let local: HostResources | undefined;

/** This host's logical CPUs and memory (os.cpus() and os.totalmem() read the host's /proc even in a container), read once. */
export function localHost(): HostResources {
  return local ??= { cpus: Math.max(1, os.cpus().length), memoryBytes: os.totalmem() };
}

const SAMPLES_KEPT = 3;
const FORGET_AFTER_NS = 600_000_000_000n;

/**
 * The last few metric samples of each container. A document is computed against the latest sample
 * before its own time, so a retried (or replayed) record gets the same figures again; a container
 * not sampled for ten minutes is forgotten.
 */
export class MetricHistory {
  private readonly byContainer = new Map<string, MetricRecord[]>();
  private lastSweep = 0n;

  /** The latest sample of the record's container taken before it. */
  before(record: MetricRecord): MetricRecord | undefined {
    const samples = this.byContainer.get(record.container.id);
    if (!samples) return undefined;
    for (let i = samples.length - 1; i >= 0; i--) if (samples[i]!.time < record.time) return samples[i];
    return undefined;
  }

  remember(record: MetricRecord): void {
    let samples = this.byContainer.get(record.container.id);
    if (!samples) this.byContainer.set(record.container.id, samples = []);
    if (samples.some((s) => s.time === record.time)) return;
    samples.push(record);
    samples.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
    if (samples.length > SAMPLES_KEPT) samples.shift();
    if (record.time - this.lastSweep > FORGET_AFTER_NS / 10n) this.sweep(record.time);
  }

  get containers(): number {
    return this.byContainer.size;
  }

  private sweep(now: bigint): void {
    this.lastSweep = now;
    for (const [id, samples] of this.byContainer) {
      if (now - samples[samples.length - 1]!.time > FORGET_AFTER_NS) this.byContainer.delete(id);
    }
  }
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
  const source = record.kind === 'log' ? logSource(record) : record.kind === 'event' ? eventSource(record) : metricSource(record, settings);
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
  /** `","stream":"stdout"` and the same fields: a plain line's document after its message. */
  readonly stdout: Buffer;
  readonly stderr: Buffer;
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
    const bytes = Buffer.from(text);
    tail = { text, bytes, stdout: Buffer.concat([Buffer.from('","stream":"stdout"'), bytes]), stderr: Buffer.concat([Buffer.from('","stream":"stderr"'), bytes]) };
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
  const prefix = prefixes.forRecord(record);
  const { message } = record;
  const tail = logTail(record.container, settings);
  // The common line (plain ASCII, not cut, no parsed JSON): one copy of each piece, no string made
  // of its document (each was a few hundred bytes of garbage a line), nor of its id.
  if (json === undefined && !record.truncated && PLAIN_ASCII.test(message)) {
    const id = plainIdLine(record) ?? (PLAIN_ASCII.test(record.id) ? record.id : undefined);
    if (id !== undefined && body.plainLogItem(prefix, id, record.time, message, record.stream === 'stdout' ? tail.stdout : tail.stderr)) return true;
  }
  body.beginItem(prefix);
  // The timestamp is digits and -:.TZ only: nothing to escape.
  body.utf8(`${JSON.stringify(record.id)}}}\n{"@timestamp":"${formatRfc3339Nano(record.time)}","message":${JSON.stringify(message)},"stream":"${record.stream}"`);
  if (record.truncated) body.bytes(TRUNCATED);
  if (json !== undefined) body.utf8(`,"json":${json}`);
  body.bytes(tail.bytes);
  body.endItem();
  return true;
}

const TRUNCATED = Buffer.from(',"log":{"flags":["truncated"]}');

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

interface NetworkTotals {
  rx_bytes: number; rx_packets: number; rx_errors: number; rx_dropped: number;
  tx_bytes: number; tx_packets: number; tx_errors: number; tx_dropped: number;
}

/** A container's network counters summed over its interfaces. */
function networkTotals(record: MetricRecord): NetworkTotals {
  const network = { rx_bytes: 0, rx_packets: 0, rx_errors: 0, rx_dropped: 0, tx_bytes: 0, tx_packets: 0, tx_errors: 0, tx_dropped: 0 };
  for (const n of record.network) {
    network.rx_bytes += n.rxBytes; network.rx_packets += n.rxPackets; network.rx_errors += n.rxErrors; network.rx_dropped += n.rxDropped;
    network.tx_bytes += n.txBytes; network.tx_packets += n.txPackets; network.tx_errors += n.txErrors; network.tx_dropped += n.txDropped;
  }
  return network;
}

/** What changed between two samples of one container; absent for a counter that went back (a restart). */
interface Between {
  readonly seconds: number;
  delta(now: number, then: number): number | undefined;
}

function between(record: MetricRecord, previous: MetricRecord | undefined): Between | undefined {
  if (!previous) return undefined;
  const seconds = Number(record.time - previous.time) / 1e9;
  if (!(seconds > 0)) return undefined;
  return { seconds, delta: (now, then) => (now >= then ? now - then : undefined) };
}

/**
 * dockhand's own figures (`docker.cpu.usage_seconds` …), Metricbeat's docker module fields and the ECS
 * `container.*` metric fields. Fractions are Metricbeat's: `docker.cpu.total.pct` is CPU-seconds per
 * second (1 = one core busy, as `docker stats` / 100), `.norm.pct` that over the host's CPUs, which
 * is also ECS `container.cpu.usage`; `docker.memory.usage.pct` (= `container.memory.usage`) is the
 * working set (usage minus inactive file) over the limit, the host's memory when there is none.
 * Figures between two samples (CPU fractions, ECS byte deltas, `docker.network.in/out` rates,
 * `metricset.period`) are left out of a container's first sample.
 */
function metricSource(record: MetricRecord, settings: DocumentSettings): Record<string, unknown> {
  const { cpu, memory, blkio } = record;
  const host = settings.host ?? localHost();
  const previous = settings.metricHistory?.before(record);
  settings.metricHistory?.remember(record);
  const gap = between(record, previous);
  const network = networkTotals(record);
  const before = previous && networkTotals(previous);
  const fraction = (value: number | undefined) => (value === undefined ? undefined : Math.round(value * 1e6) / 1e6);
  const perSecond = (now: number, then: number | undefined) => {
    const d = then === undefined ? undefined : gap?.delta(now, then);
    return d === undefined ? undefined : fraction(d / gap!.seconds);
  };
  const cpuTotal = perSecond(cpu.usageSeconds, previous?.cpu.usageSeconds);
  const cpuKernel = perSecond(cpu.systemSeconds, previous?.cpu.systemSeconds);
  const cpuUser = perSecond(cpu.userSeconds, previous?.cpu.userSeconds);
  const norm = (pct: number | undefined) => fraction(pct === undefined ? undefined : pct / host.cpus);
  const limit = memory.limitBytes ?? host.memoryBytes;
  const memoryPct = fraction(limit > 0 ? memory.workingSetBytes / limit : undefined);
  const delta = (now: number, then: number | undefined) => (then === undefined ? undefined : gap?.delta(now, then));
  const fields = containerFields(record.container);
  return {
    '@timestamp': formatRfc3339Nano(record.time),
    ...fields,
    container: {
      ...(fields.container as Record<string, unknown>),
      ...defined({
        cpu: defined({ usage: norm(cpuTotal) }),
        memory: defined({ usage: memoryPct }),
        network: defined({ ingress: defined({ bytes: delta(network.rx_bytes, before?.rx_bytes) }), egress: defined({ bytes: delta(network.tx_bytes, before?.tx_bytes) }) }),
        disk: defined({ read: defined({ bytes: delta(blkio.readBytes, previous?.blkio.readBytes) }), write: defined({ bytes: delta(blkio.writeBytes, previous?.blkio.writeBytes) }) }),
      }),
    },
    metricset: { name: 'container', ...(gap ? { period: Math.round(gap.seconds * 1000) } : {}) },
    service: { type: 'docker' },
    docker: {
      source: record.source,
      cpu: {
        usage_seconds: cpu.usageSeconds, user_seconds: cpu.userSeconds, system_seconds: cpu.systemSeconds,
        throttled_seconds: cpu.throttledSeconds, throttled_periods: cpu.throttledPeriods, periods: cpu.periods,
        ...(cpu.quotaMicros !== undefined ? { quota_micros: cpu.quotaMicros } : {}),
        ...(cpu.periodMicros !== undefined ? { period_micros: cpu.periodMicros } : {}),
        ...defined({
          total: defined({ pct: cpuTotal, norm: defined({ pct: norm(cpuTotal) }) }),
          kernel: defined({ pct: cpuKernel, norm: defined({ pct: norm(cpuKernel) }), ticks: Math.round(cpu.systemSeconds * 1e9) }),
          user: defined({ pct: cpuUser, norm: defined({ pct: norm(cpuUser) }), ticks: Math.round(cpu.userSeconds * 1e9) }),
        }),
      },
      memory: {
        usage_bytes: memory.usageBytes, working_set_bytes: memory.workingSetBytes, rss_bytes: memory.rssBytes,
        cache_bytes: memory.cacheBytes, fail_count: memory.failcnt,
        ...(memory.limitBytes !== undefined ? { limit_bytes: memory.limitBytes } : {}),
        usage: defined({ total: memory.workingSetBytes, pct: memoryPct }),
        rss: defined({ total: memory.rssBytes, pct: fraction(limit > 0 ? memory.rssBytes / limit : undefined) }),
        fail: { count: memory.failcnt },
        limit,
      },
      network: {
        ...network,
        inbound: { bytes: network.rx_bytes, packets: network.rx_packets, errors: network.rx_errors, dropped: network.rx_dropped },
        outbound: { bytes: network.tx_bytes, packets: network.tx_packets, errors: network.tx_errors, dropped: network.tx_dropped },
        ...defined({
          in: defined({ bytes: perSecond(network.rx_bytes, before?.rx_bytes), packets: perSecond(network.rx_packets, before?.rx_packets), errors: perSecond(network.rx_errors, before?.rx_errors), dropped: perSecond(network.rx_dropped, before?.rx_dropped) }),
          out: defined({ bytes: perSecond(network.tx_bytes, before?.tx_bytes), packets: perSecond(network.tx_packets, before?.tx_packets), errors: perSecond(network.tx_errors, before?.tx_errors), dropped: perSecond(network.tx_dropped, before?.tx_dropped) }),
        }),
      },
      diskio: {
        read_bytes: blkio.readBytes, write_bytes: blkio.writeBytes, reads: blkio.reads, writes: blkio.writes,
        read: { ops: blkio.reads, bytes: blkio.readBytes },
        write: { ops: blkio.writes, bytes: blkio.writeBytes },
        summary: { ops: blkio.reads + blkio.writes, bytes: blkio.readBytes + blkio.writeBytes },
      },
      pids: record.pids,
    },
  };
}

/** The object without its undefined values; undefined when nothing is left (so a parent leaves the key out too). */
function defined(values: Record<string, unknown>): Record<string, unknown> | undefined {
  let out: Record<string, unknown> | undefined;
  for (const key in values) {
    const value = values[key];
    if (value !== undefined) (out ??= {})[key] = value;
  }
  return out;
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
