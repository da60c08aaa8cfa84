/**
 * One server-sent-events connection with a bounded send buffer. Sending never waits: what the
 * socket has not taken yet counts against `maxBufferedBytes`, and a client that falls that far
 * behind is sent a final `dropped` event and closed. A slow browser loses its view, never slows
 * the pipeline that feeds it.
 */
export interface SseSettings {
  /** Bytes written but not yet taken by the socket, at most, before the client is dropped. */
  readonly maxBufferedBytes: number;
  /** A comment line this often keeps proxies from closing an idle stream. */
  readonly heartbeatMs: number;
  /** Streams open at once, at most (the live page's routes answer 503 past it): each holds a socket, a timer and up to maxBufferedBytes. */
  readonly maxStreams?: number;
}

export const SSE_DEFAULTS: SseSettings = { maxBufferedBytes: 1024 * 1024, heartbeatMs: 15_000, maxStreams: 32 };

export type SseState = 'open' | 'dropped' | 'closed';

/** One event as bytes: JSON escapes every line break, so `data` stays one `data:` line whatever it holds. */
export function sseFrame(event: string, data: unknown): Buffer {
  return Buffer.from(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`, 'utf8');
}

/** The parts of a ServerResponse an SSE client writes to (tests pass a fake). */
export interface SseSink {
  writeHead(status: number, headers: Record<string, string>): unknown;
  write(chunk: string | Buffer): unknown;
  end(): unknown;
  readonly writableLength: number;
  on(event: 'close' | 'error', listener: () => void): unknown;
}

export class SseClient {
  private current: SseState = 'open';
  private readonly heartbeat: NodeJS.Timeout;
  private readonly closeListeners: (() => void)[] = [];

  constructor(private readonly sink: SseSink, private readonly settings: SseSettings = SSE_DEFAULTS) {
    sink.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      connection: 'keep-alive',
    });
    sink.write(': open\n\n');
    this.heartbeat = setInterval(() => this.write(': keep-alive\n\n'), settings.heartbeatMs);
    this.heartbeat.unref();
    sink.on('close', () => this.finish('closed'));
    sink.on('error', () => this.finish('closed'));
  }

  get state(): SseState {
    return this.current;
  }

  /** Called once when the client goes away, dropped or closed. */
  onClose(listener: () => void): void {
    this.closeListeners.push(listener);
  }

  /** Queues one event; `data` is JSON-encoded (one line, whatever it holds). */
  send(event: string, data: unknown): void {
    this.sendFrame(sseFrame(event, data));
  }

  /** Queues an event encoded once by sseFrame (the same bytes for every client). */
  sendFrame(frame: Buffer): void {
    this.write(frame);
  }

  /** Ends the stream with a last `dropped` event telling why (written past the limit: it is the last). */
  drop(reason: string): void {
    if (this.current !== 'open') return;
    this.sink.write(`event: dropped\ndata: ${JSON.stringify({ reason })}\n\n`);
    this.sink.end();
    this.finish('dropped');
  }

  close(): void {
    if (this.current !== 'open') return;
    this.sink.end();
    this.finish('closed');
  }

  private write(chunk: string | Buffer): void {
    if (this.current !== 'open') return;
    if (this.sink.writableLength + (typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length) > this.settings.maxBufferedBytes) {
      this.drop(`this page fell more than ${this.settings.maxBufferedBytes} bytes behind; reload to follow again`);
      return;
    }
    this.sink.write(chunk);
  }

  private finish(state: SseState): void {
    if (this.current !== 'open') return;
    this.current = state;
    clearInterval(this.heartbeat);
    for (const listener of this.closeListeners.splice(0)) listener();
  }
}
