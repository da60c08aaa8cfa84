/**
 * Child process: the OTLP test receiver (test/helpers/otlp-server.ts) in count-only mode on a free
 * port, so that its own CPU is measured apart from the agent's. Prints `{"url": …, "control": …}`
 * once listening. The control port answers `GET /count` (log lines received: log records with
 * log.iostream, the Docker events left out, as the Elasticsearch server counts its logs data
 * stream) and `GET /stats` (its counters, in the Elasticsearch server's shape: export requests as
 * bulk requests, log records as items). SIGTERM closes both.
 */
import { OtlpTestServer } from '../../test/helpers/otlp-server.js';
import { countingControl, serveChild } from '../lib/child.js';
import type { EsServerStats } from './es-server-main.js';

const server = await OtlpTestServer.start({ countOnly: true });

function stats(): EsServerStats {
  const c = server.counters;
  return {
    requests: c.requests, bulkRequests: c.requests, itemsReceived: c.lines + c.events, created: c.lines + c.events, duplicates: 0,
    itemErrors: 0, bytesReceived: c.bytesReceived, maxConcurrentBulk: 0,
  };
}

const control = countingControl(() => server.counters.lines, stats);
await serveChild(server.url, control, () => server.close());
