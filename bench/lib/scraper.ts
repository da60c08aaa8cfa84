/**
 * A scraper as Prometheus is one: GET over one keep-alive connection, each answer read into
 * buffers kept from scrape to scrape, the body kept as bytes. node:http's client took a fresh 64 KiB
 * Buffer per socket read and a concat per answer: ~1.5 ms of CPU a 1 MiB answer on this machine,
 * more than the agent spent serving it, on the same two cores, and charged to the agent's latency.
 * Answers are read by the agent's own HTTP/1.1 response reader and must carry a content-length
 * (the agent's /metrics does), so that the kept buffer is sized before the body comes.
 */
import net from 'node:net';
import { ResponseParser } from '../../src/docker/http-response.js';

export interface Scraped {
  readonly status: number;
  /** The body: a view of the scraper's buffer, valid until the next scrape. */
  readonly body: Buffer;
}

const READ_BUFFER_BYTES = 256 * 1024;

interface Pending {
  readonly parser: ResponseParser;
  status: number;
  received: number;
  resolve(scraped: Scraped): void;
  reject(error: Error): void;
}

export class KeepAliveScraper {
  private socket: net.Socket | undefined;
  private readonly readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  private body = Buffer.allocUnsafe(2 * 1024 * 1024);
  private pending: Pending | undefined;
  private readonly request: Buffer;

  constructor(private readonly host: string, private readonly port: number, path: string) {
    this.request = Buffer.from(`GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nAccept: text/plain\r\n\r\n`, 'latin1');
  }

  async scrape(): Promise<Scraped> {
    if (this.pending) throw new Error('one scrape at a time');
    const socket = this.socket ?? (await this.connect());
    return new Promise((resolve, reject) => {
      this.pending = { parser: this.parser(), status: 0, received: 0, resolve, reject };
      socket.write(this.request);
    });
  }

  close(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }

  private connect(): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({
        host: this.host,
        port: this.port,
        onread: { buffer: this.readBuffer, callback: (length: number) => { this.onRead(length); return true; } },
      });
      socket.once('connect', () => {
        socket.off('error', reject);
        socket.on('error', (error) => this.fail(error));
        socket.on('close', () => this.fail(new Error('the agent closed the connection')));
        this.socket = socket;
        resolve(socket);
      });
      socket.once('error', reject);
    });
  }

  /** The agent's own HTTP/1.1 response reader (src/docker/http-response.ts) for the pending scrape, the body copied into the kept buffer. */
  private parser(): ResponseParser {
    return new ResponseParser({
      head: (head) => {
        const length = head.headers.get('content-length');
        if (length === undefined) throw new Error(`an answer without content-length (HTTP ${head.statusCode})`);
        if (this.body.length < Number(length)) this.body = Buffer.allocUnsafe(Number(length) * 2);
        this.pending!.status = head.statusCode;
      },
      body: (buf, start, end) => {
        const pending = this.pending!;
        buf.copy(this.body, pending.received, start, end);
        pending.received += end - start;
      },
      end: () => {
        const pending = this.pending!;
        this.pending = undefined;
        pending.resolve({ status: pending.status, body: this.body.subarray(0, pending.received) });
      },
    });
  }

  private onRead(length: number): void {
    const pending = this.pending;
    if (!pending) return this.fail(new Error('bytes from the agent with no request pending'));
    try {
      // push() returns at the end of the head too (a boundary): the rest of the read is pushed on.
      let at = 0;
      while (at < length && !pending.parser.complete) at = pending.parser.push(this.readBuffer, at, length);
      if (at < length) throw new Error('bytes past the end of the answer');
    } catch (error) {
      this.fail(error as Error);
    }
  }

  private fail(error: Error): void {
    const pending = this.pending;
    this.pending = undefined;
    this.close();
    pending?.reject(error);
  }
}
