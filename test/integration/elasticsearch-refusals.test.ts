/**
 * Issue 9: Elasticsearch requests refused as a whole, and dead letters refused too, through the agent
 * process. A refusal that is not about one document (a proxy's HTML 400, Elasticsearch's own 400 for
 * every part of a request) is an outage: /readyz 503 with the reason, nothing dead-lettered, every
 * line stored once after it ends. Before, the exporter halved down to single documents,
 * dead-lettered them, had the dead letters refused as well and logged all of them as lost.
 * Dead letters Elasticsearch refuses land in the local dead-letter file with the reason.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { TestContainers, waitExit } from '../helpers/containers.js';
import { EsTestServer } from '../helpers/es-server.js';
import { DEAD_LETTERS, describeTally, logDocuments, metricValue, numberedWriter, startEsAgent, tallyLines } from '../helpers/es-agent.js';
import { waitFor } from '../helpers/wait.js';

/** The agent's local dead-letter file for the Elasticsearch exporter, as lines. */
function localDeadLetters(dataDir: string): Record<string, any>[] {
  const file = path.join(dataDir, 'dead-letters', 'dead-letters-elasticsearch.ndjson');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line));
}

test('20,000 lines while every bulk request is refused as a whole (by a proxy, then by Elasticsearch): /readyz 503 with the reason, none dead-lettered or lost; then every line once', { timeout: 170_000 }, async (t) => {
  const containers = new TestContainers();
  const server = await EsTestServer.start();
  // Retries capped at 2 s, so the first one after the refusals end comes soon.
  const agent = await startEsAgent({ server, logsLabel: `${containers.runLabel}=${containers.run}`, elasticsearch: { retry: { initial_ms: 200, max_ms: 2_000 } } });
  const perStream = 10_000;
  try {
    await agent.waitReady();
    server.failRequests({ status: 400, as: 'proxy', match: /_bulk$/ });
    const id = await containers.start(numberedWriter(100, 100), { name: containers.name('es-refused') });
    const notReadyFor = async (reason: RegExp, what: string) => waitFor(async () => {
      const r = await agent.get('/readyz');
      const why = r.status === 503 ? String(r.json().not_ready?.['exporter:elasticsearch'] ?? '') : '';
      return reason.test(why) ? why : undefined;
    }, { timeoutMs: 30_000, intervalMs: 200, what });
    const byProxy = await notReadyFor(/refused as a whole, not about one document: HTTP 400 \(not from Elasticsearch: no x-elastic-product header\): 400 Bad Request/, '/readyz 503 naming the proxy refusal');

    // Elasticsearch itself refusing every request (and every part of it) alike.
    server.failRequests({ status: 400, type: 'illegal_argument_exception', reason: 'request [/_bulk] contains unrecognized content encoding', match: /_bulk$/ });
    const byElasticsearch = await notReadyFor(/refused as a whole, every part refused alike, not one document's fault: HTTP 400 illegal_argument_exception/, '/readyz 503 naming Elasticsearch\'s refusal');
    assert.equal(await waitExit(id), 0);
    const refusedMetrics = await agent.metrics();
    assert.equal(logDocuments(server, id).length, 0, 'nothing stored while every request is refused');
    assert.equal(server.count(DEAD_LETTERS), 0, 'nothing dead-lettered');
    assert.deepEqual(localDeadLetters(agent.dataDir), [], 'nothing in the local dead-letter file');
    assert.ok(metricValue(refusedMetrics, 'dockhand_elasticsearch_request_refusals_total', 'by="proxy"') > 0);
    assert.ok(metricValue(refusedMetrics, 'dockhand_elasticsearch_request_refusals_total', 'by="elasticsearch"') > 0);
    assert.equal(metricValue(refusedMetrics, 'dockhand_elasticsearch_documents_dead_lettered_total'), 0);
    assert.equal(metricValue(refusedMetrics, 'dockhand_elasticsearch_documents_rejected_total'), 0);
    const refusedRequests = server.counters.failedRequests;

    server.failRequests(undefined);
    await waitFor(() => logDocuments(server, id).length >= 2 * perStream, {
      timeoutMs: 90_000, intervalMs: 250, what: `all ${2 * perStream} lines (have ${logDocuments(server, id).length})`,
    });
    const tally = tallyLines(logDocuments(server, id), perStream);
    assert.ok(tally.missing.length === 0 && tally.twice.length === 0 && tally.unexpected.length === 0, describeTally(tally));
    await waitFor(async () => (await agent.get('/readyz')).status === 200, { timeoutMs: 20_000, what: '/readyz 200 once requests are taken' });
    assert.equal(server.count(DEAD_LETTERS), 0);
    assert.deepEqual(localDeadLetters(agent.dataDir), []);
    assert.ok(!agent.logs.some((l) => /lost/.test(String(l.msg))), 'nothing logged as lost');
    t.diagnostic(`${refusedRequests} bulk requests refused; /readyz said: "${byProxy.slice(0, 160)}", then "${byElasticsearch.slice(0, 160)}"; ${tally.total} lines stored after`);
  } finally {
    await agent.dispose();
    await containers.removeAll();
    await server.close();
  }
});

test('poison lines whose dead letters Elasticsearch refuses too land in the local dead-letter file with the reason; every other line once', { timeout: 120_000 }, async (t) => {
  const containers = new TestContainers();
  const server = await EsTestServer.start();
  const agent = await startEsAgent({ server, logsLabel: `${containers.runLabel}=${containers.run}` });
  const perStream = 2_000;
  try {
    await agent.waitReady();
    server.poison({ pattern: /"message":"poison /, index: 'logs-docker.logs-*' });
    server.refuseIndex(DEAD_LETTERS);
    // Every 100th line reads "poison <n>".
    const id = await containers.start(numberedWriter(20, 100, ` | sed 's/^\\(.*00\\)$/poison \\1/'`), { name: containers.name('es-dl-refused') });
    assert.equal(await waitExit(id), 0);
    const poison = 2 * (perStream / 100);
    await waitFor(() => logDocuments(server, id).length >= 2 * perStream - poison, { timeoutMs: 60_000, what: 'the clean lines stored' });
    const letters = await waitFor(() => {
      const mine = localDeadLetters(agent.dataDir).filter((l) => l.record?.container?.id === id);
      return mine.length >= poison ? mine : undefined;
    }, { timeoutMs: 30_000, what: `${poison} lines in the local dead-letter file` });

    const parse = (message: string) => Number(message.replace(/^poison /, ''));
    const clean = tallyLines(logDocuments(server, id), perStream, ['stdout', 'stderr'], parse);
    assert.deepEqual(clean.twice, []);
    assert.ok(clean.missing.every((key) => Number(key.split(':')[1]) % 100 === 0) && clean.missing.length === poison, describeTally(clean));
    assert.equal(letters.length, poison, 'each poison line once');
    const kept = new Set<string>();
    for (const letter of letters) {
      assert.equal(letter.exporter, 'elasticsearch');
      assert.match(letter.record.message, /^poison \d+00$/);
      assert.match(letter.reason, /^mapper_parsing_exception: .*matches the poison pattern.*; the dead-letter index dockhand-dead-letter refused it too: strict_dynamic_mapping_exception/);
      kept.add(`${letter.record.stream}:${parse(letter.record.message)}`);
    }
    assert.deepEqual([...kept].sort(), [...clean.missing].sort(), 'the local dead letters are exactly the lines missing from the data stream');
    assert.equal(server.count(DEAD_LETTERS), 0);

    // A line is in the file a moment before its write (fsync) completes and is counted: wait for the count, then compare.
    const writtenIn = (metrics: string) => [...metrics.matchAll(/^dockhand_dead_letters_total\{[^}]*component="elasticsearch"[^}]*\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
    const metrics = await waitFor(async () => {
      const text = await agent.metrics();
      return writtenIn(text) >= poison ? text : undefined;
    }, { timeoutMs: 10_000, what: `the runner to count ${poison} local dead letters` });
    assert.equal(metricValue(metrics, 'dockhand_elasticsearch_documents_rejected_total'), poison);
    assert.equal(metricValue(metrics, 'dockhand_elasticsearch_documents_dead_lettered_total'), 0);
    assert.equal(writtenIn(metrics), poison, 'the runner counts what it wrote to the local file, each once');
    assert.equal((await agent.get('/readyz')).status, 200, 'refused documents do not make the agent unready');
    t.diagnostic(`${letters.length} poison lines in ${path.join(agent.dataDir, 'dead-letters')}, ${logDocuments(server, id).length} clean lines stored`);
  } finally {
    await agent.dispose();
    await containers.removeAll();
    await server.close();
  }
});
