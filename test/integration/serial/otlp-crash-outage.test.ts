/**
 * Issue 12's acceptance for OTLP: 100,000 lines from a real container reach the receiver, each
 * once, with the container's resource, across a SIGKILL of the agent while a request was stored
 * but not yet answered, and a 30 s outage of the receiver (connections refused) right after, which
 * the restarted agent starts into.
 *
 * OTLP has no idempotent write: what the dead agent had not yet recorded as delivered is sent again
 * by the next one: the request it never heard back about, and the lines acknowledged in the last
 * moments before the kill, after the last checkpoint was written (logs.checkpoint_interval_ms,
 * 200 ms). Nothing older is sent twice, and every replayed record carries the same log.record.uid
 * as before, so a receiver (or a deduplicating processor) recognises it. Counted by distinct uid,
 * every line is there exactly once: none lost, none under two ids.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TestContainers, waitExit } from '../../helpers/containers.js';
import { describeTally, numberedWriter } from '../../helpers/es-agent.js';
import { startOtlpAgent, tallyOtlpLines } from '../../helpers/otlp-agent.js';
import { OtlpTestServer } from '../../helpers/otlp-server.js';
import { waitFor } from '../../helpers/wait.js';

const OUTAGE_MS = 30_000;
/** The checkpoint interval (200 ms), a batch's linger (200 ms) and the request's round trip, with room for a loaded machine. */
const REPLAY_WINDOW_MS = 1_500;
const BLOCKS = 200;
const BLOCK = 250;
const PER_STREAM = BLOCKS * BLOCK;

/** 250 lines on each stream every 0.2 s: 50,000 per stream (100,000 lines) over ~40 s. */
const writer = numberedWriter(BLOCKS, BLOCK, '', 200);

test('100,000 lines across a SIGKILL mid-request and a 30 s receiver outage: each once by uid, only what the dead agent had not checkpointed sent again', { timeout: 150_000 }, async (t) => {
  const containers = new TestContainers();
  const server = await OtlpTestServer.start();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'dockhand-otlp-crash-'));
  const options = { server, logsLabel: `${containers.runLabel}=${containers.run}`, dataDir };
  let agent = await startOtlpAgent(options);
  const distinct = (id: string) => new Set(server.logsOf(id).map((l) => l.attributes['log.record.uid'])).size;
  try {
    await agent.waitReady();
    const name = containers.name('otlp-crash');
    const id = await containers.start(writer, { name });
    await waitFor(() => distinct(id) >= 5_000, { timeoutMs: 30_000, what: 'the first 5,000 lines' });

    // The receiver stores the next request and never answers it: the agent dies waiting.
    const before = new Set(server.uids.keys());
    const requestsBefore = server.requests.length;
    server.holdResponses(true);
    const mine = (uid: string) => uid.startsWith(id);
    await waitFor(() => server.heldCount > 0 && server.requests.length > requestsBefore && [...server.uids.keys()].some((uid) => mine(uid) && !before.has(uid)),
      { timeoutMs: 15_000, what: 'a request of the container\'s lines stored and its answer held' });
    await agent.kill();
    const killedAt = Date.now();
    server.holdResponses(false);
    const held = [...server.uids.keys()].filter((uid) => !before.has(uid) && mine(uid));
    assert.ok(held.length > 0, 'lines were stored but never acknowledged');

    // And the receiver goes away for 30 s; the new agent starts into the outage.
    await server.refuseConnections();
    const down = Date.now();
    agent = await startOtlpAgent(options);
    await agent.waitListening();
    const notReady = await waitFor(async () => {
      const r = await agent.get('/readyz');
      return r.status === 503 && r.json().not_ready?.['exporter:otlp'] ? r.json() : undefined;
    }, { timeoutMs: 20_000, what: '/readyz 503 naming the OTLP exporter' });
    assert.match(notReady.not_ready["exporter:otlp"], /OTLP receiver not answering \(logs\): (not reached yet|.*no answer)/);
    const noticedMs = Date.now() - down;
    let looks = 0;
    while (Date.now() - down < OUTAGE_MS) {
      assert.equal((await agent.get('/readyz')).status, 503, `still not ready ${Date.now() - down} ms into the outage`);
      looks++;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    const storedAtUp = distinct(id);
    await server.acceptConnections();
    const up = Date.now();
    await waitFor(async () => (await agent.get('/readyz')).status === 200, { timeoutMs: 30_000, intervalMs: 200, what: '/readyz 200 after the receiver is back' });
    const readyAfterMs = Date.now() - up;

    assert.equal(await waitExit(id), 0);
    await waitFor(() => distinct(id) >= 2 * PER_STREAM, { timeoutMs: 60_000, intervalMs: 250, what: `all ${2 * PER_STREAM} lines (have ${distinct(id)})` });
    const logs = server.logsOf(id);
    const tally = tallyOtlpLines(logs, PER_STREAM);
    assert.ok(tally.missing.length === 0 && tally.twice.length === 0 && tally.unexpected.length === 0, describeTally(tally));
    assert.ok(logs.every((l) => l.resource['container.id'] === id && l.resource['container.name'] === name && l.resource['container.image.name'] === 'dockhand-test/busybox'));

    // Sent twice: the request the dead agent never heard back about, and lines first received in the
    // last moments before the kill (not yet checkpointed), under the same uids; nothing older, nothing three times.
    await waitFor(() => (held.every((uid) => (server.uids.get(uid) ?? 0) >= 2) ? held : undefined), { timeoutMs: 20_000, what: 'the unanswered request sent again' });
    const twice = server.duplicates().filter(mine);
    const oldestReplayMs = Math.max(...twice.map((uid) => killedAt - server.firstReceived.get(uid)!));
    assert.ok(oldestReplayMs <= REPLAY_WINDOW_MS, `only lines first received in the last ${REPLAY_WINDOW_MS} ms before the kill were sent again (the oldest ${oldestReplayMs} ms before)`);
    assert.ok([...server.uids].every(([, times]) => times <= 2), 'nothing three times');
    assert.equal((await agent.get('/readyz')).status, 200);

    t.diagnostic(`killed with ${held.length} lines stored but unanswered, all sent again; ${twice.length} lines sent twice in all, the oldest first received ${oldestReplayMs} ms before the kill; outage ${((up - down) / 1000).toFixed(1)} s: `
      + `/readyz 503 after ${noticedMs} ms, ${looks} looks all 503, ${storedAtUp} lines stored when it ended, /readyz 200 ${readyAfterMs} ms after; `
      + `${logs.length} records received for ${2 * PER_STREAM} lines in ${server.requests.length} requests`);
  } finally {
    await agent.dispose();
    await containers.removeAll();
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
