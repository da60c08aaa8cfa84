/**
 * One record → one line of JSON. `id` comes first and `kind` second in every line so that the
 * start-up scan (replay-filter.ts) can read them without parsing the whole line. Times are rendered
 * twice: `@timestamp` (RFC 3339, nine fractional digits, UTC) for people and Elasticsearch,
 * `time_ns` (a decimal string: nanoseconds do not fit a JSON number) for exact comparisons.
 *
 * NdjsonSerializer makes a line as a string (every kind; the reference). NdjsonWriter appends the
 * same bytes straight into one buffer: log lines, the hot path, without a string per line — the
 * constant parts (per stream, per second, per container) are cached as bytes, the digits written
 * as bytes, and the id and message copied once and JSON-escaped only when they need it.
 */
import { SecondCache, formatRfc3339Nano, formatRfc3339NanoDigits, lineIdRoom, plainIdLine, writeLineId, type LineRecord, type AgentRecord, type ContainerMeta, type LogRecord } from '../../src/records.js';
import { ByteWriter, PLAIN_ASCII, writeDigits9, writeLatin1 } from '../../src/util/byte-writer.js';

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

  container(meta: ContainerMeta): string {
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

const bytesOf = (text: string) => Buffer.from(text, 'latin1');
const ID_HEAD = bytesOf('{"id":');
const STREAM_FIELDS = { stdout: bytesOf('","stream":"stdout","message":'), stderr: bytesOf('","stream":"stderr","message":') } as const;
const TRUNCATED = bytesOf(',"truncated":true');
const JSON_KEY = bytesOf(',"json":');
const LINE_END = bytesOf('}\n');
const SHRINK_AFTER_BATCHES = 32;

interface SecondParts {
  readonly head: Buffer;
  readonly middle: Buffer;
}

/**
 * The file exporter's batch buffer: lines appended as bytes, byte-for-byte what NdjsonSerializer
 * makes (plus the newline). Reused from batch to batch.
 */
export class NdjsonWriter extends ByteWriter {
  private readonly serializer = new NdjsonSerializer();
  private readonly containerTail = new WeakMap<ContainerMeta, Buffer>();
  /**
   * The parts of a log line that only change from one second to the next: `,"kind":"log","@timestamp":"2026-11-30T01:02:03.`
   * and `Z","time_ns":"1795825930` (the nine digits of the nanoseconds follow each).
   */
  private readonly seconds = new SecondCache<SecondParts>((datePrefix, secondDigits) => ({
    head: bytesOf(`,"kind":"log","@timestamp":"${datePrefix}`),
    middle: bytesOf(`Z","time_ns":"${secondDigits}`),
  }));

  /** Appends `record`'s line; throws, having appended nothing, when it cannot be encoded. */
  line(record: AgentRecord): void {
    const start = this.length;
    try {
      if (record.kind === 'log') this.log(record);
      else {
        this.utf8(this.serializer.serialize(record));
        this.byte(10);
      }
    } catch (error) {
      this.length = start;
      throw error;
    }
  }

  /** Batches in a row that needed less than a quarter of the buffer before it is let go. */
  private oversizedBatches = 0;

  /**
   * Empties it for the next batch. A buffer grown for large batches is let go (room for twice
   * `keepFor` bytes kept) once SHRINK_AFTER_BATCHES batches in a row needed less than a quarter of
   * it: batches of a burst vary in size, and shrinking after each small one grew it again,
   * copying, for the next large one.
   */
  reset(keepFor: number, minBytes: number): void {
    this.length = 0;
    const oversized = this.buffer.length > minBytes && this.buffer.length > 4 * keepFor;
    this.oversizedBatches = oversized ? this.oversizedBatches + 1 : 0;
    if (this.oversizedBatches < SHRINK_AFTER_BATCHES) return;
    this.oversizedBatches = 0;
    this.buffer = Buffer.allocUnsafe(Math.max(minBytes, 2 * keepFor));
  }

  private log(record: LogRecord): void {
    // The parsed JSON first: when it cannot be serialised nothing has been written.
    const json = record.json === undefined ? undefined : JSON.stringify(record.json, bigintSafe);
    const line = plainIdLine(record);
    const second = line === undefined ? undefined : this.seconds.partsOf(line.time);
    if (line !== undefined && second !== undefined) {
      const nanos = this.seconds.nanosInto(line.time);
      if (json === undefined && !line.truncated && PLAIN_ASCII.test(line.message)) {
        this.plainLine(line, second, nanos);
        return;
      }
      this.bytes(ID_HEAD);
      this.lineId(line, this.seconds.digits, nanos);
    } else {
      this.bytes(ID_HEAD);
      this.jsonString(record.id);
    }
    if (!this.time(record.time)) {
      this.utf8(`,"kind":"log","@timestamp":"${formatRfc3339Nano(record.time)}","time_ns":"${record.time}`);
    }
    this.bytes(STREAM_FIELDS[record.stream]);
    this.jsonString(record.message);
    this.bytes(this.tail(record.container));
    if (record.truncated) this.bytes(TRUNCATED);
    if (json !== undefined) {
      this.bytes(JSON_KEY);
      this.utf8(json);
    }
    this.bytes(LINE_END);
  }

  /**
   * The common line whole (an id and a message of plain ASCII, not cut, no parsed JSON): room made
   * once and each piece copied straight in, the same bytes as log() writes piece by piece.
   */
  private plainLine(line: LineRecord, second: SecondParts, nanos: number): void {
    const fields = STREAM_FIELDS[line.stream];
    const tail = this.tail(line.container);
    const message = line.message;
    this.reserve(ID_HEAD.length + 2 + lineIdRoom(line) + second.head.length + 9 + second.middle.length + 9 + fields.length + 2 + message.length + tail.length + LINE_END.length);
    const buffer = this.buffer;
    let at = this.length;
    buffer.set(ID_HEAD, at);
    at += ID_HEAD.length;
    buffer[at++] = 34; // "
    at = writeLineId(buffer, at, line, this.seconds.digits, nanos);
    buffer[at++] = 34;
    buffer.set(second.head, at);
    at = writeDigits9(buffer, at + second.head.length, nanos);
    buffer.set(second.middle, at);
    at = writeDigits9(buffer, at + second.middle.length, nanos);
    buffer.set(fields, at);
    at += fields.length;
    buffer[at++] = 34;
    at += writeLatin1(buffer, message, at);
    buffer[at++] = 34;
    buffer.set(tail, at);
    at += tail.length;
    buffer.set(LINE_END, at);
    this.length = at + LINE_END.length;
  }

  /** A LineRecord's id as a JSON string, written from its parts (no id string made). */
  private lineId(record: LineRecord, secondDigits: Buffer, nanos: number): void {
    this.reserve(lineIdRoom(record) + 2);
    const buffer = this.buffer;
    buffer[this.length] = 34; // "
    const at = writeLineId(buffer, this.length + 1, record, secondDigits, nanos);
    buffer[at] = 34;
    this.length = at + 1;
  }

  /** `,"kind":"log","@timestamp":"…Z","time_ns":"…` from cached bytes of its second; false for times the cache does not cover. */
  private time(ns: bigint): boolean {
    const second = this.seconds.partsOf(ns);
    if (second === undefined) return false;
    const nanos = this.seconds.nanosInto(ns);
    this.bytes(second.head);
    this.digits9(nanos);
    this.bytes(second.middle);
    this.digits9(nanos);
    return true;
  }

  private tail(meta: ContainerMeta): Buffer {
    let tail = this.containerTail.get(meta);
    if (tail === undefined) {
      tail = Buffer.from(`,"container":${this.serializer.container(meta)}`);
      this.containerTail.set(meta, tail);
    }
    return tail;
  }
}

