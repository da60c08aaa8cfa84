/**
 * Issue 5: per-item errors through the agent process. 30% of items answered 429 for a while: every
 * line lands once and only the rejected items are sent again (counted per `_id` at the server).
 * Documents matching a poison pattern answered 400: they go to the dead-letter index with the
 * reason, once, and everything else flows.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TestContainers, waitExit } from '../helpers/containers.js';
import { EsTestServer } from '../helpers/es-server.js';
import { DEAD_LETTERS, LOGS_STREAM, describeTally, logDocuments, metricValue, numberedWriter as writer, startEsAgent, tallyLines } from '../helpers/es-agent.js';
import { waitFor } from '../helpers/wait.js';

test('30% of items answered 429 for a while: every line once, and only the rejected items sent again', { timeout: 150_000 }, async (t) => {
  const containers = new TestContainers();
  const server = await EsTestServer.start();
  const agent = await startEsAgent({ server, logsLabel: `${containers.runLabel}=${containers.run}` });
  const perStream = 10_000;
  try {
    await agent.waitReady();
    // "For a while": from the first line until half the lines are stored.
    server.rejectItems({ share: 0.3, seed: 42 });
    const id = await containers.start(writer(100, 100), { name: containers.name('es-429') });
    await waitFor(() => logDocuments(server, id).length >= perStream, { timeoutMs: 90_000, intervalMs: 100, what: 'half the lines stored under 429s' });
    server.rejectItems(undefined);
    assert.equal(await waitExit(id), 0);
    await waitFor(() => logDocuments(server, id).length >= 2 * perStream, {
      timeoutMs: 90_000, intervalMs: 250, what: `all ${2 * perStream} lines (have ${logDocuments(server, id).length})`,
    });

    const docs = logDocuments(server, id);
    const tally = tallyLines(docs, perStream);
    assert.ok(tally.missing.length === 0 && tally.twice.length === 0 && tally.unexpected.length === 0, describeTally(tally));

    const { receivedById, rejectedById } = server.counters;
    const logRejections = docs.reduce((sum, d) => sum + (rejectedById.get(d._id) ?? 0), 0);
    assert.ok(logRejections >= 0.2 * perStream, `a good share of the lines was rejected at least once (${logRejections} rejections for ${docs.length} lines)`);
    // Every _id the agent sent (log lines and events alike): received = stored once + once per 429 answered.
    const wrong: string[] = [];
    for (const [docId, received] of receivedById) {
      const expected = 1 + (rejectedById.get(docId) ?? 0);
      if (received !== expected) wrong.push(`${docId}: received ${received}, rejected ${rejectedById.get(docId) ?? 0}`);
    }
    assert.deepEqual(wrong.slice(0, 10), [], `${wrong.length} ids sent other than once plus once per rejection`);
    const neverRejected = docs.filter((d) => !rejectedById.has(d._id));
    assert.ok(neverRejected.length > 0 && neverRejected.every((d) => receivedById.get(d._id) === 1), 'a line never rejected was sent exactly once');
    assert.equal(server.counters.duplicates, 0, 'no 409: nothing stored was sent again');

    const metrics = await agent.metrics();
    assert.equal(metricValue(metrics, 'dockhand_elasticsearch_documents_retried_total'), server.counters.rejected, 'the agent counts the resends the server saw rejected');
    assert.equal(metricValue(metrics, 'dockhand_elasticsearch_documents_dead_lettered_total'), 0, '429 is never a reason to dead-letter');
    await waitFor(async () => (await agent.get('/readyz')).status === 200, { timeoutMs: 10_000, what: '/readyz 200' });
    t.diagnostic(`429 for ${server.counters.rejected} items (${logRejections} of them log lines, ${docs.length} lines); ${server.counters.itemsReceived} items received for ${receivedById.size} ids`);
  } finally {
    await agent.dispose();
    await containers.removeAll();
    await server.close();
  }
});

test('documents matching a poison pattern answered 400 land in the dead-letter index with the reason, once; everything else flows', { timeout: 150_000 }, async (t) => {
  const containers = new TestContainers();
  const server = await EsTestServer.start();
  const agent = await startEsAgent({ server, logsLabel: `${containers.runLabel}=${containers.run}` });
  const perStream = 10_000;
  try {
    await agent.waitReady();
    // Scoped to the logs data stream: the dead-letter copy carries the original text too.
    server.poison({ pattern: /"message":"poison /, index: 'logs-docker.logs-*' });
    // Every 100th line reads "poison <n>".
    const id = await containers.start(writer(100, 100, ` | sed 's/^\\(.*00\\)$/poison \\1/'`), { name: containers.name('es-poison') });
    assert.equal(await waitExit(id), 0);
    const poisonPerStream = perStream / 100;
    const parse = (message: string) => Number(message.replace(/^poison /, ''));
    const isPoison = (n: number) => n % 100 === 0;

    await waitFor(() => logDocuments(server, id).length >= 2 * (perStream - poisonPerStream), {
      timeoutMs: 90_000, intervalMs: 250, what: `the ${2 * (perStream - poisonPerStream)} clean lines (have ${logDocuments(server, id).length})`,
    });
    const deadLetters = await waitFor(() => {
      const mine = server.documents(DEAD_LETTERS).filter((d) => (d._source as any).container?.id === id);
      return mine.length >= 2 * poisonPerStream ? mine : undefined;
    }, { timeoutMs: 30_000, what: `${2 * poisonPerStream} dead letters` });

    const docs = logDocuments(server, id);
    const clean = tallyLines(docs, perStream, ['stdout', 'stderr'], parse);
    assert.deepEqual(clean.twice, [], 'no clean line twice');
    assert.deepEqual(clean.unexpected, []);
    assert.ok(clean.missing.every((key) => isPoison(Number(key.split(':')[1]))), `only poison lines are missing from ${LOGS_STREAM}: ${describeTally(clean)}`);
    assert.equal(clean.missing.length, 2 * poisonPerStream, 'and every poison line is');

    assert.equal(deadLetters.length, 2 * poisonPerStream, 'each poison line dead-lettered once');
    const lettered = new Set<string>();
    for (const letter of deadLetters) {
      const s = letter._source as Record<string, any>;
      const original = JSON.parse(s.event.original);
      assert.match(original.message, /^poison \d+00$/);
      lettered.add(`${original.stream}:${parse(original.message)}`);
      assert.equal(s.message, original.message);
      assert.equal(s.error.type, 'mapper_parsing_exception');
      assert.match(s.error.message, /matches the poison pattern/, 'the reason Elasticsearch gave');
      assert.equal(s.dockhand.dead_letter.index, LOGS_STREAM, 'where it was going');
      assert.equal(s.dockhand.dead_letter.status, 400);
      assert.equal(s.dockhand.dead_letter.id, letter._id, 'under the id it was sent with');
      assert.equal(s.event.dataset, 'docker.logs');
      assert.equal(s.container.id, id);
      assert.equal(s['@timestamp'], original['@timestamp']);
      // Sent twice under its id: refused once in the data stream, stored once in the dead letters. Never again.
      assert.equal(server.timesReceived(letter._id), 2, `${letter._id} sent once to each index`);
    }
    assert.deepEqual([...lettered].sort(), [...clean.missing].sort(), 'the dead letters are exactly the lines missing from the data stream');
    assert.equal(server.counters.poisoned, 2 * poisonPerStream, 'each poison document refused exactly once: not retried');

    const metrics = await agent.metrics();
    assert.equal(metricValue(metrics, 'dockhand_elasticsearch_documents_dead_lettered_total'), 2 * poisonPerStream);
    assert.equal(metricValue(metrics, 'dockhand_elasticsearch_documents_retried_total'), 0);
    assert.equal(metricValue(metrics, 'dockhand_elasticsearch_documents_rejected_total'), 0, 'no dead letter refused: nothing for the local dead-letter file');
    assert.ok(agent.logs.some((l) => l.msg === 'Elasticsearch refused documents; writing them to the dead-letter index'), 'the agent says so');
    assert.equal((await agent.get('/readyz')).status, 200, 'refused documents do not make the agent unready');
    t.diagnostic(`${deadLetters.length} poison lines dead-lettered, ${docs.length} clean lines stored`);
  } finally {
    await agent.dispose();
    await containers.removeAll();
    await server.close();
  }
});
