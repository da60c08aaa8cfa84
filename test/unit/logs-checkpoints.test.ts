import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AckTracker, CheckpointStore, START, alreadyDelivered, type ResumePoint } from '../../collectors/logs/checkpoints.js';
import { StateStore } from '../../src/state/store.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { waitFor } from '../helpers/wait.js';

const point = (since: bigint, out?: [bigint, number], err?: [bigint, number]): ResumePoint => ({
  since,
  streams: [out ? { time: out[0], count: out[1] } : undefined, err ? { time: err[0], count: err[1] } : undefined],
});

test('alreadyDelivered: before the position, or at its time within its count', () => {
  const position = { time: 100n, count: 2 };
  assert.equal(alreadyDelivered(position, 99n, 5), true);
  assert.equal(alreadyDelivered(position, 100n, 0), true);
  assert.equal(alreadyDelivered(position, 100n, 1), true);
  assert.equal(alreadyDelivered(position, 100n, 2), false);
  assert.equal(alreadyDelivered(position, 101n, 0), false);
  assert.equal(alreadyDelivered(undefined, 1n, 0), false);
});

test('AckTracker commits the newest point of the settled prefix, whatever order batches settle in', () => {
  const commits: ResumePoint[] = [];
  const tracker = new AckTracker(START, (p) => commits.push(p));
  const batches = [0, 1, 2, 3].map((i) => {
    const b = tracker.open();
    tracker.seal(b, point(BigInt(i * 10), [BigInt(i * 10), 1]), BigInt(i * 10));
    b.ack.retain(); // the exporter's share
    b.ack.release(); // the creator's
    return b;
  });
  batches[2]!.ack.release();
  batches[3]!.ack.release();
  assert.equal(commits.length, 0);
  assert.equal(tracker.pending, 4);
  batches[0]!.ack.release();
  assert.deepEqual(commits.map((c) => c.since), [0n]);
  batches[1]!.ack.release();
  assert.deepEqual(commits.map((c) => c.since), [0n, 30n], 'jumps over the already settled 2 and 3');
  assert.equal(tracker.committed.since, 30n);
  assert.equal(tracker.lastAckedTime, 30n);
  assert.equal(tracker.pending, 0);
});

test('AckTracker.idle resolves when everything opened is stored', async () => {
  const tracker = new AckTracker(START, () => undefined);
  const b = tracker.open();
  tracker.seal(b, point(5n), 5n);
  let idle = false;
  const waiting = tracker.idle().then(() => { idle = true; });
  await new Promise((r) => setImmediate(r));
  assert.equal(idle, false);
  b.ack.release();
  await waiting;
  assert.equal(idle, true);
});

test('CheckpointStore saves atomically (0600) at most every interval, reloads exactly, forgets removed containers', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dh-ckpt-'));
  try {
    const state = new StateStore(dir);
    await state.init();
    const store = new CheckpointStore(state, 100, silentLogger());
    await store.load(1_000n);
    assert.equal(store.firstStartNs, 1_000n);
    for (let i = 0; i < 50; i++) store.set('a', point(BigInt(i), [BigInt(i), i], [BigInt(i) - 1n, 1]));
    store.set('b', point(7n, undefined, [7n, 3]));
    store.markFinished('b', 1234.5);
    await waitFor(() => store.writes > 0, { timeoutMs: 2000 });
    assert.ok(store.writes <= 2, `coalesced into few writes (${store.writes})`);
    await store.flush();
    const file = path.join(dir, 'logs-checkpoints.json');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const saved = JSON.parse(readFileSync(file, 'utf8'));
    assert.deepEqual(saved.containers.a, { since_ns: '49', stdout: { time_ns: '49', count_at_time: 49 }, stderr: { time_ns: '48', count_at_time: 1 } });
    assert.equal(saved.first_start_ns, '1000');

    const again = new CheckpointStore(state, 100, silentLogger());
    await again.load(99_999n);
    assert.equal(again.firstStartNs, 1_000n, 'the first start is remembered');
    assert.deepEqual(again.get('a')!.point, point(49n, [49n, 49], [48n, 1]));
    assert.deepEqual(again.get('b'), { point: point(7n, undefined, [7n, 3]), finishedStartedAt: 1234.5 });
    again.set('b', point(8n, undefined, [8n, 1]));
    assert.equal(again.get('b')!.finishedStartedAt, 1234.5, 'a later commit keeps the finished mark');
    again.remove('a');
    await again.flush();
    const third = new CheckpointStore(state, 100, silentLogger());
    await third.load(0n);
    assert.equal(third.get('a'), undefined);
    assert.deepEqual(third.ids(), ['b']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
