/**
 * The `_bulk` side: documents as `create` NDJSON pairs, requests cut to a byte budget, and what each
 * per-item status means for delivery.
 */
import type { Failure } from './connection.js';
import type { PreparedDocument } from './documents.js';

export interface BulkItem {
  readonly document: PreparedDocument;
  /** The action line and the source line, each newline-terminated. */
  readonly ndjson: string;
  readonly bytes: number;
}

/**
 * `create`, never `index`: a replayed document with the same `_id` is then a 409 instead of a second
 * copy (and `create` is the only action data streams take). Throws when the source cannot be
 * serialised (a bigint, or JSON nested deeper than JSON.stringify's stack).
 */
export function encodeItem(document: PreparedDocument): BulkItem {
  const ndjson = createAction(document);
  return { document, ndjson, bytes: Buffer.byteLength(ndjson) };
}

/** The action and source lines of encodeItem, for callers that build their own item object. */
export function createAction(document: PreparedDocument): string {
  return `{"create":{"_index":${JSON.stringify(document.index)},"_id":${JSON.stringify(document.id)}}}\n${document.json ?? JSON.stringify(document.source)}\n`;
}

/** Consecutive runs of items of at most `maxBytes` each; an item larger than that goes alone. */
export function splitByBytes<T extends { readonly bytes: number }>(items: readonly T[], maxBytes: number): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let size = 0;
  for (const item of items) {
    if (current.length > 0 && size + item.bytes > maxBytes) {
      chunks.push(current);
      current = [];
      size = 0;
    }
    current.push(item);
    size += item.bytes;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
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

export function classifyItem(item: ItemResponse | undefined): ItemOutcome {
  const status = item?.status;
  if (status === 200 || status === 201) return { result: 'stored' };
  if (status === 409) return { result: 'duplicate' };
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

/** One outcome per item sent, in order; throws when the response does not account for every item. */
export function itemOutcomes(body: unknown, sent: number): ItemOutcome[] {
  const items = (body as BulkResponseBody | undefined)?.items;
  if (!Array.isArray(items) || items.length !== sent) {
    throw new Error(`bulk response lists ${Array.isArray(items) ? items.length : 'no'} items for ${sent} sent`);
  }
  if ((body as BulkResponseBody).errors === false) return items.map(() => ({ result: 'stored' }) as const);
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
