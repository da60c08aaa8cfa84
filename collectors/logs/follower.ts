/**
 * Follows one container's log through the daemon, stream after stream, as explicit states:
 *
 *   waitForDaemon → inspect → open → read → ended ─┬→ open        (same run goes on: rewind; a new run; a stopped run read again)
 *        ↑                                         ├→ settleRun → finished | open | removed
 *        └──────── (daemon trouble, stream broke) ─┴→ removed
 *
 * and `stopped` from anywhere when the collector stops. A stream is opened at most a few times a
 * second: one that ends at once (a restarting container, a crash loop) makes the next wait longer.
 */
import type { Readable } from 'node:stream';
import { errorMessage } from '../../src/errors.js';
import type { Logger } from '../../src/telemetry/logger.js';
import { Backoff, sleep } from '../../src/util/backoff.js';
import type { ContainerLog } from './container-log.js';
import { runOver, statusCode, type LogDaemon, type RunInfo } from './daemon.js';
import { DemuxError } from './demux.js';
import type { LogsMetrics } from './metrics.js';
import { formatSince } from './timestamp.js';

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
}

/** A batch is sealed early when one turn of the event loop brings more lines than this. */
const MAX_BATCH_RECORDS = 4096;
/** A stream open at least this long was a real follow: the next one may open at once. */
const STEADY_STREAM_MS = 1000;

type State =
  | { readonly name: 'waitForDaemon' }
  | { readonly name: 'inspect' }
  | { readonly name: 'open'; readonly run: RunInfo }
  | { readonly name: 'read'; readonly run: RunInfo; readonly stream: Readable; readonly abort: AbortController }
  | { readonly name: 'ended'; readonly run: RunInfo; readonly openedAt: number }
  | { readonly name: 'settleRun'; readonly run: RunInfo }
  | { readonly name: 'finished'; readonly run: RunInfo }
  | { readonly name: 'removed' }
  | { readonly name: 'stopped' };

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

  /** The next stream may open at once. */
  now(): void {
    this.delayMs = 0;
  }

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
  async follow(): Promise<FollowOutcome> {
    this.opened = false;
    let state: State = { name: 'waitForDaemon' };
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
      case 'read': return this.read(state.run, state.stream, state.abort);
      case 'ended': return this.ended(state.run, state.openedAt);
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
    if (!run) return { name: 'removed' };
    this.log.setTty(run.tty);
    return { name: 'open', run };
  }

  private async open(run: RunInfo): Promise<State> {
    const { daemon, signal } = this.deps;
    await this.pacer.wait(signal);
    if (signal.aborted) return { name: 'stopped' };
    const abort = new AbortController();
    const since = this.log.resumePoint.since;
    let stream: Readable | undefined;
    try {
      stream = await daemon.openLogs(this.log.id, since, abort.signal);
    } catch (error) {
      return this.daemonTrouble(error);
    }
    if (!stream) return { name: 'removed' };
    if (signal.aborted) {
      // Stopped while the request was under way: nobody would abort this stream, which may follow a running container.
      stream.destroy();
      return { name: 'stopped' };
    }
    this.opened = true;
    if (this.reason) this.deps.metrics.resumes.inc({ reason: this.reason });
    this.deps.logger.debug({ container: this.log.name, id: this.log.id, since: formatSince(since), reason: this.reason ?? 'start', running: run.running }, 'following container log');
    return { name: 'read', run, stream, abort };
  }

  private async read(run: RunInfo, stream: Readable, abort: AbortController): Promise<State> {
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
    if (end.broken === undefined) return { name: 'ended', run, openedAt };
    this.log.rewind();
    this.reason = 'stream_broken';
    this.deps.logger.debug({ container: this.log.name, err: errorMessage(end.broken) }, 'log stream broke; reading on from the last line');
    // Bytes out of step are not progress: a daemon that keeps sending them is asked again with backoff, not in a loop.
    if (end.progressed && !(end.broken instanceof DemuxError)) this.pacer.reset();
    else this.pacer.slowDown();
    if (!(await this.deps.daemon.ping())) this.deps.daemon.reportFailure(end.broken);
    return { name: 'waitForDaemon' };
  }

  /** The stream ended by itself: whether the run it followed is over decides what its unfinished last line is. */
  private async ended(run: RunInfo, openedAt: number): Promise<State> {
    let after: RunInfo | undefined;
    try {
      after = await this.deps.daemon.inspect(this.log.id);
    } catch (error) {
      this.log.rewind();
      return this.daemonTrouble(error);
    }
    this.reason = 'stream_ended';
    const steady = Date.now() - openedAt >= STEADY_STREAM_MS;
    if (!after) {
      // Gone (docker run --rm, compose down): what was read is all there will ever be.
      this.log.endRun();
      this.log.completeGroups();
      return { name: 'removed' };
    }
    this.log.setTty(after.tty);
    if (!runOver(run, after)) {
      this.log.rewind();
      if (steady) this.pacer.reset();
      else this.pacer.slowDown();
      return { name: 'open', run: after };
    }
    this.log.endRun();
    const stopped = !after.running && after.startedAt === run.startedAt;
    // Opened on a stopped container and ended: the run is read whole.
    if (stopped && !run.running) return { name: 'settleRun', run: after };
    if (stopped) this.pacer.now(); // read the stopped run once more to its end, at once
    else if (steady) this.pacer.reset();
    else this.pacer.slowDown(); // restarting, or a new run already: a crash loop must not make us spin
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
   * Reads one stream to its end. The daemon sends every log message as its own HTTP chunk, so data
   * events come one line at a time: they are parsed as they come and sealed into one batch per
   * event-loop turn (everything one socket read brought). While an earlier batch still waits for
   * room in the pipeline the stream is paused: the socket stops being read and the daemon waits.
   */
  private readStream(stream: Readable): Promise<StreamEnd> {
    const log = this.log;
    return new Promise((resolve) => {
      let done = false;
      let scheduled: NodeJS.Immediate | undefined;
      let progressed = false;
      const seal = () => {
        scheduled = undefined;
        if (log.unsealed > 0) progressed = true;
        log.seal();
        if (log.inFlight > 1 && !done && !stream.isPaused()) {
          stream.pause();
          log.setLive(false);
          void log.emitted().then(() => {
            if (done) return;
            log.setLive(true);
            stream.resume();
          });
        }
      };
      const onData = (chunk: Buffer) => {
        try {
          log.parse(chunk);
        } catch (error) {
          // A stream out of step (DemuxError): thrown from a 'data' listener it would be an uncaught exception.
          stream.destroy();
          finish(error);
          return;
        }
        if (log.unsealed >= MAX_BATCH_RECORDS) {
          if (scheduled) clearImmediate(scheduled);
          seal();
        } else {
          scheduled ??= setImmediate(seal);
        }
      };
      const finish = (broken: unknown) => {
        if (done) return;
        done = true;
        if (scheduled) clearImmediate(scheduled);
        if (log.unsealed > 0) progressed = true;
        log.seal();
        log.setLive(false);
        stream.off('data', onData);
        resolve({ broken, progressed });
      };
      log.setLive(true);
      stream.on('data', onData);
      stream.once('end', () => finish(undefined));
      stream.once('error', (error) => finish(error));
      stream.once('close', () => finish(stream.readableEnded ? undefined : new Error('log stream closed before its end')));
    });
  }
}
