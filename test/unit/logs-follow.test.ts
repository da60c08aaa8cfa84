/**
 * LogFollower.follow() against a stand-in daemon: what happens to a stream, not to the bytes in it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { formatRfc3339Nano, type LogRecord } from '../../src/records.js';
import { MS, RUNNING, STOPPED, follower, logHarness, standInDaemon } from '../helpers/container-log.js';
import type { RunInfo } from '../../collectors/logs/daemon.js';
import { frame, messages, T0 } from './logs-frames.js';
import { waitFor } from '../helpers/wait.js';

interface StandIn {
  readonly signal?: AbortSignal;
  readonly running: boolean;
  readonly emit?: (records: readonly LogRecord[]) => Promise<void>;
  /** What the daemon answers to each logs request. */
  readonly logs: () => Promise<PassThrough>;
}

/** A follower over a stand-in daemon (the collector's own LogDaemon port, not a Docker mock). */
function containerLog(standIn: StandIn) {
  const { log } = logHarness({ reorderWindowNs: 50n * MS, ...(standIn.emit ? { emit: standIn.emit } : {}) });
  return follower(log, standInDaemon(() => (standIn.running ? RUNNING : STOPPED), standIn.logs), standIn.signal);
}

test('a stream out of step (a frame header no daemon sends) breaks the stream and is read again; the agent does not crash', async () => {
  const first = frame(1, messages({ stream: 1, time: T0, content: 'one' })[0]!);
  const second = frame(1, messages({ stream: 1, time: T0 + MS, content: 'two' })[0]!);
  const garbage = Buffer.from([7, 0, 0, 0, 0, 0, 0, 3, 120, 120, 120]);
  // The first request gets a stream that goes out of step after one line; the next gets the whole log.
  const answers = [Buffer.concat([first, garbage, second]), Buffer.concat([first, second])];
  let requests = 0;
  const delivered: LogRecord[] = [];
  const log = containerLog({
    running: false,
    emit: async (records: readonly LogRecord[]) => { delivered.push(...records); },
    logs: async () => {
      const stream = new PassThrough();
      stream.end(answers[Math.min(requests++, answers.length - 1)]);
      return stream;
    },
  });
  const outcome = await log.follow();
  assert.equal(outcome.kind, 'finished');
  assert.equal(requests, 2, 'the broken stream was followed by a second one');
  assert.deepEqual(delivered.map((r) => r.message), ['one', 'two'], 'every line once');
});

test('a stop that comes while the log request is under way ends follow(): the stream it opens is not read on', { timeout: 10_000 }, async () => {
  const stop = new AbortController();
  let opened: PassThrough | undefined;
  const log = containerLog({
    signal: stop.signal,
    running: true,
    // The daemon answers after the agent was told to stop, with a stream that follows a running container (never ends by itself).
    logs: async () => {
      stop.abort();
      await new Promise((resolve) => setTimeout(resolve, 10));
      opened = new PassThrough();
      return opened;
    },
  });
  const outcome = await log.follow();
  assert.equal(outcome.kind, 'stopped');
  assert.equal(opened?.destroyed, true, 'the stream opened meanwhile is closed');
});

test('a daemon that keeps sending a stream out of step is asked again with backoff, not in a tight loop', { timeout: 10_000 }, async () => {
  const stop = new AbortController();
  const garbage = Buffer.from([7, 0, 0, 0, 0, 0, 0, 3, 120, 120, 120]);
  let requests = 0;
  const log = containerLog({
    signal: stop.signal,
    running: true,
    logs: async () => {
      requests++;
      const stream = new PassThrough();
      stream.end(garbage);
      return stream;
    },
  });
  const timer = setTimeout(() => stop.abort(), 500);
  const outcome = await log.follow();
  clearTimeout(timer);
  assert.equal(outcome.kind, 'stopped');
  // Backoff from 250 ms (jittered down to half): two or three requests fit in half a second; a loop without a wait makes thousands.
  assert.ok(requests >= 2 && requests <= 5, `requests in 500 ms: ${requests}`);
});

/** A stream that sends `bytes` and ends. */
function answer(bytes: Buffer): PassThrough {
  const stream = new PassThrough();
  stream.end(bytes);
  return stream;
}

test('a follow stream that ends without the run\'s last words (as dockerd 20.10 ends it) is drained at once: the last words arrive, the run is finished', async () => {
  const lines = [frame(1, messages({ stream: 1, time: T0, content: 'starting' })[0]!), frame(2, messages({ stream: 2, time: T0 + MS, content: 'fatal: boom', noNewline: true })[0]!)];
  let running = true;
  const { log, batches } = logHarness();
  const daemon = standInDaemon(() => (running ? RUNNING : STOPPED), async (_since, follow) => {
    if (follow) {
      running = false; // the follow stream ends at the exit, before the last words
      return answer(lines[0]!);
    }
    return answer(Buffer.concat(lines));
  });
  const outcome = await follower(log, daemon).follow();
  assert.equal(outcome.kind, 'finished');
  assert.deepEqual(daemon.opened.map((o) => o.follow), [true, false], 'a follow, then a drain');
  assert.ok(daemon.opened[1]!.at - daemon.opened[0]!.at < 100, 'the drain is not paced');
  assert.deepEqual(batches.flat().map((r) => r.message), ['starting', 'fatal: boom']);
});

/**
 * A container the inspect saw stopped (its run ended at S1 + 1 s) is started by hand as the log
 * request goes out: the follow stream follows the new run, which exits under it, before its last
 * words without newline, and `docker rm` removes it 50 ms later.
 */
async function startedByHand(newRun: readonly Buffer[], followed: number): Promise<{ outcome: string; messages: string[]; requests: { follow: boolean; at: number }[]; unread: number }> {
  const ended: RunInfo = { ...STOPPED, finishedAt: STOPPED.startedAt + 1 };
  const next: RunInfo = { ...STOPPED, startedAt: STOPPED.startedAt + 30, finishedAt: STOPPED.startedAt + 31 };
  const old = frame(1, messages({ stream: 1, time: BigInt(STOPPED.startedAt) * 1000n * MS, content: 'old run' })[0]!);
  let state: 'stopped' | 'restarted' | 'removed' = 'stopped';
  const { log, batches } = logHarness();
  const daemon = standInDaemon(() => (state === 'stopped' ? ended : state === 'restarted' ? next : undefined), async (_since, follow) => {
    if (state === 'removed') return undefined;
    if (follow && state === 'stopped') {
      state = 'restarted';
      setTimeout(() => { state = 'removed'; }, 50);
      return answer(Buffer.concat([old, ...newRun.slice(0, followed)]));
    }
    return answer(Buffer.concat([old, ...newRun]));
  });
  let unread = 0;
  const outcome = await follower(log, daemon, undefined, () => unread++).follow();
  return { outcome: outcome.kind, messages: batches.flat().map((r) => r.message), requests: daemon.opened.map((o) => ({ follow: o.follow, at: o.at })), unread };
}

test('seen stopped, started by hand before the log request, exited and removed at once: the new run is drained at once, its last words included', async () => {
  const newRun = [frame(1, messages({ stream: 1, time: T0, content: 'new run' })[0]!), frame(2, messages({ stream: 2, time: T0 + MS, content: 'last words', noNewline: true })[0]!)];
  const { outcome, messages: got, requests, unread } = await startedByHand(newRun, 1);
  assert.deepEqual(got, ['old run', 'new run', 'last words'], 'every line once, the last words included');
  assert.equal(outcome, 'finished', 'the drain read past the run inspected; the new run, over when its inspect answered, is drained at once and read whole before its removal');
  assert.deepEqual(requests.slice(0, 2).map((r) => r.follow), [true, false], 'the follow, then a drain');
  assert.ok(requests[1]!.at - requests[0]!.at < 40, 'the drain is not paced');
  assert.equal(unread, 0);
});

test('seen stopped, started by hand, the new run writing only last words without newline before it exits and is removed: the next inspect shows the run, and it is drained', async () => {
  const { outcome, messages: got, requests, unread } = await startedByHand([frame(1, messages({ stream: 1, time: T0, content: 'done', noNewline: true })[0]!)], 0);
  assert.deepEqual(got, ['old run', 'done']);
  assert.equal(outcome, 'finished', 'the drain read the run the inspect showed, and it is over');
  assert.deepEqual(requests.slice(0, 2).map((r) => r.follow), [true, false], 'the follow, then a drain');
  assert.ok(requests[1]!.at - requests[0]!.at < 40, 'the drain is not paced');
  assert.equal(unread, 0);
});

/**
 * Seen stopped; started by hand as the log request goes out, the new run writes nothing before the
 * follow stream ends: the next inspect shows it running. It writes and exits 30 ms later, and the
 * daemon answers inspects 40 ms late (a busy daemon), so an inspect sent with a log read can say
 * "exited" of a run the read saw nothing of. That run is followed, not taken as read.
 */
test('seen stopped, started by hand, still running when the follow stream has ended: the new run is followed, not finished on a read that came before its lines', async () => {
  const ended: RunInfo = { ...STOPPED, finishedAt: STOPPED.startedAt + 1 };
  const startedAt = STOPPED.startedAt + 30;
  const old = frame(1, messages({ stream: 1, time: BigInt(STOPPED.startedAt) * 1000n * MS, content: 'old run' })[0]!);
  const newRun = Buffer.concat([frame(1, messages({ stream: 1, time: T0, content: 'new run' })[0]!), frame(1, messages({ stream: 1, time: T0 + MS, content: 'last words', noNewline: true })[0]!)]);
  let restartedAt: number | undefined;
  const exited = () => restartedAt !== undefined && Date.now() - restartedAt >= 30;
  const now = (): RunInfo => (restartedAt === undefined ? ended : exited() ? { ...STOPPED, startedAt, finishedAt: startedAt + 1 } : { ...RUNNING, startedAt, finishedAt: ended.finishedAt });
  const content = () => (exited() ? Buffer.concat([old, newRun]) : old);
  const { log, batches } = logHarness();
  const daemon = standInDaemon(now, async (_since, follow) => {
    if (restartedAt === undefined) {
      restartedAt = Date.now();
      return answer(old);
    }
    // A follow stream of a running container ends when it exits.
    if (follow) await waitFor(exited, { timeoutMs: 5000, intervalMs: 5 });
    return answer(content());
  });
  let inspects = 0;
  daemon.inspect = async () => {
    // The first two (before the follow, after it) at once.
    if (inspects++ > 1) await new Promise((resolve) => setTimeout(resolve, 40));
    return now();
  };
  const outcome = await follower(log, daemon).follow();
  assert.equal(outcome.kind, 'finished');
  assert.deepEqual(batches.flat().map((r) => r.message), ['old run', 'new run', 'last words'], 'every line of both runs once');
});

test('removed before the drain (--rm): what was read is final, a last line of whole pieces included; removed before the first inspect: missed', async () => {
  const piece = 'x'.repeat(16 * 1024);
  const { log, batches } = logHarness();
  let gone = false;
  const daemon = standInDaemon(() => (gone ? undefined : RUNNING), async () => {
    if (gone) return undefined;
    gone = true;
    return answer(Buffer.concat([frame(1, messages({ stream: 1, time: T0, content: 'starting' })[0]!), frame(1, messages({ stream: 1, time: T0 + MS, content: piece, noNewline: true })[0]!)]));
  });
  let unread = 0;
  const outcome = await follower(log, daemon, undefined, () => unread++).follow();
  assert.deepEqual(outcome, { kind: 'removed', opened: true });
  assert.deepEqual(batches.flat().map((r) => r.message.length), [8, piece.length]);
  assert.equal(unread, 1, 'the end that could not be read again is counted');
  const never = await follower(logHarness().log, standInDaemon(() => undefined, async () => undefined)).follow();
  assert.deepEqual(never, { kind: 'removed', opened: false });
});

test('a restarting container (every follow request ends at once) is asked again with growing waits, not in a loop', { timeout: 10_000 }, async () => {
  const stop = new AbortController();
  const daemon = standInDaemon(() => RUNNING, async () => answer(Buffer.alloc(0)));
  const timer = setTimeout(() => stop.abort(), 1500);
  const outcome = await follower(logHarness().log, daemon, stop.signal).follow();
  clearTimeout(timer);
  assert.equal(outcome.kind, 'stopped');
  // Follow + drain per round; rounds 125–250, 250–500, 500–1000 ms apart: at most 4 rounds in 1.5 s.
  assert.ok(daemon.opened.length >= 2 && daemon.opened.length <= 8, `requests in 1.5 s: ${daemon.opened.length}`);
});

test('TTY: a drain reads only up to the follow stream\'s end, so a run started right after is not glued to the last words', async () => {
  const now = BigInt(Date.now()) * MS;
  const tty = (time: bigint, text: string) => ({ time, bytes: Buffer.from(`${formatRfc3339Nano(time)} ${text}`) });
  // Run 1 ends with last words and no newline; run 2 starts at once (its first line follows them in the log).
  const file = [tty(now - 900n * MS, 'first\r\n'), tty(now - 800n * MS, 'last words'), tty(now + 10_000n * MS, 'run 2 first\r\n')];
  let phase: 'run1' | 'run2' | 'done' = 'run1';
  const run1 = { ...RUNNING, tty: true };
  const run2 = { ...run1, startedAt: run1.startedAt + 1 };
  const { log, batches } = logHarness();
  const daemon = standInDaemon(() => (phase === 'run1' ? run1 : phase === 'run2' ? run2 : { ...run2, running: false }), async (since, follow, until) => {
    const sent = file.filter((e) => e.time >= since && (until === undefined || e.time <= until));
    // The follow stream of run 1 ends without its last words, as dockerd 20.10 ends it.
    const bytes = Buffer.concat((phase === 'run1' && follow ? sent.slice(0, 1) : sent).map((e) => e.bytes));
    if (follow) phase = phase === 'run1' ? 'run2' : 'done';
    return answer(bytes);
  });
  const outcome = await follower(log, daemon).follow();
  assert.equal(outcome.kind, 'finished');
  assert.deepEqual(batches.flat().map((r) => r.message), ['first', 'last words', 'run 2 first']);
});

test('a followed stream\'s lines, a few per read, are sealed into batches of many reads; a lone line still goes out at once', { timeout: 10_000 }, async () => {
  const stop = new AbortController();
  const stream = new PassThrough();
  const { log, batches } = logHarness();
  const following = follower(log, standInDaemon(() => RUNNING, async () => stream), stop.signal).follow();
  const line = (i: number) => frame(1, messages({ stream: 1, time: T0 + BigInt(i) * MS, content: `line ${i}` })[0]!);
  // 300 reads of one line each, one per turn of the event loop (as a live stream comes).
  for (let i = 0; i < 300; i++) {
    stream.write(line(i));
    await new Promise((resolve) => setImmediate(resolve));
  }
  await waitFor(() => batches.flat().length === 300, { what: 'all 300 lines emitted' });
  assert.deepEqual(batches.flat().map((r) => r.message), Array.from({ length: 300 }, (_, i) => `line ${i}`), 'every line once, in order');
  assert.ok(batches.length <= 60, `300 one-line reads made ${batches.length} batches`);
  // A line with nothing after it is not held back waiting for company.
  const before = batches.length;
  const sent = Date.now();
  stream.write(line(300));
  await waitFor(() => batches.length > before, { what: 'the lone line emitted' });
  assert.ok(Date.now() - sent < 1000, `the lone line took ${Date.now() - sent} ms`);
  assert.deepEqual(batches.at(-1)!.map((r) => r.message), ['line 300']);
  stop.abort();
  stream.end();
  assert.equal((await following).kind, 'stopped');
});

test('given what an inspect of this moment said (the inventory\'s, on the start event), the follower opens the log without asking again', async () => {
  const line = frame(1, messages({ stream: 1, time: T0, content: 'hello' })[0]!);
  let inspects = 0;
  const daemon = standInDaemon(() => { inspects++; return STOPPED; }, async () => answer(line));
  const { log, batches } = logHarness();
  const outcome = await follower(log, daemon).follow(STOPPED);
  assert.equal(outcome.kind, 'finished');
  assert.deepEqual(batches.flat().map((r) => r.message), ['hello']);
  const opened = daemon.opened.length;
  assert.ok(opened >= 1, 'the log was read');
  // Without it the follower asks first: one inspect more before the same reads.
  const { log: second } = logHarness();
  let before = 0;
  const asking = standInDaemon(() => { before++; return STOPPED; }, async () => answer(line));
  await follower(second, asking).follow();
  assert.equal(before, inspects + 1, `inspects: ${inspects} given the state, ${before} without`);
});

interface TtyEntry { readonly time: bigint; readonly text: string }

/** What a json-file reader sends a TTY container's log request: entries from `since`, up to `until` (inclusive). */
function ttyAnswer(file: readonly TtyEntry[], since: bigint, until: bigint | undefined): PassThrough {
  const sent = file.filter((e) => e.time >= since && (until === undefined || e.time <= until));
  return answer(Buffer.concat(sent.map((e) => Buffer.from(`${formatRfc3339Nano(e.time)} ${e.text}`))));
}

const SECOND = 1000n * MS;

const line = (at: bigint, content: string) => frame(1, messages({ stream: 1, time: at, content })[0]!);

/**
 * Run 1 is followed, its stream ends at the first follow request; run 2's line is in the log from
 * `writesAtMs` after that end, and the container is gone from `removedAtMs`. `run(after)` says
 * what an inspect answers (`after(ms)`: that long has passed since the end); with `lateInspects`,
 * every inspect but the first is answered 40 ms late (a busy daemon). Whether run 2 was read, or
 * its loss counted.
 */
async function followRunTwo(options: { writesAtMs: number; removedAtMs: number; lateInspects: boolean; run: (after: (ms: number) => boolean) => RunInfo }) {
  const s = STOPPED.startedAt;
  const run1 = line(BigInt(s) * SECOND, 'run 1');
  const run2 = line(BigInt(s + 30) * SECOND, 'run 2');
  let endedAt: number | undefined;
  const after = (ms: number) => endedAt !== undefined && Date.now() - endedAt >= ms;
  const now = (): RunInfo | undefined => (after(options.removedAtMs) ? undefined : options.run(after));
  const daemon = standInDaemon(now, async (_since, follow) => {
    if (after(options.removedAtMs)) return undefined;
    if (follow && endedAt === undefined) {
      endedAt = Date.now();
      return answer(run1);
    }
    return answer(Buffer.concat(after(options.writesAtMs) ? [run1, run2] : [run1]));
  });
  if (options.lateInspects) {
    let inspects = 0;
    daemon.inspect = async () => {
      if (inspects++ > 0) await new Promise((resolve) => setTimeout(resolve, 40));
      return now();
    };
  }
  const { log, batches } = logHarness();
  let unread = 0;
  const outcome = await follower(log, daemon, undefined, () => unread++).follow();
  const got = batches.flat().map((r) => r.message);
  assert.ok(got.includes('run 2') || unread > 0, `run 2 read or its loss counted: ${JSON.stringify(got)}, outcome ${outcome.kind}, unread ${unread}`);
}

/**
 * TTY. Seen stopped (run 2 over); started by hand as the follow request goes out (the request reads
 * run 2's log only); run 3 exits before the inspect after the stream. dockerd sets FinishedAt from
 * containerd's exit time (State.SetStopped: ExitedAt), while the copier stamps what it reads from the
 * pty after that (a burst still in the pipe, and the last words at EOF). The drain of a run already
 * over reads up to FinishedAt + 100 ms: what the copier stamped later is cut, and the run is finished.
 */
test('TTY, seen stopped, started by hand and over before the inspect: output the copier stamped over 100 ms after FinishedAt is not cut off', async () => {
  const s = STOPPED.startedAt;
  const ended: RunInfo = { ...STOPPED, tty: true, finishedAt: s + 1 };
  const over: RunInfo = { ...STOPPED, tty: true, startedAt: s + 30, finishedAt: s + 31 };
  const exit = BigInt(s + 31) * SECOND;
  const file: TtyEntry[] = [
    { time: BigInt(s) * SECOND, text: 'old run\r\n' },
    { time: exit - 500n * MS, text: 'new run\r\n' },
    { time: exit + 150n * MS, text: 'burst drained after the exit\r\n' },
    { time: exit + 160n * MS, text: 'last words' },
  ];
  let phase: 'stopped' | 'over' = 'stopped';
  const { log, batches } = logHarness();
  const daemon = standInDaemon(() => (phase === 'stopped' ? ended : over), async (since, follow, until) => {
    if (follow && phase === 'stopped') {
      phase = 'over';
      return ttyAnswer(file.slice(0, 1), since, until);
    }
    return ttyAnswer(file, since, until);
  });
  const outcome = await follower(log, daemon).follow();
  assert.equal(outcome.kind, 'finished');
  assert.deepEqual(batches.flat().map((r) => r.message), ['old run', 'new run', 'burst drained after the exit', 'last words'], 'every line of run 3, once');
});

/**
 * TTY, a followed run ends; the daemon's clock runs 300 ms ahead of the agent's (a remote daemon, a
 * VM whose clock drifted). The drain reads up to the follow stream's end by the agent's clock + 100 ms,
 * before the last words by the daemon's, and the run is finished without them.
 */
test('TTY, daemon clock 300 ms ahead of the agent: the drain still reads the last words of a followed run', async () => {
  const run1: RunInfo = { ...RUNNING, tty: true };
  let running = true;
  const file: TtyEntry[] = [];
  const daemonNow = () => BigInt(Date.now() + 300) * MS;
  const { log, batches } = logHarness();
  const daemon = standInDaemon(() => (running ? run1 : { ...run1, running: false }), async (since, follow, until) => {
    if (follow && running) {
      // Live: a line read as it is written, the run's exit 200 ms later ends the stream before its last words (dockerd 20.10).
      file.push({ time: daemonNow(), text: 'first\r\n' });
      const stream = new PassThrough();
      stream.write(`${formatRfc3339Nano(file[0]!.time)} first\r\n`);
      setTimeout(() => {
        file.push({ time: daemonNow(), text: 'last words' });
        running = false;
        stream.end();
      }, 200);
      return stream;
    }
    return ttyAnswer(file, since, until);
  });
  const outcome = await follower(log, daemon).follow();
  assert.equal(outcome.kind, 'finished');
  assert.deepEqual(batches.flat().map((r) => r.message), ['first', 'last words']);
});

/**
 * A followed run ends; run 2 is started by hand at once, writes and exits, and `docker rm` removes
 * the container 60 ms later (a script: start, wait, rm). The drain read is answered before run 2
 * writes; the inspect sent with it after run 2 exited (a busy daemon answers inspects 40 ms late).
 * `decide` sees a new run already over and opens it like a crash loop: after a backoff (125-250 ms for
 * a stream shorter than 1 s), by when the container is gone. Run 2's lines are lost and not counted
 * (the follower had opened a stream, and only a drain counts an end unread).
 */
test('a followed run ends, a new run starts by hand, is over before the drain\'s inspect is answered and removed soon after: its lines are read at once (or counted)', async () => {
  const s = STOPPED.startedAt;
  const two: RunInfo = { ...STOPPED, startedAt: s + 30, finishedAt: s + 31 };
  // Run 2 writes 10 ms after run 1's end and exits at 20 ms; removed at 80 ms.
  await followRunTwo({ writesAtMs: 10, removedAtMs: 80, lateInspects: true, run: (after) => (after(20) ? two : after(0) ? { ...STOPPED, finishedAt: s + 1 } : RUNNING) });
});

/**
 * `docker rm` without -f on a running container marks it for removal while it checks, then gives up
 * ("You cannot remove a running container"): a log request in that moment gets 409, which the port
 * reads as gone. The container runs on, and is never read again (the collector adds it to `gone`).
 */
/** A container running through a refused `docker rm`: the first log request is answered 409, the next reads `hello` and finds the run over. */
function refusedRemovalDaemon(): ReturnType<typeof standInDaemon> {
  const hello = line(BigInt(STOPPED.startedAt) * SECOND, 'hello');
  let requests = 0;
  let running = true;
  return standInDaemon(() => (running ? RUNNING : STOPPED), async () => {
    if (requests++ === 0) return undefined; // 409 while the `docker rm` checks, then refuses
    running = false;
    return answer(hello);
  });
}

test('a log request answered 409 (marked for removal) while the container still exists and runs: the follower does not give it up', async () => {
  const daemon = refusedRemovalDaemon();
  const { log, batches } = logHarness();
  const outcome = await follower(log, daemon).follow();
  assert.equal(outcome.kind, 'finished', 'the container is still there (inspect answers): it is read');
  assert.deepEqual(batches.flat().map((r) => r.message), ['hello']);
});

/**
 * A TTY process prints a time in the future, RFC 3339 in UTC, mid-line (Go's time.RFC3339 of a
 * schedule: "next backup at 2026-11-30T15:00:00Z daily"). The glue splitter takes it for a later run's
 * message (a daemon stamp > 50 ms after the line's own), and the line's stamp becomes that time: the
 * log's latest stamp (maxReadTime), the stdout cursor's handed-on position, the resume point's
 * `since` and daemonClockAheadMs (4360d8c) all jump an hour ahead. The run ends, the restart policy
 * starts run 2: the drain and the next follow ask from an hour ahead, and run 2 is never read.
 */
test('TTY: a line holding a future UTC time does not move the resume point into the future: the next run is read', { timeout: 10_000 }, async () => {
  const baseMs = Date.now() - 2000;
  const base = BigInt(baseMs) * MS;
  const future = new Date(Date.now() + 3600_000).toISOString().replace(/\.\d+Z$/, 'Z');
  const file: TtyEntry[] = [{ time: base, text: `next backup at ${future} daily\r\n` }];
  const run1: RunInfo = { ...RUNNING, tty: true, startedAt: (baseMs - 10_000) / 1000 };
  const run2: RunInfo = { ...run1, startedAt: (baseMs + 900) / 1000, finishedAt: (baseMs + 500) / 1000 };
  const over: RunInfo = { ...run2, running: false, finishedAt: (baseMs + 1500) / 1000 };
  let phase: 'run1' | 'run2' | 'done' = 'run1';
  const { log, batches } = logHarness();
  const daemon = standInDaemon(() => (phase === 'run1' ? run1 : phase === 'run2' ? run2 : over), async (since, follow, until) => {
    if (follow && phase === 'run1') {
      // Run 1 exits, the restart policy starts run 2, which writes a line.
      phase = 'run2';
      const sent = ttyAnswer(file, since, until);
      file.push({ time: base + 1000n * MS, text: 'run 2 first\r\n' });
      return sent;
    }
    if (follow) phase = 'done';
    return ttyAnswer(file, since, until);
  });
  const outcome = await follower(log, daemon).follow();
  assert.equal(outcome.kind, 'finished');
  const got = batches.flat().map((r) => r.message);
  assert.ok(got.includes('run 2 first'), `run 2 read: ${JSON.stringify(got)}; requests since ${daemon.opened.map((o) => formatRfc3339Nano(o.since)).join(', ')}`);
  assert.ok(log.daemonClockAheadMs < 60_000, `the daemon clock's lead learnt from a process's output: ${log.daemonClockAheadMs} ms`);
});

/**
 * A container whose removal failed ("dead", e.g. device busy) stays listed; inspect finds it, and
 * every log request is answered 409 ("dead or marked for removal"). Since 4360d8c the follower opens
 * again after each 409 as long as an inspect finds the container (running or not): it never ends,
 * asking twice every ≤5 s for as long as the container is dead (before, it gave it up: removed, missed).
 */
test('a dead container (inspect finds it, every log request 409): the follower gives it up, not asking again forever', { timeout: 10_000 }, async () => {
  const stop = new AbortController();
  const dead: RunInfo = { ...STOPPED, finishedAt: STOPPED.startedAt + 1 };
  const daemon = standInDaemon(() => dead, async () => undefined);
  const timer = setTimeout(() => stop.abort(), 2500);
  const outcome = await follower(logHarness().log, daemon, stop.signal).follow(dead);
  clearTimeout(timer);
  assert.deepEqual(outcome, { kind: 'removed', opened: false }, `log requests in 2.5 s: ${daemon.opened.length}`);
});

/**
 * The 409 of a refused `docker rm` on a running container (4360d8c's case), and the inspect that
 * should tell "still there" fails (daemon busy: 500): inspectOr(undefined) takes the failure for
 * "gone". The collector adds the running container to `gone`; it is never read again, uncounted.
 */
test('a 409 while a docker rm is refused, and the inspect after it fails once: the running container is not given up', { timeout: 10_000 }, async () => {
  const daemon = refusedRemovalDaemon();
  const inspect = daemon.inspect;
  let inspects = 0;
  daemon.inspect = async (id) => {
    if (inspects++ === 0) throw Object.assign(new Error('daemon busy'), { statusCode: 500 });
    return inspect(id);
  };
  const { log, batches } = logHarness();
  const outcome = await follower(log, daemon).follow(RUNNING);
  assert.equal(outcome.kind, 'finished', 'an inspect that failed says nothing of the container');
  assert.deepEqual(batches.flat().map((r) => r.message), ['hello']);
});

/**
 * The same 409 of a refused `docker rm` (no -f; "You cannot remove a restarting container"), met by
 * the drain instead of a follow request: a crash-looping container (restart policy) whose run 1
 * just ended. drain() takes the 409 for gone without asking (endUnread, removed): the container
 * restarts and runs on, never read again (the collector puts it in `gone`).
 */
test('a restarting container whose drain request is answered 409 while a docker rm is refused: it is followed on, run 2 read', { timeout: 10_000 }, async () => {
  const s = STOPPED.startedAt;
  const run1 = line(BigInt(s) * SECOND, 'run 1');
  const run2 = line(BigInt(s + 30) * SECOND, 'run 2');
  let phase: 'run1' | 'run2' | 'done' = 'run1';
  let requests = 0;
  const now = (): RunInfo => (phase === 'run1' ? RUNNING : phase === 'run2' ? { ...RUNNING, startedAt: s + 30, finishedAt: s + 1 } : { ...STOPPED, startedAt: s + 30, finishedAt: s + 31 });
  const daemon = standInDaemon(now, async (_since, follow) => {
    requests++;
    if (follow && phase === 'run1') {
      phase = 'run2';
      return answer(run1);
    }
    if (requests === 2) return undefined; // the drain: 409 while `docker rm` is refused
    if (follow) phase = 'done';
    return answer(Buffer.concat([run1, run2]));
  });
  const { log, batches } = logHarness();
  const outcome = await follower(log, daemon).follow();
  assert.equal(outcome.kind, 'finished', 'the container still exists and restarts: it is not given up');
  assert.deepEqual(batches.flat().map((r) => r.message), ['run 1', 'run 2']);
});

/**
 * A crash loop under a restart policy (the container counts as running while restarting), then
 * `docker compose down` (rm -f). 4360d8c drains at once a new run already *over*; a new run
 * *running* (restarting) is still opened after the crash-loop backoff (125-250 ms here, up to 5 s).
 * Run 2 writes and the container is removed during that wait: the open gets 404, the inspect too,
 * and gone() ends the follower. Run 2's lines are lost and counted nowhere (opened is true from run
 * 1's stream; only a drain counts an end unread).
 */
test('crash loop then removal: a new run (restarting) written during the reopen backoff and removed is read, or its loss counted', { timeout: 10_000 }, async () => {
  const s = STOPPED.startedAt;
  // Run 1's stream ends; run 2 runs at once (restart policy), writes at 20 ms, the container is removed at 60 ms.
  await followRunTwo({ writesAtMs: 20, removedAtMs: 60, lateInspects: false, run: (after) => (after(0) ? { ...RUNNING, startedAt: s + 30, finishedAt: s + 1 } : RUNNING) });
});
