/**
 * One record → one line of JSON. `id` comes first and `kind` second in every line so that the
 * start-up scan (dedup.ts) can read them without parsing the whole line. Times are rendered twice:
 * `@timestamp` (RFC 3339, nine fractional digits, UTC) for people and Elasticsearch, `time_ns` (a
 * decimal string: nanoseconds do not fit a JSON number) for exact comparisons.
 */
import { formatRfc3339Nano, formatRfc3339NanoDigits, type AgentRecord, type ContainerMeta, type LogRecord } from '../../src/records.js';

export class NdjsonSerializer {
  // ContainerMeta objects are shared by every record of a container (they come from the inventory).
  private readonly containerJson = new WeakMap<ContainerMeta, string>();

  serialize(record: AgentRecord): string {
    if (record.kind === 'log') return this.log(record);
    return this.generic(record);
  }

  private log(record: LogRecord): string {
    const ns = record.time.toString();
    let line = `{"id":${JSON.stringify(record.id)},"kind":"log","@timestamp":"${formatRfc3339NanoDigits(ns)}","time_ns":"${ns}","stream":"${record.stream}","message":${JSON.stringify(record.message)},"container":${this.container(record.container)}`;
    if (record.truncated) line += ',"truncated":true';
    if (record.json !== undefined) line += `,"json":${JSON.stringify(record.json, bigintSafe)}`;
    return `${line}}`;
  }

  private container(meta: ContainerMeta): string {
    let json = this.containerJson.get(meta);
    if (json === undefined) {
      json = JSON.stringify({ id: meta.id, name: meta.name, image: meta.image, labels: meta.labels, host: meta.host });
      this.containerJson.set(meta, json);
    }
    return json;
  }

  /** Events, metrics, engine figures: every field but the ack, bigints as decimal strings. */
  private generic(record: Exclude<AgentRecord, LogRecord>): string {
    const { ack: _ack, time, kind, ...rest } = record as Exclude<AgentRecord, LogRecord> & { id?: string };
    const id = (record as { id?: string }).id;
    const head = id !== undefined ? `{"id":${JSON.stringify(id)},"kind":"${kind}"` : `{"kind":"${kind}"`;
    const { id: _id, ...fields } = rest as { id?: string } & Record<string, unknown>;
    const body = JSON.stringify(fields, bigintSafe);
    const tail = body.length > 2 ? `,${body.slice(1)}` : '}';
    return `${head},"@timestamp":"${formatRfc3339Nano(time)}","time_ns":"${time}"${tail}`;
  }
}

function bigintSafe(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}
