/**
 * The `_bulk` side: documents written straight into one NDJSON body as `create` pairs, requests cut
 * to a byte budget, and what each per-item status means for delivery.
 */
import type { Failure } from './connection.js';
import type { PreparedDocument } from './documents.js';
import { ByteWriter, writeDigits9, writeLatin1 } from '../../src/util/byte-writer.js';
import { SecondCache, lineIdRoom, writeLineId, type LineRecord } from '../../src/records.js';

function actionText(index: string, id: string): string {
  return `{"create":{"_index":${JSON.stringify(index)},"_id":${JSON.stringify(id)}}}\n`;
}

const KEEP_BUFFERS = 4;
const KEEP_BUFFER_MAX_BYTES = 8 * 1024 * 1024;

/**
 * Buffers for bulk bodies, reused: a body is ~0.7 MB per 1,000 log lines, and allocating one per
 * request showed as RSS and GC churn. A buffer comes back only once its request was answered (a
 * request that failed may still be on a socket, so its buffer is left to the GC).
 */
export class BodyBuffers {
  private readonly free: Buffer[] = [];

  take(minBytes: number): Buffer {
    const i = this.free.findIndex((b) => b.length >= minBytes);
    if (i >= 0) return this.free.splice(i, 1)[0]!;
    // Headroom, so that a body a little larger than the last one does not grow (and copy) its buffer.
    return Buffer.allocUnsafeSlow(Math.ceil((minBytes * 1.25) / 65_536) * 65_536);
  }

  /**
   * Keeps `buffer` for reuse. When KEEP_BUFFERS are kept already, it takes the place of the smallest
   * if larger: the first bodies of a burst are small, and kept for good they left one place for the
   * large ones, so with two exports in flight every other body was a fresh ~1.9 MB buffer (mapped,
   * zeroed by the kernel, unmapped), and the external memory they added set off a full GC every few
   * hundred milliseconds.
   */
  give(buffer: Buffer): void {
    if (buffer.length > KEEP_BUFFER_MAX_BYTES) return;
    if (this.free.length < KEEP_BUFFERS) {
      this.free.push(buffer);
      return;
    }
    let smallest = 0;
    for (let i = 1; i < this.free.length; i++) if (this.free[i]!.length < this.free[smallest]!.length) smallest = i;
    if (this.free[smallest]!.length < buffer.length) this.free[smallest] = buffer;
  }
}

const TIMESTAMP_TO_MESSAGE = Buffer.from('Z","message":"');

/**
 * One export's documents as one NDJSON body, written in one pass: item `i` is the bytes from
 * `end(i - 1)` to `end(i)` (its action line and its source line). Requests are slices of it.
 */
export class BulkBody extends ByteWriter {
  private readonly ends: number[] = [];
  private reusable = true;

  /** `expectedBytes`: the size its first buffer is taken at (the last body's, say). */
  constructor(private readonly buffers: BodyBuffers, private readonly expectedBytes = 64 * 1024) {
    super();
  }

  get items(): number {
    return this.ends.length;
  }

  /** Starts item `items`: `prefix` is the cached `{"create":{"_index":…,"_id":` of its index; the rest of the item follows. */
  beginItem(prefix: Buffer): void {
    this.bytes(prefix);
  }

  /** Ends the item begun last (its source line written, without the newline). */
  endItem(): void {
    this.byte(10);
    this.ends.push(this.length);
  }

  /**
   * A log line's whole item when its id and message are plain ASCII (nothing to escape): `prefix`
   * (the action up to `"_id":`), the id (or the LineRecord it is written from), the document's timestamp and message, then `tail` (its
   * stream and the container's constant fields, `}` included). Room is made once and the pieces are
   * copied straight in: through ByteWriter's calls they cost more than the copying. False, with
   * nothing written, for a time the per-second date cache does not cover (before 1970-01-01T00:00:01Z).
   */
  plainLogItem(prefix: Buffer, id: string | LineRecord, ns: bigint, message: string, tail: Buffer): boolean {
    const second = this.seconds.partsOf(ns);
    if (second === undefined) return false;
    const { lead } = second;
    const nanos = this.seconds.nanosInto(ns);
    this.reserve(prefix.length + 1 + (typeof id === 'string' ? id.length : lineIdRoom(id)) + lead.length + 9 + TIMESTAMP_TO_MESSAGE.length + message.length + tail.length + 1);
    const buffer = this.buffer;
    let at = this.length;
    buffer.set(prefix, at);
    at += prefix.length;
    buffer[at++] = 0x22; // "
    at = typeof id === 'string' ? at + writeLatin1(buffer, id, at) : writeLineId(buffer, at, id, this.seconds.digits, nanos);
    buffer.set(lead, at);
    at += lead.length;
    at = writeDigits9(buffer, at, nanos);
    buffer.set(TIMESTAMP_TO_MESSAGE, at);
    at += TIMESTAMP_TO_MESSAGE.length;
    at += writeLatin1(buffer, message, at);
    buffer.set(tail, at);
    at += tail.length;
    buffer[at++] = 10;
    this.length = at;
    this.ends.push(at);
    return true;
  }

  /**
   * Per second, the bytes between a log item's id and its nanoseconds (`"}}\n{"@timestamp":"2026-11-30T07:05:04.`).
   */
  private readonly seconds = new SecondCache((datePrefix) => ({
    lead: Buffer.from(`"}}\n{"@timestamp":"${datePrefix}`, 'latin1'),
  }));

  /** A whole item as encoded before (a dead letter kept for a retry). */
  addEncoded(item: Buffer): void {
    this.bytes(item);
    this.ends.push(this.length);
  }

  /** A document built as an object (events, metrics, dead letters). Throws, adding nothing, when its source cannot be serialised. */
  addDocument(document: PreparedDocument): void {
    const source = document.json ?? JSON.stringify(document.source);
    this.utf8(actionText(document.index, document.id));
    this.utf8(source);
    this.endItem();
  }

  start(item: number): number {
    return item === 0 ? 0 : this.ends[item - 1]!;
  }

  end(item: number): number {
    return this.ends[item]!;
  }

  /** Items `from` to `to` (exclusive) as request bytes: a view, valid until release(). */
  slice(from: number, to: number): Buffer {
    return this.buffer.subarray(this.start(from), this.start(to));
  }

  /** Item `i` alone, copied (it outlives the body). */
  copyItem(i: number): Buffer {
    return Buffer.from(this.buffer.subarray(this.start(i), this.end(i)));
  }

  /** Consecutive item ranges `[from, to)` of at most `maxBytes` each; an item larger than that goes alone. */
  ranges(maxBytes: number): [number, number][] {
    const out: [number, number][] = [];
    let from = 0;
    for (let i = 0; i < this.ends.length; i++) {
      if (i > from && this.end(i) - this.start(from) > maxBytes) {
        out.push([from, i]);
        from = i;
      }
    }
    if (from < this.ends.length) out.push([from, this.ends.length]);
    return out;
  }

  /** A request of this body failed: it may still be on a socket, so release() must not hand the buffer out again. */
  keepBuffer(): void {
    this.reusable = false;
  }

  /** Done with the body: its buffer is handed back for reuse, unless keepBuffer() was called. */
  release(): void {
    if (this.reusable && this.buffer.length > 0) this.buffers.give(this.buffer);
    this.buffer = Buffer.alloc(0);
    this.length = 0;
    this.reusable = false;
  }

  protected override allocate(minBytes: number): Buffer {
    return this.buffers.take(Math.max(minBytes, this.expectedBytes));
  }

  protected override discard(old: Buffer): void {
    if (old.length > 0) this.buffers.give(old);
  }
}

export type ItemOutcome =
  | { readonly result: 'stored' }
  /** 409: a document with this `_id` is already there, from an earlier attempt. Delivered. */
  | { readonly result: 'duplicate' }
  /** Worth sending again: 429, 5xx, index blocks and other conditions of the cluster, not the document. */
  | { readonly result: 'retry'; readonly status: number; readonly type: string; readonly reason: string }
  /** The document itself is refused (mapping errors and other 4xx): dead-letter it. */
  | { readonly result: 'refused'; readonly status: number; readonly type: string; readonly reason: string }
  /** Not stored: the request failed as a whole, or was refused in a way not shown to be about this document (an outage). */
  | { readonly result: 'failed'; readonly failure: Failure };

interface ItemResponse {
  readonly status?: number;
  readonly error?: { readonly type?: string; readonly reason?: string; readonly caused_by?: { readonly reason?: string } } | string;
}

const STORED: ItemOutcome = Object.freeze({ result: 'stored' });
const DUPLICATE: ItemOutcome = Object.freeze({ result: 'duplicate' });

export function classifyItem(item: ItemResponse | undefined): ItemOutcome {
  const status = item?.status;
  if (status === 200 || status === 201) return STORED;
  if (status === 409) return DUPLICATE;
  const error = item?.error;
  const type = typeof error === 'object' ? error.type ?? 'unknown' : 'unknown';
  const reason = typeof error === 'object'
    ? [error.reason, error.caused_by?.reason].filter(Boolean).join(': ') || 'no reason given'
    : typeof error === 'string' ? error : 'no reason given';
  if (status === undefined) return { result: 'retry', status: 0, type: 'missing_status', reason: 'bulk item without a status' };
  // 403 covers index write blocks (cluster_block_exception) and missing index privileges; 404 an index
  // that may not be auto-created: the cluster's state, not the document's fault, so wait for it.
  if (status === 429 || status >= 500 || status === 401 || status === 403 || status === 404 || status === 408) {
    return { result: 'retry', status, type, reason };
  }
  return { result: 'refused', status, type, reason };
}

interface BulkResponseBody {
  readonly errors?: boolean;
  readonly items?: readonly Record<string, ItemResponse>[];
}

/**
 * A bulk answer without a single item error, not parsed (readAllStored): every item was stored, and
 * `itemCount` items were listed. Most answers are this.
 */
export interface AllStored {
  readonly errors: false;
  readonly itemCount: number;
}

/**
 * The answer to `filter_path=errors,items.*.error,items.*.status` when nothing failed, up to its first
 * item. JSON.parse of a 1,000-item answer made 2,000 objects (~0.6 µs a document) to learn nothing:
 * such an answer is only checked (one status per document sent) and counted.
 */
const ALL_STORED_HEAD = '{"errors":false,"items":[';

/** An AllStored for an answer of that shape; undefined for anything else (parse it). */
export function readAllStored(text: string): AllStored | undefined {
  if (!text.startsWith(ALL_STORED_HEAD) || !text.endsWith(']}')) return undefined;
  let count = 0;
  for (let at = text.indexOf('"status":', ALL_STORED_HEAD.length); at >= 0; at = text.indexOf('"status":', at + 9)) count++;
  return { errors: false, itemCount: count };
}

/** One outcome per item sent, in order; throws when the response does not account for every item. */
export function itemOutcomes(body: unknown, sent: number): ItemOutcome[] {
  const lean = body as Partial<AllStored> | undefined;
  if (lean && typeof lean.itemCount === 'number') {
    if (lean.itemCount !== sent) throw new Error(`bulk response lists ${lean.itemCount} items for ${sent} sent`);
    return new Array<ItemOutcome>(sent).fill(STORED);
  }
  const items = (body as BulkResponseBody | undefined)?.items;
  if (!Array.isArray(items) || items.length !== sent) {
    throw new Error(`bulk response lists ${Array.isArray(items) ? items.length : 'no'} items for ${sent} sent`);
  }
  if ((body as BulkResponseBody).errors === false) return new Array<ItemOutcome>(sent).fill(STORED);
  return items.map((entry) => classifyItem(Object.values(entry)[0] as ItemResponse | undefined));
}

/** At most `limit` tasks at once, shared by every export() call of the exporter. */
export class Limiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  get running(): number {
    return this.active;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      // Hand the slot straight to the next task, so `active` never dips and lets a newcomer jump the queue.
      if (next) next();
      else this.active--;
    }
  }
}
