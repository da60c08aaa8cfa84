/**
 * Issue 5's first acceptance, end to end: a real container's 100,000 numbered lines (50,000 on
 * stdout, 50,000 on stderr, written at the same time) go through the agent process into the
 * Elasticsearch test server, each exactly once, with the ECS fields and the daemon's own nanosecond
 * timestamps; the container's events land in the events data stream exactly as `docker events`
 * lists them. Throughput and CPU are measured and reported as diagnostics.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { docker, TestContainers, TEST_IMAGE, waitExit } from '../helpers/containers.js';
import { EsTestServer } from '../helpers/es-server.js';
import {
  EVENTS_STREAM, LOGS_STREAM, daemonEventKey, daemonTimestamps, describeTally, eventKey, logDocuments, metricValue,
  processCpuSeconds, startEsAgent, tallyLines, watchDaemonEvents,
} from '../helpers/es-agent.js';
import { waitFor } from '../helpers/wait.js';
import { AGENT_VERSION } from '../../src/version.js';
import { parseRfc3339Nano } from '../../src/records.js';

const PER_STREAM = 50_000;

test('100,000 lines from a real container land in Elasticsearch exactly once, as ECS, with its events', { timeout: 170_000 }, async (t) => {
  const containers = new TestContainers();
  const server = await EsTestServer.start();
  const agent = await startEsAgent({ server, logsLabel: `${containers.runLabel}=${containers.run}` });
  const watch = watchDaemonEvents([`label=${containers.runLabel}=${containers.run}`]);
  try {
    await agent.waitReady();
    const agentCpu0 = processCpuSeconds(agent.child.pid!);
    const serverCpu0 = process.cpuUsage();
    const started = Date.now();
    const name = containers.name('es-100k');
    const id = await containers.start(['sh', '-c', `seq 1 ${PER_STREAM} & seq 1 ${PER_STREAM} >&2; wait`], { name, labels: { 'com.docker.compose.service': 'numbers', 'not.allow.listed': 'x' } });
    assert.equal(await waitExit(id), 0);
    const written = Date.now();

    await waitFor(() => logDocuments(server, id).length >= 2 * PER_STREAM, {
      timeoutMs: 120_000, intervalMs: 250, what: `${2 * PER_STREAM} lines in ${LOGS_STREAM} (have ${logDocuments(server, id).length})`,
    });
    const landed = Date.now();
    const agentCpu = processCpuSeconds(agent.child.pid!) - agentCpu0;
    const serverCpu = process.cpuUsage(serverCpu0);

    // The daemon's ceiling on the same container, in the same run.
    const readStarted = Date.now();
    const daemonTimes = await daemonTimestamps(id);
    const daemonReadMs = Date.now() - readStarted;

    const docs = logDocuments(server, id);
    const tally = tallyLines(docs, PER_STREAM);
    assert.ok(tally.missing.length === 0 && tally.twice.length === 0 && tally.unexpected.length === 0, describeTally(tally));
    assert.equal(docs.length, 2 * PER_STREAM);
    assert.equal(new Set(docs.map((d) => d._id)).size, docs.length, 'distinct _ids');
    assert.equal(server.counters.duplicates, 0, 'no replay happened: nothing was sent twice');

    // ECS fields, the same on every document; the timestamp is the daemon's, to the nanosecond.
    const hostName = await docker('info', '--format', '{{.Name}}');
    const lastTime = { stdout: 0n, stderr: 0n };
    let outOfOrder = 0;
    const byNumber = (d: (typeof docs)[number]) => Number((d._source as { message: string }).message);
    for (const doc of [...docs].sort((a, b) => byNumber(a) - byNumber(b))) {
      const s = doc._source as Record<string, any>;
      assert.match(s['@timestamp'], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/, 'RFC 3339 with nanoseconds');
      const time = parseRfc3339Nano(s['@timestamp'])!;
      assert.equal(time, daemonTimes.get(`${s.stream}:${s.message}`), `timestamp of ${s.stream}:${s.message} is the daemon's`);
      if (time < lastTime[s.stream as 'stdout']) outOfOrder++;
      lastTime[s.stream as 'stdout'] = time;
      assert.equal(s.container.id, id);
      assert.equal(s.container.name, name);
      assert.equal(s.container.image.name, TEST_IMAGE);
      assert.deepEqual(s.container.labels, { com_docker_compose_service: 'numbers' }, 'allow-listed labels only, dedotted');
      assert.equal(s.host.name, hostName);
      assert.equal(s.event.dataset, 'docker.logs');
      assert.equal(s.agent.type, 'dockhand');
      assert.equal(s.agent.version, AGENT_VERSION);
      assert.deepEqual(s.data_stream, { type: 'logs', dataset: 'docker.logs', namespace: 'default' });
      assert.equal(s.log, undefined, 'no line was cut');
    }
    assert.equal(outOfOrder, 0, 'per stream, line n+1 is not earlier than line n');
    const mapping = server.mapping(LOGS_STREAM)!;
    assert.equal((mapping.properties as any)['@timestamp'].type, 'date_nanos', 'the installed template keeps nanoseconds');

    // Events: what the daemon lists for this container, each once, with docker.event.* fields.
    const expected = await waitFor(() => {
      const mine = watch.events.filter((e) => e.actorId === id);
      return ['create', 'start', 'die'].every((a) => mine.some((e) => e.action === a)) ? mine : undefined;
    }, { timeoutMs: 20_000, what: 'docker events listing create, start and die of the container' });
    const events = await waitFor(() => {
      const mine = server.documents(EVENTS_STREAM).filter((d) => (d._source as any).docker?.event?.actor?.id === id);
      return mine.length >= expected.length ? mine : undefined;
    }, { timeoutMs: 20_000, what: `${expected.length} events of the container in ${EVENTS_STREAM}` });
    assert.deepEqual(events.map(eventKey).sort(), expected.map(daemonEventKey).sort(), 'exactly the daemon\'s events, each once');
    const start = events.find((d) => (d._source as any).docker.event.action === 'start')!._source as Record<string, any>;
    assert.equal(start.event.dataset, 'docker.events');
    assert.equal(start.docker.event.type, 'container');
    assert.equal(start.docker.event.actor.attributes.name, name);
    assert.equal(start.docker.event.actor.attributes.image, TEST_IMAGE);
    assert.equal(start.container.id, id);
    assert.equal(start.agent.type, 'dockhand');
    assert.equal(start.host.name, hostName);

    // Other tests' events keep flowing through this agent: compare at a moment no answer is on its way.
    const metrics = await waitFor(async () => {
      const text = await agent.metrics();
      return metricValue(text, 'dockhand_elasticsearch_documents_stored_total') === server.counters.created ? text : undefined;
    }, { timeoutMs: 20_000, what: `the agent's stored count to equal the server's (${server.counters.created})` });
    assert.equal(metricValue(metrics, 'dockhand_elasticsearch_documents_dead_lettered_total'), 0);
    assert.equal((await agent.get('/readyz')).status, 200);

    const seconds = (landed - started) / 1000;
    t.diagnostic(`100,000 lines: written by the container in ${((written - started) / 1000).toFixed(1)} s, all in Elasticsearch after ${seconds.toFixed(1)} s `
      + `(${Math.round(2 * PER_STREAM / seconds)} lines/s end to end); docker logs reads them in ${(daemonReadMs / 1000).toFixed(2)} s `
      + `(${Math.round(2 * PER_STREAM / (daemonReadMs / 1000))} lines/s)`);
    t.diagnostic(`CPU over the run: agent ${agentCpu.toFixed(1)} s (${(agentCpu / 0.1).toFixed(1)} s per million lines), `
      + `test server ${((serverCpu.user + serverCpu.system) / 1e6).toFixed(1)} s; bulk requests ${server.counters.bulkRequests}, `
      + `bytes received ${(server.counters.bytesReceived / 1e6).toFixed(1)} MB, max concurrent bulk ${server.counters.maxConcurrentBulk}`);
  } finally {
    watch.stop();
    await agent.dispose();
    await containers.removeAll();
    await server.close();
  }
});
