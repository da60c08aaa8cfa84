/**
 * The Elasticsearch-compatible test server, driven by the official @elastic/elasticsearch client:
 * if the client accepts its answers (product check, media types, gzip, bulk responses), the
 * exporter tests built on it exercise the real protocol.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, errors } from '@elastic/elasticsearch';
import { EsTestServer } from '../helpers/es-server.js';
import { waitFor } from '../helpers/wait.js';
import zlib from 'node:zlib';

async function setup(t: import('node:test').TestContext, options: ConstructorParameters<typeof Client>[0] extends infer O ? Partial<O> : never = {}, serverOptions = {}) {
  const server = await EsTestServer.start(serverOptions);
  const client = new Client({ node: server.url, maxRetries: 0, requestTimeout: 5_000, ...options });
  t.after(async () => {
    await client.close();
    await server.close();
  });
  return { server, client };
}

function ndjson(lines: unknown[]): string {
  return lines.map((line) => JSON.stringify(line)).join('\n') + '\n';
}

async function rawBulk(client: Client, body: string): Promise<{ statusCode: number; body: any }> {
  try {
    const result = await client.transport.request({ method: 'POST', path: '/_bulk', bulkBody: body }, { meta: true });
    return { statusCode: result.statusCode ?? 0, body: result.body };
  } catch (error) {
    if (error instanceof errors.ResponseError) return { statusCode: error.statusCode ?? 0, body: error.body };
    throw error;
  }
}

test('GET / answers like Elasticsearch 9 and passes the client product check', async (t) => {
  const { client } = await setup(t);
  const info = await client.info();
  assert.match(info.version.number, /^9\./);
  assert.equal(info.tagline, 'You Know, for Search');
  const meta = await client.info({}, { meta: true });
  assert.equal(meta.headers['x-elastic-product'], 'Elasticsearch');
  assert.match(String(meta.headers['content-type']), /compatible-with=9/);
});

test('an Elasticsearch 8 server refuses the compatible-with=9 media type, as a real one does', async (t) => {
  const { client } = await setup(t, {}, { version: '8.17.0' });
  await assert.rejects(client.info(), (error: unknown) => {
    assert.ok(error instanceof errors.ResponseError);
    assert.equal(error.statusCode, 400);
    assert.equal(error.body.error.type, 'media_type_header_exception');
    assert.match(error.body.error.caused_by.reason, /must be either version 8 or 7, but found 9/);
    return true;
  });
  const compat8 = 'application/vnd.elasticsearch+json; compatible-with=8';
  const info = await client.info({}, { headers: { accept: compat8, 'content-type': compat8 } });
  assert.equal(info.version.number, '8.17.0');
});

test('templates, component templates, ILM policies and data streams round-trip', async (t) => {
  const { client, server } = await setup(t);
  await client.ilm.putLifecycle({ name: 'p1', policy: { phases: { hot: { actions: { rollover: { max_age: '1d' } } } } } });
  const policy = await client.ilm.getLifecycle({ name: 'p1' });
  assert.equal(policy.p1?.version, 1);
  await client.cluster.putComponentTemplate({ name: 'c1', template: { mappings: { properties: { message: { type: 'match_only_text' } } } } });
  await client.indices.putIndexTemplate({
    name: 't1', index_patterns: ['logs-t1-*'], priority: 200, data_stream: {}, composed_of: ['c1'],
    template: { settings: { 'index.lifecycle.name': 'p1' }, mappings: { properties: { '@timestamp': { type: 'date_nanos' } } } },
    version: 3,
  });
  assert.equal(await client.indices.existsIndexTemplate({ name: 't1' }), true);
  assert.equal(await client.indices.existsIndexTemplate({ name: 'nope' }), false);
  const got = await client.indices.getIndexTemplate({ name: 't1' });
  assert.equal(got.index_templates[0]?.index_template.version, 3);

  await assert.rejects(client.indices.putIndexTemplate({ name: 't2', index_patterns: ['x-*'], composed_of: ['missing'] }), /specifies a missing component templates \[missing\] that does not exist and is not part of 'ignore_missing_component_templates'/);
  await assert.rejects(client.indices.putIndexTemplate({ name: 'clash', index_patterns: ['logs-foo-*'], priority: 100, data_stream: {} }), /same priority \[100\]/);

  await client.indices.createDataStream({ name: 'logs-t1-default' });
  const ds = await client.indices.getDataStream({ name: 'logs-t1-default' });
  assert.equal(ds.data_streams[0]?.template, 't1');
  assert.match(ds.data_streams[0]!.indices[0]!.index_name, /^\.ds-logs-t1-default-\d{4}\.\d{2}\.\d{2}-000001$/);
  await assert.rejects(client.indices.createDataStream({ name: 'logs-t1-default' }), /resource_already_exists_exception/);
  await assert.rejects(client.indices.createDataStream({ name: 'plain' }), /no matching index template found for data stream \[plain\]/);
  await assert.rejects(client.indices.getDataStream({ name: 'logs-none-default' }), (e: unknown) => e instanceof errors.ResponseError && e.statusCode === 404);
  assert.equal(server.mapping('logs-t1-default')?.properties['@timestamp']?.type, 'date_nanos');
  assert.equal(server.mapping('logs-t1-default')?.properties.message?.type, 'match_only_text');

  await client.indices.create({ index: 'plain-1', mappings: { properties: { n: { type: 'long' } } } });
  assert.equal(await client.indices.exists({ index: 'plain-1' }), true);
  await assert.rejects(client.indices.create({ index: 'plain-1' }), /resource_already_exists_exception/);
  await assert.rejects(client.indices.create({ index: 'Upper' }), /must be lowercase/);
});

test('bulk create stores by _id, answers 409 for a second create, and reports per-item results like Elasticsearch', async (t) => {
  const { client, server } = await setup(t);
  const first = await client.bulk({
    operations: [
      { create: { _index: 'app-1', _id: 'a' } }, { message: 'one' },
      { create: { _index: 'app-1', _id: 'b' } }, { message: 'two' },
    ],
  });
  assert.equal(first.errors, false);
  assert.equal(typeof first.took, 'number');
  assert.deepEqual(first.items.map((i) => [i.create?.status, i.create?._id, i.create?.result, i.create?._index]), [[201, 'a', 'created', 'app-1'], [201, 'b', 'created', 'app-1']]);

  const second = await client.bulk({
    operations: [
      { create: { _index: 'app-1', _id: 'a' } }, { message: 'one again' },
      { create: { _index: 'app-1', _id: 'c' } }, { message: 'three' },
      { index: { _index: 'app-1', _id: 'b' } }, { message: 'two, overwritten' },
    ],
  });
  assert.equal(second.errors, true);
  const [dup, created, updated] = second.items;
  assert.equal(dup?.create?.status, 409);
  assert.equal(dup?.create?.error?.type, 'version_conflict_engine_exception');
  assert.match(String(dup?.create?.error?.reason), /^\[a\]: version conflict, document already exists \(current version \[1\]\)$/);
  assert.equal(created?.create?.status, 201);
  assert.equal(updated?.index?.status, 200);
  assert.equal(updated?.index?.result, 'updated');

  assert.equal(server.count('app-1'), 3);
  assert.equal(server.document('app-1', 'a')?._source.message, 'one');
  assert.equal(server.counters.duplicates, 1);
  assert.equal(server.counters.created, 3);
  assert.equal(server.counters.bulkRequests, 2);
  assert.equal(server.timesReceived('a'), 2);
  assert.equal(server.timesReceived('c'), 1);
});

test('writes to logs-*-* go to a data stream: backing index in _index, create only, @timestamp required', async (t) => {
  const { client, server } = await setup(t);
  const result = await client.bulk({
    operations: [
      { create: { _index: 'logs-app-default', _id: '1' } }, { '@timestamp': '2026-01-02T03:04:05.123456789Z', message: 'hello' },
      { index: { _index: 'logs-app-default', _id: '2' } }, { '@timestamp': '2026-01-02T03:04:05Z', message: 'index op' },
      { create: { _index: 'logs-app-default', _id: '3' } }, { message: 'no timestamp' },
      { create: { _index: 'logs-app-default', _id: '4' } }, { '@timestamp': '2026-01-02T03:04:05Z', data_stream: { type: 'metrics' } },
    ],
  });
  const [ok, indexOp, noTimestamp, wrongConstant] = result.items;
  assert.equal(ok?.create?.status, 201);
  assert.match(String(ok?.create?._index), /^\.ds-logs-app-default-/);
  assert.equal(indexOp?.index?.status, 400);
  assert.equal(indexOp?.index?.error?.reason, 'only write ops with an op_type of create are allowed in data streams');
  assert.equal(noTimestamp?.create?.status, 400);
  assert.match(String(noTimestamp?.create?.error?.reason), /data stream timestamp field \[@timestamp\] is missing/);
  assert.equal(wrongConstant?.create?.status, 201, 'first value of a constant_keyword sets it');
  assert.deepEqual(server.dataStream('logs-app-default')?.template, 'logs');
  assert.equal(server.count('logs-app-default'), 2);
  assert.equal(server.count('logs-*'), 2);
});

test('dynamic mapping conflicts and strict mappings are refused per item', async (t) => {
  const { client } = await setup(t);
  await client.indices.create({ index: 'strict-1', mappings: { dynamic: 'strict', properties: { a: { type: 'keyword' }, n: { type: 'long' }, flat: { type: 'flattened' } } } });
  const result = await client.bulk({
    operations: [
      { create: { _index: 'dyn-1', _id: '1' } }, { level: 3 },
      { create: { _index: 'dyn-1', _id: '2' } }, { level: 'warn' },
      { create: { _index: 'dyn-1', _id: '3' } }, { obj: { x: 1 } },
      { create: { _index: 'dyn-1', _id: '4' } }, { obj: 'scalar' },
      { create: { _index: 'strict-1', _id: '5' } }, { a: 'x', other: 1 },
      { create: { _index: 'strict-1', _id: '6' } }, { n: 'not a number' },
      { create: { _index: 'strict-1', _id: '7' } }, { a: 'ok', n: '42', flat: { any: { thing: [1, 'x'] } } },
      { create: { _index: 'dyn-1', _id: '8' } }, '{"broken": ',
    ].map((x) => x),
  }).catch((e) => e);
  // The last source line is not JSON: the client serialises strings as they are.
  const items = (result as { items: any[] }).items.map((i) => i.create);
  assert.deepEqual(items.map((i) => i.status), [201, 400, 201, 400, 400, 400, 201, 400]);
  assert.equal(items[1].error.type, 'document_parsing_exception');
  assert.match(items[1].error.reason, /failed to parse field \[level\] of type \[long\] in document with id '2'/);
  assert.match(items[3].error.reason, /object mapping for \[obj\] tried to parse field \[obj\] as object, but found a concrete value/);
  assert.equal(items[4].error.type, 'strict_dynamic_mapping_exception');
  assert.match(items[5].error.reason, /of type \[long\]/);
  assert.equal(items[7].error.type, 'document_parsing_exception');
});

test('malformed NDJSON is refused as a whole with 400, as Elasticsearch does', async (t) => {
  const { client } = await setup(t);
  const cases: [string, RegExp][] = [
    ['{"create":{"_index":"a","_id":"1"}}\n{"m":1}', /must be terminated by a newline/],
    ['{"create":{"_index":"a"}\n{"m":1}\n', /^\[1:\d+\]/],
    ['"create"\n{"m":1}\n', /Malformed action\/metadata line \[1\], expected START_OBJECT but found \[VALUE_STRING\]/],
    ['{"upsert":{"_index":"a"}}\n{"m":1}\n', /expected field \[create\], \[delete\], \[index\] or \[update\] but found \[upsert\]/],
    ['{"create":{"_index":"a","colour":"red"}}\n{"m":1}\n', /Action\/metadata line \[1\] contains an unknown parameter \[colour\]/],
    ['{"create":{"_index":"a","_id":["x"]}}\n{"m":1}\n', /expected a simple value for field \[_id\] but found \[START_ARRAY\]/],
    ['{"create":{"_index":"a"}}\n', /not followed by a source line/],
    ['{"create":{"_id":"1"}}\n{"m":1}\n', /Validation Failed: 1: index is missing;/],
  ];
  for (const [body, reason] of cases) {
    const answer = await rawBulk(client, body);
    assert.equal(answer.statusCode, 400, body);
    assert.match(answer.body.error.reason, reason, body);
  }
  const fine = await rawBulk(client, '{"create":{"_index":"a","_id":"1"}}\r\n{"m":1}\r\n\n');
  assert.equal(fine.statusCode, 200);
  assert.equal(fine.body.items[0].create.status, 201);
});

test('count, search, get and refresh read what was stored', async (t) => {
  const { client } = await setup(t);
  const operations = [];
  for (let i = 0; i < 25; i++) operations.push({ create: { _index: 'logs-app-default', _id: `id-${i}` } }, { '@timestamp': `2026-01-01T00:00:${String(i).padStart(2, '0')}Z`, n: i, tag: i % 2 ? 'odd' : 'even' });
  await client.bulk({ operations, refresh: true });
  await client.indices.refresh({ index: 'logs-app-default' });
  assert.equal((await client.count({ index: 'logs-app-default' })).count, 25);
  assert.equal((await client.count({ index: 'logs-*', query: { term: { tag: 'odd' } } })).count, 12);
  const page = await client.search({ index: 'logs-app-default', size: 5, query: { match_all: {} }, sort: [{ n: { order: 'desc' } }] });
  assert.equal((page.hits.total as { value: number }).value, 25);
  assert.deepEqual(page.hits.hits.map((h) => h._id), ['id-24', 'id-23', 'id-22', 'id-21', 'id-20']);
  const ids = await client.search({ index: 'logs-app-default', query: { ids: { values: ['id-3', 'id-4'] } } });
  assert.equal(ids.hits.hits.length, 2);
  const doc = await client.get({ index: 'logs-app-default', id: 'id-7' });
  assert.equal((doc._source as { n: number }).n, 7);
  await assert.rejects(client.count({ index: 'missing' }), /index_not_found_exception/);
  assert.equal((await client.count({ index: 'missing-*' })).count, 0);
});

test('gzip request and response bodies work with client compression', async (t) => {
  const { client, server } = await setup(t, { compression: true });
  const result = await client.bulk({ operations: [{ create: { _index: 'gz', _id: '1' } }, { message: 'x'.repeat(10_000) }] });
  assert.equal(result.items[0]?.create?.status, 201);
  assert.equal(server.document('gz', '1')?._source.message, 'x'.repeat(10_000));
  assert.ok(server.counters.bytesReceived > 10_000);
});

test('refused connections, then accepted again on the same port', async (t) => {
  const { client, server } = await setup(t);
  const url = server.url;
  await server.refuseConnections();
  await assert.rejects(client.info(), (e: unknown) => e instanceof errors.ConnectionError);
  await server.acceptConnections();
  assert.equal(server.url, url);
  assert.match((await client.info()).version.number, /^9\./);
});

test('whole-request failures: 503 for every request or a counted few, 502 as a proxy says it', async (t) => {
  const { client, server } = await setup(t);
  server.failRequests({});
  await assert.rejects(client.info(), (e: unknown) => e instanceof errors.ResponseError && e.statusCode === 503 && e.body.error.type === 'cluster_block_exception');
  await assert.rejects(client.bulk({ operations: [{ create: { _index: 'x', _id: '1' } }, {}] }), (e: unknown) => e instanceof errors.ResponseError && e.statusCode === 503);
  assert.equal(server.count('x'), 0);
  assert.equal(server.counters.bulkRequests, 1);
  server.failRequests({ status: 502, count: 1 });
  await assert.rejects(client.info(), (e: unknown) => e instanceof errors.ResponseError && e.statusCode === 502);
  assert.ok(await client.info());
  server.failRequests({ match: /_bulk$/ });
  assert.ok(await client.info());
  server.failRequests(undefined);
  assert.ok(await client.bulk({ operations: [{ create: { _index: 'x', _id: '1' } }, {}] }));
});

test('request refusals: as Elasticsearch (error envelope, product header) or as a proxy in front of it (an HTML page, no product header)', async (t) => {
  const { client, server } = await setup(t);
  server.failRequests({ status: 400, type: 'illegal_argument_exception', reason: 'request body is not valid', match: /_bulk$/ });
  await assert.rejects(client.bulk({ operations: [{ create: { _index: 'x', _id: '1' } }, {}] }), (e: unknown) => {
    assert.ok(e instanceof errors.ResponseError);
    assert.equal(e.statusCode, 400);
    assert.equal(e.body.error.type, 'illegal_argument_exception');
    assert.equal(e.headers?.['x-elastic-product'], 'Elasticsearch');
    return true;
  });
  server.failRequests({ status: 400, as: 'proxy', match: /_bulk$/ });
  await assert.rejects(client.bulk({ operations: [{ create: { _index: 'x', _id: '1' } }, {}] }), (e: unknown) => {
    assert.ok(e instanceof errors.ResponseError);
    assert.equal(e.statusCode, 400);
    assert.match(String(e.body), /<title>400 Bad Request<\/title>.*nginx/s);
    assert.equal(e.headers?.['x-elastic-product'], undefined);
    assert.match(String(e.headers?.['content-type']), /^text\/html/);
    return true;
  });
  assert.ok(await client.info(), 'only the matching requests are refused');
  assert.equal(server.count('x'), 0);
  server.failRequests({ status: 400, type: 'action_request_validation_exception', body: /BAD/ });
  await assert.rejects(client.bulk({ operations: [{ create: { _index: 'x', _id: '1' } }, { m: 'BAD' }] }), (e: unknown) => e instanceof errors.ResponseError && e.statusCode === 400);
  assert.equal((await client.bulk({ operations: [{ create: { _index: 'x', _id: '1' } }, { m: 'good' }] })).errors, false, 'a body without the pattern is answered');
});

test('a body read without its content encoding is refused as a whole, as Elasticsearch refuses bytes it cannot parse', async (t) => {
  const { client, server } = await setup(t, { compression: true });
  server.ignoreContentEncoding(true);
  await assert.rejects(client.bulk({ operations: [{ create: { _index: 'x', _id: '1' } }, { m: 1 }] }), (e: unknown) => {
    assert.ok(e instanceof errors.ResponseError);
    assert.equal(e.statusCode, 400);
    assert.match(e.body.error.type, /^(x_content_parse_exception|illegal_argument_exception)$/);
    return true;
  });
  server.ignoreContentEncoding(false);
  assert.equal((await client.bulk({ operations: [{ create: { _index: 'x', _id: '1' } }, { m: 1 }] })).errors, false);
});

test('an index that refuses every document answers each item 400, other indices store theirs', async (t) => {
  const { client, server } = await setup(t);
  server.refuseIndex('dead-*');
  const result = await client.bulk({ operations: [{ create: { _index: 'dead-1', _id: '1' } }, { m: 1 }, { create: { _index: 'live', _id: '2' } }, { m: 2 }] });
  assert.deepEqual(result.items.map((i) => i.create?.status), [400, 201]);
  assert.equal(result.items[0]?.create?.error?.type, 'strict_dynamic_mapping_exception');
  assert.equal(server.counters.indexRefusals, 1);
  server.refuseIndex(undefined);
  assert.equal((await client.bulk({ operations: [{ create: { _index: 'dead-1', _id: '1' } }, { m: 1 }] })).errors, false);
});

test('slow answers: a client timeout leaves the request processed (the replay then sees 409)', async (t) => {
  const { client, server } = await setup(t);
  server.delayResponses(400);
  // A per-request timeout: undici's own timers (used for the client-wide one) tick coarsely.
  await assert.rejects(client.bulk({ operations: [{ create: { _index: 'slow', _id: '1' } }, { m: 1 }] }, { requestTimeout: 100 }), (e: unknown) => e instanceof errors.TimeoutError);
  assert.equal(server.count('slow'), 1);
  server.delayResponses(undefined);
  const replay = await client.bulk({ operations: [{ create: { _index: 'slow', _id: '1' } }, { m: 1 }] });
  assert.equal(replay.items[0]?.create?.status, 409);
  server.delayResponses({ ms: 400, when: 'before' });
  await assert.rejects(client.bulk({ operations: [{ create: { _index: 'slow', _id: '2' } }, { m: 1 }] }, { requestTimeout: 100 }), (e: unknown) => e instanceof errors.TimeoutError);
});

test('a share of items answered 429, reproducibly, for a bounded number of rejections', async (t) => {
  const { client, server } = await setup(t);
  const operations = (prefix: string) => Array.from({ length: 1000 }, (_, i) => [{ create: { _index: 'r', _id: `${prefix}${i}` } }, { i }]).flat();
  server.rejectItems({ share: 0.3, seed: 7 });
  const first = await client.bulk({ operations: operations('a') });
  const rejected = first.items.filter((i) => i.create?.status === 429);
  assert.ok(rejected.length > 250 && rejected.length < 350, `rejected ${rejected.length}`);
  assert.equal(rejected[0]?.create?.error?.type, 'es_rejected_execution_exception');
  assert.equal(server.count('r'), 1000 - rejected.length);
  server.rejectItems({ share: 0.3, seed: 7 });
  const again = await client.bulk({ operations: operations('b') });
  assert.deepEqual(again.items.map((i) => i.create?.status), first.items.map((i) => i.create?.status), 'same seed, same decisions');
  server.rejectItems({ share: 1, maxRejections: 3 });
  const bounded = await client.bulk({ operations: operations('c').slice(0, 20) });
  assert.deepEqual(bounded.items.map((i) => i.create?.status), [429, 429, 429, 201, 201, 201, 201, 201, 201, 201]);
  assert.equal(server.counters.rejected, rejected.length * 2 + 3);
});

test('poison documents get a 400 mapping error, write blocks a 403 cluster_block_exception', async (t) => {
  const { client, server } = await setup(t);
  server.poison(/POISON/);
  server.blockWrites('blocked-*');
  const result = await client.bulk({
    operations: [
      { create: { _index: 'p', _id: '1' } }, { message: 'fine' },
      { create: { _index: 'p', _id: '2' } }, { message: 'this is POISON' },
      { create: { _index: 'blocked-1', _id: '3' } }, { message: 'fine' },
    ],
  });
  assert.deepEqual(result.items.map((i) => i.create?.status), [201, 400, 403]);
  assert.equal(result.items[1]?.create?.error?.type, 'mapper_parsing_exception');
  assert.equal(result.items[2]?.create?.error?.type, 'cluster_block_exception');
  assert.match(String(result.items[2]?.create?.error?.reason), /FORBIDDEN\/8\/index write/);
  assert.equal(server.counters.poisoned, 1);
});

test('authentication: basic and API key accepted, anything else 401; forbidden actions 403', async (t) => {
  const server = await EsTestServer.start();
  const clients: Client[] = [];
  const client = (auth?: ConstructorParameters<typeof Client>[0]['auth']) => {
    const c = new Client({ node: server.url, maxRetries: 0, ...(auth ? { auth } : {}) });
    clients.push(c);
    return c;
  };
  t.after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await server.close();
  });
  const apiKey = Buffer.from('key-id:key-secret').toString('base64');
  server.requireAuth({ basic: { username: 'elastic', password: 'changeme' }, apiKey });
  assert.ok(await client({ username: 'elastic', password: 'changeme' }).info());
  assert.ok(await client({ apiKey }).info());
  assert.ok(await client({ apiKey: { id: 'key-id', api_key: 'key-secret' } }).info());
  await assert.rejects(client({ username: 'elastic', password: 'wrong' }).info(), (e: unknown) => e instanceof errors.ResponseError && e.statusCode === 401 && /unable to authenticate user \[elastic\]/.test(e.body.error.reason));
  await assert.rejects(client().info(), (e: unknown) => e instanceof errors.ResponseError && e.statusCode === 401 && /missing authentication credentials/.test(e.body.error.reason));
  server.requireAuth(undefined);
  server.forbid(/^PUT \/_index_template\//);
  await assert.rejects(client().indices.putIndexTemplate({ name: 'x', index_patterns: ['x-*'] }), (e: unknown) => e instanceof errors.ResponseError && e.statusCode === 403 && e.body.error.type === 'security_exception');
  assert.ok(await client().bulk({ operations: [{ create: { _index: 'x', _id: '1' } }, {}] }));
});

test('bodies over max_content_length are answered 413', async (t) => {
  const { client } = await setup(t, {}, { maxContentLength: 1000 });
  const answer = await rawBulk(client, ndjson([{ create: { _index: 'big', _id: '1' } }, { m: 'x'.repeat(2000) }]));
  assert.equal(answer.statusCode, 413);
});

test('the /_test/ HTTP API switches faults and reports counters', async (t) => {
  const { client, server } = await setup(t);
  const call = (method: string, path: string, body?: unknown) => fetch(server.url + path, { method, headers: { 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) }).then((r) => r.json() as Promise<any>);
  await call('POST', '/_test/faults', { fail: { status: 503 } });
  await assert.rejects(client.info(), (e: unknown) => e instanceof errors.ResponseError && e.statusCode === 503);
  await call('POST', '/_test/faults', { fail: { status: 400, as: 'proxy' }, refuse_index: 'dl-*', ignore_content_encoding: true });
  await assert.rejects(client.info(), (e: unknown) => e instanceof errors.ResponseError && e.statusCode === 400 && e.headers?.['x-elastic-product'] === undefined);
  await call('POST', '/_test/faults', { fail: null, ignore_content_encoding: false });
  assert.equal((await client.bulk({ operations: [{ create: { _index: 'dl-1', _id: 'dl' } }, {}] })).items[0]?.create?.status, 400);
  await call('DELETE', '/_test/faults');
  await client.bulk({ operations: [{ create: { _index: 'c', _id: '1' } }, {}, { create: { _index: 'c', _id: '1' } }, {}] });
  const counters = await call('GET', '/_test/counters');
  assert.equal(counters.stored, 1);
  assert.equal(counters.duplicates, 1);
  assert.equal(counters.resent, 1);
  await call('POST', '/_test/faults', { refuse_for_ms: 200 });
  const deadline = Date.now() + 5_000;
  let refused = false;
  while (!refused && Date.now() < deadline) refused = await client.info().then(() => false, (e) => e instanceof errors.ConnectionError);
  assert.ok(refused, 'connections refused for a while');
  let back = false;
  while (!back && Date.now() < deadline) back = await client.info().then(() => true, () => false);
  assert.ok(back, 'and accepted again');
});

test('close() ends pending slow requests and frees the port', async () => {
  const server = await EsTestServer.start();
  const client = new Client({ node: server.url, maxRetries: 0, requestTimeout: 30_000 });
  server.delayResponses(60_000);
  const pending = client.info().then(() => 'answered', () => 'failed');
  await waitFor(() => server.counters.requests > 0, { what: 'the request to arrive' });
  const started = Date.now();
  await server.close();
  assert.equal(await pending, 'failed');
  assert.ok(Date.now() - started < 2_000);
  await client.close();
});

test('filter_path trims answers as Elasticsearch does (the exporter asks for errors,items.*.error,items.*.status); errors are not filtered', async (t) => {
  const { client } = await setup(t);
  await client.bulk({ operations: [{ create: { _index: 'app-1', _id: 'a' } }, { message: 'one' }] });
  const filtered = await client.transport.request<any>({
    method: 'POST', path: '/_bulk', querystring: { filter_path: 'errors,items.*.error,items.*.status' },
    bulkBody: ndjson([{ create: { _index: 'app-1', _id: 'a' } }, { message: 'again' }, { create: { _index: 'app-1', _id: 'b' } }, { message: 'two' }]),
  });
  assert.equal(filtered.errors, true);
  assert.equal(filtered.took, undefined);
  assert.equal(filtered.items.length, 2);
  assert.deepEqual(Object.keys(filtered.items[0].create).sort(), ['error', 'status']);
  assert.equal(filtered.items[0].create.status, 409);
  assert.equal(filtered.items[0].create.error.type, 'version_conflict_engine_exception');
  assert.deepEqual(filtered.items[1], { create: { status: 201 } });

  const info = await client.transport.request<any>({ method: 'GET', path: '/', querystring: { filter_path: 'version.num*,**.build_flavor,nothing.here' } });
  assert.deepEqual(info, { version: { number: '9.1.0', build_flavor: 'default' } });
  const none = await client.transport.request<any>({ method: 'GET', path: '/', querystring: { filter_path: 'nothing' } });
  assert.deepEqual(none, {});

  const missing = await client.transport.request<any>({ method: 'GET', path: '/nope/_count', querystring: { filter_path: 'count' } }, { ignore: [404], meta: true });
  assert.equal(missing.statusCode, 404);
  assert.equal(missing.body.error.type, 'index_not_found_exception', 'error bodies are left whole');
});

/** POSTs `body` to `path` as the exporter does (NDJSON, optionally gzipped); the answer's status and text. */
async function post(server: EsTestServer, path: string, body: string, gzip = false): Promise<{ status: number; text: string; product: string | null }> {
  const bytes = gzip ? zlib.gzipSync(body) : Buffer.from(body);
  const response = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-ndjson', ...(gzip ? { 'content-encoding': 'gzip' } : {}) },
    body: bytes,
  });
  return { status: response.status, text: await response.text(), product: response.headers.get('x-elastic-product') };
}

/** Index uuids are random per server, `took` is a time: the rest of two answers must be equal. */
function comparable(text: string): unknown {
  return JSON.parse(text.replace(/"index_uuid":"[^"]*"/g, '"index_uuid":"-"').replace(/"took":\d+/g, '"took":0'));
}

const LEAN = '/_bulk?filter_path=errors,items.*.error,items.*.status';

test('count-only: bulk answers are those of the full server, byte for byte with the exporter\'s filter_path, gzip bodies read; no source kept', async (t) => {
  const full = await EsTestServer.start();
  const counting = await EsTestServer.start({ countOnly: true });
  t.after(async () => { await full.close(); await counting.close(); });
  const create = (index: string, id: string, message: string) => ndjson([{ create: { _index: index, _id: id } }, { '@timestamp': '2026-01-02T03:04:05.000Z', message }]);
  const first = create('logs-docker.logs-default', 'c1:stdout:1:0', 'one') + create('logs-docker.logs-default', 'c1:stdout:2:0', 'two') + create('app-1', 'x', 'other index');
  const again = create('logs-docker.logs-default', 'c1:stdout:2:0', 'two, resent') + create('logs-docker.logs-default', 'c1:stdout:3:0', 'three') + create('logs-docker.logs-default', 'c1:stdout:3:0', 'three, twice in one request');
  for (const [path, body, gzip] of [[LEAN, first, true], [LEAN, again, false], ['/_bulk', create('app-1', 'x', 'dup') + create('app-1', 'y', 'new'), false]] as const) {
    const expected = await post(full, path, body, gzip);
    const answered = await post(counting, path, body, gzip);
    assert.equal(answered.status, expected.status);
    assert.equal(answered.product, 'Elasticsearch');
    if (path === LEAN) assert.equal(answered.text.replace(/"index_uuid":"[^"]*"/g, ''), expected.text.replace(/"index_uuid":"[^"]*"/g, ''));
    else assert.deepEqual(comparable(answered.text), comparable(expected.text));
  }
  assert.equal(JSON.parse((await post(counting, LEAN, again)).text).items.filter((i: any) => i.create.status === 409).length, 3, 'every create of a stored _id is a 409');
  assert.equal(counting.count('logs-docker.logs-default'), 3);
  assert.equal(counting.count('app-1'), 2);
  assert.equal(counting.counters.created, 5);
  assert.equal(counting.counters.duplicates, 6);
  assert.equal(counting.counters.receivedById.size, 0, 'read by the count-only path, which keeps no per-_id tally');
  const stored = counting.document('logs-docker.logs-default', 'c1:stdout:1:0')!;
  assert.deepEqual(stored._source, { '@timestamp': '1970-01-01T00:00:00.000Z' }, 'the source is not kept');
  assert.equal(stored._version, 1);
});

test('count-only: bodies of another shape (escaped ids, index actions, a path index, malformed lines) are read as Elasticsearch reads them', async (t) => {
  const full = await EsTestServer.start();
  const counting = await EsTestServer.start({ countOnly: true });
  t.after(async () => { await full.close(); await counting.close(); });
  const bodies: [string, string][] = [
    [LEAN, ndjson([{ create: { _index: 'app-1', _id: 'quote"d' } }, { a: 1 }, { create: { _index: 'app-1', _id: 'plain' } }, { a: 2 }])],
    [LEAN, ndjson([{ index: { _index: 'app-1', _id: 'plain' } }, { a: 3 }])],
    ['/app-2/_bulk?filter_path=errors,items.*.error,items.*.status', ndjson([{ create: { _id: 'p1' } }, { a: 1 }, { create: { _id: 'p1' } }, { a: 1 }])],
    [LEAN, '{"create":{"_index":"app-1","_id":"z"}}\n{"a":1}'],
    [LEAN, '{"create":{"_index":"app-1","_id":"z","routing":"r"}}\n{"a":1}\n'],
    [LEAN, '{"create":{"_index":"app-1","_id":"z","bogus":1}}\n{"a":1}\n'],
    [LEAN, '{"create":{"_index":"logs-x-y","_id":"z"}}\n'],
  ];
  for (const [path, body] of bodies) {
    const expected = await post(full, path, body);
    const answered = await post(counting, path, body);
    assert.equal(answered.status, expected.status, body);
    assert.deepEqual(comparable(answered.text), comparable(expected.text), body);
  }
  assert.equal(counting.count('app-1'), full.count('app-1'));
  assert.equal(counting.count('app-2'), 1);
  // A create of a document the full parser stored (version 2 after an index action) is answered with its version.
  const conflict = JSON.parse((await post(counting, LEAN, ndjson([{ create: { _index: 'app-1', _id: 'plain' } }, { a: 4 }]))).text);
  assert.match(conflict.items[0].create.error.reason, /current version \[2\]/);
  assert.ok(counting.counters.receivedById.size > 0, 'read by the full bulk parser');
});
