import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TimestampParser, daysFromCivil, formatSince } from '../../collectors/logs/timestamp.js';
import { formatRfc3339Nano, parseRfc3339Nano } from '../../src/records.js';

function parse(text: string): { end: number; time?: bigint } {
  const parser = new TimestampParser();
  const buf = Buffer.from(`${text} rest`);
  const end = parser.parse(buf, 0, buf.length);
  return end < 0 ? { end } : { end, time: parser.time };
}

test('reads the daemon\'s nine-digit UTC timestamps exactly', () => {
  assert.deepEqual(parse('2026-11-28T00:32:10.254919479Z'), { end: 30, time: 1_795_825_930_254_919_479n });
  assert.deepEqual(parse('1970-01-01T00:00:00.000000001Z'), { end: 30, time: 1n });
});

test('reads shorter fractions, no fraction, and offsets', () => {
  assert.equal(parse('2026-11-28T00:32:10.25Z').time, 1_795_825_930_250_000_000n);
  assert.equal(parse('2026-11-28T00:32:10Z').time, 1_795_825_930_000_000_000n);
  assert.equal(parse('2026-11-28T02:32:10.5+02:00').time, 1_795_825_930_500_000_000n);
  assert.equal(parse('2026-11-27T23:32:10.5-01:00').time, 1_795_825_930_500_000_000n);
});

test('refuses what is not a timestamp', () => {
  for (const bad of ['hello world this is text', '2026-11-28 00:32:10.1Z', '2026-13-28T00:32:10.1Z', '2026-11-28T00:32:10.Z', '2026-11-28T00:32:10.123']) {
    assert.equal(parse(bad).end, -1, bad);
  }
});

test('agrees with the reference parser over many random instants, reusing the cached second correctly', () => {
  const parser = new TimestampParser();
  let time = 946_684_800_000_000_000n; // 2000-01-01
  for (let i = 0; i < 20_000; i++) {
    time += BigInt(Math.floor(Math.random() * (i % 100 === 0 ? 4e15 : 3e8)));
    const text = formatRfc3339Nano(time);
    const buf = Buffer.from(`${text} x`);
    assert.equal(parser.parse(buf, 0, buf.length), 30);
    assert.equal(parser.time, time, text);
    assert.equal(parseRfc3339Nano(text), time);
  }
});

test('parses at an offset inside a larger buffer', () => {
  const parser = new TimestampParser();
  const buf = Buffer.from('xxxxxxxx2026-11-28T00:32:10.254919479Z line');
  assert.equal(parser.parse(buf, 8, buf.length), 38);
  assert.equal(parser.time, 1_795_825_930_254_919_479n);
  assert.equal(parser.parse(buf, 8, 30), -1, 'cut short by end');
});

test('daysFromCivil matches Date for leap years and centuries', () => {
  for (const [y, m, d] of [[1970, 1, 1], [2000, 2, 29], [2100, 3, 1], [1999, 12, 31], [2024, 2, 29], [2262, 4, 11]] as const) {
    assert.equal(daysFromCivil(y, m, d), Date.UTC(y, m - 1, d) / 86_400_000);
  }
});

test('formatSince writes seconds.nanoseconds with nine digits', () => {
  assert.equal(formatSince(1_795_825_930_000_000_007n), '1795825930.000000007');
  assert.equal(formatSince(1_795_825_930_254_919_479n), '1795825930.254919479');
  assert.equal(formatSince(0n), '0');
});
