/**
 * One record → one line of JSON. `id` comes first and `kind` second in every line so that the
 * start-up scan (dedup.ts) can read them without parsing the whole line. Times are rendered twice:
 * `@timestamp` (RFC 3339, nine fractional digits, UTC) for people and Elasticsearch, `time_ns` (a
 * decimal string: nanoseconds do not fit a JSON number) for exact comparisons.
 */
import type { AgentRecord, ContainerMeta, EpochNanos, LogRecord } from '../../src/records.js';

const NS_PER_SECOND = 1_000_000_000n;

/** Formats nanoseconds as RFC 3339 with nine digits; remembers the last second, as records come in runs. */
export class TimestampFormatter {
  private lastSecond = -1n;
  private lastPrefix = '';
  private lastSecondDigits = '';
  private lastDigitsPrefix = '';

  format(ns: EpochNanos): string {
    const second = ns / NS_PER_SECOND;
    let frac = ns - second * NS_PER_SECOND;
    let whole = second;
    if (frac < 0n) { frac += NS_PER_SECOND; whole -= 1n; }
    if (whole !== this.lastSecond) {
      this.lastSecond = whole;
      this.lastPrefix = new Date(Number(whole) * 1000).toISOString().slice(0, 19);
    }
    const digits = frac.toString();
    return `${this.lastPrefix}.${digits.length === 9 ? digits : digits.padStart(9, '0')}Z`;
  }

  /**
   * The same from the decimal digits of `ns` (which the caller needs anyway for `time_ns`): one
   * bigint-to-string conversion per record instead of three bigint operations and two conversions.
   */
  formatDigits(digits: string): string {
    if (digits.length < 10 || digits.charCodeAt(0) === 45) return this.format(BigInt(digits));
    const split = digits.length - 9;
    const secondDigits = digits.slice(0, split);
    if (secondDigits !== this.lastSecondDigits) {
      this.lastSecondDigits = secondDigits;
      this.lastDigitsPrefix = `${new Date(Number(secondDigits) * 1000).toISOString().slice(0, 19)}.`;
    }
    return `${this.lastDigitsPrefix}${digits.slice(split)}Z`;
  }
}

export class NdjsonSerializer {
  private readonly timestamps = new TimestampFormatter();
  // ContainerMeta objects are shared by every record of a container (they come from the inventory).
  private readonly containerJson = new WeakMap<ContainerMeta, string>();

  serialize(record: AgentRecord): string {
    if (record.kind === 'log') return this.log(record);
    return this.generic(record);
  }

  private log(record: LogRecord): string {
    const ns = record.time.toString();
    let line = `{"id":${JSON.stringify(record.id)},"kind":"log","@timestamp":"${this.timestamps.formatDigits(ns)}","time_ns":"${ns}","stream":"${record.stream}","message":${JSON.stringify(record.message)},"container":${this.container(record.container)}`;
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
    return `${head},"@timestamp":"${this.timestamps.format(time)}","time_ns":"${time}"${tail}`;
  }
}

function bigintSafe(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}
