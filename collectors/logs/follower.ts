/**
 * Follows one container's log through the daemon, stream after stream, as explicit states:
 *
 *   waitForDaemon → inspect → open → read ─┬─ broke ───────────────────→ (backoff) waitForDaemon
 *                                          └─ ended → drain → read → decide ─┬→ open      (the container runs on)
 *                                                                            ├→ settleRun → finished
 *                                                                            └→ removed
 *
 * and `stopped` from anywhere when the collector stops. Given an inspect's answer of this moment
 * (the inventory's), following starts at `open`. A follow stream ends when the run it
 * follows exits, but dockerd 20.10 ends it before the run's last words when they have no newline
 * (the copier writes them as the log closes; a reader waiting at the end of the file sees the close
 * first). They are in the log file all the same: `drain` reads the log once more, at once (before
 * `docker run --rm` or `compose down` can remove the container), while `decide` asks whether the
 * run is over. A stream is opened at most a few times a second: one that ends soon after it opened
 * (a restarting container, a crash loop) makes the next wait longer.
 */
import { errorMessage } from '../../src/errors.js';
import type { Logger } from '../../src/telemetry/logger.js';
import { Backoff, sleep } from '../../src/util/backoff.js';
import type { ContainerLog } from './container-log.js';
import { statusCode, type LogDaemon, type LogStream, type RunInfo } from './daemon.js';
import { DemuxError } from './demux.js';
import type { LogsMetrics } from './metrics.js';
import { formatSince, nanosFromMs } from './timestamp.js';

export type FollowOutcome =
  | { readonly kind: 'finished'; readonly startedAt: number }
  | { readonly kind: 'removed'; readonly opened: boolean }
  | { readonly kind: 'stopped' };

export interface FollowerDeps {
  readonly daemon: LogDaemon;
  readonly signal: AbortSignal;
  readonly logger: Logger;
  readonly metrics: LogsMetrics;
  /** A request the daemon answered with an error (not a connection failure). */
  countRequestError(): void;
  /** A run's end could not be read again (the container was removed at once): its last words, if they had no newline, are lost. */
  endUnread(): void;
}

/**
 * A batch is sealed at once when it holds this many lines, or this many bytes of the stream were
 * read into it: a full pipeline pauses the stream only when a batch is sealed, so these bound what
 * is read past it (per container, besides the two batches waiting for room).
 */
const MAX_BATCH_RECORDS = 4096;
const MAX_BATCH_BYTES = 512 * 1024;
/**
 * Lines read within this long of a batch's first are sealed with it. A followed stream brings a few
 * lines a socket read; sealed per read, each batch's own work (its resume point, acknowledgement,
 * queueing, counters) cost ~1.5 CPU-s per million lines (live 300,000-line runs, interleaved:
 * 8.7 vs 7.1 s per million into a file); 5 ms adds that much to a line's way out.
 */
const SEAL_AFTER_MS = 5;
/** A stream open at least this long was a real follow: the next one may open at once. */
const STEADY_STREAM_MS = 1000;
/**
 * A TTY container's drain reads up to when the run was seen over (the follow stream's end, or an
 * inspect's answer), by the agent's clock moved by the daemon clock's lead its stamps showed, plus
 * this much, and never less than the daemon's FinishedAt plus this much (a run's first line came
 * ~300 ms after the previous run's last here, with `docker start` right away).
 */
const DRAIN_CLOCK_MARGIN_MS = 100;

type State =
  | { readonly name: 'waitForDaemon' }
  | { readonly name: 'inspect' }
  | { readonly name: 'open'; readonly run: RunInfo }
  | { readonly name: 'read'; readonly run: RunInfo; readonly stream: LogStream; readonly abort: AbortController; readonly kind: 'follow' }
  | { readonly name: 'read'; readonly run: RunInfo; readonly stream: LogStream; readonly abort: AbortController; readonly kind: 'drain'; readonly after: Promise<RunInfo | undefined>; readonly steady: boolean }
  | { readonly name: 'drain'; readonly run: RunInfo; readonly steady: boolean; readonly endedAt: number }
  | { readonly name: 'decide'; readonly run: RunInfo; readonly after: RunInfo | undefined; readonly steady: boolean }
  | { readonly name: 'settleRun'; readonly run: RunInfo }
  | { readonly name: 'finished'; readonly run: RunInfo }
  | { readonly name: 'removed' }
  | { readonly name: 'stopped' };

/**
 * A line stamped this long after a stopped run's end (FinishedAt, ms precision) belongs to a later
 * run: the daemon's log copier may stamp a run's last lines a little after its exit, and a new run
 * starts no sooner than an inspect and a container start after it.
 */
const NEW_RUN_MARGIN_MS = 20;

/**
 * How far a TTY drain may read (ns) when a new run has begun since `run`: the daemon's end of the
 * previous run plus the clock margin (its last words are stamped as its output closes, just after).
 * Undefined when no new run has begun, or the daemon does not say when the last one finished.
 */
function runEndBound(run: RunInfo, after: RunInfo | undefined): bigint | undefined {
  if (!after || after.startedAt === run.startedAt || !after.finishedAt) return undefined;
  return nanosFromMs(finishedMs(after) + DRAIN_CLOCK_MARGIN_MS);
}

/** When the daemon says a run finished (ms by its clock), 0 when it does not say. */
function finishedMs(run: RunInfo): number {
  return run.finishedAt ? Math.round(run.finishedAt * 1000) : 0;
}

type Final = Extract<State, { name: 'finished' | 'removed' | 'stopped' }>;

function isFinal(state: State): state is Final {
  return state.name === 'finished' || state.name === 'removed' || state.name === 'stopped';
}

interface StreamEnd {
  /** Why the stream stopped early, or undefined when it ended as streams do. */
  readonly broken: unknown;
  /** New lines were read (not only lines handed on already). */
  readonly progressed: boolean;
}

/** How soon the next stream may open. */
class ReopenPacer {
  private readonly backoff = new Backoff({ initialMs: 250, maxMs: 5000 });
  private delayMs = 0;

  /** All is well: the next stream may open at once, and the wait starts small again. */
  reset(): void {
    this.backoff.reset();
    this.delayMs = 0;
  }

  /** Something ended too soon (a stream, a request): the next attempt waits, longer each time. */
  slowDown(): void {
    this.delayMs = this.backoff.nextDelayMs();
  }

  async wait(signal: AbortSignal): Promise<void> {
    if (this.delayMs > 0) await sleep(this.delayMs, signal);
    this.delayMs = 0;
  }
}

export class LogFollower {
  private readonly pacer = new ReopenPacer();
  private opened = false;
  private reason: string | undefined;

  constructor(readonly log: ContainerLog, private readonly deps: FollowerDeps) {
    const start = log.resumePoint;
    this.reason = start.since > 0n || start.streams.some(Boolean) ? 'checkpoint' : undefined;
  }

  /**
   * Follows the log until the container's run has been read to its end, the container is gone, or
   * the collector stops. Never throws for daemon trouble: it waits for the daemon and goes on.
   */
  async follow(inspected?: RunInfo): Promise<FollowOutcome> {
    this.opened = false;
    let state: State = inspected ? this.inspected(inspected) : { name: 'waitForDaemon' };
    for (;;) {
      if (this.deps.signal.aborted) {
        // A stream opened just before the stop: nobody would abort it, and it may follow a running container.
        if (state.name === 'read') state.stream.destroy();
        if (!isFinal(state)) state = { name: 'stopped' };
      }
      if (isFinal(state)) return this.outcome(state);
      state = await this.step(state);
    }
  }

  private outcome(state: Final): FollowOutcome {
    switch (state.name) {
      case 'finished':
        this.log.finishedStartedAt = state.run.startedAt;
        this.pacer.reset();
        return { kind: 'finished', startedAt: state.run.startedAt };
      case 'removed':
        return { kind: 'removed', opened: this.opened };
      case 'stopped':
        this.log.setLive(false);
        return { kind: 'stopped' };
    }
  }

  private step(state: Exclude<State, Final>): Promise<State> {
    switch (state.name) {
      case 'waitForDaemon': return this.waitForDaemon();
      case 'inspect': return this.inspect();
      case 'open': return this.open(state.run);
      case 'read': return this.read(state);
      case 'drain': return this.drain(state.run, state.steady, state.endedAt);
      case 'decide': return this.decide(state.run, state.after, state.steady);
      case 'settleRun': return this.settleRun(state.run);
    }
  }

  private async waitForDaemon(): Promise<State> {
    await this.deps.daemon.waitUntilUp(this.deps.signal);
    return { name: 'inspect' };
  }

  private async inspect(): Promise<State> {
    let run: RunInfo | undefined;
    try {
      run = await this.deps.daemon.inspect(this.log.id);
    } catch (error) {
      return this.daemonTrouble(error);
    }
    if (!run) return this.gone();
    return this.inspected(run);
  }

  /** What an inspect said of the container (the follower's own, or one the caller just had). */
  private inspected(run: RunInfo): State {
    this.log.setTty(run.tty);
    return { name: 'open', run };
  }

  private async open(run: RunInfo): Promise<State> {
    const { daemon, signal } = this.deps;
    await this.pacer.wait(signal);
    if (signal.aborted) return { name: 'stopped' };
    const abort = new AbortController();
    const since = this.log.resumePoint.since;
    let stream: LogStream | undefined;
    try {
      stream = await daemon.openLogs(this.log.id, since, abort.signal, true);
    } catch (error) {
      return this.daemonTrouble(error);
    }
    if (!stream) return this.refused(this.opened);
    this.opened = true;
    if (this.reason) this.deps.metrics.resumes.inc({ reason: this.reason });
    this.deps.logger.debug({ container: this.log.name, id: this.log.id, since: formatSince(since), reason: this.reason ?? 'start', running: run.running }, 'following container log');
    return { name: 'read', run, stream, abort, kind: 'follow' };
  }

  /**
   * A run ended (at `endedAt`, ms: its follow stream's end, or the daemon's FinishedAt of a run no
   * stream followed to its end): read the log once more at once, and
   * meanwhile ask how the container is. For a TTY container only up to then: a run started right
   * after (docker start, a restart policy) is left to the next stream, once this run's last line
   * has been seen where it ends (no frames tell it apart from the next run's first).
   */
  private async drain(run: RunInfo, steady: boolean, endedAt: number): Promise<State> {
    const { daemon } = this.deps;
    this.log.rewind(true);
    // Both at once: the container may be removed any moment now.
    let abort = new AbortController();
    const after = daemon.inspect(this.log.id);
    let stream: LogStream | undefined;
    try {
      const until = this.log.isTty ? nanosFromMs(Math.max(endedAt + this.log.daemonClockAheadMs, finishedMs(run)) + DRAIN_CLOCK_MARGIN_MS) : undefined;
      stream = await daemon.openLogs(this.log.id, this.log.resumePoint.since, abort.signal, false, until);
      if (stream && until !== undefined) {
        // The follow stream's end is seen late when the pipeline held the stream back (a slow or down
        // sink): by then the next run may have written, and `until` would take its first line in, glued
        // to the last words. Once a new run has begun, the run read ended at the daemon's FinishedAt.
        const bound = runEndBound(run, await after.catch(() => undefined));
        if (bound !== undefined && bound < until) {
          stream.destroy();
          abort.abort();
          abort = new AbortController();
          stream = await daemon.openLogs(this.log.id, this.log.resumePoint.since, abort.signal, false, bound);
        }
      }
    } catch (error) {
      return this.daemonTrouble(error);
    }
    if (!stream) return this.refused(true);
    // An inspect that failed says nothing: the container is taken to be as it was (the next request finds out).
    return { name: 'read', run, stream, abort, kind: 'drain', after: after.then((info) => info, () => run), steady };
  }

  private async read(state: Extract<State, { name: 'read' }>): Promise<State> {
    const { run, stream, abort } = state;
    const { signal, metrics } = this.deps;
    const openedAt = Date.now();
    const onAbort = () => abort.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    metrics.streamsOpen.inc();
    this.log.startStream();
    let end: StreamEnd;
    try {
      end = await this.readStream(stream);
    } finally {
      metrics.streamsOpen.dec();
      signal.removeEventListener('abort', onAbort);
      stream.destroy();
    }
    await this.log.emitted();
    if (signal.aborted) return { name: 'stopped' };
    if (end.broken !== undefined) {
      this.log.rewind(false);
      this.reason = 'stream_broken';
      this.deps.logger.debug({ container: this.log.name, err: errorMessage(end.broken) }, 'log stream broke; reading on from the last line');
      // Bytes out of step are not progress: a daemon that keeps sending them is asked again with backoff, not in a loop.
      if (end.progressed && !(end.broken instanceof DemuxError)) this.pacer.reset();
      else this.pacer.slowDown();
      if (!(await this.deps.daemon.ping())) this.deps.daemon.reportFailure(end.broken);
      return { name: 'waitForDaemon' };
    }
    this.reason = 'stream_ended';
    const endedAt = Date.now();
    const steady = endedAt - openedAt >= STEADY_STREAM_MS;
    if (state.kind === 'drain') return { name: 'decide', run, after: await state.after, steady: state.steady };
    if (run.running) return { name: 'drain', run, steady, endedAt };
    return this.afterStoppedRead(run, steady, endedAt);
  }

  /**
   * A stream opened on a container seen stopped read its log to the end: no run ended under it,
   * unless one started between the inspect and the open (docker start) and ended under the stream,
   * its last words perhaps still missing as for any followed run: then it is drained too. A line
   * stamped well after the inspected run's end shows that at once; a new run that wrote no whole
   * line shows in the next inspect, and `decide` reads it.
   */
  private async afterStoppedRead(run: RunInfo, steady: boolean, endedAt: number): Promise<State> {
    if (this.log.readPast(run.finishedAt, NEW_RUN_MARGIN_MS)) return { name: 'drain', run, steady, endedAt };
    return { name: 'decide', run, after: await this.inspectOr(run), steady };
  }

  /**
   * After a drain (or a read of a stopped container): whether the run it read is over decides what
   * comes next. A new run is never taken as read by a read that went out with the inspect that
   * showed it (the read may be answered before its lines, the inspect after its exit): one already
   * over is drained now, one running is followed.
   */
  private async decide(run: RunInfo, after: RunInfo | undefined, steady: boolean): Promise<State> {
    if (!after) return this.gone();
    this.log.setTty(after.tty);
    if (!after.running && after.startedAt === run.startedAt) {
      // Stopped, and the log was read after its run ended: read whole.
      this.log.endRun();
      return { name: 'settleRun', run: after };
    }
    this.log.rewind(true);
    // A new run already over (docker start of a short job, perhaps removed next): read at once, whole, as it was over before this read.
    if (!after.running) return { name: 'drain', run: after, steady, endedAt: Date.now() };
    // The run goes on, or a new one began (restart policy, docker start): follow it; a crash loop must not make us spin.
    if (steady) this.pacer.reset();
    else this.pacer.slowDown();
    return { name: 'open', run: after };
  }

  /** The run is read whole; held multiline records complete once their time has passed with no new run. */
  private async settleRun(run: RunInfo): Promise<State> {
    const due = this.log.groupsDueAt();
    if (due === undefined) return { name: 'finished', run };
    await sleep(Math.max(0, due - Date.now()), this.deps.signal);
    if (this.deps.signal.aborted) return { name: 'stopped' };
    let now: RunInfo | undefined;
    try {
      now = await this.deps.daemon.inspect(this.log.id);
    } catch (error) {
      return this.daemonTrouble(error);
    }
    if (now && now.startedAt !== run.startedAt) return { name: 'open', run: now };
    this.log.completeGroups();
    return now ? { name: 'finished', run } : { name: 'removed' };
  }

  /**
   * A log request found the container gone (404) or marked for removal (409). A refused `docker rm`
   * of a running or restarting container marks it for a moment too, so an inspect decides: running,
   * it is followed on; else it is given up (a dead container answers 409 for good), and a run whose
   * end was not read (`endUnread`: a drain, or a reopen after an earlier stream) is counted.
   */
  private async refused(endUnread: boolean): Promise<State> {
    let now: RunInfo | undefined;
    try {
      now = await this.deps.daemon.inspect(this.log.id);
    } catch (error) {
      return this.daemonTrouble(error);
    }
    if (now?.running) {
      this.pacer.slowDown();
      return { name: 'open', run: now };
    }
    if (endUnread) this.deps.endUnread();
    return this.gone();
  }

  /** The container is gone (or being removed): what was read is all there will ever be. */
  private gone(): State {
    this.log.endRun();
    this.log.completeGroups();
    return { name: 'removed' };
  }

  private async inspectOr(fallback: RunInfo): Promise<RunInfo | undefined> {
    try {
      return await this.deps.daemon.inspect(this.log.id);
    } catch {
      return fallback;
    }
  }

  /** A request failed: connection-level failures take the daemon down (it is probed until back). */
  private async daemonTrouble(error: unknown): Promise<State> {
    const { signal, logger } = this.deps;
    if (signal.aborted) return { name: 'stopped' };
    if (statusCode(error) === undefined) {
      this.deps.daemon.reportFailure(error);
    } else {
      logger.warn({ container: this.log.name, err: errorMessage(error) }, 'reading container logs failed; retrying');
      this.deps.countRequestError();
    }
    this.pacer.slowDown();
    await this.pacer.wait(signal);
    return { name: 'waitForDaemon' };
  }

  /**
   * Reads one stream to its end. The daemon sends every log message as its own HTTP chunk; the
   * stream hands on each chunk's bytes as a range of the socket read that brought it: they are parsed
   * as they come and sealed into one batch SEAL_AFTER_MS after the first (or at MAX_BATCH_RECORDS or
   * MAX_BATCH_BYTES).
   * While an earlier batch still waits for room in the pipeline the stream is paused: the socket
   * stops being read and the daemon waits.
   */
  private readStream(stream: LogStream): Promise<StreamEnd> {
    const log = this.log;
    return new Promise((resolve) => {
      let done = false;
      let scheduled: NodeJS.Timeout | undefined;
      let progressed = false;
      let unsealedBytes = 0;
      const seal = () => {
        scheduled = undefined;
        unsealedBytes = 0;
        if (log.unsealed > 0) progressed = true;
        log.seal();
        if (log.inFlight > 1 && !done && !stream.isPaused) {
          stream.pause();
          log.setLive(false);
          void log.emitted().then(() => {
            if (done) return;
            log.setLive(true);
            stream.resume();
          });
        }
      };
      const bytes = (buf: Buffer, start: number, end: number) => {
        if (done) return;
        try {
          log.parse(buf, start, end);
        } catch (error) {
          // A stream out of step (DemuxError): it is broken here, read again from the last line.
          stream.destroy();
          finish(error);
          return;
        }
        unsealedBytes += end - start;
        if (log.unsealed >= MAX_BATCH_RECORDS || unsealedBytes >= MAX_BATCH_BYTES) {
          if (scheduled) clearTimeout(scheduled);
          seal();
        } else {
          scheduled ??= setTimeout(seal, SEAL_AFTER_MS);
        }
      };
      const finish = (broken: unknown) => {
        if (done) return;
        done = true;
        if (scheduled) clearTimeout(scheduled);
        if (log.unsealed > 0) progressed = true;
        log.seal();
        log.setLive(false);
        resolve({ broken, progressed });
      };
      log.setLive(true);
      stream.read({ bytes, end: finish });
    });
  }
}
