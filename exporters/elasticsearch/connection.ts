/**
 * The official client's transport, set up for an agent that does its own retrying, plus what the exporter needs
 * around it: negotiating the media type with the server's major version, sorting failures into
 * "try again" and "give up", and scrubbing secrets from anything that reaches a log or /status.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { urlWithoutCredentials } from '../../src/util/mask-url.js';
import { retryAfterMs } from '../push/http-push.js';
import { readAllStored } from './bulk.js';
import type { Credentials } from './config.js';
import { transportParts, type SerializerClass, type Transport } from './transport.js';

/** The transport's request parameters (method, path, body or bulkBody, querystring). */
export type TransportRequestParams = Parameters<Transport['request']>[0];
type TransportRequestOptions = NonNullable<Parameters<Transport['request']>[1]>;

export interface ConnectionSettings {
  readonly urls: readonly string[];
  readonly credentials: Credentials;
  readonly ca: string | undefined;
  readonly tlsVerify: boolean;
  readonly compression: boolean;
  readonly requestTimeoutMs: number;
  readonly agentVersion: string;
}

export interface EsResponse<T> {
  readonly statusCode: number;
  readonly body: T;
  readonly headers: IncomingHttpHeaders;
}

export interface RequestOptions {
  readonly signal?: AbortSignal;
  /** Statuses answered as results instead of thrown (e.g. 404 for "not there yet"). */
  readonly ignore?: number[];
}

/** What went wrong with one request, in words fit for a log line (no secrets). */
export interface Failure {
  /** Worth sending again later: connection trouble, timeouts, 429, 5xx, authentication or privileges. */
  readonly retryable: boolean;
  readonly status: number | undefined;
  readonly type: string | undefined;
  readonly reason: string;
  readonly retryAfterMs: number | undefined;
  /**
   * The answer came from Elasticsearch itself: its `x-elastic-product` header and its error
   * envelope. Otherwise something in front of it (a proxy, a gateway) answered, or nothing did.
   */
  readonly fromElasticsearch: boolean;
}

type MediaTypes = { json: string; ndjson: string; accept: string } | undefined;

const gzip = promisify(zlib.gzip);
/**
 * Bulk bodies are gzipped here at level 1 (Beats' default) rather than by the client at zlib's
 * default 6: a third of the CPU (3 ms instead of 9 ms per 650 KB of log documents) for ~20% more bytes.
 */
const BULK_GZIP_LEVEL = 1;

/** What the official client sends until a version is negotiated (and to Elasticsearch 9 and later). */
const CLIENT_MEDIA_TYPES = {
  jsonContentType: 'application/vnd.elasticsearch+json; compatible-with=9',
  ndjsonContentType: 'application/vnd.elasticsearch+x-ndjson; compatible-with=9',
  accept: 'application/vnd.elasticsearch+json; compatible-with=9,text/plain',
};

export class EsConnection {
  private readonly transport: Transport;
  private readonly pool: { empty(): Promise<void> };
  private mediaTypes: MediaTypes;
  private negotiated = false;
  private readonly gzipBulk: boolean;

  /**
   * The official client's transport set up as `new Client()` sets it up (product check, media
   * types, weighted pool over every node), with node:http keep-alive connections instead of undici.
   */
  constructor(settings: ConnectionSettings) {
    this.gzipBulk = settings.compression;
    const { Transport, HttpConnection, WeightedConnectionPool, Serializer, Diagnostic } = transportParts();
    const { credentials } = settings;
    const auth = credentials.kind === 'api_key' ? { apiKey: credentials.apiKey }
      : credentials.kind === 'basic' ? { username: credentials.username, password: credentials.password } : undefined;
    const tls = { ...(settings.ca ? { ca: settings.ca } : {}), rejectUnauthorized: settings.tlsVerify };
    const headers = { 'user-agent': `dockhand/${settings.agentVersion}` };
    const diagnostic = new Diagnostic();
    const pool = new WeightedConnectionPool({ Connection: HttpConnection, tls, diagnostic, ...(auth ? { auth } : {}) });
    pool.addConnection(settings.urls.map((url) => ({ url: new URL(url), tls, headers, timeout: settings.requestTimeoutMs, ...(auth ? { auth } : {}) })));
    this.pool = pool;
    this.transport = new Transport({
      diagnostic,
      connectionPool: pool,
      serializer: new (bulkAnswerSerializer(Serializer))(),
      // One attempt per node: failing over is the transport's job, waiting and retrying is ours.
      maxRetries: Math.max(0, settings.urls.length - 1),
      requestTimeout: settings.requestTimeoutMs,
      compression: settings.compression,
      name: 'dockhand',
      headers,
      productCheck: 'Elasticsearch',
      vendoredHeaders: CLIENT_MEDIA_TYPES,
      // The client's own redaction copies an error's whole request, walking a bulk body byte by byte
      // (~1 s and ~1.8 s of GC for a 1.5 MB body each time a request fails during an outage):
      // send() takes the secrets out of a failed request itself.
      redaction: { type: 'off' },
    });
  }

  get isNegotiated(): boolean {
    return this.negotiated;
  }

  /**
   * Reads the server version with plain JSON (which every version accepts) and picks the media type
   * for what follows: client 9 sends compatible-with=9, which Elasticsearch 8 refuses.
   */
  async negotiate(signal?: AbortSignal): Promise<string> {
    const plain = { accept: 'application/json', 'content-type': 'application/json' };
    const response = await this.send<{ version?: { number?: string; distribution?: string } }>(
      { method: 'GET', path: '/' },
      { meta: true, headers: plain, ...(signal ? { signal } : {}) },
    );
    const number = response.body?.version?.number;
    if (typeof number !== 'string' || response.body.version?.distribution === 'opensearch') {
      throw new Error('the server did not answer GET / like Elasticsearch (no version.number)');
    }
    const major = Number.parseInt(number, 10);
    if (major >= 9) this.mediaTypes = undefined; // the client's own compatible-with=9
    else if (major === 8) this.mediaTypes = compatibleWith(8);
    else this.mediaTypes = { json: 'application/json', ndjson: 'application/x-ndjson', accept: 'application/json' };
    this.negotiated = true;
    return number;
  }

  /** GET / answered 2xx within `timeoutMs` (the cluster takes requests again); throws otherwise. */
  async ping(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    await this.send(
      { method: 'GET', path: '/' },
      { headers: { accept: 'application/json' }, requestTimeout: timeoutMs, maxRetries: 0, ...(signal ? { signal } : {}) },
    );
  }

  /** Forget the negotiated media type (the cluster may have been up- or downgraded). */
  renegotiate(): void {
    this.negotiated = false;
  }

  async request<T>(params: TransportRequestParams, options: RequestOptions = {}): Promise<EsResponse<T>> {
    let headers = this.headersFor(params);
    let compression: boolean | undefined;
    if (this.gzipBulk && (typeof params.bulkBody === 'string' || Buffer.isBuffer(params.bulkBody))) {
      // zlib's async gzip runs in the libuv pool, off the main thread.
      const plain = typeof params.bulkBody === 'string' ? Buffer.from(params.bulkBody) : params.bulkBody;
      params = { ...params, bulkBody: await gzip(plain, { level: BULK_GZIP_LEVEL }) };
      headers = { ...headers, 'content-encoding': 'gzip' };
      compression = false; // already done
    }
    const result = await this.send<T>(params, {
      meta: true,
      ...(compression === false ? { compression } : {}),
      ...(headers ? { headers } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.ignore ? { ignore: options.ignore } : {}),
    });
    return { statusCode: result.statusCode ?? 0, body: result.body, headers: result.headers ?? {} };
  }

  /** transport.request, with the request's headers, options, connection and body taken out of a failure. */
  private async send<T>(params: TransportRequestParams, options: TransportRequestOptions & { meta: true }): Promise<{ statusCode?: number | null; body: T; headers?: IncomingHttpHeaders | null }>;
  private async send<T>(params: TransportRequestParams, options: TransportRequestOptions): Promise<unknown>;
  private async send<T>(params: TransportRequestParams, options: TransportRequestOptions): Promise<unknown> {
    try {
      return await this.transport.request<T>(params, options);
    } catch (error) {
      throw withoutRequest(error);
    }
  }

  /**
   * Closes every connection once the requests on them are done. Requests aborted just before (the
   * exporter's stop) count as done a tick later; an HttpConnection still busy is polled every second.
   */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    await this.pool.empty();
  }

  private headersFor(params: TransportRequestParams): IncomingHttpHeaders | undefined {
    const types = this.mediaTypes;
    if (!types) return undefined;
    return { accept: types.accept, 'content-type': params.bulkBody !== undefined ? types.ndjson : types.json };
  }
}

/** The client's JSON, except that a bulk answer without item errors is only counted (bulk.ts, readAllStored). */
function bulkAnswerSerializer(Serializer: SerializerClass): SerializerClass {
  return class BulkAnswerSerializer extends Serializer {
    override deserialize<T = unknown>(json: string): T {
      return (readAllStored(json) ?? super.deserialize<T>(json)) as T;
    }
  };
}

function compatibleWith(major: number): NonNullable<MediaTypes> {
  return {
    json: `application/vnd.elasticsearch+json; compatible-with=${major}`,
    ndjson: `application/vnd.elasticsearch+x-ndjson; compatible-with=${major}`,
    accept: `application/vnd.elasticsearch+json; compatible-with=${major}`,
  };
}

/**
 * A failed request's diagnostics, as the client's redaction `remove` leaves them but with the answer's
 * headers (Retry-After, x-elastic-product) kept: no request headers (credentials), options,
 * connection (its URL and headers) or body. What is left is the answer.
 */
function withoutRequest(error: unknown): unknown {
  const diagnostic = (error as { meta?: { meta?: { request?: { params?: Record<string, unknown>; options?: unknown }; connection?: unknown } } } | null)?.meta;
  const request = diagnostic?.meta?.request;
  if (request) {
    if (request.params) request.params = { method: request.params.method, path: request.params.path };
    request.options = {};
  }
  if (diagnostic?.meta) diagnostic.meta.connection = null;
  return error;
}

/** Sorts a client error into retry-or-not, with a reason that names the cause and hides secrets. */
export function describeFailure(error: unknown, scrub: (text: string) => string): Failure {
  const { errors } = transportParts();
  if (error instanceof errors.ResponseError) {
    const status = error.statusCode;
    const body = error.body as { error?: { type?: string; reason?: string; caused_by?: { reason?: string } } | string } | string | undefined;
    const detail = typeof body === 'object' && body !== null ? body.error : body;
    const type = typeof detail === 'object' && detail !== null ? detail.type : undefined;
    const reason = typeof detail === 'object' && detail !== null
      ? [detail.reason, detail.caused_by?.reason].filter(Boolean).join(': ')
      : typeof detail === 'string' ? plainText(detail).slice(0, 300) : '';
    const retryable = status === undefined || status === 401 || status === 403 || status === 404 || status === 408 || status === 429 || status >= 500;
    const fromElasticsearch = error.headers?.['x-elastic-product'] === 'Elasticsearch' && typeof type === 'string';
    return {
      retryable,
      status,
      type,
      reason: scrub(`HTTP ${status ?? '?'}${type ? ` ${type}` : ''}${fromElasticsearch || status === undefined ? '' : ' (not from Elasticsearch: no x-elastic-product header)'}${reason ? `: ${reason}` : ''}`),
      retryAfterMs: retryAfterMs(error.headers?.['retry-after']),
      fromElasticsearch,
    };
  }
  if (error instanceof errors.ProductNotSupportedError) {
    return { retryable: true, status: undefined, type: 'product_not_supported', reason: 'the server is not Elasticsearch (no x-elastic-product header)', retryAfterMs: undefined, fromElasticsearch: false };
  }
  if (error instanceof errors.TimeoutError) {
    return { retryable: true, status: undefined, type: 'timeout', reason: scrub(`request timed out: ${error.message}`), retryAfterMs: undefined, fromElasticsearch: false };
  }
  if (error instanceof errors.ConnectionError || error instanceof errors.NoLivingConnectionsError) {
    const cause = (error as Error & { cause?: unknown }).cause;
    const code = (cause as { code?: string } | undefined)?.code;
    return { retryable: true, status: undefined, type: 'connection', reason: scrub(`connection failed${code ? ` (${code})` : ''}: ${error.message}`), retryAfterMs: undefined, fromElasticsearch: false };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { retryable: true, status: undefined, type: error instanceof Error ? error.name : undefined, reason: scrub(message), retryAfterMs: undefined, fromElasticsearch: false };
}

/** An HTML error page (a proxy's) as one line of its words. */
function plainText(text: string): string {
  return text.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim();
}

/** A node URL fit for /status: no credentials. */
export function publicUrl(url: string): string {
  try {
    return urlWithoutCredentials(new URL(url)).replace(/\/$/, '');
  } catch {
    return '[invalid url]';
  }
}
