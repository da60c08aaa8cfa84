/**
 * Resume exactness: the daemon is modelled by its documented and measured behaviour — it answers
 * `since=S` with every message whose timestamp is ≥ S, in log-file order — and the log file has
 * what dockerd 20.10 writes: per-stream monotonic timestamps with cross-stream inversions, lines
 * sharing a timestamp, and long lines in 16 KiB pieces.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { START, type ResumePoint } from '../../collectors/logs/checkpoints.js';
import type { ContainerLog } from '../../collectors/logs/container-log.js';
import type { LogRecord } from '../../src/records.js';
import { chunks, frame, messages, T0 } from './logs-frames.js';
import type { Processing } from '../../collectors/logs/filters.js';
import { MS, logHarness } from '../helpers/container-log.js';

const ID = 'f'.repeat(64);

interface FileEntry {
  stream: 1 | 2;
  time: bigint;
  bytes: Buffer; // framed
  line: string; // the line this message belongs to (first piece only), '' for later pieces
}

/** A log file: `count` lines alternating in bursts between streams, with inversions, ties and long lines. */
function logFile(count: number, seed: number): { entries: FileEntry[]; lines: { stream: 'stdout' | 'stderr'; message: string }[] } {
  let x = seed;
  const rand = (n: number) => {
    // mulberry32
    x = (x + 0x6d2b79f5) | 0;
    let t = Math.imul(x ^ (x >>> 15), 1 | x);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) % n;
  };
  const entries: FileEntry[] = [];
  const lines: { stream: 'stdout' | 'stderr'; message: string }[] = [];
  const last = { 1: T0, 2: T0 } as Record<1 | 2, bigint>;
  let wall = T0;
  for (let i = 0; i < count; i++) {
    const stream = (rand(3) === 0 ? 2 : 1) as 1 | 2;
    wall += BigInt(rand(4)) * MS; // often the same ms …
    // … and the other stream's copier may have stamped a little earlier: an inversion in file order.
    let time = wall - (rand(5) === 0 ? BigInt(rand(3)) * MS : 0n);
    if (time < last[stream]) time = last[stream]; // per stream: never backwards (ties allowed)
    last[stream] = time;
    const message = rand(40) === 0 ? `long ${i} ${'L'.repeat(20_000 + rand(30_000))}` : `line ${i}`;
    const pieces = messages({ stream, time, content: message });
    pieces.forEach((piece, k) => entries.push({ stream, time, bytes: frame(stream, piece), line: k === 0 ? message : '' }));
    lines.push({ stream: stream === 1 ? 'stdout' : 'stderr', message });
  }
  return { entries, lines };
}

/** What the daemon sends for `since`. */
function daemonAnswer(entries: readonly FileEntry[], since: bigint): Buffer {
  return Buffer.concat(entries.filter((e) => e.time >= since).map((e) => e.bytes));
}

interface Harness {
  log: ContainerLog;
  batches: LogRecord[][];
  /** Acks of the batches, still held by "the exporter" until released. */
  held: LogRecord[][];
}

function harness(start: ResumePoint, processing: Processing = { multiline: undefined, json: false }, windowMs = 50n): Harness {
  return logHarness({ id: ID, start, processing, reorderWindowNs: windowMs * MS, hold: true });
}

async function feed(log: ContainerLog, bytes: Buffer, sizes: readonly number[]): Promise<void> {
  log.startStream();
  for (const chunk of chunks(bytes, sizes)) {
    log.consume(Buffer.from(chunk));
    await log.emitted();
  }
}

function messagesOf(batches: readonly LogRecord[][]): string[] {
  return batches.flat().map((r) => `${r.stream}|${r.message}`);
}

test('crash after any number of stored batches: the resumed read delivers every line once, ids unchanged', async () => {
  const { entries, lines } = logFile(600, 11);
  const all = daemonAnswer(entries, 0n);
  let inversions = 0;
  let ties = 0;
  entries.reduce((max, e) => { if (e.line && e.time < max) inversions++; if (e.line && e.time === max) ties++; return e.time > max ? e.time : max; }, 0n);
  assert.ok(inversions >= 10 && ties >= 10, `the file has cross-stream inversions (${inversions}) and ties (${ties})`);
  const expected = lines.map((l) => `${l.stream}|${l.message}`);
  // First run: read everything, store nothing yet.
  const first = harness(START);
  await feed(first.log, all, [47, 61, 90, 200]);
  first.log.endRun();
  await first.log.emitted();
  assert.deepEqual(messagesOf(first.batches), expected, 'one run reads every line once');
  const firstIds = new Map(first.batches.flat().map((r) => [`${r.stream}|${r.message}`, r.id]));
  assert.equal(firstIds.size, expected.length, 'ids are unique');

  for (let stored = 0; stored <= first.batches.length; stored++) {
    // The same first run, with the first `stored` batches stored before the crash.
    const replay = harness(START);
    await feed(replay.log, all, [47, 61, 90, 200]);
    replay.log.endRun();
    await replay.log.emitted();
    for (let b = 0; b < stored; b++) replay.held[b]![0]!.ack!.release();
    const committed = replay.log.tracker.committed;
    const second = harness(committed);
    await feed(second.log, daemonAnswer(entries, committed.since), [5000]);
    second.log.endRun();
    await second.log.emitted();
    const delivered = [...messagesOf(replay.batches.slice(0, stored)), ...messagesOf(second.batches)];
    assert.equal(delivered.length, expected.length, `stored ${stored}: count`);
    assert.deepEqual([...delivered].sort(), [...expected].sort(), `stored ${stored}: same lines`);
    for (const stream of ['stdout', 'stderr']) {
      assert.deepEqual(delivered.filter((m) => m.startsWith(stream)), expected.filter((m) => m.startsWith(stream)), `stored ${stored}: ${stream} order`);
    }
    for (const record of second.batches.flat()) assert.equal(record.id, firstIds.get(`${record.stream}|${record.message}`));
  }
});

test('batches stored out of order: the checkpoint moves only over the stored prefix', async () => {
  const { entries } = logFile(200, 5);
  const run = harness(START);
  await feed(run.log, daemonAnswer(entries, 0n), [800]);
  await run.log.emitted();
  assert.ok(run.held.length >= 4);
  run.held[1]![0]!.ack!.release();
  run.held[2]![0]!.ack!.release();
  assert.equal(run.log.tracker.committed, START, 'batch 0 not stored yet');
  run.held[0]![0]!.ack!.release();
  const afterThree = run.log.tracker.committed;
  const lastOfThird = run.held[2]!.at(-1)!;
  const position = afterThree.streams[lastOfThird.stream === 'stdout' ? 0 : 1]!;
  assert.equal(position.time, lastOfThird.time);
  assert.equal(run.log.tracker.pending, run.held.length - 3);
});

test('a stream that breaks mid-line is continued from where it stopped, with no line lost or doubled', async () => {
  const { entries, lines } = logFile(400, 23);
  const all = daemonAnswer(entries, 0n);
  const expected = lines.map((l) => `${l.stream}|${l.message}`);
  for (const cut of [1, 999, 20_000, 40_000, all.length - 3]) {
    const run = harness(START);
    await feed(run.log, all.subarray(0, cut), [1000]);
    run.log.rewind(false);
    await run.log.emitted();
    await feed(run.log, daemonAnswer(entries, run.log.resumePoint.since), [3000]);
    run.log.endRun();
    await run.log.emitted();
    assert.deepEqual(messagesOf(run.batches), expected, `cut at ${cut}`);
  }
});

test('after a run read to its end, the next stream of the container starts after it (no line twice)', async () => {
  const { entries, lines } = logFile(300, 31);
  const run = harness(START);
  const starts = entries.flatMap((e, i) => (e.line ? [i] : []));
  const firstRun = entries.slice(0, starts[150]);
  await feed(run.log, daemonAnswer(firstRun, 0n), [1000]);
  run.log.endRun();
  await run.log.emitted();
  const afterFirst = messagesOf(run.batches).length;
  // The container starts again; its next stream is asked for from the position the first one reached.
  await feed(run.log, daemonAnswer(entries, run.log.resumePoint.since), [1000]);
  run.log.endRun();
  await run.log.emitted();
  assert.ok(afterFirst > 0 && afterFirst < lines.length);
  assert.deepEqual(messagesOf(run.batches), lines.map((l) => `${l.stream}|${l.message}`));
});

test('with multiline joining, held lines are read again after a crash and joined the same way', async () => {
  const stamp = (i: number) => T0 + BigInt(i) * MS;
  const source: { stream: 1 | 2; text: string }[] = [];
  for (let r = 0; r < 60; r++) {
    source.push({ stream: 1, text: `ERROR record ${r}` });
    for (let k = 0; k < r % 4; k++) source.push({ stream: 1, text: `\tat frame ${r}.${k}` });
    if (r % 5 === 0) source.push({ stream: 2, text: `stderr ${r}` });
  }
  const entries: FileEntry[] = source.map((s, i) => ({ stream: s.stream, time: stamp(i), bytes: frame(s.stream, messages({ stream: s.stream, time: stamp(i), content: s.text })[0]!), line: s.text }));
  const processing: Processing = { multiline: { pattern: /^ERROR|^stderr/, maxLines: 100, maxBytes: 1 << 20, timeoutMs: 60_000 }, json: false };
  const whole = harness(START, processing);
  await feed(whole.log, daemonAnswer(entries, 0n), [entries[0]!.bytes.length * 3]);
  whole.log.endRun();
  whole.log.completeGroups();
  await whole.log.emitted();
  const expected = messagesOf(whole.batches);
  assert.equal(expected.filter((m) => m.startsWith('stdout')).length, 60);
  assert.ok(expected.includes('stdout|ERROR record 3\n\tat frame 3.0\n\tat frame 3.1\n\tat frame 3.2'));
  for (let stored = 0; stored <= whole.batches.length; stored++) {
    const run = harness(START, processing);
    await feed(run.log, daemonAnswer(entries, 0n), [entries[0]!.bytes.length * 3]);
    run.log.endRun();
    run.log.completeGroups();
    await run.log.emitted();
    for (let b = 0; b < stored; b++) run.held[b]![0]!.ack!.release();
    const resumed = harness(run.log.tracker.committed, processing);
    await feed(resumed.log, daemonAnswer(entries, run.log.tracker.committed.since), [500]);
    resumed.log.endRun();
    resumed.log.completeGroups();
    await resumed.log.emitted();
    assert.deepEqual([...messagesOf(run.batches.slice(0, stored)), ...messagesOf(resumed.batches)], expected, `stored ${stored}`);
  }
});

test('JSON lines get a json field, the message stays as written', async () => {
  const run = harness(START, { multiline: undefined, json: true });
  const lines = ['{"level":"info","n":1}', 'plain text', '[1,2]', ' {"nested":{"a":true}} '];
  await feed(run.log, Buffer.concat(lines.map((l, i) => frame(1, messages({ stream: 1, time: T0 + BigInt(i), content: l })[0]!))), [10_000]);
  await run.log.emitted();
  const records = run.batches.flat();
  assert.deepEqual(records.map((r) => r.message), lines);
  assert.deepEqual(records.map((r) => r.json), [{ level: 'info', n: 1 }, undefined, undefined, { nested: { a: true } }]);
});

test('record ids: container, stream, nanoseconds and index among equal timestamps', async () => {
  const run = harness(START);
  const bytes = Buffer.concat([
    frame(1, messages({ stream: 1, time: T0, content: 'a' })[0]!),
    frame(2, messages({ stream: 2, time: T0, content: 'b' })[0]!),
    frame(1, messages({ stream: 1, time: T0, content: 'c' })[0]!),
  ]);
  await feed(run.log, bytes, [bytes.length]);
  await run.log.emitted();
  assert.deepEqual(run.batches.flat().map((r) => r.id), [`${ID}:stdout:${T0}:0`, `${ID}:stderr:${T0}:0`, `${ID}:stdout:${T0}:1`]);
  assert.ok(run.batches.flat().every((r) => r.time === T0 && r.container.id === ID));
});

test('invalid UTF-8 is replaced and counted as replaced by the agent; a line arriving with U+FFFD counts as replaced upstream', async () => {
  const { log, batches, metrics } = logHarness({ id: ID, reorderWindowNs: 0n });
  const bad = Buffer.from([0x62, 0x61, 0x64, 0xff, 0xfe, 0x21]);
  const bytes = Buffer.concat([frame(1, Buffer.concat([Buffer.from(`${'2026-11-28T00:32:10.254919479Z'} `), bad, Buffer.from('\n')])), frame(1, messages({ stream: 1, time: T0 + 1n, content: 'real \uFFFD' })[0]!)]);
  log.startStream();
  log.consume(bytes);
  await log.emitted();
  assert.deepEqual(batches.flat().map((r) => r.message), ['bad\uFFFD\uFFFD!', 'real \uFFFD']);
  const counted = (await metrics.registry.getSingleMetric('dockhand_logs_invalid_utf8_total')!.get()).values;
  assert.deepEqual(counted.map((v) => [v.labels.replaced_by, v.value]), [['agent', 1], ['upstream', 1]]);
});
