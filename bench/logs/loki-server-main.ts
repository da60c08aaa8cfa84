/**
 * Child process: the Loki test server (test/helpers/loki-server.ts) in count-only mode on a free
 * port, so that its own CPU is measured apart from the agent's. Prints `{"url": …, "control": …}`
 * once listening. The control port answers `GET /count` (entries stored in log streams, the Docker
 * events streams left out, as the Elasticsearch server counts its logs data stream) and `GET /stats`
 * (its counters, in the Elasticsearch server's shape: pushes as bulk requests, entries as items,
 * entries Loki would drop as duplicates as `duplicates`). SIGTERM closes both.
 */
import { LokiTestServer } from '../../test/helpers/loki-server.js';
import type { EsServerStats } from './es-server-main.js';
import { countingControl, serveChild } from '../lib/child.js';

const server = await LokiTestServer.start({ countOnly: true });

function stats(): EsServerStats {
  const c = server.counters;
  return {
    requests: c.pushes, bulkRequests: c.pushes, itemsReceived: c.entriesReceived, created: c.stored, duplicates: c.duplicates,
    itemErrors: c.tooFarBehind, bytesReceived: 0, maxConcurrentBulk: 0,
  };
}

const control = countingControl(() => server.storedIn((labels) => labels.source !== 'docker_events'), stats);
await serveChild(server.url, control, () => server.close());
