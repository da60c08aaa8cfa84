/**
 * One description of an OTLP message, two encodings: the encoders (logs.ts, metrics.ts) say each
 * field once, by its protobuf number and its JSON name, and a writer puts it on the wire as
 * protobuf (straight into the shared ProtoWriter, no message objects) or as the OTLP JSON mapping
 * (lowerCamelCase names, 64-bit integers as decimal strings, enums as numbers).
 * Proto3 defaults are the callers' business: a field written is a field sent.
 */
import { ProtoWriter } from '../../src/util/protobuf-writer.js';

export type Fill = (writer: OtlpWriter) => void;
export type Item = (fill: Fill, key?: object) => void;

export interface OtlpWriter {
  string(field: number, name: string, value: string): void;
  bool(field: number, name: string, value: boolean): void;
  /** int64 / uint64 (a decimal string in JSON). */
  int64(field: number, name: string, value: number | bigint): void;
  /** fixed64 (timestamps; a decimal string in JSON). */
  fixed64(field: number, name: string, value: bigint): void;
  /** enum and uint32 (a number in JSON). */
  uint32(field: number, name: string, value: number): void;
  double(field: number, name: string, value: number): void;
  /** One nested message. */
  message(field: number, name: string, fill: Fill): void;
  /**
   * A repeated message field: `each` is called with `item`, which writes one element; an element
   * given a `key` depends only on it, and is encoded once per writer kind and reused.
   */
  repeated(field: number, name: string, each: (item: Item) => void): void;
  /** A nested message whose encoding depends only on `key`: encoded once per writer kind and reused (resources). */
  cached(field: number, name: string, key: object, fill: Fill): void;
}

/** Protobuf: fields straight into a ProtoWriter. */
export class ProtoOtlpWriter implements OtlpWriter {
  private static readonly cache = new WeakMap<object, Buffer>();

  constructor(readonly out: ProtoWriter = new ProtoWriter()) {}

  string(field: number, _name: string, value: string): void {
    this.out.string(field, value);
  }

  bool(field: number, _name: string, value: boolean): void {
    this.out.bool(field, value);
  }

  int64(field: number, _name: string, value: number | bigint): void {
    // Negative int64 are ten-byte two's complement varints: the writer takes them as bigint.
    this.out.varint(field, typeof value === 'number' && value < 0 ? BigInt(value) : value);
  }

  fixed64(field: number, _name: string, value: bigint): void {
    this.out.fixed64(field, value);
  }

  uint32(field: number, _name: string, value: number): void {
    this.out.varint(field, value);
  }

  double(field: number, _name: string, value: number): void {
    this.out.double(field, value);
  }

  message(field: number, _name: string, fill: Fill): void {
    this.out.message(field, () => fill(this));
  }

  repeated(field: number, name: string, each: (item: Item) => void): void {
    each((fill, key) => {
      if (key) this.cached(field, name, key, fill);
      else this.out.message(field, () => fill(this));
    });
  }

  cached(field: number, _name: string, key: object, fill: Fill): void {
    let body = ProtoOtlpWriter.cache.get(key);
    if (!body) {
      const own = new ProtoOtlpWriter(new ProtoWriter(512));
      fill(own);
      body = own.out.finish();
      ProtoOtlpWriter.cache.set(key, body);
    }
    // A length-delimited field of the encoded body is exactly the nested message.
    this.out.bytes(field, body);
  }

  finish(): Buffer {
    return this.out.finish();
  }
}

/** The OTLP JSON mapping, built as one string. */
export class JsonOtlpWriter implements OtlpWriter {
  private static readonly cache = new WeakMap<object, string>();
  private parts: string[] = [];
  /** Whether the object being written has a field already (a comma before the next). */
  private started = false;

  string(_field: number, name: string, value: string): void {
    this.key(name);
    this.parts.push(JSON.stringify(wellFormed(value)));
  }

  bool(_field: number, name: string, value: boolean): void {
    this.key(name);
    this.parts.push(value ? 'true' : 'false');
  }

  int64(_field: number, name: string, value: number | bigint): void {
    this.key(name);
    this.parts.push(`"${typeof value === 'number' ? Math.trunc(value) : value}"`);
  }

  fixed64(_field: number, name: string, value: bigint): void {
    this.key(name);
    this.parts.push(`"${value}"`);
  }

  uint32(_field: number, name: string, value: number): void {
    this.key(name);
    this.parts.push(String(value));
  }

  double(_field: number, name: string, value: number): void {
    this.key(name);
    // proto3 JSON spells the non-finite doubles as strings.
    this.parts.push(Number.isFinite(value) ? String(value) : `"${Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity'}"`);
  }

  message(_field: number, name: string, fill: Fill): void {
    this.key(name);
    this.object(fill);
  }

  repeated(_field: number, name: string, each: (item: Item) => void): void {
    this.key(name);
    this.parts.push('[');
    let first = true;
    each((fill, key) => {
      if (!first) this.parts.push(',');
      first = false;
      if (key) this.parts.push(JsonOtlpWriter.objectText(key, fill));
      else this.object(fill);
    });
    this.parts.push(']');
    this.started = true;
  }

  cached(_field: number, name: string, key: object, fill: Fill): void {
    this.key(name);
    this.parts.push(JsonOtlpWriter.objectText(key, fill));
  }

  /** The JSON object `fill` writes, made once per `key`. */
  private static objectText(key: object, fill: Fill): string {
    let text = JsonOtlpWriter.cache.get(key);
    if (text === undefined) {
      const own = new JsonOtlpWriter();
      own.object(fill);
      text = own.parts.join('');
      JsonOtlpWriter.cache.set(key, text);
    }
    return text;
  }

  /** The whole request: `fill` writes the top-level message's fields. */
  static encode(fill: Fill): Buffer {
    const writer = new JsonOtlpWriter();
    writer.object(fill);
    return Buffer.from(writer.parts.join(''), 'utf8');
  }

  private object(fill: Fill): void {
    this.parts.push('{');
    this.started = false;
    fill(this);
    this.parts.push('}');
    this.started = true;
  }

  private key(name: string): void {
    this.parts.push(this.started ? `,"${name}":` : `"${name}":`);
    this.started = true;
  }
}

/**
 * `value` with each lone surrogate replaced by U+FFFD, as the protobuf path writes it: JSON.stringify
 * keeps a lone surrogate as a `\ud800` escape, which the Collector's protojson refuses (a 400 for the
 * whole batch). Node 20 has String.prototype.toWellFormed; the ES2023 lib types do not name it.
 */
function wellFormed(value: string): string {
  const text = value as string & { isWellFormed(): boolean; toWellFormed(): string };
  return text.isWellFormed() ? value : text.toWellFormed();
}
