/**
 * Review of the follower's run boundaries (s15): interleavings in which a run is taken as read whole
 * on evidence out of step with the log read. Each test fails on 8e88d97 (a line lost).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { formatRfc3339Nano } from '../../src/records.js';
import { MS, RUNNING, STOPPED, follower, logHarness, standInDaemon } from '../helpers/container-log.js';
import type { RunInfo } from '../../collectors/logs/daemon.js';
import { frame, messages } from './logs-frames.js';

function answer(bytes: Buffer): PassThrough {
  const stream = new PassThrough();
  stream.end(bytes);
  return stream;
}

interface TtyEntry { readonly time: bigint; readonly text: string }

/** What a json-file reader sends a TTY container's log request: entries from `since`, up to `until` (inclusive). */
function ttyAnswer(file: readonly TtyEntry[], since: bigint, until: bigint | undefined): PassThrough {
  const sent = file.filter((e) => e.time >= since && (until === undefined || e.time <= until));
  return answer(Buffer.concat(sent.map((e) => Buffer.from(`${formatRfc3339Nano(e.time)} ${e.text}`))));
}

const SECOND = 1000n * MS;

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
  let file: TtyEntry[] = [];
  const { log, batches } = logHarness();
  const daemon = standInDaemon(() => (running ? run1 : { ...run1, running: false }), async (since, follow, until) => {
    if (follow && running) {
      const daemonNow = BigInt(Date.now() + 300) * MS;
      file = [{ time: daemonNow - 200n * MS, text: 'first\r\n' }, { time: daemonNow, text: 'last words' }];
      running = false; // the follow stream ends at the exit, before the last words (dockerd 20.10)
      return ttyAnswer(file.slice(0, 1), since, until);
    }
    return ttyAnswer(file, since, until);
  });
  const outcome = await follower(log, daemon).follow();
  assert.equal(outcome.kind, 'finished');
  assert.deepEqual(batches.flat().map((r) => r.message), ['first', 'last words']);
});

/**
 * A follow stream that the daemon ends cleanly while its run goes on (20.10's json-file follower gives
 * up on a line it cannot decode, a rotation it cannot follow; a proxy that ends a close-delimited
 * answer). The drain read is answered at once, before the run writes its last line; the run exits
 * 20 ms later and the inspect sent with the drain is answered 40 ms late: "stopped, same run". The
 * run is taken as read whole: the line written after the drain read is lost.
 */
test('a follow stream ended while its run goes on: a run that exits before the drain\'s inspect is answered is not finished on a read that came before its last lines', async () => {
  const line = (i: number, content: string) => frame(1, messages({ stream: 1, time: BigInt(STOPPED.startedAt + 1) * SECOND + BigInt(i) * MS, content })[0]!);
  let endedAt: number | undefined;
  const since = (ms: number) => endedAt !== undefined && Date.now() - endedAt >= ms;
  const content = () => Buffer.concat(since(10) ? [line(0, 'one'), line(1, 'two')] : [line(0, 'one')]);
  const { log, batches } = logHarness();
  const daemon = standInDaemon(() => (since(20) ? STOPPED : RUNNING), async (_since, follow) => {
    if (follow && endedAt === undefined) {
      endedAt = Date.now();
      return answer(line(0, 'one'));
    }
    if (follow) while (!since(20)) await new Promise((resolve) => setTimeout(resolve, 5));
    return answer(content());
  });
  let inspects = 0;
  daemon.inspect = async () => {
    if (inspects++ > 0) await new Promise((resolve) => setTimeout(resolve, 40));
    return since(20) ? STOPPED : RUNNING;
  };
  const outcome = await follower(log, daemon).follow();
  assert.equal(outcome.kind, 'finished');
  assert.deepEqual(batches.flat().map((r) => r.message), ['one', 'two'], 'the line written after the drain read is read');
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
  const line = (at: number, content: string) => frame(1, messages({ stream: 1, time: BigInt(at) * SECOND, content })[0]!);
  const run1 = line(s, 'run 1');
  const run2 = line(s + 30, 'run 2');
  const two: RunInfo = { ...STOPPED, startedAt: s + 30, finishedAt: s + 31 };
  let followEndedAt: number | undefined;
  const after = (ms: number) => followEndedAt !== undefined && Date.now() - followEndedAt >= ms;
  // Run 2 writes 10 ms after run 1's end and exits at 20 ms; removed at 80 ms.
  const now = (): RunInfo | undefined => (after(80) ? undefined : after(20) ? two : after(0) ? { ...STOPPED, finishedAt: s + 1 } : RUNNING);
  const { log, batches } = logHarness();
  const daemon = standInDaemon(now, async (_since, follow) => {
    if (after(80)) return undefined;
    if (follow && followEndedAt === undefined) {
      followEndedAt = Date.now();
      return answer(run1);
    }
    return answer(Buffer.concat(after(10) ? [run1, run2] : [run1]));
  });
  let inspects = 0;
  daemon.inspect = async () => {
    if (inspects++ > 0) await new Promise((resolve) => setTimeout(resolve, 40));
    return now();
  };
  let unread = 0;
  const outcome = await follower(log, daemon, undefined, () => unread++).follow();
  const got = batches.flat().map((r) => r.message);
  assert.ok(got.includes('run 2') || unread > 0, `run 2 read or its loss counted: ${JSON.stringify(got)}, outcome ${outcome.kind}, unread ${unread}`);
});

/**
 * `docker rm` without -f on a running container marks it for removal while it checks, then gives up
 * ("You cannot remove a running container"): a log request in that moment gets 409, which the port
 * reads as gone. The container runs on, and is never read again (the collector adds it to `gone`).
 */
test('a log request answered 409 (marked for removal) while the container still exists and runs: the follower does not give it up', async () => {
  const line = frame(1, messages({ stream: 1, time: BigInt(STOPPED.startedAt) * SECOND, content: 'hello' })[0]!);
  let requests = 0;
  let running = true;
  const daemon = standInDaemon(() => (running ? RUNNING : STOPPED), async () => {
    if (requests++ === 0) return undefined; // 409 during a failed `docker rm`
    running = false;
    return answer(line);
  });
  const { log, batches } = logHarness();
  const outcome = await follower(log, daemon).follow();
  assert.equal(outcome.kind, 'finished', 'the container is still there (inspect answers): it is read');
  assert.deepEqual(batches.flat().map((r) => r.message), ['hello']);
});
