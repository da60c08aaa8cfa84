/**
 * Issue 12: 100,000 lines from a real container reach Loki (the test server, which stores as Loki's
 * ingester does: an entry with the timestamp and line the stream already has is a duplicate, dropped)
 * exactly once, with the right stream labels, across a SIGKILL of the agent while a push is stored
 * but unanswered, and a 30 s outage of the endpoint. The push the dead agent never heard back about
 * is sent again by the restarted one as the very same (labels, timestamp, line) triples, which is
 * what lets Loki drop them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TestContainers, docker, waitExit } from '../../helpers/containers.js';
import { describeTally, metricValue, numberedWriter } from '../../helpers/es-agent.js';
import { containerEntries, containerEventActions, startLokiAgent, tallyEntries } from '../../helpers/loki-agent.js';
import { LokiTestServer } from '../../helpers/loki-server.js';
import { waitFor } from '../../helpers/wait.js';

const OUTAGE_MS = 30_000;
const BLOCKS = 500;
const BLOCK = 100;
const PER_STREAM = BLOCKS * BLOCK;

test('100,000 lines once, with their labels, across a SIGKILL mid-push and a 30 s Loki outage; the replay identical', { timeout: 170_000 }, async (t) => {
  const containers = new TestContainers();
  const server = await LokiTestServer.start();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'dockhand-loki-crash-'));
  const options = { server, logsLabel: `${containers.runLabel}=${containers.run}`, dataDir };
  let agent = await startLokiAgent(options);
  try {
    await agent.waitReady();
    const name = containers.name('loki-crash');
    // 2,000 lines/s: 100 on each stream every 0.1 s, ~50 s in all.
    const id = await containers.start(numberedWriter(BLOCKS, BLOCK), { name });
    const stored = () => containerEntries(server, id);
    await waitFor(() => stored().length >= 3_000, { timeoutMs: 60_000, what: 'the first 3,000 lines stored' });

    // Loki stores the next push, the agent never hears back: it dies with the push unacknowledged.
    const before = new Set(stored().map((e) => `${e.stream} ${e.time} ${e.line}`));
    server.holdResponses(true);
    await waitFor(() => stored().length > before.size, { timeoutMs: 30_000, what: 'a push stored and its answer held' });
    await agent.kill();
    server.holdResponses(false);
    const held = stored().filter((e) => !before.has(`${e.stream} ${e.time} ${e.line}`));
    const duplicatesBefore = server.counters.duplicates;

    agent = await startLokiAgent(options);
    await agent.waitReady();
    const notResent = () => held.filter((e) => server.timesReceived(e.labels, e.time, e.line) < 2);
    await waitFor(() => notResent().length === 0, { timeoutMs: 30_000, what: `the ${held.length} held entries sent again identically (${notResent().length} not yet)` });
    const replayedDuplicates = server.counters.duplicates - duplicatesBefore;

    // The endpoint goes away for 30 s while the container keeps writing.
    await server.refuseConnections();
    const down = Date.now();
    const notReady = await waitFor(async () => {
      const r = await agent.get('/readyz');
      return r.status === 503 ? r.json() : undefined;
    }, { timeoutMs: 15_000, what: '/readyz 503 once pushes fail' });
    assert.match(notReady.not_ready['exporter:loki'], /Loki push requests failing .*no answer/i, JSON.stringify(notReady));
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, OUTAGE_MS - (Date.now() - down))));
    await server.acceptConnections();
    const up = Date.now();
    await waitFor(async () => (await agent.get('/readyz')).status === 200, { timeoutMs: 45_000, intervalMs: 200, what: '/readyz 200 after Loki is back' });
    const readyAfterMs = Date.now() - up;

    assert.equal(await waitExit(id), 0);
    await waitFor(() => stored().length >= 2 * PER_STREAM, { timeoutMs: 90_000, intervalMs: 250, what: `all ${2 * PER_STREAM} lines (have ${stored().length})` });
    const tally = tallyEntries(stored(), PER_STREAM);
    assert.ok(tally.missing.length === 0 && tally.twice.length === 0 && tally.unexpected.length === 0, describeTally(tally));

    // Two streams, the labels a LogQL user expects; the container id and image as structured metadata.
    const host = await docker('info', '--format', '{{.Name}}');
    const streams = [...new Set(stored().map((e) => e.stream))].sort();
    assert.deepEqual(streams, [
      `{container_name="${name}", host="${host}", service_name="${name}", stream="stderr"}`,
      `{container_name="${name}", host="${host}", service_name="${name}", stream="stdout"}`,
    ]);
    const sample = stored()[0]!;
    assert.equal(sample.metadata.container_id, id);
    assert.ok(sample.metadata.container_image && sample.metadata.dockhand_record_id, JSON.stringify(sample.metadata));

    // Its events in their own stream, each once (create happened before the crash, die after the outage).
    const actions = await waitFor(() => {
      const seen = containerEventActions(server, id);
      return seen.includes('die') ? seen : undefined;
    }, { timeoutMs: 20_000, what: 'the container\'s die event stored' });
    assert.deepEqual(actions.filter((a) => ['create', 'start', 'die'].includes(a)), ['create', 'start', 'die']);
    assert.ok(server.streamNames().includes(`{event_type="container", service_name="docker", source="docker_events"}`), server.streamNames().join(' '));

    assert.ok(held.length > 0 && replayedDuplicates >= held.length, `${replayedDuplicates} duplicates dropped for ${held.length} held entries`);
    const metrics = await agent.metrics();
    assert.ok(metricValue(metrics, 'dockhand_loki_requests_total', 'outcome="error"') > 0, 'the unanswered pushes are counted');
    assert.equal(metricValue(metrics, 'dockhand_loki_consecutive_failures'), 0);
    assert.doesNotMatch(metrics, /^dockhand_dead_letters_total\{[^}]*component="loki"[^}]*\} [1-9]/m, 'nothing dead-lettered');

    t.diagnostic(`killed with ${held.length} entries stored but unanswered, resent identically and dropped as duplicates (${replayedDuplicates}); `
      + `outage ${((up - down) / 1000).toFixed(1)} s, /readyz 200 ${readyAfterMs} ms after Loki was back; ${2 * PER_STREAM} lines each once; `
      + `server: ${server.counters.pushes} pushes, ${server.counters.duplicates} duplicates`);
  } finally {
    await agent.dispose();
    await containers.removeAll();
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
