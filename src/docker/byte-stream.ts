/**
 * A streamed response body read straight off its socket (see http-response.ts): bytes are handed
 * on as ranges of the socket's own buffers, with pause/resume for backpressure. It opens once the
 * daemon answered 200; any other answer is a DockerHttpError carrying the daemon's message.
 */
import type { Socket } from 'node:net';
import { ResponseParser, type ResponseHead } from './http-response.js';
import { DockerHttpError, abortError } from './http-error.js';

export interface ByteSink {
  /** Body bytes `buf[start, end)`, valid only during the call. A throw ends the stream: `end(error)` follows. */
  bytes(buf: Buffer, start: number, end: number): void;
  /** Called once: `error` undefined when the body ended as its framing says, else why it stopped (cut, aborted, socket error). */
  end(error: unknown): void;
}

export interface ByteStream {
  /** Starts handing on the body to `sink` (once). */
  read(sink: ByteSink): void;
  /** Stops at the next body range; the socket is not read meanwhile, so the daemon waits. */
  pause(): void;
  resume(): void;
  readonly isPaused: boolean;
  /** Closes the stream; `end` is not called after this. */
  destroy(): void;
  readonly destroyed: boolean;
}

/** An error answer's body kept for its message, at most this much. */
const MAX_ERROR_BODY = 64 * 1024;

/**
 * Read coalescing. The daemon writes every log line to the socket on its own, so a busy stream read
 * as it comes wakes the agent for every line or few (~70,000 wakeups for 300,000 lines), and a
 * wakeup costs more than the line: half the agent's CPU went to the kernel. After a small read the
 * socket is left unread for REST_MS, and what the daemon writes meanwhile comes in one read.
 * A unix socket holds ~280 of the daemon's one-line writes (~40 KB: each write is charged kernel
 * memory well beyond its bytes), 3-5 ms of a fast stream: a reader that rested after every read
 * could make the daemon wait and cap the stream's rate. So it rests only after a read under
 * REST_BELOW_BYTES (~30 lines, a tenth of what the socket holds): a larger read says the stream
 * is fast, and the next read comes at once. A lone line is read at once. At 12 KiB a fast stream
 * still rested after its many 4-12 KiB reads, and on a busy machine a 1 ms timer fires late: about
 * half the reads of a 300,000-line burst found the socket full (the daemon had waited), and into
 * Elasticsearch the agent kept 0.88-0.95 of a raw follower's rate (4 alternating pairs) against
 * 0.94-1.02 at 4 KiB (7 runs), CPU per line the same.
 */
const REST_MS = 1;
const REST_BELOW_BYTES = 4 * 1024;

/** The streams resting now, woken together by one timer. */
const resting = new Set<SocketByteStream>();
let restTimer: NodeJS.Timeout | undefined;

function rest(stream: SocketByteStream): void {
  resting.add(stream);
  restTimer ??= setTimeout(wakeResting, REST_MS);
}

function wakeResting(): void {
  restTimer = undefined;
  const streams = [...resting];
  resting.clear();
  for (const stream of streams) stream.wake();
}

type Phase =
  | { readonly name: 'head' }
  | { readonly name: 'errorBody'; readonly statusCode: number; readonly parts: Buffer[]; size: number }
  | { readonly name: 'open' }
  | { readonly name: 'closed' };

/** How a byte stream gets its socket: one that hands each read to `onRead`, or one read through 'data' events. */
export interface SocketSource {
  connect(onRead: (bytes: Buffer) => void): Socket;
  readonly readsAsStream: boolean;
}

/**
 * Connects, sends `requestText` and resolves with the body once the daemon answered 200. `what`
 * names the request in errors ("GET /containers/x/logs").
 */
export function openByteStream(source: SocketSource, requestText: string, what: string, signal?: AbortSignal): Promise<ByteStream> {
  return new Promise((resolve, reject) => {
    let stream: SocketByteStream | undefined = undefined;
    const socket = source.connect((bytes) => stream!.onRead(bytes, false));
    stream = new SocketByteStream(socket, what, signal, resolve, reject);
    stream.send(requestText, source.readsAsStream);
  });
}

class SocketByteStream implements ByteStream {
  private phase: Phase = { name: 'head' };
  private readonly parser: ResponseParser;
  private sink: ByteSink | undefined;
  private paused = true;
  /** A socket read not parsed to its end yet (paused, or body bytes before a reader came). */
  private pending: { buf: Buffer; at: number } | undefined;
  private parsing = false;
  /**
   * Whether it rests at all: only a socket read through `onread` stops reading the kernel when
   * paused. A socket read as a stream (TLS) goes on reading into its own queue and hands on one
   * queued chunk per resume: resting after each would only slow it (one TLS record a millisecond).
   */
  private rests = false;
  private closed = false;
  /** How the stream ended before anyone read it (an empty body, a connection reset): told on `read()`. */
  private endedUnread: { readonly error: unknown } | undefined;
  private readonly onAbort = () => this.fail(abortError(this.signal));

  constructor(
    private readonly socket: Socket,
    private readonly what: string,
    private readonly signal: AbortSignal | undefined,
    private resolveOpen: ((stream: ByteStream) => void) | undefined,
    private rejectOpen: ((error: unknown) => void) | undefined,
  ) {
    this.parser = new ResponseParser({
      head: (head) => this.onHead(head),
      body: (buf, start, end) => this.onBody(buf, start, end),
      end: () => this.onBodyEnd(),
    });
  }

  send(requestText: string, readsAsStream: boolean): void {
    if (this.signal?.aborted) return this.fail(abortError(this.signal));
    this.signal?.addEventListener('abort', this.onAbort, { once: true });
    this.rests = !readsAsStream;
    if (readsAsStream) this.socket.on('data', (buf: Buffer) => this.onRead(buf, true));
    // Reads go to onRead; flowing all the same, so that the socket's end is seen ('end', then 'close').
    else this.socket.resume();
    this.socket.on('error', (error) => this.fail(error));
    this.socket.on('close', () => this.fail(this.parser.close() ?? new Error(`${this.what}: the daemon closed the connection`)));
    this.socket.write(requestText);
  }

  get isPaused(): boolean {
    return this.paused;
  }

  get destroyed(): boolean {
    return this.closed;
  }

  read(sink: ByteSink): void {
    if (this.sink) throw new Error('a byte stream is read once');
    this.sink = sink;
    const ended = this.endedUnread;
    this.endedUnread = undefined;
    if (ended) sink.end(ended.error);
    else this.resume();
  }

  pause(): void {
    if (this.paused || this.closed) return;
    this.paused = true;
    this.parser.stop();
    this.socket.pause();
  }

  resume(): void {
    if (!this.paused || this.closed || !this.sink) return;
    this.paused = false;
    // Called from a sink callback (re-entrant): the running parse loop goes on by itself.
    if (this.parsing) return;
    const pending = this.pending;
    this.pending = undefined;
    if (pending) this.parse(pending.buf, pending.at);
    else if (!this.isResting) this.socket.resume();
  }

  /** Left unread a moment after a small read, for the next read to bring more (see REST_MS). */
  private get isResting(): boolean {
    return resting.has(this);
  }

  /** The rest after a small read is over (it has left `resting`). */
  wake(): void {
    if (!this.closed && !this.paused && this.sink) this.socket.resume();
  }

  destroy(): void {
    this.close();
  }

  /** One socket read. `owned`: the buffer is the read's own; otherwise it is reused after this call, and what is kept is copied. */
  onRead(buf: Buffer, owned: boolean): void {
    this.parse(buf, 0);
    const pending = this.pending;
    if (!owned && pending !== undefined && pending.buf === buf) this.pending = { buf: Buffer.from(buf.subarray(pending.at)), at: 0 };
  }

  /** Parses one socket read from `at`; what the reader cannot take now is kept in `pending` and the socket paused. */
  private parse(buf: Buffer, at: number): void {
    this.parsing = true;
    try {
      let i = at;
      while (i < buf.length && !this.closed && !this.parser.complete) {
        if (this.mustWait()) {
          this.pending = { buf, at: i };
          this.socket.pause();
          return;
        }
        i = this.parser.push(buf, i, buf.length);
      }
      if (!this.closed && !this.paused && this.sink) this.readOn(buf.length - at);
    } catch (error) {
      // A sink that throws (bytes out of step) or bytes that are not HTTP: the stream is over.
      this.fail(error);
    } finally {
      this.parsing = false;
    }
  }

  /** Reads on after `readBytes` were parsed: at once after a large read (more is waiting), after a rest after a small one. */
  private readOn(readBytes: number): void {
    if (this.isResting) return;
    if (!this.rests || this.phase.name !== 'open' || readBytes >= REST_BELOW_BYTES) {
      this.socket.resume();
      return;
    }
    this.socket.pause();
    rest(this);
  }

  /** Whether the parser stopped for the reader: paused, or the body begins before anyone reads it. */
  private mustWait(): boolean {
    return this.phase.name === 'open' && (this.paused || !this.sink);
  }

  private onHead(head: ResponseHead): void {
    if (head.statusCode === 200) {
      this.phase = { name: 'open' };
      const resolve = this.resolveOpen;
      this.resolveOpen = this.rejectOpen = undefined;
      resolve?.(this);
      return;
    }
    this.phase = { name: 'errorBody', statusCode: head.statusCode, parts: [], size: 0 };
  }

  private onBody(buf: Buffer, start: number, end: number): void {
    const phase = this.phase;
    if (phase.name === 'open') {
      this.sink!.bytes(buf, start, end);
      return;
    }
    if (phase.name === 'errorBody' && phase.size < MAX_ERROR_BODY) {
      phase.parts.push(Buffer.from(buf.subarray(start, Math.min(end, start + MAX_ERROR_BODY - phase.size))));
      phase.size += end - start;
    }
  }

  private onBodyEnd(): void {
    const phase = this.phase;
    if (phase.name === 'errorBody') {
      this.fail(new DockerHttpError(this.what, phase.statusCode, Buffer.concat(phase.parts)));
      return;
    }
    this.close();
    this.tellEnd(undefined);
  }

  /** Ends the stream with `error`: the open promise rejects, or the reader hears of it. */
  private fail(error: unknown): void {
    if (this.closed) return;
    const reject = this.rejectOpen;
    this.close();
    if (reject) reject(error);
    else this.tellEnd(error);
  }

  /** The reader hears how the stream ended, now or when it starts reading. */
  private tellEnd(error: unknown): void {
    if (this.sink) this.sink.end(error);
    else this.endedUnread = { error };
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.phase = { name: 'closed' };
    // Closed from a sink callback: the parse loop hands on nothing more.
    this.parser.stop();
    this.pending = undefined;
    resting.delete(this);
    this.resolveOpen = this.rejectOpen = undefined;
    this.signal?.removeEventListener('abort', this.onAbort);
    this.socket.destroy();
  }
}
