/**
 * An HTTP/1.1 response read straight off a socket: status line, headers, then the body as it is
 * framed (chunked transfer-encoding, content-length, or up to the close), decoded in one loop
 * over each socket read. Body bytes are handed on as ranges of the buffer the socket read, no
 * copy; only a header or chunk-size line split across reads is held, and lines are short.
 *
 * Used for the log stream, where the daemon writes every log frame as its own HTTP chunk: node:http
 * would make a Buffer and a stream 'data' event of each (~100 bytes) line.
 */

export interface ResponseHead {
  readonly statusCode: number;
  /** Header names in lower case; repeated headers joined with ", ". */
  readonly headers: ReadonlyMap<string, string>;
}

export interface ResponseSink {
  head(head: ResponseHead): void;
  /** Body bytes `buf[start, end)`, valid only during the call. */
  body(buf: Buffer, start: number, end: number): void;
  /** The body is complete as its framing says. */
  end(): void;
}

export class HttpProtocolError extends Error {
  override readonly name = 'HttpProtocolError';
  readonly code = 'HPE_INVALID_RESPONSE';
}

/** Longer header or chunk-size lines are not something a daemon sends: the stream is out of step. */
const MAX_LINE_BYTES = 16 * 1024;
const LF = 10;
const CR = 13;

function hexValue(byte: number): number {
  if (byte >= 48 && byte <= 57) return byte - 48;
  if (byte >= 97 && byte <= 102) return byte - 87;
  if (byte >= 65 && byte <= 70) return byte - 55;
  return -1;
}

type Phase =
  | 'statusLine' | 'headers' // the head
  | 'chunkSize' | 'chunkData' | 'chunkEnd' | 'trailers' // chunked body
  | 'sized' | 'untilClose' // content-length, or no framing (read up to the close)
  | 'done';

export class ResponseParser {
  private phase: Phase = 'statusLine';
  private partialLine: Buffer | undefined;
  private statusCode = 0;
  private readonly headers = new Map<string, string>();
  /** Bytes left in the current chunk, or of a content-length body. */
  private remaining = 0;
  private stopRequested = false;

  /** `noBody`: the answer to a HEAD request (its content-length describes nothing sent). */
  constructor(private readonly sink: ResponseSink, private readonly noBody = false) {}

  get complete(): boolean {
    return this.phase === 'done';
  }

  /** Whether the head has been read (the body, if any, follows). */
  get headRead(): boolean {
    return this.phase !== 'statusLine' && this.phase !== 'headers';
  }

  /**
   * Asks `push` to return at the next boundary (after the head, after a body range): called from a
   * sink callback, e.g. when the consumer is full. The caller pushes the rest later.
   */
  stop(): void {
    this.stopRequested = true;
  }

  /**
   * Parses `buf[start, end)`. Returns where it stopped: `end`, or earlier when `stop()` was called
   * from a callback (the rest is to be pushed again), or where the response ended (bytes after it
   * are not part of it). Throws HttpProtocolError for bytes that are not an HTTP response.
   */
  push(buf: Buffer, start = 0, end = buf.length): number {
    this.stopRequested = false;
    let i = start;
    while (i < end && this.phase !== 'done' && !this.stopRequested) {
      switch (this.phase) {
        case 'chunkData':
        case 'sized': {
          const take = Math.min(this.remaining, end - i);
          this.remaining -= take;
          const from = i;
          i += take;
          if (this.remaining === 0) this.phase = this.phase === 'sized' ? 'done' : 'chunkEnd';
          this.sink.body(buf, from, i);
          if (this.phase === 'done') this.sink.end();
          break;
        }
        case 'untilClose':
          this.sink.body(buf, i, end);
          i = end;
          break;
        case 'chunkEnd':
        case 'chunkSize': {
          // The hot path (a chunk per log line): framing read from the bytes, no string made; the
          // line reader takes a line split across reads, extensions, anything unusual.
          const framed = this.partialLine ? -1 : this.chunkFraming(buf, i, end);
          const next = framed >= 0 ? framed : this.readLine(buf, i, end);
          if (next < 0) return end;
          i = next;
          break;
        }
        default: {
          const next = this.readLine(buf, i, end);
          if (next < 0) return end;
          i = next;
        }
      }
    }
    return i;
  }

  /** The connection closed: an error when the response is not complete (cut mid-head, mid-chunk, mid-body). */
  close(): HttpProtocolError | undefined {
    if (this.phase === 'untilClose') {
      this.phase = 'done';
      this.sink.end();
      return undefined;
    }
    if (this.phase === 'done') return undefined;
    return new HttpProtocolError(this.headRead ? `the daemon closed the connection before the end of the response body (${this.phase})` : 'the daemon closed the connection before the end of the response head');
  }

  /**
   * Reads a chunk's trailing CRLF or a plain chunk-size line (hex digits, CRLF) at `i` straight from
   * the bytes: returns where the next byte is, or -1 to leave it to the line reader (split across
   * reads, extensions, anything unusual, errors).
   */
  private chunkFraming(buf: Buffer, i: number, end: number): number {
    if (this.phase === 'chunkEnd') {
      if (i + 1 >= end || buf[i] !== CR || buf[i + 1] !== LF) return -1;
      this.phase = 'chunkSize';
      return i + 2;
    }
    let size = 0;
    let at = i;
    for (; at < end && at - i < 8; at++) {
      const digit = hexValue(buf[at]!);
      if (digit < 0) break;
      size = size * 16 + digit;
    }
    if (at === i || at + 1 >= end || buf[at] !== CR || buf[at + 1] !== LF) return -1;
    if (size === 0) {
      this.phase = 'trailers';
    } else {
      this.remaining = size;
      this.phase = 'chunkData';
    }
    return at + 2;
  }

  /** Reads one CRLF-terminated line from `i` and acts on it: returns where the next byte is, or -1 when the line is not complete yet (held). */
  private readLine(buf: Buffer, i: number, end: number): number {
    const lf = buf.indexOf(LF, i);
    if (lf < 0 || lf >= end) {
      this.holdLine(buf, i, end);
      return -1;
    }
    let line: string;
    if (this.partialLine) {
      const whole = Buffer.concat([this.partialLine, buf.subarray(i, lf)]);
      this.partialLine = undefined;
      line = whole.toString('latin1');
    } else {
      line = buf.toString('latin1', i, lf);
    }
    if (line.endsWith('\r')) line = line.slice(0, -1);
    this.onLine(line);
    return lf + 1;
  }

  private holdLine(buf: Buffer, i: number, end: number): void {
    const held = (this.partialLine?.length ?? 0) + end - i;
    if (held > MAX_LINE_BYTES) throw new HttpProtocolError(`a header or chunk-size line longer than ${MAX_LINE_BYTES} bytes`);
    this.partialLine = this.partialLine ? Buffer.concat([this.partialLine, buf.subarray(i, end)]) : Buffer.from(buf.subarray(i, end));
  }

  private onLine(line: string): void {
    switch (this.phase) {
      case 'statusLine': return this.onStatusLine(line);
      case 'headers': return this.onHeaderLine(line);
      case 'chunkSize': return this.onChunkSize(line);
      case 'chunkEnd':
        if (line !== '') throw new HttpProtocolError('chunk data longer than its size line said');
        this.phase = 'chunkSize';
        return;
      case 'trailers':
        if (line === '') this.finish();
        return;
      default:
        throw new Error(`no line expected in phase ${this.phase}`);
    }
  }

  private onStatusLine(line: string): void {
    const match = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(line);
    if (!match) throw new HttpProtocolError(`not an HTTP/1.x status line: ${JSON.stringify(line.slice(0, 80))}`);
    this.statusCode = Number(match[1]);
    this.phase = 'headers';
  }

  private onHeaderLine(line: string): void {
    if (line !== '') {
      const colon = line.indexOf(':');
      if (colon <= 0) throw new HttpProtocolError(`not a header line: ${JSON.stringify(line.slice(0, 80))}`);
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      const before = this.headers.get(name);
      this.headers.set(name, before === undefined ? value : `${before}, ${value}`);
      return;
    }
    // 1xx answers come before the real one: skip them.
    if (this.statusCode >= 100 && this.statusCode < 200) {
      this.headers.clear();
      this.phase = 'statusLine';
      return;
    }
    this.phase = this.bodyPhase();
    this.sink.head({ statusCode: this.statusCode, headers: this.headers });
    // The head is a boundary: whoever reads the body may not be there yet.
    this.stopRequested = true;
    if (this.phase === 'done') this.sink.end();
  }

  private bodyPhase(): Phase {
    if (this.noBody || this.statusCode === 204 || this.statusCode === 304) return 'done';
    const encoding = this.headers.get('transfer-encoding');
    if (encoding !== undefined) {
      if (/(^|,)\s*chunked\s*$/i.test(encoding)) return 'chunkSize';
      return 'untilClose';
    }
    const length = this.headers.get('content-length');
    if (length !== undefined) {
      if (!/^\d+$/.test(length)) throw new HttpProtocolError(`invalid content-length ${JSON.stringify(length)}`);
      this.remaining = Number(length);
      return this.remaining === 0 ? 'done' : 'sized';
    }
    return 'untilClose';
  }

  private onChunkSize(line: string): void {
    const semicolon = line.indexOf(';');
    const digits = (semicolon < 0 ? line : line.slice(0, semicolon)).trim();
    if (!/^[0-9a-fA-F]{1,8}$/.test(digits)) throw new HttpProtocolError(`not a chunk size: ${JSON.stringify(line.slice(0, 80))}`);
    const size = parseInt(digits, 16);
    if (size === 0) {
      this.phase = 'trailers';
      return;
    }
    this.remaining = size;
    this.phase = 'chunkData';
  }

  private finish(): void {
    this.phase = 'done';
    this.sink.end();
  }
}
