/**
 * A protobuf encoder that writes fields straight into one growing buffer: exporters build a
 * request body in one pass over their records, with no message objects in between. Nested
 * messages are written in place and their length prefix fixed up afterwards.
 */
const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH_DELIMITED = 2;

export class ProtoWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(initialBytes = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  /** uint32, uint64, int64 (non-negative), bool and enum fields. */
  varint(field: number, value: number | bigint): this {
    this.tag(field, WIRE_VARINT);
    if (typeof value === 'bigint') this.rawVarintBig(BigInt.asUintN(64, value));
    else this.rawVarint(value);
    return this;
  }

  bool(field: number, value: boolean): this {
    return this.varint(field, value ? 1 : 0);
  }

  fixed64(field: number, value: bigint): this {
    this.tag(field, WIRE_FIXED64);
    this.ensure(8);
    this.buf.writeBigUInt64LE(BigInt.asUintN(64, value), this.pos);
    this.pos += 8;
    return this;
  }

  double(field: number, value: number): this {
    this.tag(field, WIRE_FIXED64);
    this.ensure(8);
    this.buf.writeDoubleLE(value, this.pos);
    this.pos += 8;
    return this;
  }

  string(field: number, value: string): this {
    this.tag(field, WIRE_LENGTH_DELIMITED);
    const length = Buffer.byteLength(value, 'utf8');
    this.rawVarint(length);
    this.ensure(length);
    this.pos += this.buf.write(value, this.pos, length, 'utf8');
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.tag(field, WIRE_LENGTH_DELIMITED);
    this.rawVarint(value.length);
    this.ensure(value.length);
    this.buf.set(value, this.pos);
    this.pos += value.length;
    return this;
  }

  /** A nested message: `write` adds its fields to this writer; the length prefix is fixed up after. */
  message(field: number, write: (writer: ProtoWriter) => void): this {
    this.tag(field, WIRE_LENGTH_DELIMITED);
    this.ensure(1);
    const start = this.pos;
    this.pos += 1; // most nested messages are under 128 bytes: one byte of length, moved only when longer
    write(this);
    const length = this.pos - start - 1;
    const prefix = varintSize(length);
    if (prefix > 1) {
      this.ensure(prefix - 1);
      this.buf.copyWithin(start + prefix, start + 1, this.pos);
      this.pos += prefix - 1;
    }
    writeVarintAt(this.buf, start, length);
    return this;
  }

  /** Fields encoded before (tags included), appended as they are: for fields that repeat unchanged, encoded once. */
  raw(bytes: Uint8Array): this {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
    return this;
  }

  get length(): number {
    return this.pos;
  }

  /** The encoded bytes without a copy: valid only until the writer is written to or reset again. */
  view(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  /** The encoded bytes (a copy: the writer may be reused after reset()). */
  finish(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }

  reset(): void {
    this.pos = 0;
  }

  private tag(field: number, wireType: number): void {
    this.rawVarint(field * 8 + wireType);
  }

  private rawVarint(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`protobuf varint out of range: ${value}`);
    this.ensure(10);
    this.pos = writeVarintAt(this.buf, this.pos, value);
  }

  private rawVarintBig(value: bigint): void {
    this.ensure(10);
    while (value >= 0x80n) {
      this.buf[this.pos++] = Number(value & 0x7fn) | 0x80;
      value >>= 7n;
    }
    this.buf[this.pos++] = Number(value);
  }

  private ensure(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + bytes));
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }
}

/** Bytes a varint of `value` takes. */
export function varintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    size++;
  }
  return size;
}

/** Writes `value` (a safe non-negative integer) as a varint at `at`; returns the position after it. */
export function writeVarintAt(buf: Buffer, at: number, value: number): number {
  while (value >= 0x80) {
    buf[at++] = (value % 128) | 0x80;
    value = Math.floor(value / 128);
  }
  buf[at++] = value;
  return at;
}
