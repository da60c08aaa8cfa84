/**
 * The snappy compressor against an independent decoder (snappyjs): every input comes back byte for
 * byte, across 64 KiB fragment edges, for text, runs, random and incompressible data.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import SnappyJS from 'snappyjs';
import { maxCompressedLength, snappyCompress } from '../../src/util/snappy.js';

function roundTrip(input: Buffer): Buffer {
  const compressed = snappyCompress(input);
  assert.ok(compressed.length <= maxCompressedLength(input.length), `${compressed.length} bytes for ${input.length}`);
  const back = Buffer.from(SnappyJS.uncompress(compressed));
  assert.ok(back.equals(input), `round trip of ${input.length} bytes`);
  return compressed;
}

/** A seeded generator, so a failure is reproducible. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

test('empty, one byte and short inputs', () => {
  assert.deepEqual([...snappyCompress(Buffer.alloc(0))], [0]);
  for (const text of ['a', 'ab', 'abc', 'abcd', 'aaaa', 'aaaaa', 'hello hello hello hello']) roundTrip(Buffer.from(text));
});

test('log lines shrink and come back whole, across many 64 KiB fragments', () => {
  let text = '';
  for (let i = 0; i < 30_000; i++) text += `2026-11-30T04:00:00.${String(i).padStart(9, '0')}Z level=info msg="request served" path=/api/v1/items/${i % 97} status=200\n`;
  const input = Buffer.from(text);
  assert.ok(input.length > 30 * 65_536);
  const compressed = roundTrip(input);
  assert.ok(compressed.length < input.length / 4, `${compressed.length} of ${input.length}`);
});

test('long runs (copies longer than 64 bytes, overlapping their source) and runs across a fragment edge', () => {
  roundTrip(Buffer.alloc(300_000, 0x41));
  const edge = Buffer.concat([randomBytes(65_530), Buffer.alloc(20, 7), randomBytes(10)]);
  roundTrip(edge);
  for (const length of [64, 65, 67, 68, 69, 127, 128, 131, 2047, 2048, 2049]) roundTrip(Buffer.concat([Buffer.from('xyz'), Buffer.alloc(length, 1), Buffer.from('xyz')]));
});

test('random and incompressible data: the output stays within the bound and decodes', () => {
  for (const size of [1, 59, 60, 61, 255, 256, 257, 65_535, 65_536, 65_537, 200_000, 1_100_000]) roundTrip(randomBytes(size));
});

test('random mixes of repeats and noise (seeded) decode to the input', () => {
  const random = prng(12);
  for (let round = 0; round < 200; round++) {
    const parts: Buffer[] = [];
    let size = 0;
    const target = Math.floor(random() * 150_000);
    while (size < target) {
      const kind = random();
      const length = 1 + Math.floor(random() * 300);
      let part: Buffer;
      if (kind < 0.3) part = Buffer.from(Array.from({ length }, () => Math.floor(random() * 256)));
      else if (kind < 0.6 && parts.length > 0) part = parts[Math.floor(random() * parts.length)]!;
      else part = Buffer.alloc(length, Math.floor(random() * 4));
      parts.push(part);
      size += part.length;
    }
    roundTrip(Buffer.concat(parts));
  }
});
