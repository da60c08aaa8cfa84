/**
 * An Elasticsearch-compatible test server: the real wire protocol (product header, compatible-with
 * media types, gzip, NDJSON `_bulk` with per-item statuses, composable templates, data streams, ILM
 * policies, `_count`/`_search`) over node:http, with faults a test can switch on: refused connections,
 * whole-request failures (as Elasticsearch answers them, or as a proxy in front of it does), slow
 * answers, per-item rejections, poison documents, write blocks, indices that refuse every document,
 * a body read with the wrong content encoding, authentication and forbidden actions. Everything lives in memory; `close()` forgets it all.
 *
 * Elasticsearch cannot run on the CI machines, so this is what the exporter is tested against; the
 * opt-in suite (ELASTICSEARCH_TEST_URL) checks the same expectations against a real cluster.
 */
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { finished } from 'node:stream';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { RefusableListener } from './refusable-listener.js';
import { MappingError, applyMapping, fieldValues, isPlainObject, mergeMappings, type RootMapping } from './es-mapping.js';

const gunzip = promisify(zlib.gunzip);
const inflate = promisify(zlib.inflate);
const gzip = promisify(zlib.gzip);

export interface EsTestServerOptions {
  /** version.number answered on `GET /`; its major decides which compatible-with headers are accepted. */
  readonly version?: string;
  /** Install the `logs` (logs-*-*) and `metrics` (metrics-*-*) data stream templates a default cluster has. */
  readonly builtinTemplates?: boolean;
  /**
   * How the built-in templates are made (with builtinTemplates): `managed` (8.11+ and 9.x, the
   * default) composes them of logs@mappings, logs@settings, ecs@mappings … which `GET
   * _component_template/<name>` then finds, with the logs@lifecycle / metrics@lifecycle ILM policies;
   * `old` (8.0–8.10) of logs-mappings, logs-settings …, with the `logs` / `metrics` policies, so a
   * GET of logs@settings is a 404.
   */
  readonly managedTemplates?: 'managed' | 'old';
  /** http.max_content_length: larger request bodies are answered 413. */
  readonly maxContentLength?: number;
  /**
   * Benchmarks: documents are counted and deduplicated by `_id` but their source is neither parsed
   * nor mapped nor kept, and the largest bulk request is kept in `largestBulk` (for a replaying load generator).
   */
  readonly countOnly?: boolean;
}

/** Per-item rejections (429 by default) for a share of the items, decided by a seeded generator. */
export interface ItemRejectionRule {
  /** 0..1: the share of items rejected. */
  readonly share: number;
  readonly status?: number;
  readonly type?: string;
  readonly reason?: string;
  /** Seed of the generator, so a run is reproducible. */
  readonly seed?: number;
  /** Stop rejecting after this many rejections. */
  readonly maxRejections?: number;
  /** Stop rejecting this many ms after the rule was set. */
  readonly forMs?: number;
  /** Only items whose target (data stream or index name as sent) matches this glob. */
  readonly index?: string;
}

/**
 * Documents whose source text matches `pattern` are refused per item (a mapping error by default).
 * A dead-letter copy of a refused document carries the original text too: scope the rule with
 * `index` so the copy is not refused as well (unless that is what the test wants).
 */
export interface PoisonRule {
  readonly pattern: RegExp | string;
  /** Only items whose target (data stream or index name as sent) matches this glob; comma-separated globs allowed. */
  readonly index?: string;
  readonly status?: number;
  readonly type?: string;
  readonly reason?: string;
}

/** Whole requests answered with an error status before they are processed. */
export interface RequestFailureRule {
  readonly status?: number;
  /**
   * Who answers: Elasticsearch (its JSON error envelope and `x-elastic-product` header; the default),
   * or a proxy in front of it (an HTML page, no product header), as nginx refuses a body.
   */
  readonly as?: 'elasticsearch' | 'proxy';
  /** Elasticsearch's error type and reason (defaults depend on the status). */
  readonly type?: string;
  readonly reason?: string;
  /** Only requests whose `METHOD /path` matches. */
  readonly match?: RegExp;
  /** Only requests whose (decompressed) body matches: a request refused for what one document holds. */
  readonly body?: RegExp;
  /** Fail only this many requests, then answer normally. */
  readonly count?: number;
  /** A Retry-After header (seconds) on the answer, as Elasticsearch sends with some 429s and proxies with 503s. */
  readonly retryAfterSeconds?: number;
}

/** Every document written to a matching index or data stream is refused per item (400). */
export interface IndexRefusalRule {
  /** Glob(s) of targets as sent; comma-separated globs allowed. */
  readonly index: string;
  readonly type?: string;
  readonly reason?: string;
}

export interface AuthRule {
  readonly basic?: { readonly username: string; readonly password: string };
  /** The encoded API key, as sent after `ApiKey ` (base64 of id:api_key). */
  readonly apiKey?: string;
}

export interface DelayRule {
  readonly ms: number;
  /** Process the request first and answer late (the default: a client timeout then leaves it stored), or wait first. */
  readonly when?: 'after' | 'before';
}

export interface EsCounters {
  /** Requests answered, except the `/_test/` API. */
  requests: number;
  /** Requests to a `_bulk` endpoint, including those failed by an injected fault. */
  bulkRequests: number;
  /** Requests answered with an injected failure (status, authentication, forbidden). */
  failedRequests: number;
  /** Bulk items parsed from requests that were processed. */
  itemsReceived: number;
  /** Documents newly stored (201). */
  created: number;
  /** Documents overwritten by an `index` action (200). */
  updated: number;
  /** 409 version conflicts answered: a `create` of an `_id` already stored. */
  duplicates: number;
  /** Injected per-item rejections. */
  rejected: number;
  /** Injected poison refusals. */
  poisoned: number;
  /** Items refused by an index refusal rule (refuseIndex). */
  indexRefusals: number;
  /** Every per-item error, injected or not (409s included). */
  itemErrors: number;
  /** Request body bytes after decompression. */
  bytesReceived: number;
  /** Most bulk requests in flight at once: from their arrival (headers read) until their answer is written. */
  maxConcurrentBulk: number;
  /** How many times each `_id` arrived in a processed bulk request (not counted by the count-only bulk path). */
  readonly receivedById: Map<string, number>;
  /** How many injected per-item rejections (rejectItems) each `_id` was answered. */
  readonly rejectedById: Map<string, number>;
}

export interface StoredDocument {
  readonly _index: string;
  readonly _id: string;
  readonly _version: number;
  readonly _seq_no: number;
  readonly _source: Record<string, unknown>;
}

/** 32-bit FNV-1a of bytes[start, end): how the id store hashes an id's UTF-8 bytes. */
export function fnv1a(bytes: Buffer, start: number, end: number): number {
  let hash = FNV_OFFSET;
  for (let i = start; i < end; i++) hash = Math.imul(hash ^ bytes[i]!, FNV_PRIME);
  return hash;
}

const FNV_OFFSET = 0x811c9dc5 | 0;
const FNV_PRIME = 0x01000193;

/** What an entry of the id store holds. */
const DELETED = 0;
const COUNTED = 1;
const FULL = 2;

const ARENA_CHUNK = 1 << 20;
const FIRST_SLOTS = 1 << 10;
const FIRST_ENTRIES = 1 << 9;

/**
 * An index's documents by `_id`, in the order a Map would keep them (first insertion; a delete then a
 * new store moves an id to the end). The count-only bulk path stores 1,000,000 ids and more: a JS
 * string and a Map entry per id cost most of the server's CPU (hashing fresh strings, GC), so every
 * id is kept as its UTF-8 bytes in an append-only arena, found through an open-addressing table of
 * typed arrays (hash, entry), its bytes compared only when the hashes match. A document the count-only
 * path created is its `_seq_no` alone; read back, it is version 1 with COUNT_ONLY_SOURCE, as the
 * count-only mode has always answered. Any other document is kept as its object. Ids that are not
 * well-formed UTF-16 (a lone surrogate, only possible through the full parser) have no exact UTF-8
 * form: they are found through a Map of their own.
 */
export class Documents {
  /** Per slot: [hash, entry + 1]; 0 in the second is an empty slot. A slot, once used, keeps its id. */
  private slots = new Int32Array(FIRST_SLOTS * 2);
  private slotsUsed = 0;
  private entries = 0;
  private live = 0;
  private states = new Uint8Array(FIRST_ENTRIES);
  private seqNos = new Int32Array(FIRST_ENTRIES);
  private chunkOf = new Int32Array(FIRST_ENTRIES);
  private startOf = new Int32Array(FIRST_ENTRIES);
  private lengthOf = new Int32Array(FIRST_ENTRIES);
  private readonly chunks: Buffer[] = [];
  private chunkUsed = ARENA_CHUNK;
  private readonly full = new Map<number, StoredDocument>();
  private readonly oddIds = new Map<string, number>();

  /** `slotHash` maps an id's FNV-1a hash to the table's (the identity; a test forces collisions with a constant). */
  constructor(private readonly index: string, private readonly slotHash: (fnv: number) => number = (fnv) => fnv) {}

  get size(): number {
    return this.live;
  }

  get(id: string): StoredDocument | undefined {
    const entry = this.entryOf(id);
    return entry < 0 ? undefined : this.document(entry, id);
  }

  set(id: string, doc: StoredDocument): void {
    if (!isWellFormed(id)) {
      const entry = this.oddIds.get(id);
      if (entry !== undefined && this.states[entry] !== DELETED) this.full.set(entry, doc);
      else this.oddIds.set(id, this.append(FULL, 0, -1, undefined, 0, 0, doc));
      return;
    }
    const key = Buffer.from(id, 'utf8');
    const hash = this.slotHash(fnv1a(key, 0, key.length));
    const slot = this.findSlot(key, 0, key.length, hash);
    const held = this.slots[slot * 2 + 1]! - 1;
    if (held >= 0 && this.states[held] !== DELETED) {
      this.states[held] = FULL;
      this.full.set(held, doc);
    } else {
      this.place(slot, hash, this.append(FULL, 0, held, key, 0, key.length, doc));
    }
  }

  /**
   * The count-only path's create of the id in raw[start, end) (the UTF-8 of the id's string, `fnv`
   * their fnv1a()): stored with `seqNo` and 0 answered, or, when the id is held, nothing stored and
   * the held document's version answered.
   */
  createCounted(raw: Buffer, start: number, end: number, fnv: number, seqNo: number): number {
    const hash = this.slotHash(fnv);
    const slot = this.findSlot(raw, start, end, hash);
    const held = this.slots[slot * 2 + 1]! - 1;
    if (held >= 0 && this.states[held] !== DELETED) return this.states[held] === FULL ? this.full.get(held)!._version : 1;
    this.place(slot, hash, this.append(COUNTED, seqNo, held, raw, start, end, undefined));
    return 0;
  }

  delete(id: string): void {
    const entry = this.entryOf(id);
    if (entry < 0) return;
    this.states[entry] = DELETED;
    this.full.delete(entry);
    this.live--;
    if (!isWellFormed(id)) this.oddIds.delete(id);
  }

  *values(): IterableIterator<StoredDocument> {
    for (let entry = 0; entry < this.entries; entry++) {
      if (this.states[entry] !== DELETED) yield this.document(entry, undefined);
    }
  }

  /** The live entry holding `id`, or -1. */
  private entryOf(id: string): number {
    if (!isWellFormed(id)) {
      const entry = this.oddIds.get(id);
      return entry !== undefined && this.states[entry] !== DELETED ? entry : -1;
    }
    const key = Buffer.from(id, 'utf8');
    const entry = this.slots[this.findSlot(key, 0, key.length, this.slotHash(fnv1a(key, 0, key.length))) * 2 + 1]! - 1;
    return entry >= 0 && this.states[entry] !== DELETED ? entry : -1;
  }

  private document(entry: number, id: string | undefined): StoredDocument {
    if (this.states[entry] === FULL) return this.full.get(entry)!;
    const chunk = this.chunks[this.chunkOf[entry]!]!;
    const start = this.startOf[entry]!;
    return {
      _index: this.index,
      _id: id ?? chunk.toString('utf8', start, start + this.lengthOf[entry]!),
      _version: 1,
      _seq_no: this.seqNos[entry]!,
      _source: COUNT_ONLY_SOURCE,
    };
  }

  /** The slot holding the id of bytes[start, end), or the empty slot where it would go. */
  private findSlot(bytes: Buffer, start: number, end: number, hash: number): number {
    const slots = this.slots;
    const mask = (slots.length >> 1) - 1;
    const length = end - start;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const entry = slots[slot * 2 + 1]! - 1;
      if (entry < 0) return slot;
      if (slots[slot * 2] === hash && this.lengthOf[entry] === length && this.sameBytes(entry, bytes, start, end)) return slot;
    }
  }

  private sameBytes(entry: number, bytes: Buffer, start: number, end: number): boolean {
    const chunk = this.chunks[this.chunkOf[entry]!]!;
    const at = this.startOf[entry]!;
    return bytes.compare(chunk, at, at + end - start, start, end) === 0;
  }

  /**
   * A new entry at the end (insertion order), its id's bytes copied into the arena (none for an odd
   * id, whose `bytes` are undefined). `replaced`, a deleted entry of the same id, lends its bytes.
   */
  private append(state: number, seqNo: number, replaced: number, bytes: Buffer | undefined, start: number, end: number, doc: StoredDocument | undefined): number {
    if (this.entries === this.states.length) this.growEntries();
    const entry = this.entries++;
    this.states[entry] = state;
    this.seqNos[entry] = seqNo;
    if (bytes && replaced >= 0) {
      this.chunkOf[entry] = this.chunkOf[replaced]!;
      this.startOf[entry] = this.startOf[replaced]!;
      this.lengthOf[entry] = this.lengthOf[replaced]!;
    } else if (bytes) {
      this.copyToArena(entry, bytes, start, end);
    } else {
      this.lengthOf[entry] = -1;
    }
    if (doc) this.full.set(entry, doc);
    this.live++;
    return entry;
  }

  private copyToArena(entry: number, bytes: Buffer, start: number, end: number): void {
    const length = end - start;
    if (this.chunkUsed + length > (this.chunks[this.chunks.length - 1]?.length ?? 0)) {
      this.chunks.push(Buffer.allocUnsafeSlow(Math.max(ARENA_CHUNK, length)));
      this.chunkUsed = 0;
    }
    const chunk = this.chunks[this.chunks.length - 1]!;
    const at = this.chunkUsed;
    bytes.copy(chunk, at, start, end);
    this.chunkOf[entry] = this.chunks.length - 1;
    this.startOf[entry] = at;
    this.lengthOf[entry] = length;
    this.chunkUsed = at + length;
  }

  /** Points the slot at the entry; a slot newly used may grow the table (load at most one half). */
  private place(slot: number, hash: number, entry: number): void {
    const wasEmpty = this.slots[slot * 2 + 1] === 0;
    this.slots[slot * 2] = hash;
    this.slots[slot * 2 + 1] = entry + 1;
    if (wasEmpty && ++this.slotsUsed * 2 > this.slots.length >> 1) this.growSlots();
  }

  private growSlots(): void {
    const old = this.slots;
    const slots = new Int32Array(old.length * 2);
    const mask = (slots.length >> 1) - 1;
    for (let i = 0; i < old.length; i += 2) {
      if (old[i + 1] === 0) continue;
      let slot = old[i]! & mask;
      while (slots[slot * 2 + 1] !== 0) slot = (slot + 1) & mask;
      slots[slot * 2] = old[i]!;
      slots[slot * 2 + 1] = old[i + 1]!;
    }
    this.slots = slots;
  }

  private growEntries(): void {
    const capacity = this.states.length * 2;
    this.states = grown(this.states, new Uint8Array(capacity));
    this.seqNos = grown(this.seqNos, new Int32Array(capacity));
    this.chunkOf = grown(this.chunkOf, new Int32Array(capacity));
    this.startOf = grown(this.startOf, new Int32Array(capacity));
    this.lengthOf = grown(this.lengthOf, new Int32Array(capacity));
  }
}

function grown<T extends Uint8Array | Int32Array>(old: T, next: T): T {
  next.set(old);
  return next;
}

/** Whether a string has an exact UTF-8 form (no lone surrogate); String.prototype.isWellFormed (Node 20) is not in the ES2023 lib types. */
function isWellFormed(id: string): boolean {
  return (id as unknown as { isWellFormed(): boolean }).isWellFormed();
}

interface IndexState {
  readonly name: string;
  readonly uuid: string;
  readonly docs: Documents;
  seqNo: number;
  readonly dataStream: string | undefined;
  readonly hidden: boolean;
  readonly mapping: RootMapping;
  readonly settings: Record<string, unknown>;
  readonly createdAt: number;
  /** Deletes are tombstones, so `_seq_no` order is insertion order. */
}

interface DataStreamState {
  readonly name: string;
  readonly template: string;
  readonly backing: string[];
  readonly createdAt: number;
  /** The data stream lifecycle its template gave it at creation (as Elasticsearch keeps it on the stream). */
  readonly lifecycle: DataStreamLifecycle | undefined;
}

export interface DataStreamLifecycle {
  readonly enabled?: boolean;
  readonly data_retention?: string;
}

/** Who manages a data stream's backing indices, decided as Elasticsearch does (ILM first unless `index.lifecycle.prefer_ilm: false`). */
export interface LifecycleExplanation {
  readonly managedBy: 'Index Lifecycle Management' | 'Data stream lifecycle' | 'Unmanaged';
  readonly ilmPolicy: string | undefined;
  readonly preferIlm: boolean;
  readonly retention: string | undefined;
}

interface IndexTemplate {
  readonly index_patterns: string[];
  readonly priority?: number;
  readonly composed_of?: string[];
  readonly data_stream?: Record<string, unknown>;
  readonly template?: { settings?: Record<string, unknown>; mappings?: Record<string, unknown>; aliases?: Record<string, unknown>; lifecycle?: DataStreamLifecycle };
  readonly ignore_missing_component_templates?: string[];
  readonly version?: number;
  readonly _meta?: Record<string, unknown>;
  readonly [other: string]: unknown;
}

interface Reply {
  readonly status: number;
  readonly body?: unknown;
  /** The body already as JSON text, filter_path applied (the count-only bulk path). */
  readonly json?: string;
  /** A proxy's plain-text answer: no product header, no JSON. */
  readonly text?: string;
  /** The text's media type (text/plain by default). */
  readonly textType?: string;
  readonly headers?: Record<string, string | string[]>;
}

class HttpError extends Error {
  constructor(readonly reply: Reply) {
    super(`HTTP ${reply.status}`);
  }
}

const BULK_PARAMS = new Set([
  '_index', '_id', 'routing', 'op_type', 'version', 'version_type', 'if_seq_no', 'if_primary_term', 'retry_on_conflict',
  'pipeline', '_source', 'require_alias', 'require_data_stream', 'dynamic_templates', 'list_executed_pipelines',
]);
const BULK_ACTIONS = new Set(['create', 'index', 'update', 'delete']);
/** The source every document gets in count-only mode (a data stream needs its @timestamp). */
const COUNT_ONLY_SOURCE = Object.freeze({ '@timestamp': '1970-01-01T00:00:00.000Z' });
const INVALID_INDEX_CHARS = /[\\/*?"<>| ,#:]/;

export class EsTestServer {
  readonly counters: EsCounters = freshCounters();
  private readonly server: http.Server;
  private readonly listener: RefusableListener;
  private closed = false;
  private readonly timers = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();
  private readonly version: string;
  private readonly major: number;
  private readonly maxContentLength: number;
  private readonly clusterUuid = randomBytes(16).toString('base64url').slice(0, 22);

  private indices = new Map<string, IndexState>();
  private dataStreams = new Map<string, DataStreamState>();
  private indexTemplates = new Map<string, IndexTemplate>();
  private componentTemplates = new Map<string, Record<string, unknown>>();
  private ilmPolicies = new Map<string, { version: number; modified_date: string; policy: Record<string, unknown> }>();

  private requestFailure: (RequestFailureRule & { left: number }) | undefined;
  private delay: DelayRule | undefined;
  private rejection: { rule: ItemRejectionRule; random: () => number; until: number; left: number; matches: (name: string) => boolean } | undefined;
  private poisonRule: { rule: PoisonRule; regex: RegExp; matches: (name: string) => boolean } | undefined;
  private indexRefusal: { rule: IndexRefusalRule; matches: (name: string) => boolean } | undefined;
  private contentEncodingIgnored = false;
  private activeBulk = 0;
  /** `METHOD /path` of every request answered, except the /_test/ API (the last 10,000). */
  readonly requestLog: string[] = [];
  /** countOnly: the largest bulk request received (the body decoded). */
  largestBulk: { readonly url: string; readonly headers: http.IncomingHttpHeaders; readonly body: Buffer } | undefined;
  private writeBlock: ((name: string) => boolean) | undefined;
  private forbidden: RegExp | undefined;
  private auth: AuthRule | undefined;

  private constructor(private readonly options: EsTestServerOptions) {
    this.version = options.version ?? '9.1.0';
    this.major = Number(this.version.split('.')[0]);
    this.maxContentLength = options.maxContentLength ?? 100 * 1024 * 1024;
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        if (!res.headersSent && !res.destroyed) {
          this.writeReply(req, res, { status: 500, body: esError(500, 'exception', `test server failure: ${String(error)}`) }).catch(() => res.destroy());
        }
      });
    });
    this.server.keepAliveTimeout = 30_000;
    this.listener = new RefusableListener(this.server);
    if (options.builtinTemplates ?? true) this.installBuiltinTemplates();
  }

  /** Starts a server on 127.0.0.1 on a free port. */
  static async start(options: EsTestServerOptions = {}): Promise<EsTestServer> {
    const server = new EsTestServer(options);
    await server.listener.accept();
    return server;
  }

  get url(): string {
    return this.listener.url;
  }

  // ---- faults ------------------------------------------------------------------------------

  /** Closes the listener and every open connection: new connections are refused (ECONNREFUSED). */
  refuseConnections(): Promise<void> {
    return this.listener.refuse();
  }

  /** Listens again on the same port after refuseConnections(). */
  async acceptConnections(): Promise<void> {
    if (!this.closed) await this.listener.accept();
  }

  /** Answers every request (or those matching) with `status` (503 by default) until cleared (undefined) or `count` ran out. */
  failRequests(rule: RequestFailureRule | undefined): void {
    this.requestFailure = rule ? { ...rule, left: rule.count ?? Number.POSITIVE_INFINITY } : undefined;
  }

  /** Slows every answer down by `ms` (0 or undefined clears). */
  delayResponses(rule: DelayRule | number | undefined): void {
    if (typeof rule === 'number') rule = { ms: rule };
    this.delay = rule && rule.ms > 0 ? rule : undefined;
  }

  rejectItems(rule: ItemRejectionRule | undefined): void {
    if (!rule) {
      this.rejection = undefined;
      return;
    }
    if (!(rule.share >= 0 && rule.share <= 1)) throw new Error('share must be within 0..1');
    this.rejection = {
      rule,
      random: mulberry32(rule.seed ?? 1),
      until: rule.forMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + rule.forMs,
      left: rule.maxRejections ?? Number.POSITIVE_INFINITY,
      matches: rule.index ? anyGlob(rule.index) : () => true,
    };
  }

  poison(rule: PoisonRule | RegExp | string | undefined): void {
    if (rule === undefined) {
      this.poisonRule = undefined;
      return;
    }
    const full: PoisonRule = typeof rule === 'string' || rule instanceof RegExp ? { pattern: rule } : rule;
    this.poisonRule = { rule: full, regex: typeof full.pattern === 'string' ? new RegExp(full.pattern) : full.pattern, matches: full.index ? anyGlob(full.index) : () => true };
  }

  /** Answers items for indices or data streams matching the glob with 403 cluster_block_exception (an index write block). */
  blockWrites(glob: string | undefined): void {
    this.writeBlock = glob ? globRegExp(glob) : undefined;
  }

  /**
   * Refuses every document written to matching indices (400 strict_dynamic_mapping_exception by
   * default), as an index created with a strict mapping that has none of the fields sent does.
   */
  refuseIndex(rule: IndexRefusalRule | string | undefined): void {
    const full = typeof rule === 'string' ? { index: rule } : rule;
    this.indexRefusal = full ? { rule: full, matches: anyGlob(full.index) } : undefined;
  }

  /**
   * Reads request bodies as if they had no Content-Encoding, as behind a proxy that drops the header:
   * a gzipped bulk body then arrives as bytes Elasticsearch cannot parse (a 400 for the request).
   */
  ignoreContentEncoding(on: boolean): void {
    this.contentEncodingIgnored = on;
  }

  /** Answers requests whose `METHOD /path` matches with 403 security_exception (missing privilege). */
  forbid(match: RegExp | undefined): void {
    this.forbidden = match;
  }

  /** Requires basic or API key authentication; everything else is answered 401. */
  requireAuth(rule: AuthRule | undefined): void {
    this.auth = rule;
  }

  clearFaults(): void {
    this.requestFailure = undefined;
    this.delay = undefined;
    this.rejection = undefined;
    this.poisonRule = undefined;
    this.indexRefusal = undefined;
    this.contentEncodingIgnored = false;
    this.writeBlock = undefined;
    this.forbidden = undefined;
    this.auth = undefined;
  }

  // ---- state for assertions ---------------------------------------------------------------------

  /** Stored documents of an index, data stream, or expression (`logs-*`, comma lists); all when omitted. */
  documents(expression = '*'): StoredDocument[] {
    const out: StoredDocument[] = [];
    // One push per document: spreading 150,000 of them into push() overflows the stack.
    for (const index of this.resolve(expression, { ignoreUnavailable: true, includeHidden: expression === '*' })) for (const doc of index.docs.values()) out.push(doc);
    return out;
  }

  count(expression = '*'): number {
    let n = 0;
    for (const index of this.resolve(expression, { ignoreUnavailable: true, includeHidden: expression === '*' })) n += index.docs.size;
    return n;
  }

  document(expression: string, id: string): StoredDocument | undefined {
    for (const index of this.resolve(expression, { ignoreUnavailable: true, includeHidden: true })) {
      const doc = index.docs.get(id);
      if (doc) return doc;
    }
    return undefined;
  }

  timesReceived(id: string): number {
    return this.counters.receivedById.get(id) ?? 0;
  }

  indexTemplate(name: string): IndexTemplate | undefined {
    return this.indexTemplates.get(name);
  }

  componentTemplate(name: string): Record<string, unknown> | undefined {
    return this.componentTemplates.get(name);
  }

  ilmPolicy(name: string): Record<string, unknown> | undefined {
    return this.ilmPolicies.get(name)?.policy;
  }

  dataStream(name: string): { name: string; template: string; indices: string[] } | undefined {
    const ds = this.dataStreams.get(name);
    return ds ? { name: ds.name, template: ds.template, indices: [...ds.backing] } : undefined;
  }

  /** PUT _component_template/<name>, as a user (or Elastic) would; the answer as the endpoint gives it. */
  putComponentTemplate(name: string, body: Record<string, unknown>): { status: number; body?: unknown } {
    return this.componentTemplateEndpoint('PUT', name, () => body);
  }

  /** PUT _index_template/<name>, checked as a request would be; the answer as the endpoint gives it. */
  putIndexTemplate(name: string, body: Record<string, unknown>): { status: number; body?: unknown } {
    return this.indexTemplateEndpoint('PUT', name, () => body, new URLSearchParams());
  }

  /** The settings of a data stream's write index (or an index): components', then the template's, flattened (`index.*`). */
  indexSettings(name: string): Record<string, unknown> {
    const state = this.indices.get(name) ?? this.writeIndexOf(name);
    return state ? { ...state.settings } : {};
  }

  /** Who manages the data stream's write index, and with what retention or policy. */
  lifecycleOf(name: string): LifecycleExplanation | undefined {
    const ds = this.dataStreams.get(name);
    if (!ds) return undefined;
    return this.explainLifecycle(ds, this.indices.get(ds.backing.at(-1)!)!);
  }

  indexNames(): string[] {
    return [...this.indices.keys()];
  }

  /** The mapping an index has now (template mappings plus dynamic fields). */
  mapping(index: string): RootMapping | undefined {
    const state = this.indices.get(index) ?? this.writeIndexOf(index);
    return state ? structuredClone(state.mapping) : undefined;
  }

  /** Forgets documents, indices, data streams, user templates and counters; faults stay. */
  reset(): void {
    this.indices.clear();
    this.dataStreams.clear();
    this.indexTemplates.clear();
    this.componentTemplates.clear();
    this.ilmPolicies.clear();
    Object.assign(this.counters, freshCounters(), { receivedById: this.counters.receivedById, rejectedById: this.counters.rejectedById });
    this.counters.receivedById.clear();
    this.counters.rejectedById.clear();
    this.requestLog.length = 0;
    if (this.options.builtinTemplates ?? true) this.installBuiltinTemplates();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Set first: requests woken below see it and write nothing.
    this.closed = true;
    for (const entry of this.timers) {
      clearTimeout(entry.timer);
      entry.resolve();
    }
    this.timers.clear();
    await this.listener.refuse();
  }

  // ---- HTTP ------------------------------------------------------------------------------------

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const started = Date.now();
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = (req.method ?? 'GET').toUpperCase();
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const isBulk = /(^|\/)_bulk$/.test(path) && !path.startsWith('/_test/');
    if (isBulk) {
      this.activeBulk++;
      this.counters.maxConcurrentBulk = Math.max(this.counters.maxConcurrentBulk, this.activeBulk);
    }
    try {
      await this.answer(req, res, url, method, path, isBulk, started);
    } finally {
      if (isBulk) this.activeBulk--;
    }
  }

  private async answer(req: http.IncomingMessage, res: http.ServerResponse, url: URL, method: string, path: string, isBulk: boolean, started: number): Promise<void> {
    let reply: Reply;
    try {
      const raw = await readBody(req, this.maxContentLength);
      const encoding = this.contentEncodingIgnored && !path.startsWith('/_test/') ? '' : String(req.headers['content-encoding'] ?? '');
      const body = await decode(raw, encoding);
      if (path.startsWith('/_test/')) {
        reply = await this.testApi(method, path, body);
      } else {
        this.counters.requests++;
        this.requestLog.push(`${method} ${safeDecode(path)}`);
        if (this.requestLog.length > 10_000) this.requestLog.splice(0, this.requestLog.length - 10_000);
        if (isBulk) this.counters.bulkRequests++;
        this.counters.bytesReceived += body.length;
        this.checkAuth(req, path);
        this.checkInjectedFailure(method, path, body);
        if (this.delay?.when === 'before') await this.sleep(this.delay.ms);
        this.checkCompatibility(req, body.length > 0);
        reply = this.route(method, path, url.searchParams, body, req, started);
        if (this.delay && this.delay.when !== 'before') await this.sleep(this.delay.ms);
      }
    } catch (error) {
      if (!(error instanceof HttpError)) throw error;
      reply = error.reply;
    }
    const filter = url.searchParams.get('filter_path');
    // As Elasticsearch: error responses are never filtered.
    if (filter && reply.status < 400 && reply.body !== undefined && !path.startsWith('/_test/')) reply = { ...reply, body: filterPath(reply.body, filter) };
    if (this.closed || res.destroyed) return;
    await this.writeReply(req, res, reply);
  }

  private async writeReply(req: http.IncomingMessage, res: http.ServerResponse, reply: Reply): Promise<void> {
    const headers: Record<string, string | string[]> = { ...reply.headers };
    let payload: Buffer;
    if (reply.text !== undefined) {
      headers['content-type'] = `${reply.textType ?? 'text/plain'}; charset=UTF-8`;
      payload = Buffer.from(reply.text);
    } else {
      headers['x-elastic-product'] = 'Elasticsearch';
      const compat = /compatible-with=(\d+)/.exec(String(req.headers.accept ?? ''));
      headers['content-type'] = compat ? `application/vnd.elasticsearch+json;compatible-with=${compat[1]}` : 'application/json';
      const json = reply.json ?? (reply.body === undefined ? undefined : JSON.stringify(reply.body));
      payload = json === undefined || req.method === 'HEAD' ? Buffer.alloc(0) : Buffer.from(json);
      if (payload.length > 0 && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) {
        payload = await gzip(payload);
        headers['content-encoding'] = 'gzip';
      }
    }
    if (res.destroyed) return;
    headers['content-length'] = String(payload.length);
    res.writeHead(reply.status, headers);
    res.end(payload);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const entry = { timer: setTimeout(() => { this.timers.delete(entry); resolve(); }, ms), resolve };
      this.timers.add(entry);
    });
  }

  private checkAuth(req: http.IncomingMessage, path: string): void {
    const rule = this.auth;
    if (!rule) return;
    const header = String(req.headers.authorization ?? '');
    if (rule.basic && header === `Basic ${Buffer.from(`${rule.basic.username}:${rule.basic.password}`).toString('base64')}`) return;
    if (rule.apiKey && header === `ApiKey ${rule.apiKey}`) return;
    this.counters.failedRequests++;
    const reason = header === ''
      ? `missing authentication credentials for REST request [${path}]`
      : header.startsWith('Basic ')
        ? `unable to authenticate user [${basicUser(header)}] for REST request [${path}]`
        : 'unable to authenticate with provided credentials and anonymous access is not allowed for this request';
    const challenge = ['Basic realm="security", charset="UTF-8"', 'Bearer realm="security"', 'ApiKey'];
    throw new HttpError({
      status: 401,
      body: esError(401, 'security_exception', reason, { header: { 'WWW-Authenticate': challenge } }),
      headers: { 'www-authenticate': challenge },
    });
  }

  private checkInjectedFailure(method: string, path: string, body: Buffer): void {
    const line = `${method} ${path}`;
    if (this.forbidden?.test(line)) {
      this.counters.failedRequests++;
      const action = privilegeFor(method, path);
      throw new HttpError({
        status: 403,
        body: esError(403, 'security_exception', `action [${action.action}] is unauthorized for user [dockhand] with effective roles [dockhand_writer], this action is granted by the ${action.privilege}`),
      });
    }
    const failure = this.requestFailure;
    if (!failure || failure.left <= 0 || (failure.match && !failure.match.test(line))) return;
    if (failure.body && !failure.body.test(body.toString('utf8'))) return;
    failure.left--;
    this.counters.failedRequests++;
    const status = failure.status ?? 503;
    if (failure.retryAfterSeconds !== undefined) {
      throw new HttpError({ status, body: esError(status, failure.type ?? 'es_rejected_execution_exception', failure.reason ?? `injected failure ${status}`), headers: { 'retry-after': String(failure.retryAfterSeconds) } });
    }
    if (failure.as === 'proxy') throw new HttpError({ status, text: proxyPage(status), textType: 'text/html' });
    if (failure.type !== undefined) throw new HttpError({ status, body: esError(status, failure.type, failure.reason ?? `injected failure ${status}`) });
    if (status === 502 || status === 504) throw new HttpError({ status, text: status === 502 ? 'Bad Gateway' : 'Gateway Timeout' });
    if (status === 503) throw new HttpError({ status, body: esError(503, 'cluster_block_exception', 'blocked by: [SERVICE_UNAVAILABLE/1/state not recovered / initialized];') });
    if (status === 429) throw new HttpError({ status, body: esError(429, 'es_rejected_execution_exception', 'rejected execution of coordinating operation [coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, coordinating_operation_bytes=0, max_coordinating_and_primary_bytes=0]') });
    throw new HttpError({ status, body: esError(status, 'exception', `injected failure ${status}`) });
  }

  /** Elasticsearch accepts compatible-with its own major and the one before, the same on both headers. */
  private checkCompatibility(req: http.IncomingMessage, hasBody: boolean): void {
    const accept = String(req.headers.accept ?? '');
    const contentType = String(req.headers['content-type'] ?? '');
    const acceptVersion = /compatible-with=(\d+)/.exec(accept)?.[1];
    const contentVersion = hasBody ? /compatible-with=(\d+)/.exec(contentType)?.[1] : undefined;
    const bad = (reason: string): never => {
      throw new HttpError({
        status: 400,
        body: esError(400, 'media_type_header_exception', 'Invalid media-type value on headers [Accept, Content-Type]', {}, { type: 'status_exception', reason }),
      });
    };
    for (const [name, value, header] of [['Accept', acceptVersion, accept], ['Content-Type', contentVersion, contentType]] as const) {
      if (value === undefined) continue;
      const v = Number(value);
      if (v !== this.major && v !== this.major - 1) {
        bad(`${name} version must be either version ${this.major} or ${this.major - 1}, but found ${v}. ${name}=${header}`);
      }
    }
    if (hasBody && acceptVersion !== undefined && contentVersion !== undefined && acceptVersion !== contentVersion) {
      bad(`A compatible version is required on both Content-Type and Accept headers if either one has requested a compatible version and the compatible versions must match. Accept=${accept}, Content-Type=${contentType}`);
    }
  }

  // ---- routing ---------------------------------------------------------------------------------

  private route(method: string, path: string, query: URLSearchParams, body: Buffer, req: http.IncomingMessage, started: number): Reply {
    const parts = path.split('/').filter(Boolean).map((p) => decodeURIComponent(p));
    const [first, second, third] = parts;
    const json = () => parseJsonBody(body, req);

    if (parts.length === 0) {
      if (method === 'GET' || method === 'HEAD') return { status: 200, body: this.info() };
      return methodNotAllowed(method, path, ['GET', 'HEAD']);
    }
    if (first === '_bulk' && parts.length === 1) return this.bulkEndpoint(method, undefined, body, req, started);
    if (second === '_bulk' && parts.length === 2) return this.bulkEndpoint(method, first, body, req, started);
    if (first === '_index_template') return this.indexTemplateEndpoint(method, second, json, query);
    if (first === '_component_template') return this.componentTemplateEndpoint(method, second, json);
    if (first === '_ilm' && second === 'policy') return this.ilmEndpoint(method, third, json);
    if (first === '_data_stream') return this.dataStreamEndpoint(method, second);
    if (first === '_cluster' && second === 'health') return { status: 200, body: { cluster_name: 'dockhand-test', status: 'green', timed_out: false, number_of_nodes: 1, number_of_data_nodes: 1, active_primary_shards: this.indices.size, active_shards: this.indices.size, relocating_shards: 0, initializing_shards: 0, unassigned_shards: 0 } };
    if (first === '_refresh' && parts.length === 1) return this.refresh('*');
    if (first === '_search' && parts.length === 1) return this.search('*', json, query, started);
    if (first === '_count' && parts.length === 1) return this.countEndpoint('*', json, query);
    if (first !== undefined && !first.startsWith('_')) {
      if (second === '_refresh' && parts.length === 2) return this.refresh(first);
      if (second === '_search' && parts.length === 2) return this.search(first, json, query, started);
      if (second === '_count' && parts.length === 2) return this.countEndpoint(first, json, query);
      if (second === '_doc' && third !== undefined && parts.length === 3) return this.getDocument(method, first, third);
      if (second === '_mapping' && parts.length === 2 && method === 'GET') {
        return { status: 200, body: Object.fromEntries(this.resolve(first).map((index) => [index.name, { mappings: index.mapping }])) };
      }
      if (parts.length === 1) return this.indexEndpoint(method, first, json);
    }
    return { status: 400, body: { error: `no handler found for uri [${path}] and method [${method}]` } };
  }

  private info(): Record<string, unknown> {
    return {
      name: 'es-test-server',
      cluster_name: 'dockhand-test',
      cluster_uuid: this.clusterUuid,
      version: {
        number: this.version,
        build_flavor: 'default',
        build_type: 'tar',
        build_hash: '0000000000000000000000000000000000000000',
        build_date: '2025-01-01T00:00:00.000000000Z',
        build_snapshot: false,
        lucene_version: this.major >= 9 ? '10.2.2' : '9.12.0',
        minimum_wire_compatibility_version: `${this.major - 1}.19.0`,
        minimum_index_compatibility_version: `${this.major - 1}.0.0`,
      },
      tagline: 'You Know, for Search',
    };
  }

  // ---- _bulk -----------------------------------------------------------------------------------

  private bulkEndpoint(method: string, pathIndex: string | undefined, raw: Buffer, req: http.IncomingMessage, started: number): Reply {
    if (method !== 'POST' && method !== 'PUT') return methodNotAllowed(method, req.url ?? '', ['POST', 'PUT']);
    const contentType = String(req.headers['content-type'] ?? '');
    if (!/^application\/(x-ndjson|json|vnd\.elasticsearch\+x-ndjson|vnd\.elasticsearch\+json)\b/.test(contentType)) {
      return { status: 406, body: { error: `Content-Type header [${contentType}] is not supported`, status: 406 } };
    }
    if (raw.length === 0) return validationFailed(['no requests added']);
    if (this.options.countOnly && raw.length >= (this.largestBulk?.body.length ?? 0)) this.largestBulk = { url: req.url ?? '', headers: req.headers, body: raw };
    const counted = this.options.countOnly && !this.itemFaultsSet() ? this.countOnlyBulk(raw, pathIndex, filterPathOf(req), started) : undefined;
    if (counted) return counted;
    const operations = parseBulk(raw.toString('utf8'));
    if (operations.length === 0) return validationFailed(['no requests added']);
    const problems: string[] = [];
    for (const op of operations) {
      if ((op.params._index ?? pathIndex) === undefined) problems.push('index is missing');
      if (op.id !== undefined && Buffer.byteLength(op.id) > 512) problems.push(`id [${op.id}] is too long, must be no longer than 512 bytes but was: ${Buffer.byteLength(op.id)}`);
    }
    if (problems.length > 0) return validationFailed(problems);

    const items: Record<string, unknown>[] = [];
    let errors = false;
    for (const op of operations) {
      const result = this.bulkItem(op, (op.params._index as string | undefined) ?? pathIndex!);
      if (result.error) {
        errors = true;
        this.counters.itemErrors++;
      }
      items.push({ [op.action]: result });
    }
    return { status: 200, body: { errors, took: Date.now() - started, items } };
  }

  /** Per-item faults are switched on: the count-only path leaves every request to bulkItem(). */
  private itemFaultsSet(): boolean {
    return this.writeBlock !== undefined || this.indexRefusal !== undefined || this.rejection !== undefined || this.poisonRule !== undefined;
  }

  /**
   * The count-only `_bulk`: `create` items of the exact shape the exporter writes
   * (`{"create":{"_index":"<name>","_id":"<id>"}}`, no escapes) found with Buffer.indexOf, their
   * sources neither decoded nor parsed; each `_id` stored once (its `_seq_no` only), a second create
   * answered 409. The answer is what bulkItem() and filter_path make of the same request, written as
   * text for the exporter's filter (errors,items.*.error,items.*.status). Undefined, having done
   * nothing, for any request not of that shape: bulkItem() answers it.
   */
  private countOnlyBulk(raw: Buffer, pathIndex: string | undefined, filter: string | null, started: number): Reply | undefined {
    const items = readCreateItems(raw, pathIndex);
    if (!items) return undefined;
    for (const item of items.targets) {
      if (invalidIndexName(item) !== undefined || !this.mayCreateIn(item)) return undefined;
    }
    const indices = items.targets.map((name) => this.writeTarget(name, true));
    const count = items.count;
    /** Per item: the `_seq_no` given, or -1 when the id was held; then the held document's version. */
    const seqNos = new Int32Array(count);
    const heldVersions = new Map<number, number>();
    for (let i = 0; i < count; i++) {
      const index = indices[items.targetOf[i]!]!;
      const key = items.recoded.size > 0 ? items.recoded.get(i) : undefined;
      const seqNo = index.seqNo;
      const held = key
        ? index.docs.createCounted(key, 0, key.length, items.idHash[i]!, seqNo)
        : index.docs.createCounted(raw, items.idStart[i]!, items.idEnd[i]!, items.idHash[i]!, seqNo);
      if (held === 0) {
        index.seqNo++;
        seqNos[i] = seqNo;
      } else {
        seqNos[i] = -1;
        heldVersions.set(i, held);
      }
    }
    const duplicates = heldVersions.size;
    this.counters.itemsReceived += count;
    this.counters.created += count - duplicates;
    this.counters.duplicates += duplicates;
    this.counters.itemErrors += duplicates;
    const idOf = (i: number) => raw.toString('utf8', items.idStart[i], items.idEnd[i]);
    const conflict = (i: number) => versionConflict(indices[items.targetOf[i]!]!, idOf(i), heldVersions.get(i)!);
    const errors = duplicates > 0;
    if (filter !== null && isLeanBulkFilter(filter)) {
      if (!errors) return { status: 200, json: `{"errors":false,"items":[${`${CREATED_LEAN},`.repeat(count - 1)}${CREATED_LEAN}]}` };
      const parts: string[] = new Array(count);
      for (let i = 0; i < count; i++) parts[i] = seqNos[i]! >= 0 ? CREATED_LEAN : `{"create":{"status":409,"error":${JSON.stringify(conflict(i).error)}}}`;
      return { status: 200, json: `{"errors":true,"items":[${parts.join(',')}]}` };
    }
    const answered = Array.from(seqNos, (seqNo, i) => ({ create: seqNo >= 0 ? created(indices[items.targetOf[i]!]!, idOf(i), seqNo) : conflict(i) }));
    return { status: 200, body: { errors, took: Date.now() - started, items: answered } };
  }

  /** `create` in `name` goes to an index (or a data stream's write index) without an item error. */
  private mayCreateIn(name: string): boolean {
    try {
      this.writeTarget(name, true);
      return true;
    } catch (error) {
      if (error instanceof ItemError) return false;
      throw error;
    }
  }

  private bulkItem(op: BulkOperation, target: string): Record<string, unknown> & { error?: unknown } {
    this.counters.itemsReceived++;
    if (op.id !== undefined) this.counters.receivedById.set(op.id, (this.counters.receivedById.get(op.id) ?? 0) + 1);
    const id = op.id;
    const fail = (status: number, type: string, reason: string, index = target, extra: Record<string, unknown> = {}) =>
      ({ _index: index, _id: id ?? null, status, error: { type, reason, ...extra } });

    const nameProblem = invalidIndexName(target);
    if (nameProblem) return fail(400, 'invalid_index_name_exception', `Invalid index name [${target}], ${nameProblem}`, target, { 'index_uuid': '_na_', index: target });
    if (this.writeBlock?.(target)) {
      return fail(403, 'cluster_block_exception', `index [${this.writeIndexOf(target)?.name ?? target}] blocked by: [FORBIDDEN/8/index write (api)];`);
    }
    const refusal = this.indexRefusal;
    if (refusal?.matches(target)) {
      this.counters.indexRefusals++;
      return fail(400, refusal.rule.type ?? 'strict_dynamic_mapping_exception',
        refusal.rule.reason ?? `[1:2] mapping set to strict, dynamic introduction of [@timestamp] within [_doc] is not allowed`);
    }
    const rejection = this.rejection;
    if (rejection && rejection.left > 0 && Date.now() < rejection.until && rejection.matches(target) && rejection.random() < rejection.rule.share) {
      rejection.left--;
      this.counters.rejected++;
      if (id !== undefined) this.counters.rejectedById.set(id, (this.counters.rejectedById.get(id) ?? 0) + 1);
      const status = rejection.rule.status ?? 429;
      return fail(status, rejection.rule.type ?? (status === 429 ? 'es_rejected_execution_exception' : 'exception'),
        rejection.rule.reason ?? (status === 429
          ? 'rejected execution of primary operation [coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, primary_operation_bytes=1024, max_coordinating_and_primary_bytes=0]'
          : `injected item failure ${status}`));
    }

    if (op.action === 'delete') return this.deleteItem(target, id);
    if (op.action === 'update') return fail(400, 'illegal_argument_exception', 'the dockhand test server does not implement update');
    const sourceText = op.source!;
    const parseErrorType = this.major >= 8 ? 'document_parsing_exception' : 'mapper_parsing_exception';
    const poison = this.poisonRule;
    if (poison && poison.matches(target) && poison.regex.test(sourceText)) {
      this.counters.poisoned++;
      return fail(poison.rule.status ?? 400, poison.rule.type ?? 'mapper_parsing_exception',
        poison.rule.reason ?? `failed to parse: document with id '${id ?? ''}' matches the poison pattern ${String(poison.regex)}`);
    }
    let source: unknown;
    try {
      source = this.options.countOnly ? COUNT_ONLY_SOURCE : JSON.parse(sourceText);
    } catch (error) {
      return fail(400, parseErrorType, `[1:1] failed to parse: ${(error as Error).message}`);
    }
    if (!isPlainObject(source)) return fail(400, parseErrorType, `[1:1] failed to parse: source must be an object, found [${tokenName(source)}]`);

    const create = op.action === 'create' || op.params.op_type === 'create';
    let index: IndexState;
    try {
      index = this.writeTarget(target, create);
    } catch (error) {
      if (!(error instanceof ItemError)) throw error;
      return fail(error.status, error.type, error.message);
    }
    if (index.dataStream !== undefined && fieldValues(source, '@timestamp').length === 0) {
      return fail(400, parseErrorType, '[1:1] failed to parse: data stream timestamp field [@timestamp] is missing', index.name);
    }
    const docId = id ?? randomBytes(15).toString('base64url');
    const existing = index.docs.get(docId);
    if (existing && create) {
      this.counters.duplicates++;
      return versionConflict(index, docId, existing._version);
    }
    try {
      if (!this.options.countOnly) applyMapping(index.mapping, source, docId, parseErrorType);
    } catch (error) {
      if (!(error instanceof MappingError)) throw error;
      return { _index: index.name, _id: docId, status: 400, error: { type: error.type, reason: error.message } };
    }
    const version = (existing?._version ?? 0) + 1;
    const stored: StoredDocument = { _index: index.name, _id: docId, _version: version, _seq_no: index.seqNo++, _source: source };
    index.docs.set(docId, stored);
    if (existing) this.counters.updated++;
    else this.counters.created++;
    return existing ? {
      _index: index.name, _id: docId, _version: version, result: 'updated',
      _shards: { total: 2, successful: 1, failed: 0 }, _seq_no: stored._seq_no, _primary_term: 1, status: 200,
    } : created(index, docId, stored._seq_no);
  }

  private deleteItem(target: string, id: string | undefined): Record<string, unknown> {
    const index = this.writeIndexOf(target);
    const docId = id ?? '';
    if (!index) return { _index: target, _id: docId, status: 404, error: { type: 'index_not_found_exception', reason: `no such index [${target}]`, index: target } };
    const existing = index.docs.get(docId);
    if (existing) index.docs.delete(docId);
    return {
      _index: index.name, _id: docId, _version: (existing?._version ?? 0) + 1, result: existing ? 'deleted' : 'not_found',
      _shards: { total: 2, successful: 1, failed: 0 }, _seq_no: index.seqNo++, _primary_term: 1, status: existing ? 200 : 404,
    };
  }

  /** Where a write to `name` lands: a data stream's write index, an index, or one created now from a template. */
  private writeTarget(name: string, create: boolean): IndexState {
    const ds = this.dataStreams.get(name);
    if (ds) {
      if (!create) throw new ItemError(400, 'illegal_argument_exception', 'only write ops with an op_type of create are allowed in data streams');
      return this.indices.get(ds.backing[ds.backing.length - 1]!)!;
    }
    const existing = this.indices.get(name);
    if (existing) return existing;
    const template = this.matchingTemplate(name);
    if (template?.body.data_stream) {
      if (!create) throw new ItemError(400, 'illegal_argument_exception', 'only write ops with an op_type of create are allowed in data streams');
      return this.indices.get(this.createDataStream(name, template.name).backing[0]!)!;
    }
    return this.createIndex(name, undefined, template);
  }

  private writeIndexOf(name: string): IndexState | undefined {
    const ds = this.dataStreams.get(name);
    if (ds) return this.indices.get(ds.backing[ds.backing.length - 1]!);
    return this.indices.get(name);
  }

  // ---- indices, data streams, templates -------------------------------------------------------

  private matchingTemplate(name: string): { name: string; body: IndexTemplate } | undefined {
    let best: { name: string; body: IndexTemplate } | undefined;
    for (const [templateName, body] of this.indexTemplates) {
      if (!body.index_patterns.some((p) => globRegExp(p)(name))) continue;
      // Global templates do not apply to hidden indices.
      if (name.startsWith('.') && body.index_patterns.includes('*')) continue;
      if (!best || (body.priority ?? 0) > (best.body.priority ?? 0)) best = { name: templateName, body };
    }
    return best;
  }

  private templateMapping(template: { name: string; body: IndexTemplate } | undefined, explicit?: Record<string, unknown>): RootMapping {
    const sources: (Record<string, unknown> | undefined)[] = [];
    for (const component of template?.body.composed_of ?? []) {
      sources.push((this.componentTemplates.get(component)?.template as { mappings?: Record<string, unknown> } | undefined)?.mappings);
    }
    sources.push(template?.body.template?.mappings, explicit);
    return mergeMappings(...sources);
  }

  /** A template's data stream lifecycle: its components' in order, then its own, the last one set winning. */
  private templateLifecycle(template: { name: string; body: IndexTemplate }): DataStreamLifecycle | undefined {
    let lifecycle: DataStreamLifecycle | undefined;
    for (const component of template.body.composed_of ?? []) {
      const own = (this.componentTemplates.get(component)?.template as { lifecycle?: DataStreamLifecycle } | undefined)?.lifecycle;
      if (own) lifecycle = { ...lifecycle, ...own };
    }
    if (template.body.template?.lifecycle) lifecycle = { ...lifecycle, ...template.body.template.lifecycle };
    return lifecycle;
  }

  private explainLifecycle(ds: DataStreamState, index: IndexState): LifecycleExplanation {
    const policy = index.settings['index.lifecycle.name'];
    const ilmPolicy = typeof policy === 'string' && policy !== '' ? policy : undefined;
    const preferIlm = String(index.settings['index.lifecycle.prefer_ilm'] ?? true) !== 'false';
    const dsl = ds.lifecycle !== undefined && ds.lifecycle.enabled !== false;
    const managedBy = ilmPolicy && (preferIlm || !dsl) ? 'Index Lifecycle Management' : dsl ? 'Data stream lifecycle' : 'Unmanaged';
    return { managedBy, ilmPolicy, preferIlm, retention: dsl ? ds.lifecycle?.data_retention : undefined };
  }

  private templateSettings(template: { name: string; body: IndexTemplate } | undefined, explicit?: Record<string, unknown>): Record<string, unknown> {
    const settings: Record<string, unknown> = {};
    for (const component of template?.body.composed_of ?? []) {
      Object.assign(settings, flattenSettings((this.componentTemplates.get(component)?.template as { settings?: Record<string, unknown> } | undefined)?.settings));
    }
    Object.assign(settings, flattenSettings(template?.body.template?.settings), flattenSettings(explicit));
    return settings;
  }

  private createIndex(name: string, dataStream: string | undefined, template: { name: string; body: IndexTemplate } | undefined, body: Record<string, unknown> = {}): IndexState {
    const settings = this.templateSettings(template, body.settings as Record<string, unknown> | undefined);
    const state: IndexState = {
      name,
      uuid: randomBytes(16).toString('base64url').slice(0, 22),
      docs: new Documents(name),
      seqNo: 0,
      dataStream,
      hidden: dataStream !== undefined || name.startsWith('.') || settings['index.hidden'] === true || settings['index.hidden'] === 'true',
      mapping: this.templateMapping(template, body.mappings as Record<string, unknown> | undefined),
      settings,
      createdAt: Date.now(),
    };
    this.indices.set(name, state);
    return state;
  }

  private createDataStream(name: string, templateName: string): DataStreamState {
    const template = this.indexTemplates.get(templateName)!;
    const now = new Date();
    const date = `${now.getUTCFullYear()}.${String(now.getUTCMonth() + 1).padStart(2, '0')}.${String(now.getUTCDate()).padStart(2, '0')}`;
    const backingName = `.ds-${name}-${date}-000001`;
    const ds: DataStreamState = { name, template: templateName, backing: [backingName], createdAt: now.getTime(), lifecycle: this.templateLifecycle({ name: templateName, body: template }) };
    this.dataStreams.set(name, ds);
    this.createIndex(backingName, name, { name: templateName, body: template });
    return ds;
  }

  /** Resolves an index expression (names, data streams, globs, comma lists) to concrete indices. */
  private resolve(expression: string, opts: { ignoreUnavailable?: boolean; includeHidden?: boolean } = {}): IndexState[] {
    const out = new Set<IndexState>();
    for (const part of expression.split(',').map((p) => p.trim()).filter(Boolean)) {
      if (part === '_all' || part.includes('*')) {
        const matches = part === '_all' ? () => true : globRegExp(part);
        for (const ds of this.dataStreams.values()) {
          if (matches(ds.name)) for (const b of ds.backing) out.add(this.indices.get(b)!);
        }
        for (const index of this.indices.values()) {
          if ((!index.hidden || opts.includeHidden) && matches(index.name)) out.add(index);
        }
        continue;
      }
      const ds = this.dataStreams.get(part);
      if (ds) {
        for (const b of ds.backing) out.add(this.indices.get(b)!);
        continue;
      }
      const index = this.indices.get(part);
      if (index) out.add(index);
      else if (!opts.ignoreUnavailable) throw new HttpError({ status: 404, body: indexNotFound(part) });
    }
    return [...out];
  }

  private indexEndpoint(method: string, name: string, json: () => unknown): Reply {
    if (method === 'HEAD') return { status: this.indices.has(name) || this.dataStreams.has(name) ? 200 : 404 };
    if (method === 'GET') {
      const found = this.resolve(name);
      const body: Record<string, unknown> = {};
      for (const index of found) {
        body[index.name] = { aliases: {}, mappings: index.mapping, settings: { index: { ...index.settings, uuid: index.uuid, provided_name: index.name } }, ...(index.dataStream ? { data_stream: index.dataStream } : {}) };
      }
      return { status: 200, body };
    }
    if (method === 'DELETE') {
      for (const index of this.resolve(name)) {
        if (index.dataStream) throw new HttpError({ status: 400, body: esError(400, 'illegal_argument_exception', `index [${index.name}] is the write index for data stream [${index.dataStream}] and cannot be deleted`) });
        this.indices.delete(index.name);
      }
      return { status: 200, body: { acknowledged: true } };
    }
    if (method !== 'PUT' && method !== 'POST') return methodNotAllowed(method, `/${name}`, ['GET', 'HEAD', 'PUT', 'DELETE']);
    const problem = invalidIndexName(name);
    if (problem) return { status: 400, body: esError(400, 'invalid_index_name_exception', `Invalid index name [${name}], ${problem}`, { 'index_uuid': '_na_', index: name }) };
    const existing = this.indices.get(name);
    if (existing || this.dataStreams.has(name)) {
      return { status: 400, body: esError(400, 'resource_already_exists_exception', `index [${name}/${existing?.uuid ?? '_na_'}] already exists`, { 'index_uuid': existing?.uuid ?? '_na_', index: name }) };
    }
    const template = this.matchingTemplate(name);
    if (template?.body.data_stream) {
      return { status: 400, body: esError(400, 'illegal_argument_exception', `cannot create index with name [${name}], because it matches with template [${template.name}] that creates data streams only, use create data stream api instead`) };
    }
    const body = (json() ?? {}) as Record<string, unknown>;
    if (!isPlainObject(body)) return { status: 400, body: esError(400, 'parse_exception', 'request body must be an object') };
    this.createIndex(name, undefined, template, body);
    return { status: 200, body: { acknowledged: true, shards_acknowledged: true, index: name } };
  }

  private indexTemplateEndpoint(method: string, name: string | undefined, json: () => unknown, query: URLSearchParams): Reply {
    if (method === 'GET' || method === 'HEAD') {
      const matches = name ? name.split(',').map(globRegExp) : [() => true];
      const found = [...this.indexTemplates].filter(([n]) => matches.some((m) => m(n)));
      if (name && !name.includes('*') && found.length === 0) {
        return { status: 404, body: esError(404, 'resource_not_found_exception', `index template matching [${name}] not found`) };
      }
      return { status: 200, body: { index_templates: found.map(([n, body]) => ({ name: n, index_template: body })) } };
    }
    if (!name) return methodNotAllowed(method, '/_index_template', ['GET']);
    if (method === 'DELETE') {
      if (!this.indexTemplates.delete(name)) return { status: 404, body: esError(404, 'index_template_missing_exception', `index_template [${name}] missing`) };
      return { status: 200, body: { acknowledged: true } };
    }
    if (method !== 'PUT' && method !== 'POST') return methodNotAllowed(method, `/_index_template/${name}`, ['GET', 'HEAD', 'PUT', 'POST', 'DELETE']);
    const body = json();
    if (!isPlainObject(body)) return validationFailed(['index template is missing']);
    if (!Array.isArray(body.index_patterns) || body.index_patterns.length === 0) return validationFailed(['index patterns are missing']);
    if (query.get('create') === 'true' && this.indexTemplates.has(name)) {
      return { status: 400, body: esError(400, 'illegal_argument_exception', `index template [${name}] already exists`) };
    }
    const template = body as IndexTemplate;
    const refused = this.refusedTemplateField(template);
    if (refused) return refused;
    const ignored = new Set(template.ignore_missing_component_templates ?? []);
    const missing = (template.composed_of ?? []).filter((c) => !this.componentTemplates.has(c) && !ignored.has(c));
    if (missing.length > 0) {
      return { status: 400, body: esError(400, 'invalid_index_template_exception', `index_template [${name}] invalid, cause [index template [${name}] specifies a missing component templates ${bracket(missing)} that does not exist and is not part of 'ignore_missing_component_templates']`) };
    }
    const clash = this.samePriorityOverlap(name, template);
    if (clash) return { status: 400, body: esError(400, 'illegal_argument_exception', clash) };
    this.indexTemplates.set(name, structuredClone(template));
    return { status: 200, body: { acknowledged: true } };
  }

  /** Fields this version does not know (ignore_missing_component_templates came in 8.7, the lifecycle in 8.11), or malformed. */
  private refusedTemplateField(template: IndexTemplate): Reply | undefined {
    const unknown = (field: string) => ({ status: 400, body: esError(400, 'x_content_parse_exception', `[1:2] [index_template] unknown field [${field}]`) });
    const ignored = template.ignore_missing_component_templates;
    if (ignored !== undefined) {
      if (!this.atLeast(8, 7)) return unknown('ignore_missing_component_templates');
      if (!Array.isArray(ignored) || ignored.some((n) => typeof n !== 'string')) return { status: 400, body: esError(400, 'x_content_parse_exception', '[1:2] [index_template] failed to parse field [ignore_missing_component_templates]') };
    }
    const lifecycle = template.template?.lifecycle;
    if (lifecycle !== undefined) {
      if (!this.atLeast(8, 11)) return unknown('lifecycle');
      if (!isPlainObject(lifecycle) || (lifecycle.data_retention !== undefined && !/^\d+(d|h|m|s|ms|micros|nanos)$/.test(String(lifecycle.data_retention)))) {
        return { status: 400, body: esError(400, 'x_content_parse_exception', '[1:2] [template] failed to parse field [lifecycle]') };
      }
    }
    return undefined;
  }

  private atLeast(major: number, minor: number): boolean {
    const [a = 0, b = 0] = this.version.split('.').map(Number);
    return a > major || (a === major && b >= minor);
  }

  /** Elasticsearch refuses two templates of one priority whose patterns overlap; approximated by pattern prefixes. */
  private samePriorityOverlap(name: string, template: IndexTemplate): string | undefined {
    const priority = template.priority ?? 0;
    for (const [otherName, other] of this.indexTemplates) {
      if (otherName === name || (other.priority ?? 0) !== priority) continue;
      const overlaps = template.index_patterns.some((a) => other.index_patterns.some((b) => patternsOverlap(a, b)));
      if (overlaps) {
        return `index template [${name}] has index patterns ${bracket(template.index_patterns)} matching patterns from existing templates [${otherName}] with patterns (${otherName} => ${bracket(other.index_patterns)}) that have the same priority [${priority}], multiple index templates may not match during index creation, please use a different priority`;
      }
    }
    return undefined;
  }

  private componentTemplateEndpoint(method: string, name: string | undefined, json: () => unknown): Reply {
    if (method === 'GET' || method === 'HEAD') {
      const matches = name ? globRegExp(name) : () => true;
      const found = [...this.componentTemplates].filter(([n]) => matches(n));
      if (name && !name.includes('*') && found.length === 0) {
        return { status: 404, body: esError(404, 'resource_not_found_exception', `component template matching [${name}] not found`) };
      }
      return { status: 200, body: { component_templates: found.map(([n, body]) => ({ name: n, component_template: body })) } };
    }
    if (!name) return methodNotAllowed(method, '/_component_template', ['GET']);
    if (method === 'DELETE') {
      if (!this.componentTemplates.delete(name)) return { status: 404, body: esError(404, 'resource_not_found_exception', `component template matching [${name}] not found`) };
      return { status: 200, body: { acknowledged: true } };
    }
    if (method !== 'PUT' && method !== 'POST') return methodNotAllowed(method, `/_component_template/${name}`, ['GET', 'HEAD', 'PUT', 'POST', 'DELETE']);
    const body = json();
    if (!isPlainObject(body) || !isPlainObject(body.template)) return validationFailed(['template is required']);
    this.componentTemplates.set(name, structuredClone(body));
    return { status: 200, body: { acknowledged: true } };
  }

  private ilmEndpoint(method: string, name: string | undefined, json: () => unknown): Reply {
    if (method === 'GET') {
      const matches = name ? globRegExp(name) : () => true;
      const found = [...this.ilmPolicies].filter(([n]) => matches(n));
      if (name && !name.includes('*') && found.length === 0) {
        return { status: 404, body: esError(404, 'resource_not_found_exception', `Lifecycle policy not found: [${name}]`) };
      }
      return { status: 200, body: Object.fromEntries(found.map(([n, p]) => [n, { ...p, in_use_by: { indices: [], data_streams: [], composable_templates: [] } }])) };
    }
    if (!name) return methodNotAllowed(method, '/_ilm/policy', ['GET']);
    if (method === 'DELETE') {
      if (!this.ilmPolicies.delete(name)) return { status: 404, body: esError(404, 'resource_not_found_exception', `Lifecycle policy not found: [${name}]`) };
      return { status: 200, body: { acknowledged: true } };
    }
    if (method !== 'PUT') return methodNotAllowed(method, `/_ilm/policy/${name}`, ['GET', 'PUT', 'DELETE']);
    const body = json();
    if (!isPlainObject(body) || !isPlainObject(body.policy)) return { status: 400, body: esError(400, 'x_content_parse_exception', '[1:2] [put_lifecycle_request] policy is required') };
    if (body.policy.phases !== undefined && !isPlainObject(body.policy.phases)) return { status: 400, body: esError(400, 'x_content_parse_exception', '[1:12] [lifecycle_policy] failed to parse field [phases]') };
    const previous = this.ilmPolicies.get(name);
    this.ilmPolicies.set(name, { version: (previous?.version ?? 0) + 1, modified_date: new Date().toISOString(), policy: structuredClone(body.policy) });
    return { status: 200, body: { acknowledged: true } };
  }

  private dataStreamEndpoint(method: string, name: string | undefined): Reply {
    if (method === 'GET') {
      const names = name ? name.split(',') : ['*'];
      const found: DataStreamState[] = [];
      for (const n of names) {
        if (n.includes('*')) {
          const matches = globRegExp(n);
          found.push(...[...this.dataStreams.values()].filter((ds) => matches(ds.name)));
        } else {
          const ds = this.dataStreams.get(n);
          if (!ds) return { status: 404, body: indexNotFound(n) };
          found.push(ds);
        }
      }
      return {
        status: 200,
        body: {
          data_streams: found.map((ds) => ({
            name: ds.name,
            timestamp_field: { name: '@timestamp' },
            indices: ds.backing.map((b) => {
              const explained = this.explainLifecycle(ds, this.indices.get(b)!);
              return { index_name: b, index_uuid: this.indices.get(b)!.uuid, prefer_ilm: explained.preferIlm, ...(explained.ilmPolicy ? { ilm_policy: explained.ilmPolicy } : {}), managed_by: explained.managedBy };
            }),
            ...(ds.lifecycle ? { lifecycle: { enabled: ds.lifecycle.enabled ?? true, ...(ds.lifecycle.data_retention ? { data_retention: ds.lifecycle.data_retention } : {}) } } : {}),
            next_generation_managed_by: this.explainLifecycle(ds, this.indices.get(ds.backing.at(-1)!)!).managedBy,
            generation: ds.backing.length,
            status: 'GREEN',
            template: ds.template,
            hidden: false,
            system: false,
            allow_custom_routing: false,
            replicated: false,
          })),
        },
      };
    }
    if (!name) return methodNotAllowed(method, '/_data_stream', ['GET']);
    if (method === 'DELETE') {
      const ds = this.dataStreams.get(name);
      if (!ds) return { status: 404, body: indexNotFound(name) };
      for (const b of ds.backing) this.indices.delete(b);
      this.dataStreams.delete(name);
      return { status: 200, body: { acknowledged: true } };
    }
    if (method !== 'PUT') return methodNotAllowed(method, `/_data_stream/${name}`, ['GET', 'PUT', 'DELETE']);
    const problem = invalidIndexName(name);
    if (problem) return { status: 400, body: esError(400, 'invalid_index_name_exception', `Invalid index name [${name}], ${problem}`) };
    if (this.dataStreams.has(name)) return { status: 400, body: esError(400, 'resource_already_exists_exception', `data_stream [${name}] already exists`) };
    if (this.indices.has(name)) return { status: 400, body: esError(400, 'resource_already_exists_exception', `index [${name}] already exists`) };
    const template = this.matchingTemplate(name);
    if (!template?.body.data_stream) return { status: 400, body: esError(400, 'illegal_argument_exception', `no matching index template found for data stream [${name}]`) };
    this.createDataStream(name, template.name);
    return { status: 200, body: { acknowledged: true } };
  }

  // ---- reading ---------------------------------------------------------------------------------

  private refresh(expression: string): Reply {
    const n = this.resolve(expression, { ignoreUnavailable: expression === '*' }).length;
    return { status: 200, body: { _shards: { total: n * 2, successful: n, failed: 0 } } };
  }

  private countEndpoint(expression: string, json: () => unknown, query: URLSearchParams): Reply {
    const indices = this.resolve(expression, { ignoreUnavailable: query.get('ignore_unavailable') === 'true' });
    const body = json();
    const predicate = compileQuery(isPlainObject(body) ? body.query : undefined);
    let count = 0;
    for (const index of indices) for (const doc of index.docs.values()) if (predicate(doc)) count++;
    return { status: 200, body: { count, _shards: shards(indices.length) } };
  }

  private search(expression: string, json: () => unknown, query: URLSearchParams, started: number): Reply {
    const indices = this.resolve(expression, { ignoreUnavailable: query.get('ignore_unavailable') === 'true' });
    const body = (json() ?? {}) as Record<string, unknown>;
    const predicate = compileQuery(body.query);
    const matched: StoredDocument[] = [];
    for (const index of indices) for (const doc of index.docs.values()) if (predicate(doc)) matched.push(doc);
    const sort = parseSort(body.sort ?? query.get('sort') ?? undefined);
    if (sort.length > 0) matched.sort((a, b) => compareBy(sort, a, b));
    const from = Number(body.from ?? query.get('from') ?? 0);
    const size = Number(body.size ?? query.get('size') ?? 10);
    const hits = matched.slice(from, from + size).map((doc) => ({
      _index: doc._index, _id: doc._id, _score: sort.length > 0 ? null : 1, _source: doc._source,
      ...(sort.length > 0 ? { sort: sort.map((s) => fieldValues(doc._source, s.field)[0] ?? null) } : {}),
    }));
    return {
      status: 200,
      body: {
        took: Date.now() - started,
        timed_out: false,
        _shards: shards(indices.length),
        hits: { total: { value: matched.length, relation: 'eq' }, max_score: sort.length > 0 || matched.length === 0 ? null : 1, hits },
      },
    };
  }

  private getDocument(method: string, expression: string, id: string): Reply {
    if (method !== 'GET' && method !== 'HEAD') return methodNotAllowed(method, `/${expression}/_doc/${id}`, ['GET', 'HEAD']);
    const indices = this.resolve(expression);
    for (const index of indices) {
      const doc = index.docs.get(id);
      if (doc) return { status: 200, body: { _index: doc._index, _id: doc._id, _version: doc._version, _seq_no: doc._seq_no, _primary_term: 1, found: true, _source: doc._source } };
    }
    return { status: 404, body: { _index: indices[0]?.name ?? expression, _id: id, found: false } };
  }

  // ---- /_test/ API: the same faults over HTTP, for tests that drive the server from another process ----

  private async testApi(method: string, path: string, body: Buffer): Promise<Reply> {
    const input = body.length > 0 ? JSON.parse(body.toString('utf8')) as Record<string, unknown> : {};
    if (path === '/_test/counters' && method === 'GET') {
      const { receivedById, rejectedById: _rejectedById, ...rest } = this.counters;
      let resent = 0;
      for (const n of receivedById.values()) if (n > 1) resent += n - 1;
      return { status: 200, body: { ...rest, distinctIds: receivedById.size, resent, stored: this.count('*') } };
    }
    if (path === '/_test/reset' && method === 'POST') {
      this.reset();
      return { status: 200, body: { acknowledged: true } };
    }
    if (path === '/_test/faults' && method === 'DELETE') {
      this.clearFaults();
      await this.acceptConnections();
      return { status: 200, body: { acknowledged: true } };
    }
    if (path === '/_test/faults' && (method === 'POST' || method === 'PUT')) {
      if ('fail' in input) {
        const rule = input.fail as (Omit<RequestFailureRule, 'match' | 'body'> & { match?: string; body?: string }) | null;
        this.failRequests(rule === null ? undefined : {
          ...rule,
          match: typeof rule.match === 'string' ? new RegExp(rule.match) : undefined,
          body: typeof rule.body === 'string' ? new RegExp(rule.body) : undefined,
        });
      }
      if ('delay_ms' in input) this.delayResponses(Number(input.delay_ms));
      if ('reject' in input) this.rejectItems(input.reject === null ? undefined : input.reject as ItemRejectionRule);
      if ('poison' in input) this.poison(input.poison === null ? undefined : input.poison as PoisonRule);
      if ('block_writes' in input) this.blockWrites(input.block_writes === null ? undefined : String(input.block_writes));
      if ('refuse_index' in input) this.refuseIndex(input.refuse_index === null ? undefined : input.refuse_index as IndexRefusalRule | string);
      if ('ignore_content_encoding' in input) this.ignoreContentEncoding(input.ignore_content_encoding === true);
      if ('auth' in input) this.requireAuth(input.auth === null ? undefined : input.auth as AuthRule);
      if (typeof input.refuse_for_ms === 'number') {
        const ms = input.refuse_for_ms;
        // Answer first, then close: the caller learns the fault is on.
        setTimeout(() => {
          void this.refuseConnections().then(() => this.sleep(ms)).then(() => this.acceptConnections());
        }, 10);
      }
      return { status: 200, body: { acknowledged: true } };
    }
    return { status: 404, body: { error: `no test API at ${method} ${path}` } };
  }

  private installBuiltinTemplates(): void {
    const dataStreamFields = { type: { type: 'constant_keyword' }, dataset: { type: 'constant_keyword' }, namespace: { type: 'constant_keyword' } };
    const managed = (this.options.managedTemplates ?? 'managed') === 'managed';
    const rollover = { phases: { hot: { min_age: '0ms', actions: { rollover: { max_age: '30d', max_primary_shard_size: '50gb' } } } }, _meta: { managed: true } };
    for (const type of ['logs', 'metrics']) {
      // Elastic's component names and ILM policy names changed in 8.11 (logs-settings -> logs@settings, logs -> logs@lifecycle).
      const [mappingsName, settingsName, policy] = managed ? [`${type}@mappings`, `${type}@settings`, `${type}@lifecycle`] : [`${type}-mappings`, `${type}-settings`, type];
      this.ilmPolicies.set(policy, { version: 1, modified_date: new Date(0).toISOString(), policy: structuredClone(rollover) });
      this.componentTemplates.set(mappingsName, {
        template: { mappings: { date_detection: false, properties: { '@timestamp': { type: 'date' }, data_stream: { properties: dataStreamFields } } } },
        _meta: { managed: true }, version: 1,
      });
      this.componentTemplates.set(settingsName, {
        template: { settings: { index: { lifecycle: { name: policy }, codec: 'best_compression', mapping: { ignore_malformed: true } } } },
        _meta: { managed: true }, version: 1,
      });
      const custom = managed ? [`${type}@custom`] : [];
      if (managed) this.componentTemplates.set('ecs@mappings', { template: { mappings: { dynamic_templates: [{ ecs_timestamp: { match: '@timestamp', mapping: { type: 'date', ignore_malformed: false } } }] } }, _meta: { managed: true }, version: 1 });
      this.indexTemplates.set(type, {
        index_patterns: [`${type}-*-*`],
        priority: 100,
        data_stream: { hidden: false, allow_custom_routing: false },
        composed_of: [mappingsName, settingsName, ...custom, ...(managed ? ['ecs@mappings'] : [])],
        ...(managed ? { ignore_missing_component_templates: custom } : {}),
        _meta: { description: `default ${type} template installed by x-pack`, managed: true },
        version: 1,
      });
    }
  }
}

// ---- bulk parsing ------------------------------------------------------------------------------------

interface BulkOperation {
  readonly action: 'create' | 'index' | 'update' | 'delete';
  readonly params: Record<string, unknown>;
  readonly id: string | undefined;
  readonly source: string | undefined;
}

class ItemError extends Error {
  constructor(readonly status: number, readonly type: string, reason: string) {
    super(reason);
  }
}

/** Parses a bulk body as strictly as Elasticsearch's BulkRequestParser; problems are the 400 it would answer. */
function parseBulk(text: string): BulkOperation[] {
  const operations: BulkOperation[] = [];
  let from = 0;
  let line = 0;
  const nextLine = (): string | undefined => {
    if (from >= text.length) return undefined;
    const end = text.indexOf('\n', from);
    if (end === -1) throw new HttpError({ status: 400, body: esError(400, 'illegal_argument_exception', 'The bulk request must be terminated by a newline [\\n]') });
    const value = text.charCodeAt(end - 1) === 13 ? text.slice(from, end - 1) : text.slice(from, end);
    from = end + 1;
    line++;
    return value;
  };
  const malformed = (reason: string) => new HttpError({ status: 400, body: esError(400, 'illegal_argument_exception', reason) });
  for (;;) {
    const actionLine = nextLine();
    if (actionLine === undefined) break;
    if (actionLine.trim() === '') continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(actionLine);
    } catch (error) {
      throw new HttpError({ status: 400, body: esError(400, 'x_content_parse_exception', `[${line}:${jsonErrorColumn(error)}] ${(error as Error).message}`) });
    }
    if (!isPlainObject(parsed)) throw malformed(`Malformed action/metadata line [${line}], expected START_OBJECT but found [${tokenName(parsed)}]`);
    const keys = Object.keys(parsed);
    if (keys.length === 0) throw malformed(`Malformed action/metadata line [${line}], expected FIELD_NAME but found [END_OBJECT]`);
    const action = keys[0]!;
    if (!BULK_ACTIONS.has(action)) throw malformed(`Malformed action/metadata line [${line}], expected field [create], [delete], [index] or [update] but found [${action}]`);
    if (keys.length > 1) throw malformed(`Malformed action/metadata line [${line}], expected END_OBJECT but found [FIELD_NAME]`);
    const params = parsed[action];
    if (!isPlainObject(params)) throw malformed(`Malformed action/metadata line [${line}], expected START_OBJECT or END_OBJECT but found [${tokenName(params)}]`);
    for (const [key, value] of Object.entries(params)) {
      if (!BULK_PARAMS.has(key)) throw malformed(`Action/metadata line [${line}] contains an unknown parameter [${key}]`);
      if (key !== '_source' && key !== 'dynamic_templates' && value !== null && typeof value === 'object') {
        throw malformed(`Malformed action/metadata line [${line}], expected a simple value for field [${key}] but found [${tokenName(value)}]`);
      }
    }
    const opType = params.op_type;
    if (opType !== undefined && opType !== 'create' && opType !== 'index') {
      throw malformed(`opType must be 'create' or 'index', found: [${String(opType)}]`);
    }
    const id = params._id === undefined || params._id === null ? undefined : String(params._id);
    if (action === 'delete') {
      operations.push({ action, params, id, source: undefined });
      continue;
    }
    const actionLineNumber = line;
    const source = nextLine();
    if (source === undefined) throw malformed(`Malformed bulk request: the action/metadata line [${actionLineNumber}] is not followed by a source line`);
    operations.push({ action: action as BulkOperation['action'], params, id, source });
  }
  return operations;
}

// ---- queries -------------------------------------------------------------------------------------

type Predicate = (doc: StoredDocument) => boolean;

/** match_all, term, terms, ids, exists, range, prefix and bool (must/filter/should/must_not) over _source. */
function compileQuery(query: unknown): Predicate {
  if (query === undefined || query === null) return () => true;
  if (!isPlainObject(query)) throw badQuery('query must be an object');
  const [kind, arg] = Object.entries(query)[0] ?? [];
  switch (kind) {
    case 'match_all':
      return () => true;
    case 'match_none':
      return () => false;
    case 'ids': {
      const values = new Set(((arg as { values?: unknown[] }).values ?? []).map(String));
      return (doc) => values.has(doc._id);
    }
    case 'term':
    case 'match':
    case 'match_phrase': {
      const [field, spec] = Object.entries(arg as Record<string, unknown>)[0] ?? [];
      if (field === undefined) throw badQuery(`[${kind}] query needs a field`);
      const wanted = isPlainObject(spec) ? (spec.value ?? spec.query) : spec;
      if (field === '_id') return (doc) => doc._id === String(wanted);
      if (field === '_index') return (doc) => doc._index === String(wanted);
      return (doc) => fieldValues(doc._source, field).some((v) => String(v) === String(wanted));
    }
    case 'terms': {
      const [field, list] = Object.entries(arg as Record<string, unknown>)[0] ?? [];
      if (field === undefined || !Array.isArray(list)) throw badQuery('[terms] query needs a field and a list');
      const wanted = new Set(list.map(String));
      if (field === '_id') return (doc) => wanted.has(doc._id);
      return (doc) => fieldValues(doc._source, field).some((v) => wanted.has(String(v)));
    }
    case 'prefix': {
      const [field, spec] = Object.entries(arg as Record<string, unknown>)[0] ?? [];
      const wanted = String(isPlainObject(spec) ? spec.value : spec);
      return (doc) => fieldValues(doc._source, field ?? '').some((v) => String(v).startsWith(wanted));
    }
    case 'exists': {
      const field = String((arg as { field?: unknown }).field);
      return (doc) => fieldValues(doc._source, field).some((v) => v !== null && v !== undefined);
    }
    case 'range': {
      const [field, bounds] = Object.entries(arg as Record<string, Record<string, unknown>>)[0] ?? [];
      if (field === undefined || !bounds) throw badQuery('[range] query needs a field');
      return (doc) => fieldValues(doc._source, field).some((v) => inRange(v, bounds));
    }
    case 'bool': {
      const spec = arg as Record<string, unknown>;
      const list = (value: unknown) => (value === undefined ? [] : Array.isArray(value) ? value : [value]).map(compileQuery);
      const must = [...list(spec.must), ...list(spec.filter)];
      const should = list(spec.should);
      const mustNot = list(spec.must_not);
      const minimumShould = Number(spec.minimum_should_match ?? (must.length === 0 && should.length > 0 ? 1 : 0));
      return (doc) => must.every((p) => p(doc)) && !mustNot.some((p) => p(doc)) && should.filter((p) => p(doc)).length >= minimumShould;
    }
    default:
      throw badQuery(`unknown query [${String(kind)}]`);
  }
}

function inRange(value: unknown, bounds: Record<string, unknown>): boolean {
  const cmp = (a: unknown, b: unknown) => (typeof a === 'number' && typeof b === 'number' ? a - b : String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0);
  if (bounds.gt !== undefined && !(cmp(value, bounds.gt) > 0)) return false;
  if (bounds.gte !== undefined && !(cmp(value, bounds.gte) >= 0)) return false;
  if (bounds.lt !== undefined && !(cmp(value, bounds.lt) < 0)) return false;
  if (bounds.lte !== undefined && !(cmp(value, bounds.lte) <= 0)) return false;
  return true;
}

function badQuery(reason: string): HttpError {
  return new HttpError({ status: 400, body: esError(400, 'parsing_exception', reason) });
}

function parseSort(sort: unknown): { field: string; desc: boolean }[] {
  if (sort === undefined || sort === null) return [];
  const items = Array.isArray(sort) ? sort : typeof sort === 'string' ? sort.split(',') : [sort];
  return items.map((item) => {
    if (typeof item === 'string') {
      const [field, order] = item.split(':');
      return { field: field!, desc: order === 'desc' };
    }
    const [field, spec] = Object.entries(item as Record<string, unknown>)[0]!;
    const order = isPlainObject(spec) ? spec.order : spec;
    return { field, desc: order === 'desc' };
  });
}

function compareBy(sort: { field: string; desc: boolean }[], a: StoredDocument, b: StoredDocument): number {
  for (const { field, desc } of sort) {
    const va = field === '_id' ? a._id : fieldValues(a._source, field)[0];
    const vb = field === '_id' ? b._id : fieldValues(b._source, field)[0];
    if (va === vb) continue;
    if (va === undefined) return 1;
    if (vb === undefined) return -1;
    const order = typeof va === 'number' && typeof vb === 'number' ? va - vb : String(va) < String(vb) ? -1 : 1;
    return desc ? -order : order;
  }
  return a._seq_no - b._seq_no;
}

// ---- small helpers -------------------------------------------------------------------------------

function freshCounters(): EsCounters {
  return {
    requests: 0, bulkRequests: 0, failedRequests: 0, itemsReceived: 0, created: 0, updated: 0, duplicates: 0,
    rejected: 0, poisoned: 0, indexRefusals: 0, itemErrors: 0, bytesReceived: 0, maxConcurrentBulk: 0, receivedById: new Map(), rejectedById: new Map(),
  };
}

/** What nginx answers when it refuses a request itself. */
function proxyPage(status: number): string {
  const title = `${status} ${http.STATUS_CODES[status] ?? 'Error'}`;
  return `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`;
}

/** Elasticsearch's error envelope: the same cause as root_cause and at the top, plus the status. */
function esError(status: number, type: string, reason: string, extra: Record<string, unknown> = {}, causedBy?: { type: string; reason: string }): Record<string, unknown> {
  const cause = { type, reason, ...extra };
  return { error: { root_cause: [cause], ...cause, ...(causedBy ? { caused_by: causedBy } : {}) }, status };
}

function indexNotFound(name: string): Record<string, unknown> {
  return esError(404, 'index_not_found_exception', `no such index [${name}]`, { 'resource.type': 'index_or_alias', 'resource.id': name, index_uuid: '_na_', index: name });
}

function validationFailed(problems: string[]): Reply {
  const reason = `Validation Failed: ${problems.map((p, i) => `${i + 1}: ${p};`).join('')}`;
  return { status: 400, body: esError(400, 'action_request_validation_exception', reason) };
}

function methodNotAllowed(method: string, path: string, allowed: string[]): Reply {
  return { status: 405, body: { error: `Incorrect HTTP method for uri [${path}] and method [${method}], allowed: [${allowed.join(', ')}]`, status: 405 }, headers: { allow: allowed.join(',') } };
}

function shards(n: number): Record<string, number> {
  return { total: n, successful: n, skipped: 0, failed: 0 };
}

function parseJsonBody(body: Buffer, req: http.IncomingMessage): unknown {
  if (body.length === 0) return undefined;
  const contentType = String(req.headers['content-type'] ?? '');
  if (!/^application\/(json|vnd\.elasticsearch\+json)\b/.test(contentType)) {
    throw new HttpError({ status: 406, body: { error: `Content-Type header [${contentType}] is not supported`, status: 406 } });
  }
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new HttpError({ status: 400, body: esError(400, 'x_content_parse_exception', `[1:${jsonErrorColumn(error)}] ${(error as Error).message}`) });
  }
}

function jsonErrorColumn(error: unknown): number {
  const position = /position (\d+)/.exec(String((error as Error).message))?.[1];
  return position === undefined ? 1 : Number(position) + 1;
}

function tokenName(value: unknown): string {
  if (Array.isArray(value)) return 'START_ARRAY';
  if (value === null) return 'VALUE_NULL';
  switch (typeof value) {
    case 'string': return 'VALUE_STRING';
    case 'number': return 'VALUE_NUMBER';
    case 'boolean': return 'VALUE_BOOLEAN';
    case 'object': return 'START_OBJECT';
    default: return 'VALUE_EMBEDDED_OBJECT';
  }
}

function invalidIndexName(name: string): string | undefined {
  if (name !== name.toLowerCase()) return 'must be lowercase';
  if (INVALID_INDEX_CHARS.test(name)) return 'must not contain the following characters [ , ", *, \\, <, |, ,, >, /, ?, #, :]';
  if (/^[-_+]/.test(name)) return "must not start with '_', '-', or '+'";
  if (name === '.' || name === '..') return "must not be '.' or '..'";
  if (Buffer.byteLength(name) > 255) return 'index name is too long';
  return undefined;
}

function globRegExp(glob: string): (value: string) => boolean {
  const regex = new RegExp(`^${glob.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  return (value) => regex.test(value);
}

/**
 * Response filtering (`filter_path`): comma-separated dotted paths whose parts may hold `*` (any
 * characters of one key) or be `**` (any depth); arrays are filtered element by element, and
 * whatever matches nothing is left out. `-` exclusions are not supported.
 */
export function filterPath(body: unknown, expression: string): unknown {
  const patterns = expression.split(',').map((p) => p.trim()).filter(Boolean).map((p) => p.split('.'));
  return filterValue(body, patterns) ?? {};
}

function filterValue(value: unknown, patterns: readonly string[][]): unknown {
  if (Array.isArray(value)) {
    const kept = value.map((element) => filterValue(element, patterns)).filter((element) => element !== undefined);
    return kept.length > 0 ? kept : undefined;
  }
  if (!isPlainObject(value)) return undefined;
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) {
    let whole = false;
    const deeper: string[][] = [];
    const step = (pattern: readonly string[]) => {
      const [first, ...rest] = pattern;
      if (first === '**') {
        if (rest.length === 0) whole = true;
        else {
          deeper.push([...pattern]);
          step(rest);
        }
      } else if (first !== undefined && (first === key || (first.includes('*') && keyGlob(first)(key)))) {
        if (rest.length === 0) whole = true;
        else deeper.push(rest);
      }
    };
    for (const pattern of patterns) step(pattern);
    if (whole) out[key] = child;
    else if (deeper.length > 0) {
      const kept = filterValue(child, deeper);
      if (kept !== undefined) out[key] = kept;
    }
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

const keyGlobs = new Map<string, (value: string) => boolean>();
function keyGlob(glob: string): (value: string) => boolean {
  let match = keyGlobs.get(glob);
  if (!match) keyGlobs.set(glob, match = globRegExp(glob));
  return match;
}

function safeDecode(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

function anyGlob(globs: string): (value: string) => boolean {
  const matchers = globs.split(',').map((g) => globRegExp(g.trim()));
  return (value) => matchers.some((m) => m(value));
}

function patternsOverlap(a: string, b: string): boolean {
  if (globRegExp(a)(b) || globRegExp(b)(a)) return true;
  if (!a.includes('*') || !b.includes('*')) return false;
  const pa = a.split('*')[0]!;
  const pb = b.split('*')[0]!;
  return pa.startsWith(pb) || pb.startsWith(pa);
}

function bracket(list: string[]): string {
  return `[${list.join(', ')}]`;
}

function flattenSettings(settings: Record<string, unknown> | undefined, prefix = ''): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(settings ?? {})) {
    const full = prefix ? `${prefix}.${key}` : key;
    if (isPlainObject(value)) Object.assign(out, flattenSettings(value, full));
    else out[full.startsWith('index.') ? full : `index.${full}`] = value;
  }
  return out;
}

function privilegeFor(method: string, path: string): { action: string; privilege: string } {
  if (path.startsWith('/_index_template')) return { action: `indices:admin/index_template/${method === 'GET' ? 'get' : 'put'}`, privilege: 'cluster privileges [manage_index_templates,manage,all]' };
  if (path.startsWith('/_component_template')) return { action: `cluster:admin/component_template/${method === 'GET' ? 'get' : 'put'}`, privilege: 'cluster privileges [manage_index_templates,manage,all]' };
  if (path.startsWith('/_ilm')) return { action: `cluster:admin/ilm/${method === 'GET' ? 'get' : 'put'}`, privilege: 'cluster privileges [manage_ilm,manage,all]' };
  if (path.startsWith('/_data_stream')) return { action: 'indices:admin/data_stream/create', privilege: 'index privileges [create_index,manage,all]' };
  if (path.endsWith('/_bulk')) return { action: 'indices:data/write/bulk', privilege: 'index privileges [create_doc,create,index,write,all]' };
  return { action: 'indices:data/read/search', privilege: 'index privileges [read,all]' };
}

function basicUser(header: string): string {
  const decoded = Buffer.from(header.slice('Basic '.length), 'base64').toString('utf8');
  return decoded.split(':')[0] ?? '';
}

/**
 * The request body. With a content-length (within the limit) the chunks are copied as they come into
 * one buffer of that size (a count-only benchmark receives a million documents in 1.5 MB bodies);
 * otherwise, or if more or fewer bytes come than declared, they are kept and joined at the end.
 */
function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    let whole = Number.isSafeInteger(declared) && declared > 0 && declared <= limit ? Buffer.allocUnsafe(declared) : undefined;
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      const at = size;
      size += chunk.length;
      if (size > limit) return;
      if (whole && size <= whole.length) {
        chunk.copy(whole, at);
        return;
      }
      if (whole) chunks.push(whole.subarray(0, at));
      whole = undefined;
      chunks.push(chunk);
    });
    finished(req, (error) => {
      if (error) return reject(error);
      if (size > limit) {
        return reject(new HttpError({ status: 413, body: esError(413, 'content_too_long_exception', `Request content length [${size}] exceeds the maximum allowed [${limit}]`) }));
      }
      resolve(whole ? whole.subarray(0, size) : Buffer.concat(chunks));
    });
  });
}

async function decode(body: Buffer, encoding: string): Promise<Buffer> {
  if (body.length === 0) return body;
  if (/gzip/i.test(encoding)) return gunzip(body);
  if (/deflate/i.test(encoding)) return inflate(body);
  return body;
}

// ---- the count-only bulk path --------------------------------------------------------------------

/** What bulkItem() answers for a document it created. */
function created(index: IndexState, id: string, seqNo: number): Record<string, unknown> {
  return {
    _index: index.name, _id: id, _version: 1, result: 'created',
    _shards: { total: 2, successful: 1, failed: 0 }, _seq_no: seqNo, _primary_term: 1, status: 201,
  };
}

/** What bulkItem() answers for a `create` of an `_id` the index holds. */
function versionConflict(index: IndexState, id: string, version: number): Record<string, unknown> & { error: unknown } {
  return {
    _index: index.name, _id: id, status: 409,
    error: { type: 'version_conflict_engine_exception', reason: `[${id}]: version conflict, document already exists (current version [${version}])`, index_uuid: index.uuid, shard: '0', index: index.name },
  };
}

const CREATED_LEAN = '{"create":{"status":201}}';
const LEAN_BULK_FILTER = ['errors', 'items.*.error', 'items.*.status'].sort().join(',');

/** filter_path is the exporter's (in any order): the answer keeps `errors` and each item's status and error. */
function isLeanBulkFilter(filter: string): boolean {
  return filter.split(',').map((p) => p.trim()).sort().join(',') === LEAN_BULK_FILTER;
}

function filterPathOf(req: http.IncomingMessage): string | null {
  const at = req.url?.indexOf('?') ?? -1;
  return at < 0 ? null : new URLSearchParams(req.url!.slice(at + 1)).get('filter_path');
}

/** The items readCreateItems() found, in typed columns (an int32 hash in a JS array would be a heap number each). */
class CreateItems {
  count = 0;
  /** Each item's `_id` as raw[idStart, idEnd). */
  idStart = new Int32Array(1024);
  idEnd = new Int32Array(1024);
  /** fnv1a() of each id's UTF-8 (the Documents store's key). */
  idHash = new Int32Array(1024);
  /** Each item's target, an index into `targets`. */
  targetOf = new Int32Array(1024);
  readonly targets: string[] = [];
  /** Ids with bytes over 0x7f, by item: the UTF-8 of the string they decode to (the store's key, invalid sequences replaced as the full parser replaces them). */
  readonly recoded = new Map<number, Buffer>();

  add(idStart: number, idEnd: number, idHash: number, target: number): void {
    if (this.count === this.idStart.length) {
      this.idStart = grown(this.idStart, new Int32Array(this.count * 2));
      this.idEnd = grown(this.idEnd, new Int32Array(this.count * 2));
      this.idHash = grown(this.idHash, new Int32Array(this.count * 2));
      this.targetOf = grown(this.targetOf, new Int32Array(this.count * 2));
    }
    const i = this.count++;
    this.idStart[i] = idStart;
    this.idEnd[i] = idEnd;
    this.idHash[i] = idHash;
    this.targetOf[i] = target;
  }
}

const CREATE = Buffer.from('{"create":{');
const INDEX_KEY = Buffer.from('"_index":"');
const ID_KEY = Buffer.from('"_id":"');
const NEWLINE = 10;
const QUOTE = 34;
const BACKSLASH = 92;
const COMMA = 44;
const CLOSE_BRACE = 125;

/**
 * The items of a body made only of `{"create":{"_index":"<name>","_id":"<id>"}}` (or
 * `{"create":{"_id":"<id>"}}` under a path index) action lines, each followed by a source line, every
 * line ending in a newline, names and ids without escapes and ids of at most 512 bytes. Undefined for
 * any other body (parseBulk() then reads it as Elasticsearch would, errors included).
 *
 * Per item, the action's bytes up to its id are compared with the previous action's (the exporter
 * writes one target for a whole request), and the id is read, checked and hashed in one pass.
 */
function readCreateItems(raw: Buffer, pathIndex: string | undefined): CreateItems | undefined {
  const items = new CreateItems();
  let prefixAt = -1;
  let prefixLength = 0;
  let target = -1;
  let at = 0;
  while (at < raw.length) {
    let idStart: number;
    if (prefixAt >= 0 && sameRun(raw, prefixAt, at, prefixLength)) {
      idStart = at + prefixLength;
    } else {
      const action = readActionPrefix(raw, at, pathIndex);
      if (!action) return undefined;
      idStart = action.idStart;
      prefixAt = at;
      prefixLength = idStart - at;
      target = items.targets.indexOf(action.target);
      if (target < 0) target = items.targets.push(action.target) - 1;
    }
    // The id: its closing quote, no escape or control byte before it (a newline included, so the
    // action line cannot end inside it), hashed as it is read.
    let hash = FNV_OFFSET;
    let high = 0;
    let idEnd = idStart;
    for (; idEnd < raw.length; idEnd++) {
      const byte = raw[idEnd]!;
      if (byte === QUOTE) break;
      if (byte === BACKSLASH || byte < 32) return undefined;
      high |= byte;
      hash = Math.imul(hash ^ byte, FNV_PRIME);
    }
    // `"}}` and the newline close the action: nothing else in it.
    const actionEnd = idEnd + 3;
    if (actionEnd >= raw.length || raw[idEnd + 1] !== CLOSE_BRACE || raw[idEnd + 2] !== CLOSE_BRACE || raw[actionEnd] !== NEWLINE || idEnd - idStart > 512 || idEnd === idStart) return undefined;
    const sourceEnd = raw.indexOf(NEWLINE, actionEnd + 1);
    if (sourceEnd < 0 || sourceEnd === actionEnd + 1) return undefined;
    if (high > 0x7f) {
      const key = Buffer.from(raw.toString('utf8', idStart, idEnd), 'utf8');
      items.recoded.set(items.count, key);
      hash = fnv1a(key, 0, key.length);
    }
    items.add(idStart, idEnd, hash, target);
    at = sourceEnd + 1;
  }
  return items.count > 0 ? items : undefined;
}

/** Whether raw[at, at + length) repeats raw[from, from + length) (the action before, up to its id). */
function sameRun(raw: Buffer, from: number, at: number, length: number): boolean {
  if (at + length > raw.length) return false;
  for (let i = 0; i < length; i++) if (raw[at + i] !== raw[from + i]) return false;
  return true;
}

/** `{"create":{"_index":"<name>","_id":"` (or `{"create":{"_id":"` under a path index) at `at`: the target and where the id starts. */
function readActionPrefix(raw: Buffer, at: number, pathIndex: string | undefined): { target: string; idStart: number } | undefined {
  const actionEnd = raw.indexOf(NEWLINE, at);
  if (actionEnd < 0 || !startsWith(raw, CREATE, at)) return undefined;
  let key = at + CREATE.length;
  let target = pathIndex;
  if (startsWith(raw, INDEX_KEY, key)) {
    const nameEnd = plainStringEnd(raw, key + INDEX_KEY.length, actionEnd);
    if (nameEnd < 0 || raw[nameEnd + 1] !== COMMA) return undefined;
    target = raw.toString('utf8', key + INDEX_KEY.length, nameEnd);
    key = nameEnd + 2;
  }
  if (target === undefined || !startsWith(raw, ID_KEY, key)) return undefined;
  return { target, idStart: key + ID_KEY.length };
}

function startsWith(raw: Buffer, prefix: Buffer, at: number): boolean {
  return at + prefix.length <= raw.length && raw.compare(prefix, 0, prefix.length, at, at + prefix.length) === 0;
}

/** Where the JSON string starting at `from` ends (its closing quote), if it has no escape before `limit`; -1 otherwise. */
function plainStringEnd(raw: Buffer, from: number, limit: number): number {
  for (let i = from; i < limit; i++) {
    const byte = raw[i];
    if (byte === QUOTE) return i;
    if (byte === BACKSLASH || byte! < 32) return -1;
  }
  return -1;
}

/** A small seeded generator, so a share of rejections is the same run after run. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
