import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { EventCursor, formatSince } from '../../collectors/events/cursor.js';
import { POSITION_STATE_NAME, PositionStore, type SavedPosition } from '../../collectors/events/position-store.js';
import { StateStore } from '../../src/state/store.js';
import { silentLogger } from '../../src/telemetry/logger.js';

const ev = (time: bigint, id: string) => ({ time, id });

test('cursor: a replay from the boundary skips exactly the events already taken there', () => {
  const cursor = new EventCursor();
  for (const e of [ev(10n, 'a'), ev(20n, 'b'), ev(20n, 'c')]) {
    assert.equal(cursor.seen(e), false);
    cursor.advance(e);
  }
  assert.deepEqual(cursor.position, { time: 20n, ids: ['b', 'c'] });
  // Reconnect with since=20 (inclusive): the daemon sends b, c again, then d at the same ns and e later.
  const replay = [ev(20n, 'b'), ev(20n, 'c'), ev(20n, 'd'), ev(30n, 'e')];
  const taken = replay.filter((e) => {
    if (cursor.seen(e)) return false;
    cursor.advance(e);
    return true;
  });
  assert.deepEqual(taken.map((e) => e.id), ['d', 'e']);
  assert.deepEqual(cursor.position, { time: 30n, ids: ['e'] });
});

test('cursor: an event published slightly out of time order is taken, the position stays at the newest', () => {
  const cursor = new EventCursor({ time: 50n, ids: ['x'] });
  assert.equal(cursor.seen(ev(49n, 'late')), false);
  cursor.advance(ev(49n, 'late'));
  assert.deepEqual(cursor.position, { time: 50n, ids: ['x'] });
});

test('formatSince writes seconds.nanoseconds exactly', () => {
  assert.equal(formatSince(1795825898162393280n), '1795825898.162393280');
  assert.equal(formatSince(1795825898000000001n), '1795825898.000000001');
  assert.equal(formatSince(5n), '0.000000005');
});

test('position store: saves only over the contiguous prefix of acknowledged batches', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dh-events-pos-'));
  try {
    const state = new StateStore(dir);
    await state.init();
    const store = new PositionStore(state, silentLogger());
    store.daemonId = 'DAEMON';
    const first = store.track({ time: 100n, ids: ['a'] });
    const second = store.track({ time: 200n, ids: ['b', 'c'] });
    second.release();
    await store.flush();
    assert.equal(await state.read(POSITION_STATE_NAME), undefined, 'the second batch settled first: nothing may be saved yet');
    first.release();
    await store.flush();
    const saved = await state.read<SavedPosition>(POSITION_STATE_NAME);
    assert.deepEqual(saved, { version: 1, daemon_id: 'DAEMON', time: '200', ids: ['b', 'c'] });
    const reloaded = await new PositionStore(state, silentLogger()).load();
    assert.deepEqual(reloaded, { daemonId: 'DAEMON', position: { time: 200n, ids: ['b', 'c'] } });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('position store: an ack shared by several exporters saves only after the last release', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dh-events-pos-'));
  try {
    const state = new StateStore(dir);
    await state.init();
    const store = new PositionStore(state, silentLogger());
    const ack = store.track({ time: 7n, ids: ['z'] });
    ack.retain(2); // two exporters accepted the batch
    ack.release(); // the collector's own hold
    ack.release(); // first exporter stored it
    await store.flush();
    assert.equal(await state.read(POSITION_STATE_NAME), undefined);
    ack.release();
    await store.flush();
    assert.equal((await state.read<SavedPosition>(POSITION_STATE_NAME))?.time, '7');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('position store: a corrupt file is ignored, not fatal', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dh-events-pos-'));
  try {
    const state = new StateStore(dir);
    await state.init();
    await state.write(POSITION_STATE_NAME, { version: 1, daemon_id: 'd', time: 'soon', ids: [] });
    assert.equal(await new PositionStore(state, silentLogger()).load(), undefined);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
