/**
 * Issue 5: Elasticsearch refusing connections for 30 s while a container writes, then back. Every
 * line lands exactly once, /readyz says 503 (naming the exporter) for the whole outage and 200
 * after, and the log streams pause meanwhile instead of reading into memory without bound.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TestContainers, waitExit } from '../helpers/containers.js';
import { EsTestServer } from '../helpers/es-server.js';
import { describeTally, logDocuments, metricValue, numberedWriter, startEsAgent, tallyLines } from '../helpers/es-agent.js';
import { waitFor } from '../helpers/wait.js';

const OUTAGE_MS = 30_000;
const BLOCKS = 200;
const BLOCK = 200;
const PER_STREAM = BLOCKS * BLOCK;

/** 200 lines on each stream every 0.2 s: 40,000 per stream over ~40 s, 60,000 lines in a 30 s outage. */
const steadyWriter = numberedWriter(BLOCKS, BLOCK, '', 200);

test('Elasticsearch refusing connections for 30 s mid-stream: /readyz 503 naming the exporter, then 200, every line once', { timeout: 175_000 }, async (t) => {
  const containers = new TestContainers();
  const server = await EsTestServer.start();
  const agent = await startEsAgent({ server, logsLabel: `${containers.runLabel}=${containers.run}` });
  try {
    await agent.waitReady();
    const id = await containers.start(steadyWriter, { name: containers.name('es-outage') });
    await waitFor(() => logDocuments(server, id).length >= 2_000, { timeoutMs: 60_000, what: 'the first 2,000 lines stored' });

    await server.refuseConnections();
    const down = Date.now();
    const storedBefore = logDocuments(server, id).length;
    const linesRead = async () => {
      const m = await agent.metrics();
      return [...m.matchAll(/^dockhand_logs_lines_total\{[^}]*\} (\d+)$/gm)].reduce((sum, match) => sum + Number(match[1]), 0);
    };
    const notReady = await waitFor(async () => {
      const r = await agent.get('/readyz');
      return r.status === 503 ? r.json() : undefined;
    }, { timeoutMs: 15_000, what: '/readyz 503 once bulk requests fail' });
    assert.match(notReady.not_ready['exporter:elasticsearch'], /Elasticsearch bulk requests failing .*connection/i, JSON.stringify(notReady));
    assert.equal(notReady.not_ready.docker, undefined, 'only the exporter is named');
    const noticedMs = Date.now() - down;

    // For the rest of the outage: still 503 at every look, and the collector reads no further than the pipeline holds.
    let looks = 0;
    let maxRead = 0;
    const readAtDown = await linesRead();
    while (Date.now() - down < OUTAGE_MS) {
      const r = await agent.get('/readyz');
      assert.equal(r.status, 503, `still not ready ${Date.now() - down} ms into the outage`);
      assert.ok(r.json().not_ready['exporter:elasticsearch']);
      maxRead = Math.max(maxRead, await linesRead());
      looks++;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const status = (await agent.get('/status')).json();
    const es = status.exporters.elasticsearch;
    // The queue may overshoot by the batches that were waiting for room when some was made (queue.ts).
    assert.ok(es.queued <= es.queue_capacity + 5_000, `queue bounded: ${es.queued} of ${es.queue_capacity}`);
    assert.ok(es.consecutive_failures > 0 && es.failed_requests > 0);
    // Lines read but not stored: the queue (which one batch may overshoot), the exporter's 2 batches of
    // 1,000 in flight, and the collector's 2 batches of at most 4,096 waiting for room. Without the
    // pause it would be the ~60,000 lines written during the outage.
    const held = maxRead - storedBefore;
    const bound = es.queue_capacity + 4_096 + 2 * 1_000 + 2 * 4_096;
    assert.ok(held <= bound, `the log stream paused: ${held} lines read beyond what was stored (bound ${bound})`);

    await server.acceptConnections();
    const up = Date.now();
    await waitFor(async () => (await agent.get('/readyz')).status === 200, { timeoutMs: 45_000, intervalMs: 200, what: '/readyz 200 after Elasticsearch is back' });
    const readyAfterMs = Date.now() - up;

    assert.equal(await waitExit(id), 0);
    await waitFor(() => logDocuments(server, id).length >= 2 * PER_STREAM, {
      timeoutMs: 90_000, intervalMs: 250, what: `all ${2 * PER_STREAM} lines (have ${logDocuments(server, id).length})`,
    });
    const tally = tallyLines(logDocuments(server, id), PER_STREAM);
    assert.ok(tally.missing.length === 0 && tally.twice.length === 0 && tally.unexpected.length === 0, describeTally(tally));
    // Every 409 counted as a duplicate avoided (compared at a moment no answer is on its way: other tests' events flow too).
    const metrics = await waitFor(async () => {
      const text = await agent.metrics();
      return metricValue(text, 'dockhand_elasticsearch_documents_duplicate_total') === server.counters.duplicates ? text : undefined;
    }, { timeoutMs: 20_000, what: `the agent's duplicate count to equal the server's 409s (${server.counters.duplicates})` });
    assert.ok(metricValue(metrics, 'dockhand_elasticsearch_bulk_requests_total', 'outcome="error"') > 0, 'the failed requests are counted');
    assert.equal(metricValue(metrics, 'dockhand_elasticsearch_consecutive_failures'), 0);
    assert.equal((await agent.get('/readyz')).status, 200);

    t.diagnostic(`outage ${((up - down) / 1000).toFixed(1)} s: /readyz 503 after ${noticedMs} ms, ${looks} looks all 503; lines read during the outage ${maxRead - readAtDown}, `
      + `held beyond stored ${held}; /readyz 200 ${readyAfterMs} ms after Elasticsearch was back; replays answered 409: ${server.counters.duplicates}`);
  } finally {
    await agent.dispose();
    await containers.removeAll();
    await server.close();
  }
});
