/** Buffer's own encoders (write() ends in them): text at an offset, the bytes written returned. */
export interface EncodingWriters {
  latin1Write(text: string, offset: number): number;
  utf8Write(text: string, offset: number): number;
}

/**
 * Text and bytes appended to one growing Buffer: what a bulk body or a /metrics page is built in,
 * so that no large string is concatenated, flattened, joined and then encoded once more.
 */
export class ByteWriter {
  protected buffer: Buffer;
  protected length = 0;

  constructor(initial: Buffer = Buffer.alloc(0)) {
    this.buffer = initial;
  }

  /** Bytes written so far. */
  get size(): number {
    return this.length;
  }

  /** Text known to be ASCII (numbers, timestamps, fixed keys): one byte a character. */
  ascii(text: string): void {
    this.reserve(text.length);
    // latin1Write/utf8Write: what write(text, offset, encoding) calls after checking its arguments
    // and looking the encoding up by name, which cost more than copying a short line.
    this.length += (this.buffer as unknown as EncodingWriters).latin1Write(text, this.length);
  }

  utf8(text: string): void {
    this.reserve(text.length * 3);
    this.length += (this.buffer as unknown as EncodingWriters).utf8Write(text, this.length);
  }

  bytes(bytes: Buffer): void {
    this.reserve(bytes.length);
    // set(), not copy(): copy()'s argument handling cost more than copying a few hundred bytes.
    this.buffer.set(bytes, this.length);
    this.length += bytes.length;
  }

  byte(value: number): void {
    this.reserve(1);
    this.buffer[this.length++] = value;
  }

  /** What was written: a view of the buffer, valid while nothing more is written. */
  written(): Buffer {
    return this.buffer.subarray(0, this.length);
  }

  /** A buffer of at least `minBytes` to grow into. */
  protected allocate(minBytes: number): Buffer {
    return Buffer.allocUnsafe(minBytes);
  }

  /** The buffer grown out of, once copied. */
  protected discard(_old: Buffer): void {}

  protected reserve(bytes: number): void {
    if (this.length + bytes <= this.buffer.length) return;
    const next = this.allocate(Math.max(this.length + bytes, this.buffer.length * 2));
    this.buffer.copy(next, 0, 0, this.length);
    this.discard(this.buffer);
    this.buffer = next;
  }
}
