import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ActionPrefixes, MetricHistory, dedot, deadLetterDocument, toDocument, writeLogItem, type DocumentSettings, type PreparedDocument } from '../../exporters/elasticsearch/documents.js';
import type { MetricRecord } from '../../src/records.js';
import { BodyBuffers, BulkBody, itemOutcomes, readAllStored, classifyItem, Limiter } from '../../exporters/elasticsearch/bulk.js';

/** One document's create pair, as the exporter writes it into a bulk body. */
function ndjsonOf(document: PreparedDocument): string {
  const body = new BulkBody(new BodyBuffers());
  body.addDocument(document);
  return body.slice(0, 1).toString();
}
import { container, eventRecord, logRecord, metricRecord } from '../helpers/es-records.js';

const dataStreams: DocumentSettings = { mode: 'data_stream', namespace: 'prod', indexPrefix: 'dockhand', agentVersion: '0.1.0' };

test('a log line becomes an ECS document with its nanoseconds kept', () => {
  const record = logRecord(0, { message: 'GET / 200', stream: 'stderr', truncated: true });
  const doc = toDocument(record, dataStreams);
  assert.equal(doc.id, record.id);
  assert.equal(doc.index, 'logs-docker.logs-prod');
  assert.deepEqual(doc.source, {
    '@timestamp': '2026-01-02T03:04:05.123456789Z',
    message: 'GET / 200',
    stream: 'stderr',
    container: {
      id: container.id,
      name: 'web-1',
      image: { name: 'nginx:1.27' },
      labels: { com_docker_compose_project: 'shop', com_docker_compose_service: 'web' },
    },
    host: { name: 'docker-host-1' },
    log: { flags: ['truncated'] },
    event: { kind: 'event', module: 'docker', dataset: 'docker.logs' },
    agent: { type: 'dockhand', version: '0.1.0' },
    ecs: { version: '8.11.0' },
    data_stream: { type: 'logs', dataset: 'docker.logs', namespace: 'prod' },
  });
});

test('a parsed JSON body travels under json (mapped flattened), untouched', () => {
  const doc = toDocument(logRecord(1, { json: { level: 'warn', 'a.b': 1 } }), dataStreams);
  assert.deepEqual(doc.source.json, { level: 'warn', 'a.b': 1 });
  assert.equal('log' in doc.source, false, 'no log.flags unless truncated');
});

test('a Docker event becomes docker.event.* in the events data stream, attributes dedotted', () => {
  const record = eventRecord(3);
  const doc = toDocument(record, dataStreams);
  assert.equal(doc.index, 'logs-docker.events-prod');
  assert.equal(doc.id, record.id);
  assert.deepEqual(doc.source.docker, {
    event: { type: 'container', action: 'start', scope: 'local', actor: { id: container.id, attributes: { name: 'web-1', image: 'nginx:1.27', com_docker_compose_project: 'shop' } } },
  });
  assert.deepEqual(doc.source.event, { kind: 'event', module: 'docker', dataset: 'docker.events', action: 'start' });
  assert.equal(doc.source.message, `container start web-1 (${container.id})`);
  assert.equal(doc.source['@timestamp'], '2026-01-02T03:04:05.123456792Z');
});

test('a metric sample gets a deterministic id and the metrics data stream', () => {
  const record = metricRecord(0);
  const doc = toDocument(record, dataStreams);
  assert.equal(doc.index, 'metrics-docker.metrics-prod');
  assert.equal(doc.id, `${container.id}-${record.time}-cgroup`);
  assert.equal(toDocument(record, dataStreams).id, doc.id);
  const docker = doc.source.docker as Record<string, any>;
  assert.equal(docker.memory.working_set_bytes, 800);
  assert.equal(docker.network.rx_bytes, 15, 'interfaces summed');
  assert.equal(docker.pids, 7);
  assert.equal((doc.source.event as Record<string, unknown>).kind, 'metric');
});

test('metric documents: ECS container.* and Metricbeat docker.* figures, normalised as Metricbeat, taken between two samples of the container', () => {
  const host = { cpus: 4, memoryBytes: 16_000 };
  const settings: DocumentSettings = { ...dataStreams, host, metricHistory: new MetricHistory() };
  const first = metricRecord(0);
  const base = metricRecord(2); // two seconds later
  const next: MetricRecord = {
    ...base,
    cpu: { ...base.cpu, usageSeconds: 2.5, userSeconds: 1.6, systemSeconds: 0.9 },
    network: [{ ...base.network[0]!, rxBytes: 1010, txBytes: 420 }, base.network[1]!],
    blkio: { ...base.blkio, readBytes: 4097, writeBytes: 2 },
  };
  const one = toDocument(first, settings).source as Record<string, any>;
  assert.equal(one.container.cpu, undefined, 'no CPU fraction from a first sample');
  assert.equal(one.docker.cpu.total, undefined);
  assert.equal(one.metricset.period, undefined);
  assert.equal(one.container.network, undefined);
  assert.equal(one.container.memory.usage, 0.195313, 'working set 800 over the 4096 limit');
  assert.equal(one.docker.memory.usage.pct, 0.195313);
  assert.equal(one.docker.memory.usage.total, 800);
  assert.equal(one.docker.memory.limit, 4096);
  assert.deepEqual(one.docker.network.inbound, { bytes: 15, packets: 2, errors: 0, dropped: 0 }, 'cumulative, over all interfaces');
  assert.deepEqual(one.docker.diskio.read, { ops: 3, bytes: 1 });
  assert.equal(one.event.module, 'docker');
  assert.deepEqual(one.service, { type: 'docker' });

  const two = toDocument(next, settings).source as Record<string, any>;
  assert.equal(two.docker.cpu.total.pct, 0.5, '1 CPU-second over 2 seconds');
  assert.equal(two.docker.cpu.total.norm.pct, 0.125, 'over 4 CPUs');
  assert.equal(two.container.cpu.usage, 0.125, 'ECS container.cpu.usage is the normalised fraction');
  assert.equal(two.docker.cpu.user.pct, 0.3);
  assert.equal(two.docker.cpu.kernel.pct, 0.2);
  assert.equal(two.metricset.period, 2000);
  assert.equal(two.container.network.ingress.bytes, 1000, 'ECS: bytes since the previous sample');
  assert.equal(two.container.network.egress.bytes, 400);
  assert.equal(two.docker.network.in.bytes, 500, 'per second');
  assert.equal(two.docker.network.inbound.bytes, 1015, 'cumulative');
  assert.equal(two.container.disk.read.bytes, 4096);
  assert.equal(two.container.disk.write.bytes, 0);
  assert.equal(two.docker.cpu.usage_seconds, 2.5, 'dockhand\'s own fields stay');
  assert.equal(two.docker.memory.working_set_bytes, 800);
  assert.deepEqual(toDocument(next, settings).source, two, 'a retried sample gets the same figures');

  const restarted: MetricRecord = { ...metricRecord(3), cpu: { ...base.cpu, usageSeconds: 0.1 } };
  const three = toDocument(restarted, settings).source as Record<string, any>;
  assert.equal(three.docker.cpu.total?.pct, undefined, 'a counter that went back (a restart) gives no fraction');
  const unlimited = toDocument({ ...metricRecord(4), memory: { ...base.memory, limitBytes: undefined } }, settings).source as Record<string, any>;
  assert.equal(unlimited.docker.memory.limit, 16_000, 'no limit: the host\'s memory, as Docker reports it');
  assert.equal(unlimited.container.memory.usage, 0.05);
});

test('index mode: <prefix>-yyyy.MM.dd of the record\'s UTC day, no data_stream fields', () => {
  const doc = toDocument(logRecord(0), { ...dataStreams, mode: 'index', indexPrefix: 'docker' });
  assert.equal(doc.index, 'docker-2026.01.02');
  assert.equal('data_stream' in doc.source, false);
  const lateNight = toDocument(logRecord(0, { time: 1_767_398_399_999_999_999n }), { ...dataStreams, mode: 'index' });
  assert.equal(lateNight.index, 'dockhand-2026.01.02');
  assert.equal(lateNight.source['@timestamp'], '2026-01-02T23:59:59.999999999Z');
  const midnight = toDocument(logRecord(0, { time: 1_767_398_400_000_000_000n }), { ...dataStreams, mode: 'index' });
  assert.equal(midnight.index, 'dockhand-2026.01.03', 'the next nanosecond is the next day');
  const lateAgain = toDocument(logRecord(0, { time: 1_767_398_399_999_999_999n }), { ...dataStreams, mode: 'index' });
  assert.equal(lateAgain.index, 'dockhand-2026.01.02', 'and a late line goes back to its own day');
});

test('dedot replaces every dot, as Beats does', () => {
  assert.deepEqual(dedot({ 'a.b.c': '1', plain: '2' }), { a_b_c: '1', plain: '2' });
});

test('a dead-letter document keeps the reason, the target and the original as text, under the same _id', () => {
  const original = toDocument(logRecord(0), dataStreams);
  const dead = deadLetterDocument({ document: original, status: 400, type: 'document_parsing_exception', reason: 'failed to parse field [x]' }, 'dockhand-dead-letter', '0.1.0');
  assert.equal(dead.id, original.id);
  assert.equal(dead.index, 'dockhand-dead-letter');
  assert.deepEqual(dead.source.error, { type: 'document_parsing_exception', message: 'failed to parse field [x]' });
  assert.deepEqual(JSON.parse((dead.source.event as { original: string }).original), original.source);
  assert.deepEqual(dead.source.dockhand, { dead_letter: { index: 'logs-docker.logs-prod', id: original.id, status: 400 } });
});

test('bulk items are create actions; splitting honours the byte budget', () => {
  assert.equal(ndjsonOf({ id: 'x"1', index: 'logs-a-b', source: { message: 'a\nb' } }), '{"create":{"_index":"logs-a-b","_id":"x\\"1"}}\n{"message":"a\\nb"}\n');
  const body = new BulkBody(new BodyBuffers(), 16);
  const sizes: number[] = [];
  for (const message of ['a', 'b', 'c', 'x'.repeat(60), 'd', 'e']) {
    const before = body.size;
    body.addDocument({ id: '1', index: 'i', json: JSON.stringify({ m: message }), source: {} });
    sizes.push(body.size - before);
  }
  // Each small item is 46 bytes: two fit in 100, the large one goes alone.
  assert.deepEqual(sizes.map((n) => n > 100 ? 'large' : n), [46, 46, 46, 'large', 46, 46]);
  assert.deepEqual(body.ranges(100), [[0, 2], [2, 3], [3, 4], [4, 6]]);
  assert.equal(body.slice(0, 6).toString().split('\n').length, 13, 'grown past its first buffer, every item kept');
  assert.throws(() => body.addDocument({ id: '2', index: 'i', source: { n: 1n } }), /BigInt/);
  assert.equal(body.items, 6, 'a document that cannot be serialised adds nothing');
});

test('body buffers: once as many as are kept, a larger buffer given back takes the smallest one\'s place', () => {
  const buffers = new BodyBuffers();
  // A burst's first bodies are small: they fill the places kept.
  const small = [64, 128, 256, 512].map((kb) => buffers.take(kb * 1024));
  for (const buffer of small) buffers.give(buffer);
  // Two exports in flight take two large buffers; both come back.
  const large = [buffers.take(1_500_000), buffers.take(1_500_000)];
  assert.notEqual(large[0], large[1]);
  for (const buffer of large) buffers.give(buffer);
  // The next two large bodies get those two again instead of new buffers (the 1.9 MB a body it was).
  const again = [buffers.take(1_500_000), buffers.take(1_500_000)];
  assert.ok(again.includes(large[0]!) && again.includes(large[1]!), 'both large buffers were kept');
  // A smaller buffer does not push a larger one out.
  for (const buffer of again) buffers.give(buffer);
  buffers.give(Buffer.allocUnsafeSlow(1024));
  assert.ok([buffers.take(1_500_000), buffers.take(1_500_000)].every((b) => large.includes(b)));
});

test('a bulk answer without item errors is counted, not parsed; anything else is parsed', () => {
  const answer = JSON.stringify({ errors: false, items: [{ create: { status: 201 } }, { create: { status: 201 } }] });
  assert.deepEqual(readAllStored(answer), { errors: false, itemCount: 2 });
  assert.deepEqual(itemOutcomes(readAllStored(answer), 2), [{ result: 'stored' }, { result: 'stored' }]);
  assert.throws(() => itemOutcomes(readAllStored(answer), 3), /lists 2 items for 3 sent/);
  assert.equal(readAllStored(JSON.stringify({ errors: true, items: [{ create: { status: 409, error: { type: 'version_conflict_engine_exception' } } }] })), undefined);
  assert.equal(readAllStored('{"errors":false,"items":[{"create":{"status":201}}'), undefined, 'cut short');
  assert.equal(readAllStored('{"acknowledged":true}'), undefined);
});

test('per-item statuses: stored, duplicate, retried or refused', () => {
  assert.deepEqual(classifyItem({ status: 201 }), { result: 'stored' });
  assert.deepEqual(classifyItem({ status: 409, error: { type: 'version_conflict_engine_exception' } }), { result: 'duplicate' });
  for (const status of [429, 500, 503, 403, 404]) assert.equal(classifyItem({ status, error: { type: 't', reason: 'r' } }).result, 'retry', String(status));
  assert.deepEqual(classifyItem({ status: 400, error: { type: 'document_parsing_exception', reason: 'bad', caused_by: { reason: 'why' } } }),
    { result: 'refused', status: 400, type: 'document_parsing_exception', reason: 'bad: why' });
  assert.throws(() => itemOutcomes({ errors: false, items: [] }, 1), /lists 0 items for 1 sent/);
  assert.deepEqual(itemOutcomes({ errors: false, items: [{ create: { status: 201 } }] }, 1), [{ result: 'stored' }]);
});

test('the limiter runs at most its limit at once, in arrival order', async () => {
  const limiter = new Limiter(2);
  let running = 0;
  let most = 0;
  const order: number[] = [];
  await Promise.all(Array.from({ length: 6 }, (_, i) => limiter.run(async () => {
    running++;
    most = Math.max(most, running);
    order.push(i);
    await new Promise((resolve) => setTimeout(resolve, 5));
    running--;
  })));
  assert.equal(most, 2);
  assert.deepEqual(order, [0, 1, 2, 3, 4, 5]);
  assert.equal(limiter.running, 0);
});

test('a log line encoded without stringifying its constant fields per line is the same document as JSON.stringify of its source', () => {
  const indices: DocumentSettings = { ...dataStreams, mode: 'index' };
  const odd = { ...container, name: '/we"ird\\name', labels: { 'a.b': 'x"y', ünï: '\u2028' } };
  const cases = [
    logRecord(0),
    logRecord(1, { message: 'quote " backslash \\ newline \n tab \t nul \u0000 lone surrogate \ud800 emoji 🙂', stream: 'stderr' }),
    logRecord(2, { truncated: true, message: 'x'.repeat(5000) }),
    logRecord(3, { json: { level: 'warn', nested: { 'a.b': [1, null, 'z'] } } }),
    { ...logRecord(4), container: odd },
    // Around the printable-ASCII path's edges: every printable character, DEL, an empty message, an id to escape.
    logRecord(6, { message: Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join('') }),
    logRecord(7, { message: 'del \u007f latin1 \u00e9 end' }),
    logRecord(8, { message: '' }),
    { ...logRecord(9, { message: 'plain' }), id: 'id "with" \\ escapes' },
    { ...logRecord(10, { message: 'say "hi"' }), id: 'id "quoted"' },
    { ...logRecord(11, { message: 'C:\\path' }), id: 'id\\back' },
  ];
  for (const settings of [dataStreams, indices]) {
    for (const record of cases) {
      const doc = toDocument(record, settings);
      assert.ok(doc.json, 'the fast path was taken');
      assert.deepEqual(JSON.parse(doc.json), JSON.parse(JSON.stringify(doc.source)), `${record.id} in ${settings.mode} mode`);
      const [action, source, end] = ndjsonOf(doc).split('\n');
      assert.deepEqual(JSON.parse(action!), { create: { _index: doc.index, _id: doc.id } });
      assert.equal(source, doc.json);
      assert.equal(end, '');
      // Written straight into a bulk body: the same bytes.
      const body = new BulkBody(new BodyBuffers(), 8);
      assert.equal(writeLogItem(body, new ActionPrefixes(settings), record, settings), true);
      assert.equal(body.slice(0, 1).toString(), ndjsonOf(doc), `${record.id} written directly in ${settings.mode} mode`);
    }
  }
  // The cached constant part belongs to the settings it was made with.
  assert.equal(JSON.parse(toDocument(logRecord(0), { ...dataStreams, agentVersion: '9.9.9' }).json!).agent.version, '9.9.9');
  assert.equal(JSON.parse(toDocument(logRecord(0), indices).json!).data_stream, undefined);
  // A body JSON cannot express falls back to JSON.stringify, which then says what is wrong.
  const big = toDocument(logRecord(5, { json: { n: 1n as unknown as number } }), dataStreams);
  assert.equal(big.json, undefined);
  assert.throws(() => ndjsonOf(big), /BigInt/);
  const body = new BulkBody(new BodyBuffers());
  assert.equal(writeLogItem(body, new ActionPrefixes(dataStreams), logRecord(5, { json: { n: 1n as unknown as number } }), dataStreams), false);
  assert.equal(body.size, 0, 'nothing written');
});

test('a plain log line written straight into the body has the same bytes at every time: over a second\'s end, a day back, before 1970-01-01T00:00:01Z, before the epoch, past year 9999', () => {
  const base = 1_796_022_640_999_999_998n;
  const times = [base, base + 1n, base + 2n, base + 3n, base - 86_400_000_000_000n, base + 1n,
    0n, 5n, 999_999_999n, 1_000_000_000n, 1_000_000_001n, -1n, -1_000_000_001n,
    253_402_300_799_999_999_999n, 253_402_300_800_000_000_000n, base];
  for (const settings of [dataStreams, { ...dataStreams, mode: 'index' } as DocumentSettings]) {
    const body = new BulkBody(new BodyBuffers(), 8);
    const prefixes = new ActionPrefixes(settings);
    const expected: string[] = [];
    times.forEach((time, i) => {
      for (const stream of ['stdout', 'stderr'] as const) {
        const record = { ...logRecord(i, { message: `line ${i}` }), time, stream };
        assert.equal(writeLogItem(body, prefixes, record, settings), true);
        expected.push(ndjsonOf(toDocument(record, settings)));
      }
    });
    assert.equal(body.items, times.length * 2);
    assert.equal(body.written().toString(), expected.join(''), `${settings.mode} mode`);
  }
});
