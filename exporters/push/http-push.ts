/**
 * The HTTP client of the push exporters (OTLP/HTTP, Loki): one POST per batch over keep-alive
 * connections, any answer returned as it came (the exporter decides what a status means), and
 * no answer at all turned into a RetryableError for the exporter runner to retry.
 */
import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import { PermanentError, RetryableError, errorMessage } from '../../src/errors.js';
import { sleep } from '../../src/util/backoff.js';
import { urlWithoutCredentials } from '../../src/util/mask-url.js';
import { MAX_RETRY_AFTER_MS } from '../../src/pipeline/exporter-runner.js';

export interface PushTls {
  /** PEM of the CA that signed the server's certificate; the system's CAs when absent. */
  readonly ca?: string | undefined;
  /** PEM client certificate and key, for mutual TLS. */
  readonly cert?: string | undefined;
  readonly key?: string | undefined;
  readonly verify: boolean;
}

export interface PushTarget {
  readonly url: string;
  /** Sent with every request (tenant, authorization, user headers): never logged. */
  readonly headers: Readonly<Record<string, string>>;
  readonly tls: PushTls;
  readonly timeoutMs: number;
}

export interface PushAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** Answer bodies past this are cut: push APIs answer in a few bytes, an error page must not fill memory. */
const MAX_ANSWER_BYTES = 1024 * 1024;
const PROBE_INTERVAL_MS = 250;
const PROBE_TIMEOUT_MS = 1000;

export class HttpPushClient {
  private readonly url: URL;
  private readonly agent: http.Agent;
  /** The URL as it may appear in messages: without user info. */
  readonly displayUrl: string;

  constructor(private readonly target: PushTarget) {
    this.url = new URL(target.url);
    this.displayUrl = urlWithoutCredentials(this.url);
    const tls = target.tls;
    this.agent = this.url.protocol === 'https:'
      ? new https.Agent({ keepAlive: true, ca: tls.ca, cert: tls.cert, key: tls.key, rejectUnauthorized: tls.verify })
      : new http.Agent({ keepAlive: true });
  }

  /** POSTs `body`; resolves with any answer, rejects with RetryableError when none came. */
  post(body: Buffer, headers: Readonly<Record<string, string>>): Promise<PushAnswer> {
    return this.request('POST', this.url, { ...this.target.headers, ...headers, 'content-length': String(body.length) }, body, this.target.timeoutMs);
  }

  /** Resolves once the server answers anything again (or `signal` aborts): for Exporter.whenAnswering. */
  async whenAnswering(signal: AbortSignal): Promise<void> {
    const origin = new URL('/', this.url);
    while (!signal.aborted) {
      try {
        await this.request('GET', origin, { ...this.target.headers }, undefined, PROBE_TIMEOUT_MS);
        return;
      } catch {
        await sleep(PROBE_INTERVAL_MS, signal);
      }
    }
  }

  close(): void {
    this.agent.destroy();
  }

  /**
   * One request with two limits: `timeoutMs` of socket silence, and `timeoutMs` from the start to the
   * end of the answer (a receiver or proxy trickling bytes would otherwise hold the export forever).
   */
  private request(method: string, url: URL, headers: Record<string, string>, body: Buffer | undefined, timeoutMs: number): Promise<PushAnswer> {
    const transport = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const fail = (error: unknown) => {
        clearTimeout(deadline);
        reject(new RetryableError(`${method} ${this.displayUrl}: no answer: ${errorMessage(error)}`, { cause: error }));
      };
      const req = transport.request(url, { method, headers, agent: this.agent, timeout: timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          if (size < MAX_ANSWER_BYTES) chunks.push(chunk);
          size += chunk.length;
        });
        res.on('end', () => {
          clearTimeout(deadline);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).subarray(0, MAX_ANSWER_BYTES) });
        });
        res.on('error', fail);
      });
      const deadline = setTimeout(() => {
        const error = new Error(`no complete answer within ${timeoutMs} ms`);
        fail(error);
        req.destroy(error);
      }, timeoutMs);
      req.on('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
      req.on('error', fail);
      req.end(body);
    });
  }
}

/**
 * Retry-After as milliseconds: delay-seconds or an HTTP-date, at most MAX_RETRY_AFTER_MS; undefined
 * when absent or unreadable (a negative number is neither form). The runner sets the floor.
 */
export function retryAfterMs(header: string | readonly string[] | undefined, now = Date.now()): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  if (/^\s*\d+(\.\d+)?\s*$/.test(value)) return Math.min(MAX_RETRY_AFTER_MS, Number(value) * 1000);
  // An HTTP-date names its weekday or month; Date.parse would also read '-5' as a year.
  if (!/[a-z]/i.test(value)) return undefined;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.min(MAX_RETRY_AFTER_MS, Math.max(0, at - now));
}

/**
 * The statuses a push exporter retries: 429, every 5xx, 408, and what an operator fixes later (401,
 * 403: credentials or privileges; 404: a wrong path or proxy). Dead-lettering those would release
 * the acks of everything sent meanwhile into a file that rotates.
 */
export function isRetryablePushStatus(status: number): boolean {
  return status === 429 || status >= 500 || status === 401 || status === 403 || status === 404 || status === 408;
}

/**
 * The error an answer means, or undefined for a 2xx: RetryableError (with the server's Retry-After)
 * when `isRetryable(status)`, PermanentError otherwise. The message carries the status and the
 * start of the body, which is the server's own words on what went wrong.
 */
export function statusError(answer: PushAnswer, what: string, isRetryable: (status: number) => boolean): RetryableError | PermanentError | undefined {
  if (answer.status >= 200 && answer.status < 300) return undefined;
  const text = answer.body.subarray(0, 300).toString('utf8').replace(/\s+/g, ' ').trim();
  const message = `${what}: HTTP ${answer.status}${text ? `: ${text}` : ''}`;
  if (!isRetryable(answer.status)) return new PermanentError(message);
  const after = retryAfterMs(answer.headers['retry-after']);
  return new RetryableError(message, after === undefined ? {} : { retryAfterMs: after });
}
