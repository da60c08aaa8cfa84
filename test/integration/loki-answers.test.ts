/**
 * Issue 12: Loki's answers, end to end through the agent against the Loki test server.
 * - 429 with Retry-After: the push is sent again no sooner than Loki asked, every line once;
 * - 400 "entry too far behind": the batch goes to the local dead-letter file with Loki's words,
 *   once, with no retry loop, and /readyz stays 200 (Loki is up, these entries can never be stored);
 * - 400 refusing structured metadata: turned off for the run, every line stored without it;
 * - a bad Loki config exits 2 naming the key; --check-config masks the secrets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { runCli, type AgentProcess } from '../helpers/agent-process.js';
import { TestContainers, docker, waitExit } from '../helpers/containers.js';
import { describeTally, metricValue, numberedWriter } from '../helpers/es-agent.js';
import { containerEntries, startLokiAgent, tallyEntries } from '../helpers/loki-agent.js';
import { LokiTestServer, type LokiServerOptions } from '../helpers/loki-server.js';
import { waitFor } from '../helpers/wait.js';

/** A Loki test server and an agent shipping only logs into it, ready; both gone (and the test's containers) after `body`. */
async function withLokiAgent(
  options: LokiServerOptions,
  body: (server: LokiTestServer, agent: AgentProcess, containers: TestContainers) => Promise<void>,
  agentOptions: { loki?: Record<string, unknown>; env?: NodeJS.ProcessEnv; ready?: boolean } = {},
): Promise<void> {
  const containers = new TestContainers();
  const server = await LokiTestServer.start(options);
  const agent = await startLokiAgent({ server, logsLabel: `${containers.runLabel}=${containers.run}`, loki: { events: false, ...agentOptions.loki }, env: agentOptions.env ?? {} });
  try {
    if (agentOptions.ready ?? true) await agent.waitReady();
    else await agent.waitListening();
    await body(server, agent, containers);
  } finally {
    await agent.dispose();
    await containers.removeAll();
    await server.close();
  }
}

test('429 with Retry-After: the refused push is sent again no sooner than Loki asked, then every line once', { timeout: 90_000 }, (t) => withLokiAgent({}, async (server, agent, containers) => {
  server.failRequests({ status: 429, retryAfterSeconds: 2, count: 2, body: 'Ingestion rate limit exceeded for user fake (limit: 4194304 bytes/sec)' });
  const id = await containers.start(numberedWriter(5, 100));
  assert.equal(await waitExit(id), 0);
  await waitFor(() => containerEntries(server, id).length >= 1_000, { timeoutMs: 30_000, what: `1,000 lines (have ${containerEntries(server, id).length})` });
  const tally = tallyEntries(containerEntries(server, id), 500);
  assert.ok(tally.missing.length === 0 && tally.twice.length === 0 && tally.unexpected.length === 0, describeTally(tally));
  const limited = server.answers.filter((a) => a.status === 429);
  assert.equal(limited.length, 2);
  // Each refused batch is sent again (the same first entry) no sooner than Loki asked; another batch may go meanwhile.
  const gaps = limited.map((a) => {
    const again = server.answers.find((b) => b.at >= a.at && b !== a && b.first === a.first);
    assert.ok(again && a.first, `the batch refused at ${a.at} was sent again`);
    return again.at - a.at;
  });
  assert.ok(gaps.every((gap) => gap >= 1_900), `each refused batch came again ${gaps.join(', ')} ms later (Retry-After: 2)`);
  const metrics = await agent.metrics();
  assert.equal(metricValue(metrics, 'dockhand_loki_requests_total', 'outcome="retried"'), 2);
  t.diagnostic(`refused batches sent again ${gaps.join(', ')} ms after the 429`);
}));

test('400 entry too far behind: the batch is dead-lettered with Loki\'s reason, once, no retry loop, /readyz stays 200', { timeout: 90_000 }, () => withLokiAgent({}, async (server, agent, containers) => {
  const name = containers.name('loki-behind');
  // The stream already has an entry two hours ahead: everything written now is too far behind it.
  const host = await docker('info', '--format', '{{.Name}}');
  for (const stream of ['stdout', 'stderr']) {
    server.seed({ container_name: name, host, service_name: name, stream }, (BigInt(Date.now()) + 7_200_000n) * 1_000_000n, 'from the future');
  }
  const id = await containers.start(numberedWriter(1, 50), { name });
  assert.equal(await waitExit(id), 0);
  const file = path.join(agent.dataDir, 'dead-letters', 'dead-letters-loki.ndjson');
  const letters = await waitFor(() => {
    const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { reason: string; record: { message: string; stream: string } });
    return lines.length >= 100 ? lines : undefined;
  }, { timeoutMs: 30_000, what: 'the 100 lines in the dead-letter file' });
  assert.equal(letters.length, 100);
  assert.deepEqual(letters.map((l) => `${l.record.stream}:${l.record.message}`).sort(), ['stdout', 'stderr'].flatMap((s) => Array.from({ length: 50 }, (_, i) => `${s}:${i + 1}`)).sort());
  assert.match(letters[0]!.reason, /^permanent_error: Loki push: HTTP 400: entry with timestamp .* ignored, reason: 'entry too far behind/);
  assert.equal(containerEntries(server, id).length, 0);

  // No retry loop: the pushes stop once the batch is dead-lettered, and the agent is ready.
  const pushes = server.counters.pushes;
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  assert.equal(server.counters.pushes, pushes, 'no push after the dead-lettering');
  assert.equal(server.counters.tooFarBehind, 100);
  assert.equal((await agent.get('/readyz')).status, 200);
  const metrics = await agent.metrics();
  assert.equal(metricValue(metrics, 'dockhand_loki_entries_rejected_total', 'reason="too_far_behind"'), 100);
  assert.equal(metricValue(metrics, 'dockhand_loki_requests_total', 'outcome="rejected"'), server.answers.filter((a) => a.status === 400).length);
}));

test('Loki refusing structured metadata (before 3, or turned off): the exporter drops it for the run and every line arrives', { timeout: 90_000 }, () => withLokiAgent({ allowStructuredMetadata: false }, async (server, agent, containers) => {
  const name = containers.name('loki-nometa');
  const id = await containers.start(numberedWriter(2, 100), { name });
  assert.equal(await waitExit(id), 0);
  const mine = () => server.entries((labels) => labels.container_name === name);
  await waitFor(() => mine().length >= 400, { timeoutMs: 30_000, what: `400 lines (have ${mine().length})` });
  const tally = tallyEntries(mine(), 200);
  assert.ok(tally.missing.length === 0 && tally.twice.length === 0, describeTally(tally));
  assert.ok(mine().every((e) => Object.keys(e.metadata).length === 0));
  assert.ok(agent.logs.some((l) => /refuses structured metadata/.test(String(l.msg))), 'a warning says so');
  assert.equal((await agent.get('/status')).json().exporters.loki.structured_metadata, false);
  assert.equal(containerEntries(server, id).length, 0, 'no container_id metadata');
}));

test('401 (wrong password) is an outage, not poison: retried, /readyz 503 naming Loki, nothing dead-lettered; lines arrive with tenant and credentials once fixed', { timeout: 90_000 }, () => withLokiAgent({}, async (server, agent, containers) => {
  const right = `Basic ${Buffer.from('agent:right-secret').toString('base64')}`;
  server.requireAuthorization(right);
  server.recordPushes = true;
  const id = await containers.start(numberedWriter(1, 100));
  const notReady = await waitFor(async () => {
    const r = await agent.get('/readyz');
    return r.status === 503 && r.json().not_ready['exporter:loki'] ? r.json() : undefined;
  }, { timeoutMs: 20_000, what: '/readyz 503 naming the Loki exporter' });
  assert.match(notReady.not_ready['exporter:loki'], /HTTP 401/);
  assert.doesNotMatch(JSON.stringify(notReady) + agent.stderr, /wrong-secret/, 'the password never shows');
  // The operator fixes the credentials (here: the server starts taking the agent's): the held lines go through.
  server.requireAuthorization(`Basic ${Buffer.from('agent:wrong-secret').toString('base64')}`);
  await waitFor(() => containerEntries(server, id).length >= 200, { timeoutMs: 30_000, what: `200 lines after the credentials match (have ${containerEntries(server, id).length})` });
  assert.ok(tallyEntries(containerEntries(server, id), 100).twice.length === 0);
  assert.equal(server.received.at(-1)!.headers['x-scope-orgid'], 'team-a');
  assert.ok(!existsSync(path.join(agent.dataDir, 'dead-letters', 'dead-letters-loki.ndjson')), 'nothing dead-lettered');
  assert.ok(metricValue(await agent.metrics(), 'dockhand_loki_requests_total', 'outcome="retried"') > 0);
}, { env: { LOKI_USERNAME: 'agent', LOKI_PASSWORD: 'wrong-secret', LOKI_TENANT_ID: 'team-a' }, ready: false }));

test('JSON bodies, gzipped: every line once, with its metadata', { timeout: 60_000 }, () => withLokiAgent({}, async (server, _agent, containers) => {
  server.recordPushes = true;
  const id = await containers.start(numberedWriter(2, 100));
  assert.equal(await waitExit(id), 0);
  await waitFor(() => containerEntries(server, id).length >= 400, { timeoutMs: 30_000, what: `400 lines (have ${containerEntries(server, id).length})` });
  const tally = tallyEntries(containerEntries(server, id), 200);
  assert.ok(tally.missing.length === 0 && tally.twice.length === 0, describeTally(tally));
  assert.ok(server.received.every((push) => push.headers['content-type'] === 'application/json' && push.headers['content-encoding'] === 'gzip'));
}, { loki: { encoding: 'json' } }));

test('a bad Loki config exits 2 naming the key; --check-config masks the password and token', async () => {
  const bad = await runCli(['--check-config'], { LOKI_URL: 'ftp://loki:3100' });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /exporters\.loki\.url: expected an http/);
  const missing = await runCli(['--check-config'], { LOKI_URL: 'http://loki:3100', DOCKHAND_EXPORTERS__LOKI__BEARER_TOKEN_FILE: '/nonexistent/token' });
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /exporters\.loki\.bearer_token_file: cannot read "\/nonexistent\/token"/);
  const ok = await runCli(['--check-config'], { LOKI_URL: 'http://loki:3100', LOKI_USERNAME: 'agent', LOKI_PASSWORD: 'hunter2-loki', LOKI_TENANT_ID: 'team-a' });
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /tenant_id: team-a/);
  assert.doesNotMatch(ok.stdout, /hunter2-loki/);
});
