/**
 * Issue 5: SIGKILL the agent while a bulk request is in flight (Elasticsearch has stored it, the
 * answer never arrives) and start it again on the same data directory. Every line and every event
 * is in Elasticsearch exactly once afterwards: what the dead agent sent but never saw acknowledged
 * is sent again under the same `_id`, answered 409 and counted as a duplicate avoided.
 * A private daemon, so every event it lists is one the agent must have shipped.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TEST_IMAGE, TEST_LABEL } from '../helpers/containers.js';
import { EsTestServer } from '../helpers/es-server.js';
import {
  EVENTS_STREAM, daemonEventKey, describeTally, eventKey, logDocuments, metricValue, numberedWriter, startEsAgent, tallyLines, watchDaemonEvents,
} from '../helpers/es-agent.js';
import { startPrivateDaemon } from '../helpers/private-daemon.js';
import { waitFor } from '../helpers/wait.js';

const BLOCKS = 150;
const BLOCK = 100;
const PER_STREAM = BLOCKS * BLOCK;

test('SIGKILL mid-batch and restart on the same data dir: every line and event once, the replay answered 409 and counted', { timeout: 175_000 }, async (t) => {
  const daemon = await startPrivateDaemon();
  const server = await EsTestServer.start();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'dockhand-es-crash-'));
  const options = { server, logsLabel: `${TEST_LABEL}=1`, dataDir, env: { DOCKER_HOST: daemon.host } };
  let agent = await startEsAgent(options);
  const watch = watchDaemonEvents([], daemon.host);
  try {
    await agent.waitReady();
    const readyNs = BigInt(Date.now()) * 1_000_000n;
    // 2,000 lines/s: 100 on each stream every 0.1 s.
    const id = await daemon.docker('run', '-d', '--label', `${TEST_LABEL}=1`, '--name', 'es-crash', TEST_IMAGE, ...numberedWriter(BLOCKS, BLOCK));
    await waitFor(() => logDocuments(server, id).length >= 3_000, { timeoutMs: 60_000, what: 'the first 3,000 lines stored' });

    // Hold the next answers: Elasticsearch stores the batch, the agent never hears back.
    const storedBefore = new Set(server.documents('*').map((d) => d._id));
    const requestsBefore = server.counters.bulkRequests;
    server.delayResponses({ ms: 600_000, when: 'after' });
    await waitFor(() => server.counters.bulkRequests > requestsBefore && server.count('*') > storedBefore.size, { timeoutMs: 30_000, what: 'a bulk request stored and held' });
    await agent.kill();
    server.delayResponses(undefined);
    const held = server.documents('*').filter((d) => !storedBefore.has(d._id)).map((d) => d._id);
    const heldLines = held.filter((docId) => docId.startsWith(id)).length;
    const duplicatesBefore = server.counters.duplicates;

    // Events while no agent runs: the restarted one reads them from the daemon, after its saved position.
    for (let i = 0; i < 2; i++) await daemon.docker('run', '--rm', '--label', `${TEST_LABEL}=1`, TEST_IMAGE, 'true');

    agent = await startEsAgent(options);
    await agent.waitReady();
    await daemon.docker('wait', id);
    await waitFor(() => logDocuments(server, id).length >= 2 * PER_STREAM, {
      timeoutMs: 90_000, intervalMs: 250, what: `all ${2 * PER_STREAM} lines (have ${logDocuments(server, id).length})`,
    });
    const tally = tallyLines(logDocuments(server, id), PER_STREAM);
    assert.ok(tally.missing.length === 0 && tally.twice.length === 0 && tally.unexpected.length === 0, describeTally(tally));

    // The held batch was sent again by the new agent (a replay may still be on its way when the last line lands),
    // each document answered 409 and counted as a duplicate avoided.
    assert.ok(held.length > 0);
    const notResent = () => held.filter((docId) => server.timesReceived(docId) < 2);
    const metrics = await waitFor(async () => {
      const text = await agent.metrics();
      const counted = metricValue(text, 'dockhand_elasticsearch_documents_duplicate_total');
      return notResent().length === 0 && counted === server.counters.duplicates - duplicatesBefore ? text : undefined;
    }, { timeoutMs: 30_000, what: `the held documents resent and every 409 counted (${notResent().length} of ${held.length} not resent yet)` });
    const replayed = server.counters.duplicates - duplicatesBefore;
    assert.ok(replayed >= held.length, `${replayed} 409s for ${held.length} held documents`);
    assert.equal(metricValue(metrics, 'dockhand_elasticsearch_documents_duplicate_total'), replayed, 'every 409 counted as a duplicate avoided');
    assert.equal(metricValue(metrics, 'dockhand_elasticsearch_documents_dead_lettered_total'), 0);

    // Every event the daemon reported since the agent first became ready, each exactly once.
    const expected = await waitFor(() => {
      const since = watch.events.filter((e) => e.timeNano >= readyNs);
      const seen = (action: string, actor?: string) => since.filter((e) => e.action === action && (!actor || e.actorId === actor)).length;
      return seen('die', id) === 1 && seen('destroy') >= 2 ? since : undefined;
    }, { timeoutMs: 20_000, what: 'docker events listing the die of the writer and the containers removed while no agent ran' });
    const events = await waitFor(() => {
      const docs = server.documents(EVENTS_STREAM);
      return docs.length >= expected.length ? docs : undefined;
    }, { timeoutMs: 30_000, what: `${expected.length} events in ${EVENTS_STREAM} (have ${server.documents(EVENTS_STREAM).length})` });
    assert.deepEqual(events.map(eventKey).sort(), expected.map(daemonEventKey).sort(), 'exactly the daemon\'s events, each once');
    assert.equal((await agent.get('/readyz')).status, 200);

    t.diagnostic(`killed with ${held.length} documents stored but unanswered (${heldLines} log lines); after the restart ${replayed} 409s; `
      + `${expected.length} daemon events, ${2 * PER_STREAM} lines, each once`);
  } finally {
    watch.stop();
    await agent.dispose();
    await server.close();
    await daemon.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
