/**
 * A Loki push endpoint for tests: `POST /loki/api/v1/push` decoded as Loki decodes it — protobuf
 * (snappy block compressed, decoded with snappyjs and the official message definitions in
 * proto/loki/push.proto through protobufjs, never with the exporter's own code) or JSON (gzip
 * optional) — and stored with the rules of Loki's ingester that matter to a shipper:
 *
 * - labels parsed from their `{name="value", …}` text (Go string escapes), names checked;
 * - an entry with the same timestamp and line as the stream's last entry or one in its open head
 *   block is dropped as a duplicate (counted), as Loki's ingester does; the head block is cut once
 *   its lines reach chunk_block_size (256 KiB), and an older repeat is stored twice, as in Loki: a
 *   replay after a crash must be recent enough to land as a duplicate;
 * - an entry older than the stream's newest minus the ordering window (max_chunk_age / 2, an hour
 *   by default) is ignored, the rest of the push stored, and the push answered 400 with Loki's
 *   text ("entry with timestamp … ignored, reason: 'entry too far behind…'");
 * - a line longer than max_line_size (256 KB by default, as Loki 3) is not stored, the rest of the
 *   push is, and the push answered 400 with Loki's text ("Max entry size … exceeded");
 * - structured metadata refused when the server is told so (Loki before 3, allow_structured_metadata off).
 *
 * Faults a test can switch on: refused connections (down), answers with a status (429 with
 * Retry-After, 500, 400) for a number of decoded requests, answers held back after storing (a client that
 * never hears the answer), required credentials. Everything lives in memory.
 */
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import protobuf from 'protobufjs';
import SnappyJS from 'snappyjs';
import { RefusableListener } from './refusable-listener.js';

const gunzip = promisify(zlib.gunzip);
const PROTO = fileURLToPath(new URL('../../../test/helpers/proto/loki/push.proto', import.meta.url));
export const PUSH_PATH = '/loki/api/v1/push';
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

let pushRequestType: protobuf.Type | undefined;

/** The official PushRequest message type, loaded once. */
export function pushRequestMessage(): protobuf.Type {
  pushRequestType ??= protobuf.loadSync(PROTO).lookupType('logproto.PushRequest');
  return pushRequestType;
}

export interface PushedEntry {
  readonly time: bigint;
  readonly line: string;
  readonly metadata: Readonly<Record<string, string>>;
}

export interface PushedStream {
  /** The labels text as sent. */
  readonly labelsText: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly entries: readonly PushedEntry[];
}

/** One push request as received (decoded), whatever the answer. */
export interface ReceivedPush {
  readonly headers: http.IncomingHttpHeaders;
  readonly streams: readonly PushedStream[];
}

export interface StoredEntry extends PushedEntry {
  /** The stream's labels, sorted and rendered as Loki keys streams. */
  readonly stream: string;
  readonly labels: Readonly<Record<string, string>>;
}

interface StoredStream {
  readonly labels: Readonly<Record<string, string>>;
  readonly entries: StoredEntry[];
  /** `time line` of the entries of the open head block (Loki de-duplicates against these only). */
  readonly head: Set<string>;
  /** Line bytes in the head block: cut (emptied) at headBlockBytes. */
  headBytes: number;
  /** `time line` of the last entry stored (Loki's stream.lastLine). */
  last: string | undefined;
  newest: bigint;
  /** Entries stored (kept in `entries` unless count-only). */
  count: number;
}

export interface FailureRule {
  readonly status: number;
  readonly body?: string;
  readonly retryAfterSeconds?: number;
  /** Answer this many requests so, then normally. */
  readonly count?: number;
}

export interface LokiServerOptions {
  /** How far behind a stream's newest entry an entry may be (Loki: max_chunk_age / 2). */
  readonly orderingWindowMs?: number;
  readonly allowStructuredMetadata?: boolean;
  /** Loki's ingester chunk_block_size: the head block is cut at this many line bytes (default 256 KiB). */
  readonly headBlockBytes?: number;
  /** Loki's limits_config.max_line_size in bytes (default 256 KB, as Loki 3; 0: none). */
  readonly maxLineBytes?: number;
  /** Benchmarks: entries are deduplicated and counted per stream, not kept. */
  readonly countOnly?: boolean;
}

export interface LokiCounters {
  pushes: number;
  entriesReceived: number;
  stored: number;
  duplicates: number;
  tooFarBehind: number;
  lineTooLong: number;
  faultsAnswered: number;
}

export class LokiTestServer {
  readonly counters: LokiCounters = { pushes: 0, entriesReceived: 0, stored: 0, duplicates: 0, tooFarBehind: 0, lineTooLong: 0, faultsAnswered: 0 };
  /** Every push answered: when (ms epoch), with what status, and its first entry (`labels time`: a resend of a batch has the same), in order. */
  readonly answers: { readonly at: number; readonly status: number; readonly first?: string }[] = [];
  /** Every push decoded, in arrival order (kept only when `recordPushes` is on). */
  readonly received: ReceivedPush[] = [];
  recordPushes = false;
  /** Times each (stream, time, line) arrived, stored or not. */
  private readonly arrivals = new Map<string, number>();
  private readonly streams = new Map<string, StoredStream>();
  private readonly server: http.Server;
  private readonly listener: RefusableListener;
  private closed = false;
  private failure: (FailureRule & { left: number }) | undefined;
  private holdAnswers = false;
  private readonly held = new Set<() => void>();
  private requiredAuth: string | undefined;
  private allowMetadata: boolean;
  private readonly windowNs: bigint;
  private readonly countOnly: boolean;
  private readonly maxLineBytes: number;
  private readonly headBlockBytes: number;

  private constructor(options: LokiServerOptions) {
    this.countOnly = options.countOnly ?? false;
    this.maxLineBytes = options.maxLineBytes ?? 256 * 1024;
    this.headBlockBytes = options.headBlockBytes ?? 256 * 1024;
    this.allowMetadata = options.allowStructuredMetadata ?? true;
    this.windowNs = BigInt(options.orderingWindowMs ?? 3_600_000) * 1_000_000n;
    this.server = http.createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 30_000;
    this.listener = new RefusableListener(this.server);
  }

  static async start(options: LokiServerOptions = {}): Promise<LokiTestServer> {
    const server = new LokiTestServer(options);
    await server.listener.accept();
    return server;
  }

  get url(): string {
    return this.listener.url;
  }

  get pushUrl(): string {
    return `${this.url}${PUSH_PATH}`;
  }

  // ---- faults --------------------------------------------------------------------------------

  /** Down: connections refused, open ones cut. */
  refuseConnections(): Promise<void> {
    return this.listener.refuse();
  }

  /** Back up on the same port. */
  async acceptConnections(): Promise<void> {
    if (!this.closed) await this.listener.accept();
  }

  /** Answers pushes with `rule.status` (before storing anything) until cleared or `count` ran out. */
  failRequests(rule: FailureRule | undefined): void {
    this.failure = rule ? { ...rule, left: rule.count ?? Number.POSITIVE_INFINITY } : undefined;
  }

  /** Stores pushes but holds their answers until released (the client never hears back). */
  holdResponses(on: boolean): void {
    this.holdAnswers = on;
    if (!on) {
      for (const release of this.held) release();
      this.held.clear();
    }
  }

  /** Requires this Authorization header value (undefined: none). */
  requireAuthorization(value: string | undefined): void {
    this.requiredAuth = value;
  }

  /** Stores an entry as if pushed: a stream whose newest entry is in the future refuses everything now as too far behind. */
  seed(labels: Readonly<Record<string, string>>, time: bigint, line: string): void {
    this.store([{ labelsText: renderLabels(labels), labels, entries: [{ time, line, metadata: {} }] }]);
  }

  allowStructuredMetadata(on: boolean): void {
    this.allowMetadata = on;
  }

  // ---- what was stored -----------------------------------------------------------------------

  /** Every stored entry, optionally of the streams whose labels pass `filter`. */
  entries(filter?: (labels: Readonly<Record<string, string>>) => boolean): StoredEntry[] {
    const out: StoredEntry[] = [];
    for (const stream of this.streams.values()) if (!filter || filter(stream.labels)) out.push(...stream.entries);
    return out;
  }

  /** Entries stored in the streams whose labels pass `filter` (count-only servers too). */
  storedIn(filter: (labels: Readonly<Record<string, string>>) => boolean): number {
    let count = 0;
    for (const stream of this.streams.values()) if (filter(stream.labels)) count += stream.count;
    return count;
  }

  /** Label sets of the streams stored, as Loki renders them. */
  streamNames(): string[] {
    return [...this.streams.keys()];
  }

  /** How often (stream labels, time, line) arrived, stored or dropped as a duplicate. */
  timesReceived(labels: Readonly<Record<string, string>>, time: bigint, line: string): number {
    return this.arrivals.get(arrivalKey(renderLabels(labels), time, line)) ?? 0;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.holdResponses(false);
    await this.listener.refuse();
  }

  // ---- the protocol --------------------------------------------------------------------------

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/ready') return answer(res, 200, 'ready\n');
    if (req.method !== 'POST' || path !== PUSH_PATH) return answer(res, 404, '404 page not found\n');
    this.counters.pushes++;
    let first: string | undefined;
    res.on('finish', () => this.answers.push({ at: Date.now(), status: res.statusCode, ...(first ? { first } : {}) }));
    if (this.requiredAuth !== undefined && req.headers.authorization !== this.requiredAuth) return answer(res, 401, 'Unauthorized\n');
    let streams: PushedStream[];
    try {
      streams = await decodePush(req.headers, body);
    } catch (error) {
      return answer(res, 400, `${(error as Error).message}\n`);
    }
    const head = streams.find((stream) => stream.entries.length > 0);
    if (head) first = `${renderLabels(head.labels)} ${head.entries[0]!.time}`;
    if (this.failure && this.failure.left > 0) {
      this.failure.left--;
      this.counters.faultsAnswered++;
      const { status, body: text, retryAfterSeconds } = this.failure;
      return answer(res, status, text ?? `fault injected: ${status}\n`, retryAfterSeconds === undefined ? {} : { 'retry-after': String(retryAfterSeconds) });
    }
    if (this.recordPushes) this.received.push({ headers: req.headers, streams });
    const refused = this.validate(streams);
    if (refused) return answer(res, 400, refused);
    const ignored = this.store(streams);
    if (this.holdAnswers) await new Promise<void>((resolve) => this.held.add(resolve));
    if (ignored.length > 0) return answer(res, 400, ignored.join('\n'));
    answer(res, 204, '');
  }

  /** What Loki's distributor refuses a whole push for, or undefined. */
  private validate(streams: readonly PushedStream[]): string | undefined {
    for (const stream of streams) {
      const names = Object.keys(stream.labels);
      if (names.length === 0) return `error at least one label pair is required per stream\n`;
      for (const name of names) if (!LABEL_NAME.test(name)) return `error parsing labels ${stream.labelsText}: invalid label name "${name}"\n`;
      if (!this.allowMetadata && stream.entries.some((e) => Object.keys(e.metadata).length > 0)) {
        return `stream '${renderLabels(stream.labels)}' includes structured metadata, but this feature is disallowed. Please see \`limits_config.allow_structured_metadata\` or contact your Loki administrator to enable it.\n`;
      }
    }
    return undefined;
  }

  private appendToHead(stream: StoredStream, own: string, line: string): void {
    stream.last = own;
    stream.head.add(own);
    stream.headBytes += Buffer.byteLength(line);
    if (stream.headBytes >= this.headBlockBytes) {
      stream.head.clear();
      stream.headBytes = 0;
    }
  }

  /** Stores what may be stored; returns Loki's lines for the entries ignored (per stream, as the ingester words them). */
  private store(streams: readonly PushedStream[]): string[] {
    const ignored: string[] = [];
    for (const pushed of streams) {
      const name = renderLabels(pushed.labels);
      let stream = this.streams.get(name);
      if (!stream) this.streams.set(name, stream = { labels: pushed.labels, entries: [], head: new Set(), headBytes: 0, last: undefined, newest: 0n, count: 0 });
      const failed: string[] = [];
      for (const entry of pushed.entries) {
        this.counters.entriesReceived++;
        const length = this.maxLineBytes > 0 ? Buffer.byteLength(entry.line) : 0;
        if (length > this.maxLineBytes) {
          // The distributor's check, before the ingester: the entry is skipped, the answer names the first such.
          this.counters.lineTooLong++;
          ignored.unshift(`Max entry size '${this.maxLineBytes}' bytes exceeded for stream '${name}' while adding an entry with length '${length}' bytes`);
          continue;
        }
        if (!this.countOnly) {
          const key = arrivalKey(name, entry.time, entry.line);
          this.arrivals.set(key, (this.arrivals.get(key) ?? 0) + 1);
        }
        const own = `${entry.time} ${entry.line}`;
        if (stream.last === own || stream.head.has(own)) {
          this.counters.duplicates++;
          continue;
        }
        const cutoff = stream.newest - this.windowNs;
        if (stream.newest > 0n && entry.time < cutoff) {
          this.counters.tooFarBehind++;
          failed.push(`entry with timestamp ${goTime(entry.time)} ignored, reason: 'entry too far behind, entry timestamp is: ${isoSeconds(entry.time)}, oldest acceptable timestamp is: ${isoSeconds(cutoff)}',`);
          continue;
        }
        this.appendToHead(stream, own, entry.line);
        stream.count++;
        if (!this.countOnly) stream.entries.push({ ...entry, stream: name, labels: pushed.labels });
        if (entry.time > stream.newest) stream.newest = entry.time;
        this.counters.stored++;
      }
      if (failed.length > 0) ignored.push(...failed.slice(0, 10), `user 'fake', total ignored: ${failed.length} out of ${pushed.entries.length} for stream: ${name}`);
    }
    return ignored;
  }
}

function answer(res: http.ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
  res.end(status === 204 ? undefined : text);
}

/** Decodes a push body as Loki does: JSON when the content type says so, else snappy-compressed protobuf. */
export async function decodePush(headers: http.IncomingHttpHeaders, body: Buffer): Promise<PushedStream[]> {
  const type = (headers['content-type'] ?? '').split(';')[0]!.trim();
  const encoding = headers['content-encoding'] ?? '';
  if (type === 'application/json') {
    if (encoding !== '' && encoding !== 'gzip') throw new Error(`Content-Encoding "${encoding}" not supported`);
    const text = (encoding === 'gzip' ? await gunzip(body) : body).toString('utf8');
    return decodeJson(text);
  }
  if (encoding !== '' && encoding !== 'snappy') throw new Error(`Content-Encoding "${encoding}" not supported`);
  let raw: Uint8Array;
  try {
    raw = SnappyJS.uncompress(body);
  } catch (error) {
    throw new Error(`snappy: corrupt input: ${(error as Error).message}`);
  }
  return decodeProtobuf(Buffer.from(raw));
}

/** The decoded message as protobufjs gives it (int64 as a Long, or a number when the long package is absent); unset fields are defaults. */
interface DecodedRequest {
  streams: { labels: string; entries: { timestamp?: { seconds: { toString(): string } | number; nanos: number } | null; line: string; structuredMetadata: { name: string; value: string }[] }[] }[];
}

export function decodeProtobuf(raw: Buffer): PushedStream[] {
  // Read straight off the decoded message (no toObject copy): the bench's count-only server decodes every push.
  const request = pushRequestMessage().decode(raw) as unknown as DecodedRequest;
  return request.streams.map((stream) => ({
    labelsText: stream.labels,
    labels: parseLabels(stream.labels),
    entries: stream.entries.map((entry) => ({
      time: BigInt(String(entry.timestamp?.seconds ?? 0)) * 1_000_000_000n + BigInt(entry.timestamp?.nanos ?? 0),
      line: entry.line,
      metadata: Object.fromEntries(entry.structuredMetadata.map((pair) => [pair.name, pair.value])),
    })),
  }));
}

function decodeJson(text: string): PushedStream[] {
  const body = JSON.parse(text) as { streams?: { stream?: Record<string, string>; values?: [string, string, Record<string, string>?][] }[] };
  return (body.streams ?? []).map((stream) => ({
    labelsText: JSON.stringify(stream.stream ?? {}),
    labels: stream.stream ?? {},
    entries: (stream.values ?? []).map(([time, line, metadata]) => {
      if (!/^\d+$/.test(time)) throw new Error(`invalid timestamp ${JSON.stringify(time)}`);
      return { time: BigInt(time), line, metadata: metadata ?? {} };
    }),
  }));
}

/** Parses `{a="b", c="d"}` as Loki's label parser does (names checked by the caller; Go string escapes in values). */
export function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  const fail = (why: string): never => { throw new Error(`error parsing labels ${text}: ${why} at ${i}`); };
  const skip = () => { while (text[i] === ' ') i++; };
  skip();
  if (text[i++] !== '{') fail('expected {');
  skip();
  if (text[i] === '}') return labels;
  for (;;) {
    skip();
    const start = i;
    while (i < text.length && /[A-Za-z0-9_]/.test(text[i]!)) i++;
    const name = text.slice(start, i);
    if (name === '') fail('expected a label name');
    skip();
    if (text[i++] !== '=') fail('expected =');
    skip();
    if (text[i++] !== '"') fail('expected "');
    let value = '';
    for (;;) {
      const c = text[i++];
      if (c === undefined) fail('unterminated string');
      if (c === '"') break;
      if (c !== '\\') {
        value += c;
        continue;
      }
      const e = text[i++];
      const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\', b: '\b', f: '\f', v: '\v', a: '\x07' };
      if (e !== undefined && simple[e] !== undefined) value += simple[e];
      else if (e === 'u' || e === 'x') {
        const digits = e === 'u' ? 4 : 2;
        const hex = text.slice(i, i + digits);
        if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== digits) fail('bad escape');
        value += String.fromCharCode(parseInt(hex, 16));
        i += digits;
      } else fail(`unknown escape \\${e}`);
    }
    if (name in labels) fail(`duplicate label name ${name}`);
    labels[name] = value;
    skip();
    if (text[i] === ',') { i++; continue; }
    if (text[i++] === '}') return labels;
    fail('expected , or }');
  }
}

/** Labels sorted and rendered `{a="b", c="d"}`, as Loki names a stream. */
export function renderLabels(labels: Readonly<Record<string, string>>): string {
  return `{${Object.keys(labels).sort().map((name) => `${name}=${JSON.stringify(labels[name])}`).join(', ')}}`;
}

function arrivalKey(stream: string, time: bigint, line: string): string {
  return `${stream}\u0000${time}\u0000${line}`;
}

/** Go's time.Time String(): `2006-01-02 15:04:05.123456789 +0000 UTC`, trailing zeros of the fraction cut. */
function goTime(ns: bigint): string {
  const iso = new Date(Number(ns / 1_000_000n)).toISOString().slice(0, 19).replace('T', ' ');
  const fraction = (ns % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '');
  return `${iso}${fraction ? `.${fraction}` : ''} +0000 UTC`;
}

function isoSeconds(ns: bigint): string {
  return `${new Date(Number(ns / 1_000_000n)).toISOString().slice(0, 19)}Z`;
}
