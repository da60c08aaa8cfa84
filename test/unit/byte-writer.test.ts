import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatRfc3339Nano } from '../../src/records.js';
import { ByteWriter } from '../../src/util/byte-writer.js';

test('rfc3339Nano writes what formatRfc3339Nano makes, across seconds, days and unusual times', () => {
  const base = 1_796_022_640_999_999_998n;
  const times = [
    base, base + 1n, base + 2n, base + 3n, // over a second's end: the cached date part must change
    base - 86_400_000_000_000n, base + 1n, // a day back, then forward again
    0n, 5n, 999_999_999n, 1_000_000_000n, 1_000_000_001n, // before and at 1970-01-01T00:00:01Z
    -1n, -1_000_000_001n, // before the epoch
    253_402_300_799_999_999_999n, 253_402_300_800_000_000_000n, // the last nanosecond of year 9999, and after
    base,
  ];
  const writer = new ByteWriter();
  let expected = '';
  for (const ns of times) {
    writer.rfc3339Nano(ns);
    writer.ascii('|');
    expected += `${formatRfc3339Nano(ns)}|`;
  }
  assert.equal(writer.written().toString('latin1'), expected);
});

test('ascii and utf8 append at the end, growing the buffer', () => {
  const writer = new ByteWriter(Buffer.alloc(4));
  writer.ascii('abc');
  writer.utf8('é€𝄞');
  writer.ascii('x'.repeat(100));
  assert.equal(writer.written().toString('utf8'), `abcé€𝄞${'x'.repeat(100)}`);
  assert.equal(writer.size, Buffer.byteLength(`abcé€𝄞${'x'.repeat(100)}`));
});
