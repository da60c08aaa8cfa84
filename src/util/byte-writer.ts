/** Buffer's own encoders (write() ends in them): text at an offset, the bytes written returned. */
interface EncodingWriters {
  latin1Write(text: string, offset: number): number;
  utf8Write(text: string, offset: number): number;
}

/**
 * Whether this Node.js has Buffer's encoders as the code below calls them: they are not documented,
 * so they are tried once; without them write() does the same, a little slower.
 */
const OWN_ENCODERS = ((): boolean => {
  try {
    const probe = Buffer.alloc(8) as Buffer & Partial<EncodingWriters>;
    return probe.latin1Write?.('ab', 1) === 2 && probe.utf8Write?.('é', 3) === 2 && probe.toString('latin1', 0, 5) === '\0ab\xc3\xa9';
  } catch {
    return false;
  }
})();

/** `text` as Latin-1 into `buffer` at `offset` (room checked by the caller); the bytes written. */
export function writeLatin1(buffer: Buffer, text: string, offset: number): number {
  // latin1Write/utf8Write: what write(text, offset, encoding) calls after checking its arguments
  // and looking the encoding up by name, which cost more than copying a short line.
  return OWN_ENCODERS ? (buffer as unknown as EncodingWriters).latin1Write(text, offset) : buffer.write(text, offset, 'latin1');
}

/** `value` (0 to 999,999,999) as nine decimal digits into `buffer` at `offset` (room checked by the caller); the offset after them. */
export function writeDigits9(buffer: Buffer, offset: number, value: number): number {
  let at = offset + 8;
  for (let i = 0; i < 9; i++) {
    // `| 0`: below 2^31, an integer division (Math.floor and % on doubles took 3x as long).
    const tenth = (value / 10) | 0;
    buffer[at--] = 48 + value - tenth * 10;
    value = tenth;
  }
  return offset + 9;
}

function writeUtf8(buffer: Buffer, text: string, offset: number): number {
  return OWN_ENCODERS ? (buffer as unknown as EncodingWriters).utf8Write(text, offset) : buffer.write(text, offset, 'utf8');
}

/** Printable ASCII but `"` and `\\`: what a JSON string holds as it is. */
export const PLAIN_ASCII = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

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

  /** Bytes it holds before it must grow. */
  get capacity(): number {
    return this.buffer.length;
  }

  /** Bytes written so far. */
  get size(): number {
    return this.length;
  }

  /** Text known to be ASCII (numbers, timestamps, fixed keys): one byte a character. */
  ascii(text: string): void {
    this.reserve(text.length);
    this.length += writeLatin1(this.buffer, text, this.length);
  }

  utf8(text: string): void {
    this.reserve(text.length * 3);
    this.length += writeUtf8(this.buffer, text, this.length);
  }

  /** `text` as a JSON string, byte for byte what JSON.stringify writes: plain ASCII copied as it is, anything else through JSON.stringify. */
  jsonString(text: string): void {
    if (!PLAIN_ASCII.test(text)) {
      this.utf8(JSON.stringify(text));
      return;
    }
    this.reserve(text.length + 2);
    const buffer = this.buffer;
    let at = this.length;
    buffer[at++] = 34;
    at += writeLatin1(buffer, text, at);
    buffer[at++] = 34;
    this.length = at;
  }

  bytes(bytes: Buffer): void {
    this.reserve(bytes.length);
    // set(), not copy(): copy()'s argument handling cost more than copying a few hundred bytes.
    this.buffer.set(bytes, this.length);
    this.length += bytes.length;
  }

  /** `value` (0 to 999,999,999) as nine decimal digits, leading zeros kept: the nanoseconds of a timestamp. */
  digits9(value: number): void {
    this.reserve(9);
    this.length = writeDigits9(this.buffer, this.length, value);
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
