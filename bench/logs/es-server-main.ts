/**
 * Child process: the Elasticsearch-compatible test server (test/helpers/es-server.ts) on a free port,
 * so that its own CPU is measured apart from the agent's. Prints `{"url": …, "control": …}` once
 * listening. `--count-only`: documents are counted and deduplicated by `_id`, their source neither
 * parsed nor kept (what the benchmarks use: the server's cost stays small and flat).
 *
 * `control` is a side port (never refused) answering:
 * - `GET /count?index=<expression>`: documents stored there, read from the server's maps (the `_count`
 *   API scans every document, too slow to poll at a million);
 * - `GET /stats`: the server's counters, and the wall-clock times (ms since the epoch) of the first
 *   bulk request and the first document created after the last `/accept`;
 * - `POST /refuse`, `POST /accept`: close the listener and every connection (ECONNREFUSED), and listen
 *   again on the same port (an outage and its end);
 * - `GET /sample`: the largest bulk request received (count-only mode), as JSON with the body in base64.
 * SIGTERM closes both.
 */
import http from 'node:http';
import { EsTestServer, type EsCounters } from '../../test/helpers/es-server.js';
import { serveChild } from '../lib/child.js';

export interface EsServerStats {
  readonly requests: number;
  readonly bulkRequests: number;
  readonly itemsReceived: number;
  readonly created: number;
  /** 409s answered: a `create` of an `_id` already stored (a resend the dedup caught). */
  readonly duplicates: number;
  readonly itemErrors: number;
  readonly bytesReceived: number;
  readonly maxConcurrentBulk: number;
  /** When the last /accept finished listening again (ms since the epoch). */
  readonly acceptedAt?: number;
  readonly firstBulkAfterAcceptAt?: number;
  readonly firstCreatedAfterAcceptAt?: number;
}

export interface BulkSample {
  readonly url: string;
  readonly contentType: string;
  readonly accept: string;
  readonly acceptEncoding: string;
  /** The decoded NDJSON body, base64. */
  readonly body: string;
  /** Whether the agent sent it gzipped. */
  readonly gzip: boolean;
}

const countOnly = process.argv.includes('--count-only');
const server = await EsTestServer.start({ countOnly });

// The first bulk request and the first stored document after an outage ends, stamped as the
// counters move (no polling, so the times are exact).
let acceptedAt: number | undefined;
let firstBulkAfterAcceptAt: number | undefined;
let firstCreatedAfterAcceptAt: number | undefined;
/** Set when an /accept is asked, so a request that lands before its answer is written still counts. */
let watchingForResume = false;
function stampWhenIncremented(counters: EsCounters, key: 'bulkRequests' | 'created', stamp: () => void): void {
  let value = counters[key];
  Object.defineProperty(counters, key, {
    get: () => value,
    set: (next: number) => {
      if (next > value) stamp();
      value = next;
    },
    enumerable: true,
  });
}
stampWhenIncremented(server.counters, 'bulkRequests', () => { if (watchingForResume && firstBulkAfterAcceptAt === undefined) firstBulkAfterAcceptAt = Date.now(); });
stampWhenIncremented(server.counters, 'created', () => { if (watchingForResume && firstCreatedAfterAcceptAt === undefined) firstCreatedAfterAcceptAt = Date.now(); });

function stats(): EsServerStats {
  const c = server.counters;
  return {
    requests: c.requests,
    bulkRequests: c.bulkRequests,
    itemsReceived: c.itemsReceived,
    created: c.created,
    duplicates: c.duplicates,
    itemErrors: c.itemErrors,
    bytesReceived: c.bytesReceived,
    maxConcurrentBulk: c.maxConcurrentBulk,
    ...(acceptedAt !== undefined ? { acceptedAt } : {}),
    ...(firstBulkAfterAcceptAt !== undefined ? { firstBulkAfterAcceptAt } : {}),
    ...(firstCreatedAfterAcceptAt !== undefined ? { firstCreatedAfterAcceptAt } : {}),
  };
}

function sample(): BulkSample | undefined {
  const last = server.largestBulk;
  if (!last) return undefined;
  return {
    url: last.url,
    contentType: String(last.headers['content-type'] ?? ''),
    accept: String(last.headers.accept ?? ''),
    acceptEncoding: String(last.headers['accept-encoding'] ?? ''),
    body: last.body.toString('base64'),
    gzip: /gzip/i.test(String(last.headers['content-encoding'] ?? '')),
  };
}

const control = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://control');
  const json = (body: unknown, status = 200) => {
    res.statusCode = status;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(body ?? null));
  };
  req.resume();
  if (url.pathname === '/count') return json({ count: server.count(url.searchParams.get('index') ?? '*') });
  if (url.pathname === '/stats') return json(stats());
  if (url.pathname === '/sample') return json(sample(), server.largestBulk ? 200 : 404);
  if (url.pathname === '/refuse' && req.method === 'POST') {
    void server.refuseConnections().then(() => json({ refusedAt: Date.now() }));
    return;
  }
  if (url.pathname === '/accept' && req.method === 'POST') {
    firstBulkAfterAcceptAt = undefined;
    firstCreatedAfterAcceptAt = undefined;
    watchingForResume = true;
    void server.acceptConnections().then(() => {
      // Listening again: a request that landed before this callback still counts from here.
      acceptedAt = Math.min(Date.now(), firstBulkAfterAcceptAt ?? Number.POSITIVE_INFINITY);
      json({ acceptedAt });
    }, (error: unknown) => json({ error: String(error) }, 500));
    return;
  }
  json({ error: 'not found' }, 404);
});
await serveChild(server.url, control, () => server.close());
