/**
 * A lean, read-only Docker Engine API client: the few GETs the agent makes, over a unix socket,
 * TCP or TCP+TLS (src/docker/endpoint.ts). Read-only by construction: every request goes through
 * `request()`, which refuses anything but GET and HEAD before a socket is opened (ReadOnlyViolation).
 *
 * Plain requests (JSON answers) have a timeout; streams (events, stats, logs) have none and end
 * through their abort signal. Any answer but 2xx is a DockerHttpError with `statusCode` and the
 * daemon's message. The log stream skips node:http: see byte-stream.ts.
 *
 * Answer types come from @types/dockerode as types only (no runtime cost).
 */
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import net, { type Socket } from 'node:net';
import tls from 'node:tls';
import type Docker from 'dockerode';
import { ReadOnlyViolation } from '../errors.js';
import { openByteStream, type ByteStream } from './byte-stream.js';
import type { DockerEndpoint } from './endpoint.js';
import { DockerHttpError } from './http-error.js';

export { DockerHttpError } from './http-error.js';
export type { ByteStream, ByteSink } from './byte-stream.js';

export type QueryValue = string | number | boolean | object | undefined;
export type Query = Readonly<Record<string, QueryValue>>;

export interface CallOptions {
  readonly signal?: AbortSignal | undefined;
  /** Overrides the client's timeout for this plain request. */
  readonly timeoutMs?: number | undefined;
}

export interface ClientOptions {
  /** Negotiated API version: paths are prefixed with /v{version}. Unversioned without. */
  readonly apiVersion?: string | undefined;
  /** Plain requests (not streams) that get no whole answer within this fail with code ETIMEDOUT. */
  readonly timeoutMs?: number | undefined;
  /** The setting behind `timeoutMs`, named in timeout errors. */
  readonly timeoutSetting?: string | undefined;
}

export interface ContainerTopBody {
  Titles?: string[];
  Processes?: string[][];
}

const KEEPALIVE_DELAY_MS = 30_000;

/**
 * Where every log stream's socket reads land (Transport.connect): reads happen one at a time on the
 * main thread and each is parsed before the next, and a stream that stops mid-read copies the rest.
 * Followed live, dockerd writes a few lines per read (~35,000 reads for 300,000 lines): a buffer
 * and a stream event each, without it.
 */
const sharedReadBuffer = Buffer.allocUnsafe(64 * 1024);

/** Transport details of an endpoint, shared by the clients made for it. */
class Transport {
  readonly agent: http.Agent;
  readonly requestOptions: http.RequestOptions;
  readonly hostHeader: string;
  private readonly tlsOptions: tls.ConnectionOptions | undefined;

  constructor(readonly endpoint: DockerEndpoint) {
    if (endpoint.kind === 'unix') {
      // A unix socket connects for nearly nothing: no idle connections kept.
      this.agent = new http.Agent({ keepAlive: false });
      this.requestOptions = { socketPath: endpoint.socketPath };
      this.hostHeader = 'localhost';
      return;
    }
    this.hostHeader = `${endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host}:${endpoint.port}`;
    this.requestOptions = { host: endpoint.host, port: endpoint.port };
    const material = endpoint.tls;
    if (!material) {
      this.agent = new http.Agent({ keepAlive: true });
      return;
    }
    this.tlsOptions = {
      ...(material.ca ? { ca: material.ca } : {}),
      ...(material.cert ? { cert: material.cert } : {}),
      ...(material.key ? { key: material.key } : {}),
      rejectUnauthorized: material.verify,
      ...(net.isIP(endpoint.host) ? {} : { servername: endpoint.host }),
    };
    this.agent = new https.Agent({ keepAlive: true, ...this.tlsOptions });
  }

  get secure(): boolean {
    return this.tlsOptions !== undefined;
  }

  /**
   * A fresh connection of its own (for the log stream, read off the socket). Unless TLS is on, the
   * socket is read into one buffer shared by every such connection and `onRead` gets each read's
   * bytes (valid during the call): no buffer allocated and no stream event per read. With TLS (Node
   * reads TLS sockets only as streams) the caller listens for 'data' itself.
   */
  connect(onRead: (bytes: Buffer) => void): Socket {
    const endpoint = this.endpoint;
    const onread = { buffer: sharedReadBuffer, callback: (length: number, buffer: Uint8Array) => { onRead((buffer as Buffer).subarray(0, length)); return true; } };
    if (endpoint.kind === 'unix') return net.connect({ path: endpoint.socketPath, onread });
    // A follow stream may be quiet for hours: TCP keep-alive notices a peer that went away meanwhile.
    const options = { host: endpoint.host, port: endpoint.port, keepAlive: true, keepAliveInitialDelay: KEEPALIVE_DELAY_MS };
    return this.tlsOptions ? tls.connect({ ...options, ...this.tlsOptions }) : net.connect({ ...options, onread });
  }

  /** Whether connect()'s sockets are read as streams ('data' events) rather than through onRead. */
  get readsAsStream(): boolean {
    return this.tlsOptions !== undefined;
  }
}

export class DockerClient {
  private readonly transport: Transport;

  constructor(endpoint: DockerEndpoint | Transport, private readonly options: ClientOptions = {}) {
    this.transport = endpoint instanceof Transport ? endpoint : new Transport(endpoint);
  }

  get endpoint(): DockerEndpoint {
    return this.transport.endpoint;
  }

  get apiVersion(): string | undefined {
    return this.options.apiVersion;
  }

  /** A client for the same endpoint (and connections) with other options. */
  withOptions(options: ClientOptions): DockerClient {
    return new DockerClient(this.transport, options);
  }

  /**
   * The one way a request leaves: GET or HEAD, else ReadOnlyViolation before any socket opens.
   * Resolves with the answer once its head is in (2xx), rejects with DockerHttpError otherwise.
   */
  request(method: string, path: string, query?: Query, options: { readonly signal?: AbortSignal | undefined } = {}): Promise<IncomingMessage> {
    const verb = method.toUpperCase();
    if (verb !== 'GET' && verb !== 'HEAD') return Promise.reject(new ReadOnlyViolation(verb, path));
    const what = `${verb} ${path}`;
    return new Promise<IncomingMessage>((resolve, reject) => {
      const module = this.transport.secure ? https : http;
      const request = module.request({
        ...this.transport.requestOptions,
        agent: this.transport.agent,
        method: verb,
        path: this.target(path, query),
        ...(options.signal ? { signal: options.signal } : {}),
      }, (response) => {
        const status = response.statusCode ?? 0;
        if (status >= 200 && status < 300) return resolve(response);
        readBody(response).then((body) => reject(new DockerHttpError(what, status, body)), reject);
      });
      request.on('error', reject);
      request.end();
    });
  }

  /** A plain request: the whole answer (within the timeout), parsed as JSON when it says it is JSON, else its text. */
  async get<T>(path: string, query?: Query, options: CallOptions = {}): Promise<T> {
    const timeoutMs = options.timeoutMs ?? this.options.timeoutMs;
    if (!timeoutMs) return this.getWhole<T>(path, query, options.signal);
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), timeoutMs);
    try {
      return await this.getWhole<T>(path, query, options.signal ? AbortSignal.any([options.signal, timeout.signal]) : timeout.signal);
    } catch (error) {
      if (timeout.signal.aborted && !options.signal?.aborted) throw this.timeoutError(`GET ${path}`, timeoutMs);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  private async getWhole<T>(path: string, query: Query | undefined, signal: AbortSignal | undefined): Promise<T> {
    const response = await this.request('GET', path, query, { signal });
    const text = (await readBody(response)).toString('utf8');
    if (/json/i.test(response.headers['content-type'] ?? '')) return JSON.parse(text) as T;
    return text as T;
  }

  /** A streamed answer (events, stats): no timeout, ended by `signal` or by destroying it. */
  stream(path: string, query: Query | undefined, signal: AbortSignal | undefined): Promise<IncomingMessage> {
    return this.request('GET', path, query, { signal });
  }

  ping(options?: CallOptions): Promise<string> {
    return this.get<string>('/_ping', undefined, options);
  }

  version(options?: CallOptions): Promise<Docker.DockerVersion> {
    return this.get('/version', undefined, options);
  }

  info(options?: CallOptions): Promise<Record<string, unknown>> {
    return this.get('/info', undefined, options);
  }

  listContainers(query: Query = {}, options?: CallOptions): Promise<Docker.ContainerInfo[]> {
    return this.get('/containers/json', query, options);
  }

  inspectContainer(id: string, options?: CallOptions): Promise<Docker.ContainerInspectInfo> {
    return this.get(`/containers/${encodeURIComponent(id)}/json`, undefined, options);
  }

  /** One stats sample (`one-shot`: without waiting for a second sample to compute CPU usage). */
  containerStats(id: string, options?: CallOptions & { readonly oneShot?: boolean }): Promise<unknown> {
    return this.get(`/containers/${encodeURIComponent(id)}/stats`, { stream: false, ...(options?.oneShot ? { 'one-shot': true } : {}) }, options);
  }

  /** Stats as a stream of JSON documents, one a second. */
  containerStatsStream(id: string, signal: AbortSignal | undefined): Promise<IncomingMessage> {
    return this.stream(`/containers/${encodeURIComponent(id)}/stats`, { stream: true }, signal);
  }

  containerTop(id: string, psArgs: string | undefined, options?: CallOptions): Promise<ContainerTopBody> {
    return this.get(`/containers/${encodeURIComponent(id)}/top`, psArgs ? { ps_args: psArgs } : undefined, options);
  }

  systemDf(options?: CallOptions): Promise<unknown> {
    return this.get('/system/df', undefined, options);
  }

  listVolumes(options?: CallOptions): Promise<{ Volumes?: unknown[] | null }> {
    return this.get('/volumes', undefined, options);
  }

  listNetworks(options?: CallOptions): Promise<unknown[]> {
    return this.get('/networks', undefined, options);
  }

  /** The events stream (concatenated JSON objects). */
  events(query: Query, signal: AbortSignal | undefined): Promise<IncomingMessage> {
    return this.stream('/events', query, signal);
  }

  /**
   * GET /containers/{id}/logs on a connection of its own, its answer read off the socket: the body
   * (multiplexed frames, or raw bytes for a TTY container) as ranges of the socket's buffers.
   */
  logs(id: string, query: Query, signal: AbortSignal | undefined): Promise<ByteStream> {
    const path = `/containers/${encodeURIComponent(id)}/logs`;
    const requestText = `GET ${this.target(path, query)} HTTP/1.1\r\nHost: ${this.transport.hostHeader}\r\nUser-Agent: dockhand\r\nConnection: close\r\n\r\n`;
    return openByteStream(this.transport, requestText, `GET ${path}`, signal);
  }

  private target(path: string, query: Query | undefined): string {
    const version = this.options.apiVersion;
    return `${version ? `/v${version}` : ''}${path}${queryString(query)}`;
  }

  private timeoutError(what: string, timeoutMs: number): Error {
    const setting = this.options.timeoutSetting ? ` (${this.options.timeoutSetting})` : '';
    return Object.assign(new Error(`no answer to ${what} within ${timeoutMs} ms${setting}`), { code: 'ETIMEDOUT' });
  }
}

/** Booleans as true/false, objects (filters) as JSON, undefined left out. */
export function queryString(query: Query | undefined): string {
  if (!query) return '';
  const parts: string[] = [];
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined) continue;
    const text = typeof value === 'object' ? JSON.stringify(value) : String(value);
    parts.push(`${encodeURIComponent(key)}=${encodeURIComponent(text)}`);
  }
  return parts.length > 0 ? `?${parts.join('&')}` : '';
}

async function readBody(response: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of response) parts.push(part as Buffer);
  return Buffer.concat(parts);
}
