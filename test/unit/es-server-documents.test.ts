/**
 * The ES test server's id store (Documents): ids kept as bytes behind a typed-array hash table must
 * behave exactly as the Map it replaced — same documents, same order, same answers — also when every
 * id hashes alike, across growth, and through the count-only bulk path over HTTP.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Documents, EsTestServer, fnv1a, type StoredDocument } from '../helpers/es-server.js';

const COUNTED_SOURCE = { '@timestamp': '1970-01-01T00:00:00.000Z' };

function createCounted(docs: Documents, id: string, seqNo: number): number {
  const bytes = Buffer.from(id);
  return docs.createCounted(bytes, 0, bytes.length, fnv1a(bytes, 0, bytes.length), seqNo);
}

function full(id: string, version: number, seqNo: number): StoredDocument {
  return { _index: 'i', _id: id, _version: version, _seq_no: seqNo, _source: { n: seqNo } };
}

/** What the store held before: a Map of full documents and counted `_seq_no`s, in the Map's order. */
class MapModel {
  readonly byId = new Map<string, StoredDocument | number>();

  createCounted(id: string, seqNo: number): number {
    const held = this.get(id);
    if (held) return held._version;
    this.byId.set(id, seqNo);
    return 0;
  }

  get(id: string): StoredDocument | undefined {
    const doc = this.byId.get(id);
    return typeof doc === 'number' ? { _index: 'i', _id: id, _version: 1, _seq_no: doc, _source: COUNTED_SOURCE } : doc;
  }

  values(): StoredDocument[] {
    return [...this.byId.keys()].map((id) => this.get(id)!);
  }
}

function plain(doc: StoredDocument | undefined): unknown {
  return doc && { ...doc, _source: { ...doc._source } };
}

test('every id hashing alike: each stored once, found by its bytes (prefixes, one byte apart), a second create answered with the held version', () => {
  const docs = new Documents('i', () => 7);
  const ids = ['a', 'ab', 'abc', 'abd', 'b', 'é', 'e\u0301', '', 'x'.repeat(512)];
  for (let n = 0; n < 2_000; n++) ids.push(`c:stdout:${n}:0`);
  ids.forEach((id, seqNo) => assert.equal(createCounted(docs, id, seqNo), 0, id));
  assert.equal(docs.size, ids.length);
  ids.forEach((id, seqNo) => {
    assert.equal(createCounted(docs, id, 100_000), 1, `a second create of ${id} is refused`);
    assert.deepEqual(plain(docs.get(id)), { _index: 'i', _id: id, _version: 1, _seq_no: seqNo, _source: COUNTED_SOURCE });
  });
  assert.equal(docs.size, ids.length);
  assert.equal(docs.get('abe'), undefined);
  assert.equal(docs.get('c:stdout:2000:0'), undefined);
  assert.deepEqual([...docs.values()].map((d) => [d._id, d._seq_no]), ids.map((id, seqNo) => [id, seqNo]), 'insertion order, ids decoded from the arena');
});

test('growth: 300,000 ids (the table and the arena grow many times) are all there, once, in order', () => {
  const docs = new Documents('logs');
  const id = (n: number) => `${'f0'.repeat(32)}:stdout:${1_764_487_800_000_000_000n + BigInt(n)}:0`;
  for (let n = 0; n < 300_000; n++) assert.equal(createCounted(docs, id(n), n), 0);
  assert.equal(docs.size, 300_000);
  for (let n = 0; n < 300_000; n += 997) assert.equal(createCounted(docs, id(n), -1), 1);
  assert.equal(docs.get(id(299_999))?._seq_no, 299_999);
  assert.equal(docs.get(id(300_000)), undefined);
  let n = 0;
  for (const doc of docs.values()) {
    assert.equal(doc._id, id(n));
    assert.equal(doc._seq_no, n++);
  }
  assert.equal(n, 300_000);
});

test('counted and full documents, deletes and re-creates, lone surrogates: the same answers and order as a Map, with every id colliding', () => {
  const docs = new Documents('i', () => 1);
  const model = new MapModel();
  let state = 12345;
  const random = (n: number) => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state % n;
  };
  const ids = ['a', 'b', 'ab', 'ba', '\ud800', '\udc00', '\ud800x', 'x\udfff', '😀', 'ü', '', 'long'.repeat(40)];
  let seqNo = 0;
  for (let step = 0; step < 5_000; step++) {
    const id = ids[random(ids.length)]!;
    const op = random(4);
    const wellFormed = !/[\ud800-\udfff]/u.test(id);
    if (op === 0 && wellFormed) {
      assert.equal(createCounted(docs, id, seqNo), model.createCounted(id, seqNo), `create ${JSON.stringify(id)}`);
    } else if (op === 1) {
      const doc = full(id, (model.get(id)?._version ?? 0) + 1, seqNo);
      docs.set(id, doc);
      model.byId.set(id, doc);
    } else if (op === 2) {
      docs.delete(id);
      model.byId.delete(id);
    } else {
      assert.deepEqual(plain(docs.get(id)), plain(model.get(id)), `get ${JSON.stringify(id)}`);
    }
    seqNo++;
    assert.equal(docs.size, model.byId.size);
  }
  assert.deepEqual([...docs.values()].map(plain), model.values().map(plain));
});

test('a delete of a counted id: gone from get, values and size; created again, it is new (version 1, its new _seq_no, at the end)', () => {
  const docs = new Documents('i');
  ['x', 'y', 'z'].forEach((id, n) => createCounted(docs, id, n));
  docs.delete('x');
  docs.delete('nothing');
  assert.equal(docs.size, 2);
  assert.equal(docs.get('x'), undefined);
  assert.deepEqual([...docs.values()].map((d) => d._id), ['y', 'z']);
  assert.equal(createCounted(docs, 'x', 7), 0);
  assert.deepEqual([...docs.values()].map((d) => [d._id, d._seq_no]), [['y', 1], ['z', 2], ['x', 7]]);
  // A full document over a counted one keeps its place; a create of it then answers its version.
  docs.set('y', full('y', 2, 8));
  assert.deepEqual([...docs.values()].map((d) => [d._id, d._version]), [['y', 2], ['z', 1], ['x', 1]]);
  assert.equal(createCounted(docs, 'y', 9), 2);
});

const LEAN = '/_bulk?filter_path=errors,items.*.error,items.*.status';

async function post(server: EsTestServer, path: string, body: Buffer | string): Promise<any> {
  const response = await fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body });
  assert.equal(response.status, 200);
  return response.json();
}

test('count-only over HTTP: 409 on a held id (same text as the full server), ids with bytes over 0x7f kept as the strings they decode to', async (t) => {
  const counting = await EsTestServer.start({ countOnly: true });
  t.after(() => counting.close());
  const action = (id: Buffer) => Buffer.concat([Buffer.from('{"create":{"_index":"logs-docker.logs-default","_id":"'), id, Buffer.from('"}}\n{"@timestamp":"2026-01-02T03:04:05.000Z"}\n')]);
  const ids = [Buffer.from('c1:stdout:1:0'), Buffer.from('é'), Buffer.from([0x61, 0xff]), Buffer.from([0x61, 0xfe])];
  const first = await post(counting, LEAN, Buffer.concat(ids.map(action)));
  // 0xff and 0xfe both decode to U+FFFD: the same _id, as the full parser (and the store before) read it.
  assert.deepEqual(first.items.map((i: any) => i.create.status), [201, 201, 201, 409]);
  assert.equal(first.items[3].create.error.reason, '[a\ufffd]: version conflict, document already exists (current version [1])');
  const again = await post(counting, '/_bulk', Buffer.concat([action(Buffer.from('é')), action(Buffer.from('new'))]));
  assert.equal(again.errors, true);
  assert.equal(again.items[0].create.status, 409);
  assert.equal(again.items[0].create.error.type, 'version_conflict_engine_exception');
  assert.equal(again.items[0].create.error.reason, '[é]: version conflict, document already exists (current version [1])');
  assert.deepEqual({ ...again.items[1].create, _shards: undefined }, { _index: again.items[1].create._index, _id: 'new', _version: 1, result: 'created', _shards: undefined, _seq_no: 3, _primary_term: 1, status: 201 });
  assert.equal(counting.counters.created, 4);
  assert.equal(counting.counters.duplicates, 2);
  assert.equal(counting.counters.itemErrors, 2);
  assert.equal(counting.counters.itemsReceived, 6);
  assert.deepEqual(counting.documents('logs-docker.logs-default').map((d) => [d._id, d._seq_no]), [['c1:stdout:1:0', 0], ['é', 1], ['a\ufffd', 2], ['new', 3]]);
  assert.equal(counting.document('logs-docker.logs-default', 'é')?._seq_no, 1);
  const search = await (await fetch(`${counting.url}/logs-docker.logs-default/_count`)).json() as { count: number };
  assert.equal(search.count, 4);
});
