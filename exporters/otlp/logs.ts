/**
 * Log lines and Docker events as an OTLP ExportLogsServiceRequest, in one pass over a batch:
 * records grouped by container (one ResourceLogs each, its resource encoded once per container),
 * each record written straight into the writer.
 *
 * A log line: time_unix_nano the daemon's timestamp, observed_time_unix_nano when this request was
 * encoded, body the line (or, when the line was parsed as JSON, the parsed map), attributes
 * log.iostream and log.record.uid (the record's deterministic id: a replay after a crash carries
 * the same one), severity from the parsed JSON's level when there is one.
 * An event: event_name `docker.<type>.<action>` (and the event.name attribute, for receivers on
 * protocol versions before LogRecord.event_name), its type, action, scope, actor id and actor
 * attributes as docker.event.* attributes.
 */
import type { ContainerMeta, EventRecord, LogRecord } from '../../src/records.js';
import { ConstantAttribute, containerResource, hostResource, writeAnyValue, writeAttributes, writeKeyValue, writeResource, writeScope, type AttributeValue, type Attributes } from './attributes.js';
import type { OtlpWriter } from './wire.js';

export type LogsSignalRecord = LogRecord | EventRecord;

export interface LogsEncoding {
  readonly agentVersion: string;
  /** The host of records about no container. */
  hostName(): string;
}

/** ExportLogsServiceRequest { resource_logs = 1 }. */
export function writeLogsRequest(w: OtlpWriter, records: readonly LogsSignalRecord[], settings: LogsEncoding, observedNs: bigint): void {
  const groups = groupByContainer(records);
  w.repeated(1, 'resourceLogs', (item) => {
    for (const group of groups.values()) item((rl) => writeResourceLogs(rl, group, settings, observedNs));
  });
}

interface Group {
  readonly container: ContainerMeta | undefined;
  readonly records: LogsSignalRecord[];
}

/** Records by container id (records about no container under ''), in the order first seen, each group in batch order. */
function groupByContainer(records: readonly LogsSignalRecord[]): Map<string, Group> {
  const groups = new Map<string, Group>();
  let last: Group | undefined;
  let lastId: string | undefined;
  for (const record of records) {
    const id = record.container?.id ?? '';
    // Lines come in runs of one container: the map is looked up only when the container changes.
    if (id !== lastId || !last) {
      last = groups.get(id);
      if (!last) groups.set(id, last = { container: record.container, records: [] });
      lastId = id;
    }
    last.records.push(record);
  }
  return groups;
}

const hostKeys = new Map<string, object>();

/** ResourceLogs { resource = 1, scope_logs = 2 }. */
function writeResourceLogs(w: OtlpWriter, group: Group, settings: LogsEncoding, observedNs: bigint): void {
  const { container } = group;
  if (container) {
    writeResource(w, 1, container, () => containerResource(container));
  } else {
    const host = settings.hostName();
    let key = hostKeys.get(host);
    if (!key) hostKeys.set(host, key = {});
    writeResource(w, 1, key, () => hostResource(host));
  }
  w.repeated(2, 'scopeLogs', (item) => item((sl) => {
    writeScope(sl, 1, settings.agentVersion);
    sl.repeated(2, 'logRecords', (record) => {
      for (const r of group.records) record((lr) => (r.kind === 'log' ? writeLogLine(lr, r, observedNs) : writeEvent(lr, r, observedNs)));
    });
  }));
}

const STREAM = { stdout: new ConstantAttribute('log.iostream', 'stdout'), stderr: new ConstantAttribute('log.iostream', 'stderr') } as const;
const TRUNCATED = new ConstantAttribute('dockhand.log.truncated', true);

/** LogRecord of a log line: the hot path (the constant attributes are encoded once, not per line). */
function writeLogLine(w: OtlpWriter, record: LogRecord, observedNs: bigint): void {
  w.fixed64(1, 'timeUnixNano', record.time);
  w.fixed64(11, 'observedTimeUnixNano', observedNs);
  const severity = record.json ? severityOf(record.json) : undefined;
  if (severity) {
    w.uint32(2, 'severityNumber', severity.number);
    w.string(3, 'severityText', severity.text);
  }
  if (record.json) w.message(5, 'body', (v) => writeAnyValue(v, record.json));
  else w.message(5, 'body', (v) => v.string(1, 'stringValue', record.message));
  w.repeated(6, 'attributes', (item) => {
    const stream = STREAM[record.stream];
    item(stream.fill, stream);
    item((kv) => writeKeyValue(kv, 'log.record.uid', record.id));
    if (record.truncated) item(TRUNCATED.fill, TRUNCATED);
  });
}

/** LogRecord of a Docker event. */
function writeEvent(w: OtlpWriter, record: EventRecord, observedNs: bigint): void {
  const name = eventName(record);
  w.fixed64(1, 'timeUnixNano', record.time);
  w.fixed64(11, 'observedTimeUnixNano', observedNs);
  const actorName = record.actor.attributes.name;
  w.message(5, 'body', (v) => v.string(1, 'stringValue', `${record.type} ${record.action}${actorName ? ` ${actorName}` : ''} (${record.actor.id})`));
  writeAttributes(w, 6, eventAttributes(record, name));
  w.string(12, 'eventName', name);
}

/** `docker.<type>.<action>`, the action without what follows a colon (`exec_start: sh -c …`, `health_status: healthy`). */
export function eventName(record: Pick<EventRecord, 'type' | 'action'>): string {
  const colon = record.action.indexOf(':');
  const action = (colon >= 0 ? record.action.slice(0, colon) : record.action).trim();
  return `docker.${record.type}.${action}`;
}

function eventAttributes(record: EventRecord, name: string): Attributes {
  const attributes: [string, AttributeValue][] = [
    ['event.name', name],
    ['log.record.uid', record.id],
    ['docker.event.type', record.type],
    ['docker.event.action', record.action],
    ['docker.event.actor.id', record.actor.id],
  ];
  if (record.scope) attributes.push(['docker.event.scope', record.scope]);
  // The events collector already kept only the daemon's own attributes and allow-listed labels.
  for (const [key, value] of Object.entries(record.actor.attributes)) attributes.push([`docker.event.actor.attributes.${key}`, value]);
  return attributes;
}

/** SeverityNumber of the log data model: the first of each range (TRACE 1, DEBUG 5, INFO 9, WARN 13, ERROR 17, FATAL 21). */
const SEVERITY_BY_TEXT: Readonly<Record<string, number>> = {
  trace: 1, verbose: 1, debug: 5, dbug: 5, info: 9, information: 9, informational: 9, notice: 10, warn: 13, warning: 13,
  error: 17, err: 17, crit: 21, critical: 21, fatal: 21, panic: 21, alert: 22, emerg: 23, emergency: 23,
};
const LEVEL_KEYS = ['level', 'severity', 'lvl', 'log.level', 'loglevel'] as const;

/**
 * Severity of a parsed JSON line: its `level` (or severity, lvl …) as text (info, WARN, error …) or
 * as a number in the pino/bunyan scale (10 trace … 60 fatal). Undefined when none is recognised.
 */
export function severityOf(json: Readonly<Record<string, unknown>>): { number: number; text: string } | undefined {
  for (const key of LEVEL_KEYS) {
    const value = json[key];
    if (typeof value === 'string') {
      const number = SEVERITY_BY_TEXT[value.trim().toLowerCase()];
      if (number !== undefined) return { number, text: value };
    } else if (typeof value === 'number' && value >= 10 && value <= 60) {
      const number = [1, 5, 9, 13, 17, 21][Math.min(5, Math.floor(value / 10) - 1)]!;
      return { number, text: String(value) };
    }
  }
  return undefined;
}
