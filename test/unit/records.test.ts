import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatRfc3339Nano, parseRfc3339Nano } from '../../src/records.js';

test('RFC 3339 timestamps keep nanoseconds both ways', () => {
  const text = '2026-11-28T00:27:27.123456789Z';
  const ns = parseRfc3339Nano(text);
  assert.equal(ns, 1795825647123456789n);
  assert.equal(formatRfc3339Nano(ns!), text);
});

test('RFC 3339 parsing: short fractions, offsets, and garbage', () => {
  assert.equal(parseRfc3339Nano('2026-11-28T00:27:27.5Z'), 1795825647500000000n);
  assert.equal(parseRfc3339Nano('2026-11-28T01:27:27+01:00'), 1795825647000000000n);
  assert.equal(parseRfc3339Nano('yesterday'), undefined);
  assert.equal(formatRfc3339Nano(5n), '1970-01-01T00:00:00.000000005Z');
});

test('RFC 3339 formatting is right across second boundaries and before 1970', () => {
  assert.equal(formatRfc3339Nano(1795825647999999999n), '2026-11-28T00:27:27.999999999Z');
  assert.equal(formatRfc3339Nano(1795825648000000000n), '2026-11-28T00:27:28.000000000Z');
  assert.equal(formatRfc3339Nano(1795825647000000001n), '2026-11-28T00:27:27.000000001Z');
  assert.equal(formatRfc3339Nano(-1n), '1969-12-31T23:59:59.999999999Z');
});

test('RFC 3339 formatting of a time past what a Date holds throws every time, and leaves no wrong date cached for its second', () => {
  assert.equal(formatRfc3339Nano(1795825647000000001n), '2026-11-28T00:27:27.000000001Z');
  const tooLate = 8_640_000_000_001_000_000_000n;
  assert.throws(() => formatRfc3339Nano(tooLate), RangeError);
  assert.throws(() => formatRfc3339Nano(tooLate), RangeError, 'not the previous second\'s date with these digits');
  assert.equal(formatRfc3339Nano(1795825647000000002n), '2026-11-28T00:27:27.000000002Z');
});
