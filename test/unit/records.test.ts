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
