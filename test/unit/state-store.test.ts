import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, statSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StateStore } from '../../src/state/store.js';

test('state store writes atomically with mode 0600 and reads back', async () => {
  const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'dh-state-')), 'state');
  const store = new StateStore(dir);
  await store.init();
  assert.equal(await store.read('missing'), undefined);
  await store.write('checkpoint-abc', { time_ns: '123', count_at_time: 2 });
  await store.write('checkpoint-abc', { time_ns: '456', count_at_time: 0 });
  assert.deepEqual(await store.read('checkpoint-abc'), { time_ns: '456', count_at_time: 0 });
  assert.equal(statSync(path.join(dir, 'checkpoint-abc.json')).mode & 0o777, 0o600);
  assert.deepEqual(readdirSync(dir), ['checkpoint-abc.json'], 'no temp files left behind');
  assert.deepEqual(await store.list('checkpoint-'), ['checkpoint-abc']);
  await store.remove('checkpoint-abc');
  assert.deepEqual(await store.list(), []);
  await assert.rejects(store.write('../escape', {}), /invalid state name/);
  rmSync(path.dirname(dir), { recursive: true, force: true });
});
