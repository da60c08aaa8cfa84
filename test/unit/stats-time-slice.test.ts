import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TimeSlicer } from '../../collectors/stats/time-slice.js';

test('a time slicer lets the event loop in once a slice has run its time, and only then', async () => {
  let clock = 0;
  const slicer = new TimeSlicer(2, () => clock);
  let turned = false;
  setImmediate(() => { turned = true; });
  clock = 1.9;
  assert.equal(await slicer.pause(), false, 'within the slice: no yield');
  assert.equal(turned, false, 'nothing else ran');
  clock = 2;
  assert.equal(await slicer.pause(), true);
  assert.equal(turned, true, 'the event loop turned (I/O and immediates due ran)');
  clock = 3.5;
  assert.equal(await slicer.pause(), false, 'a new slice starts after each yield');
  clock = 4;
  assert.equal(await slicer.pause(), true);
});
