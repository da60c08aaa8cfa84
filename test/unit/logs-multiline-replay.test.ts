/**
 * Multiline records are the same whatever the timing: the same recorded lines are read with
 * different chunking, with pauses (backpressure: the stream is not read while lines are written),
 * with the flush timer firing at arbitrary moments, and with a crash after any committed batch
 * (the next agent resumes from the committed checkpoint). Same id ⇒ same content, and the records
 * stored before the crash plus those made after it are exactly the records of a read with no crash.
 *
 * The clock model (one host: the daemon stamps lines with the wall clock): a line stamped `s` is
 * sent when written and arrives within the transit margin while the stream is read; while it is
 * not (paused, crashed), lines wait in the daemon's log file and arrive in a burst when reading
 * resumes. The flush timer may fire at any moment between two arrivals.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { START, type ResumePoint } from '../../collectors/logs/checkpoints.js';
import { MULTILINE_TRANSIT_MARGIN_MS } from '../../collectors/logs/container-log.js';
import type { Processing } from '../../collectors/logs/filters.js';
import type { LogRecord } from '../../src/records.js';
import { MS, logHarness, type LogHarness } from '../helpers/container-log.js';
import { chunks, frame, messages, T0 } from './logs-frames.js';

const TIMEOUT_MS = 1000;
const PROCESSING: Processing = { multiline: { pattern: /^(ERROR|INFO|stderr)/, maxLines: 6, maxBytes: 1 << 20, timeoutMs: TIMEOUT_MS }, json: false };
const WINDOW_NS = 50n * MS;

interface Entry {
  readonly stream: 1 | 2;
  readonly time: bigint;
  readonly bytes: Buffer;
}

function random(seed: number): (n: number) => number {
  let x = seed;
  return (n) => {
    x = (x + 0x6d2b79f5) | 0;
    let t = Math.imul(x ^ (x >>> 15), 1 | x);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) % n;
  };
}

/**
 * Stack traces on stdout, lines on stderr, and gaps of every kind: continuations within and beyond
 * the timeout (a slow writer), lines sharing a timestamp, cross-stream inversions within the window.
 */
function logFile(seed: number): Entry[] {
  const rand = random(seed);
  const entries: Entry[] = [];
  let wall = T0;
  const last = { 1: 0n, 2: 0n } as Record<1 | 2, bigint>;
  const add = (stream: 1 | 2, text: string, gapMs: number) => {
    // Now and then written in the same instant as its stream's previous line: the same timestamp.
    const tie = rand(8) === 0 && last[stream] >= wall - 3n * MS;
    if (!tie) wall += BigInt(gapMs) * MS + BigInt(rand(1000));
    // The other stream's copier may stamp a little earlier: inversions across streams within a few ms.
    let time = tie ? last[stream] : wall - (rand(6) === 0 ? BigInt(rand(3)) * MS : 0n);
    if (time < last[stream]) time = last[stream];
    last[stream] = time;
    entries.push({ stream, time, bytes: frame(stream, messages({ stream, time, content: text })[0]!) });
  };
  for (let r = 0; r < 80; r++) {
    const gap = [0, 5, 300, 900, 1100, 2500, 4000][rand(7)]!;
    add(1, rand(3) === 0 ? `INFO request ${r}` : `ERROR failure ${r}`, gap);
    for (let k = 0; k < rand(8); k++) {
      // Mostly quick continuations; now and then one after a pause longer than the timeout.
      const pause = rand(6) === 0 ? [TIMEOUT_MS - 20, TIMEOUT_MS + 30, 1800, 2600, 5000][rand(5)]! : rand(20);
      add(1, `\tat frame ${r}.${k}`, pause);
      if (rand(5) === 0) add(2, `stderr ${r}.${k}`, rand(30));
    }
    if (rand(4) === 0) add(2, `\tcontinued on stderr ${r}`, rand(1500));
  }
  return entries;
}

/** When each line arrives, and when the stream is paused. */
interface Reading {
  /** Chunk sizes (bytes), cycled. */
  readonly sizes: readonly number[];
  /** Transit of a line read live, ms (< the margin). */
  readonly transitMs: (i: number) => number;
  /** Pauses: the stream is not read from `from` (a wall time, ms) for `ms`. */
  readonly pauses: readonly { readonly afterLine: number; readonly ms: number }[];
  /** Timer firings between arrivals: per gap between arrivals, how many (spread evenly). */
  readonly timerFirings: number;
}

const ms = (ns: bigint) => Number(ns / MS);

interface Run {
  readonly harness: LogHarness;
  /** Batches in the order emitted. */
  readonly batches: LogRecord[][];
}

/**
 * Reads `entries` from `start` (a resume point) the way the model says, starting at wall time
 * `startMs` (a resumed agent reads what was written meanwhile in a burst).
 */
async function read(entries: readonly Entry[], start: ResumePoint, reading: Reading, startMs: number): Promise<Run> {
  const harness = logHarness({ start, processing: PROCESSING, reorderWindowNs: WINDOW_NS, hold: true });
  const { log, clock } = harness;
  const answer = entries.filter((e) => e.time >= start.since);
  // Arrival time of each line.
  const arrivals: number[] = [];
  let readable = startMs;
  let pause = 0;
  answer.forEach((entry, i) => {
    while (pause < reading.pauses.length && reading.pauses[pause]!.afterLine <= i) readable = Math.max(readable, ms(entry.time)) + reading.pauses[pause++]!.ms;
    const live = ms(entry.time) + reading.transitMs(i);
    arrivals.push(Math.max(arrivals.at(-1) ?? 0, readable, live));
  });
  clock.now = startMs;
  log.startStream();
  log.setLive(true);
  let previous = startMs;
  for (let i = 0; i < answer.length;) {
    const at = arrivals[i]!;
    let j = i;
    while (j < answer.length && arrivals[j] === at) j++;
    // The stream was paused if the next line waited in the daemon past its live arrival time.
    const paused = answer.slice(i, j).some((e, k) => ms(e.time) + reading.transitMs(i + k) < at);
    if (paused) log.setLive(false);
    for (let f = 1; f <= reading.timerFirings; f++) {
      clock.now = previous + ((at - previous) * f) / (reading.timerFirings + 1);
      log.completeQuietGroups();
      await log.emitted();
    }
    clock.now = at;
    if (paused) log.setLive(true);
    for (const chunk of chunks(Buffer.concat(answer.slice(i, j).map((e) => e.bytes)), reading.sizes)) {
      log.parse(Buffer.from(chunk));
      log.seal();
      await log.emitted();
    }
    previous = at;
    i = j;
  }
  // Quiet at the end: the last records complete by time.
  clock.now = previous + TIMEOUT_MS + MULTILINE_TRANSIT_MARGIN_MS + 1;
  log.completeQuietGroups();
  await log.emitted();
  log.setLive(false);
  return { harness, batches: harness.batches };
}

function byId(records: readonly LogRecord[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const r of records) {
    const previous = out.get(r.id);
    assert.ok(previous === undefined || previous === r.message, `same id ${r.id}, different content:\n${previous}\n---\n${r.message}`);
    out.set(r.id, r.message);
  }
  return out;
}

const READINGS: readonly Reading[] = [
  { sizes: [1 << 20], transitMs: () => 0, pauses: [], timerFirings: 0 },
  { sizes: [7, 130, 61], transitMs: (i) => (i * 37) % 400, pauses: [], timerFirings: 3 },
  { sizes: [45], transitMs: (i) => (i * 13) % 900, pauses: [{ afterLine: 20, ms: 6000 }, { afterLine: 90, ms: 2500 }, { afterLine: 200, ms: 15_000 }], timerFirings: 2 },
  { sizes: [4096], transitMs: () => 999, pauses: [{ afterLine: 1, ms: 60_000 }], timerFirings: 5 },
];

test('multiline records are the same whatever the chunking, pauses and flush timer firings', async () => {
  for (const seed of [3, 8]) {
    const entries = logFile(seed);
    // The reference: everything read at once, long after it was written.
    const reference = byId((await read(entries, START, READINGS[0]!, ms(entries.at(-1)!.time) + 100_000)).batches.flat());
    assert.ok([...reference.values()].some((m) => m.includes('\n\tat frame')), 'some records are joined');
    assert.ok([...reference.values()].some((m) => m.startsWith('\tat frame')), 'some continuations came too late to join');
    for (const [k, reading] of READINGS.entries()) {
      const live = byId((await read(entries, START, reading, ms(T0))).batches.flat());
      assert.deepEqual([...live.entries()].sort(), [...reference.entries()].sort(), `seed ${seed}, reading ${k}`);
    }
  }
});

test('a crash after any committed batch: records stored before it plus those made after it are exactly the records of a read with no crash', async (t) => {
  const entries = logFile(5);
  const reference = byId((await read(entries, START, READINGS[0]!, ms(entries.at(-1)!.time) + 100_000)).batches.flat());
  let crashes = 0;
  for (const [k, reading] of READINGS.slice(1).entries()) {
    const first = await read(entries, START, reading, ms(T0));
    // Store the batches one by one: every point the tracker commits is a possible crash point.
    const points: { stored: number; point: ResumePoint }[] = [{ stored: 0, point: START }];
    first.batches.forEach((batch, b) => {
      batch[0]!.ack!.release();
      const committed = first.harness.log.tracker.committed;
      if (committed !== points.at(-1)!.point) points.push({ stored: b + 1, point: committed });
    });
    assert.ok(points.length > 10, `reading ${k}: ${points.length} crash points`);
    crashes += points.length;
    for (const { stored, point } of points) {
      // The next agent starts a while later: what was written meanwhile arrives in a burst.
      const crashAt = stored === 0 ? ms(T0) : ms(first.batches[stored - 1]!.at(-1)!.time) + 500;
      const after = await read(entries, point, READINGS[(stored + k) % READINGS.length]!, crashAt);
      const before = first.batches.slice(0, stored).flat();
      const union = [...before, ...after.batches.flat()];
      assert.equal(union.length, reference.size, `reading ${k}, crash after ${stored} stored batches: no record lost or twice; `
        + `missing ${JSON.stringify([...reference].filter(([id]) => !union.some((r) => r.id === id)))}, resumed from ${point.since} ${JSON.stringify(point.streams, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}`);
      assert.deepEqual([...byId(union).entries()].sort(), [...reference.entries()].sort(), `reading ${k}, crash after ${stored} stored batches`);
      // Batches stored beyond the committed point (not yet acknowledged) come again under the same ids, with the same content.
      byId([...first.batches.flat(), ...after.batches.flat()]);
    }
  }
  t.diagnostic(`${reference.size} records from ${entries.length} lines; ${crashes} crash points resumed, each with another reading`);
});

test('a stream that breaks while a record is held: the record is read again and made whole, never completed early', async () => {
  const entries = logFile(11);
  const reference = byId((await read(entries, START, READINGS[0]!, ms(entries.at(-1)!.time) + 100_000)).batches.flat());
  for (let cut = 1; cut < entries.length; cut += 7) {
    const { log, batches, clock } = logHarness({ processing: PROCESSING, reorderWindowNs: WINDOW_NS });
    clock.now = ms(entries.at(-1)!.time) + 100_000;
    log.startStream();
    log.parse(Buffer.concat(entries.slice(0, cut).map((e) => e.bytes)));
    log.seal();
    log.rewind(false);
    log.startStream();
    log.parse(Buffer.concat(entries.filter((e) => e.time >= log.resumePoint.since).map((e) => e.bytes)));
    log.seal();
    clock.now += TIMEOUT_MS + MULTILINE_TRANSIT_MARGIN_MS + 1;
    log.setLive(true);
    clock.now += TIMEOUT_MS + MULTILINE_TRANSIT_MARGIN_MS + 1;
    log.completeQuietGroups();
    log.setLive(false);
    await log.emitted();
    const records = batches.flat();
    assert.equal(records.length, reference.size, `break after ${cut} lines: no record lost or twice`);
    assert.deepEqual([...byId(records).entries()].sort(), [...reference.entries()].sort(), `break after ${cut} lines`);
  }
});
