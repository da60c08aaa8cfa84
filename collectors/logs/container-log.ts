/**
 * One container's log: follows `GET /containers/{id}/logs?follow=1&timestamps=1&since=…`, turns the
 * bytes into records, emits them batch by batch (awaiting room in the pipeline before reading on:
 * backpressure reaches the daemon, which keeps the lines in its log file), and moves the
 * checkpoint as batches are stored. The object outlives a single stream: when a stream ends while
 * the container still runs, or breaks, the next stream starts where this one left off.
 */
import { isUtf8 } from 'node:buffer';
import type { Readable } from 'node:stream';
import type { CollectorContext } from '../../src/component.js';
import { toEpochSeconds } from '../../src/docker/inventory.js';
import { errorMessage } from '../../src/errors.js';
import type { ContainerMeta, LogRecord } from '../../src/records.js';
import { Backoff, sleep } from '../../src/util/backoff.js';
import { AckTracker, alreadyDelivered, type ResumePoint, type StreamPosition } from './checkpoints.js';
import { DemuxError, FrameDemuxer } from './demux.js';
import type { Processing } from './filters.js';
import { parseJsonObject } from './json.js';
import { LineAssembler, STREAM_NAMES, TtySplitter, type LineSink, type StreamIndex } from './lines.js';
import type { LogsMetrics } from './metrics.js';
import { MultilineJoiner, type LogLine } from './multiline.js';
import { formatSince } from './timestamp.js';

export interface ContainerLogSettings {
  readonly maxLineBytes: number;
  readonly reorderWindowNs: bigint;
}

export type FollowOutcome =
  | { readonly kind: 'finished'; readonly startedAt: number }
  | { readonly kind: 'removed'; readonly opened: boolean }
  | { readonly kind: 'stopped' };

/** A batch is sealed early when one turn of the event loop brings more lines than this. */
const MAX_BATCH_RECORDS = 4096;

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type Batch = ReturnType<AckTracker['open']>;

interface InspectSummary {
  readonly running: boolean;
  readonly tty: boolean;
  /** Epoch seconds, as the inventory has them: tells one run of the container from the next. */
  readonly startedAt: number;
}

class RunningIndex {
  time = -1n;
  count = 0;
}

export class ContainerLog implements LineSink {
  readonly tracker: AckTracker;
  private meta: ContainerMeta;
  private processing: Processing;
  private joiner: MultilineJoiner | undefined;
  /** Per stream, the head of the record id `<container id>:<stream>:<time ns>:<index among the stream's lines at that time>`. */
  private readonly idPrefix: readonly [string, string];
  private tty = false;
  private readonly demux = new FrameDemuxer();
  private readonly ttySplitter = new TtySplitter();
  private assembler: LineAssembler;
  private resumeAt: ResumePoint;
  // Last line handed to a batch, per stream (time, index + 1).
  private readonly emittedTime: [bigint | undefined, bigint | undefined];
  private readonly emittedCount: [number, number];
  private readonly current: readonly [RunningIndex, RunningIndex] = [new RunningIndex(), new RunningIndex()];
  private readonly caughtUp: [boolean, boolean] = [false, false];
  private maxReadTime: bigint | undefined;
  private records: LogRecord[] = [];
  private batch: Batch | undefined;
  private batchLastTime: bigint | undefined;
  private readonly batchLines: [number, number] = [0, 0];
  private readonly batchBytes: [number, number] = [0, 0];
  private batchMerges = 0;
  private batchTruncated = 0;
  private batchInvalid = 0;
  private batchReplacedUpstream = 0;
  private batchSkipped = 0;
  private batchMultiline = 0;
  private readonly completed: LogLine[] = [];
  private chain: Promise<void> = Promise.resolve();
  /** Batches sealed but not yet queued in the pipeline. */
  private inFlight = 0;
  private flushTimer: NodeJS.Timeout | undefined;
  private removed = false;
  /** Counters for /status. */
  readonly totals = { lines: 0, bytes: 0, streams: 0, skipped: 0, emitFailures: 0 };
  /** StartedAt (epoch seconds) of the run read to its end, once it has been. */
  finishedStartedAt: number | undefined;

  constructor(
    readonly id: string,
    start: ResumePoint,
    private readonly ctx: CollectorContext,
    private readonly metrics: LogsMetrics,
    private readonly settings: ContainerLogSettings,
    processing: Processing,
    onCommit: (point: ResumePoint) => void,
  ) {
    this.meta = ctx.inventory.meta(id);
    this.processing = processing;
    this.joiner = processing.multiline ? new MultilineJoiner(processing.multiline) : undefined;
    this.idPrefix = [`${id}:stdout:`, `${id}:stderr:`];
    this.resumeAt = start;
    this.emittedTime = [start.streams[0]?.time, start.streams[1]?.time];
    this.emittedCount = [start.streams[0]?.count ?? 0, start.streams[1]?.count ?? 0];
    this.assembler = new LineAssembler(this, settings.maxLineBytes, false);
    this.tracker = new AckTracker(start, (point) => {
      if (!this.removed) onCommit(point);
    });
  }

  get name(): string {
    return this.meta.name;
  }

  /** New processing settings (labels or config); the multiline state is kept when unchanged. */
  setProcessing(processing: Processing): void {
    this.processing = processing;
    if (processing.multiline !== this.joiner?.settings && !this.joiner?.holding) {
      this.joiner = processing.multiline ? new MultilineJoiner(processing.multiline) : undefined;
    }
  }

  markRemoved(): void {
    this.removed = true;
  }

  /**
   * Follows the log until the container's run has been read to its end, the container is gone, or
   * the collector stops. Never throws for daemon trouble: it waits for the daemon and goes on.
   */
  async follow(): Promise<FollowOutcome> {
    const { ctx } = this;
    const signal = ctx.signal;
    const backoff = new Backoff({ initialMs: 100, maxMs: 5000 });
    let opened = false;
    let reason = this.resumeAt.since > 0n || this.resumeAt.streams.some(Boolean) ? 'checkpoint' : undefined;
    while (!signal.aborted) {
      await ctx.docker.waitUntilUp(signal);
      if (signal.aborted) break;
      let before: InspectSummary;
      let stream: Readable;
      const abort = new AbortController();
      const onAbort = () => abort.abort();
      try {
        before = await this.inspect();
        this.setTty(before.tty);
        this.meta = ctx.inventory.meta(this.id);
        stream = (await ctx.docker.docker.getContainer(this.id).logs({
          follow: true, stdout: true, stderr: true, timestamps: true, since: formatSince(this.resumeAt.since), abortSignal: abort.signal,
        } as never)) as unknown as Readable;
      } catch (error) {
        if (signal.aborted) break;
        if (statusCode(error) === 404) return { kind: 'removed', opened };
        await this.daemonTrouble(error, backoff);
        continue;
      }
      if (signal.aborted) {
        // Stopped while the request was under way: nobody would abort this stream, which follows a running container.
        stream.destroy();
        break;
      }
      opened = true;
      if (reason) this.metrics.resumes.inc({ reason });
      ctx.logger.debug({ container: this.meta.name, id: this.id, since: formatSince(this.resumeAt.since), reason: reason ?? 'start', running: before.running }, 'following container log');
      this.totals.streams++;
      this.startStream();
      signal.addEventListener('abort', onAbort, { once: true });
      this.metrics.streamsOpen.inc();
      let result: { broken: unknown; readAny: boolean };
      try {
        result = await this.readStream(stream);
      } finally {
        this.metrics.streamsOpen.dec();
        signal.removeEventListener('abort', onAbort);
        stream.destroy();
      }
      const { broken, readAny } = result;
      await this.chain;
      if (signal.aborted) break;
      if (broken === undefined && !before.running) {
        // The container was not running when this stream opened, and the stream ended by itself: its run is read whole.
        this.finishRun();
        await this.chain;
        this.finishedStartedAt = before.startedAt;
        return { kind: 'finished', startedAt: before.startedAt };
      }
      // Ended while the container ran (stopped, restarting) or broke: read on from here.
      this.rewindForNextStream();
      await this.chain;
      if (broken !== undefined) {
        reason = 'stream_broken';
        ctx.logger.debug({ container: this.meta.name, err: errorMessage(broken) }, 'log stream broke; reading on from the last line');
        await this.checkDaemon(broken);
      } else {
        reason = 'stream_ended';
      }
      // Bytes out of step are not progress: a daemon that keeps sending them is asked again with backoff, not in a loop.
      if (readAny && !(broken instanceof DemuxError)) backoff.reset();
      else await sleep(backoff.nextDelayMs(), signal);
    }
    this.clearFlushTimer();
    return { kind: 'stopped' };
  }

  /** Resolves once every batch made so far has been handed to the pipeline. */
  emitted(): Promise<void> {
    return this.chain;
  }

  /** Where the next stream starts. */
  get resumePoint(): ResumePoint {
    return this.resumeAt;
  }

  /** Resolves once every batch emitted so far is stored. */
  idle(): Promise<void> {
    return this.chain.then(() => this.tracker.idle());
  }

  // The stream-handling steps below are public so unit tests can drive them with recorded bytes.

  /** A new stream begins (at `resumeAt.since`): per-stream line counting restarts. */
  startStream(): void {
    this.demux.reset();
    this.ttySplitter.reset();
    this.current[0].time = -1n;
    this.current[1].time = -1n;
    this.caughtUp[0] = this.resumeAt.streams[0] === undefined;
    this.caughtUp[1] = this.resumeAt.streams[1] === undefined;
  }

  setTty(tty: boolean): void {
    if (tty === this.tty) return;
    this.tty = tty;
    this.assembler = new LineAssembler(this, this.settings.maxLineBytes, tty);
  }

  /** One chunk of the stream: records are made and queued for emission (await `emitted()` before reading on). */
  consume(chunk: Buffer): void {
    this.parse(chunk);
    this.sealAndEmit();
  }

  private parse(chunk: Buffer): void {
    if (this.tty) this.ttySplitter.push(chunk, this.assembler);
    else this.demux.push(chunk, this.assembler);
  }

  /**
   * Reads one stream to its end. The daemon sends every log message as its own HTTP chunk, so data
   * events come one line at a time: they are parsed as they come and sealed into one batch per
   * event-loop turn (everything one socket read brought). While an earlier batch still waits for
   * room in the pipeline the stream is paused: the socket stops being read and the daemon waits.
   */
  private readStream(stream: Readable): Promise<{ broken: unknown; readAny: boolean }> {
    return new Promise((resolve) => {
      let readAny = false;
      let done = false;
      let scheduled: NodeJS.Immediate | undefined;
      const seal = () => {
        scheduled = undefined;
        this.sealAndEmit();
        if (this.inFlight > 1 && !done && !stream.isPaused()) {
          stream.pause();
          void this.chain.then(() => { if (!done) stream.resume(); });
        }
      };
      const onData = (chunk: Buffer) => {
        readAny = true;
        try {
          this.parse(chunk);
        } catch (error) {
          // A stream out of step (DemuxError): thrown from a 'data' listener it would be an uncaught exception.
          stream.destroy();
          finish(error);
          return;
        }
        if (this.records.length >= MAX_BATCH_RECORDS) {
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
        this.sealAndEmit();
        stream.off('data', onData);
        resolve({ broken, readAny });
      };
      stream.on('data', onData);
      stream.once('end', () => finish(undefined));
      stream.once('error', (error) => finish(error));
      stream.once('close', () => finish(stream.readableEnded ? undefined : new Error('log stream closed before its end')));
    });
  }

  /** The run is over: unfinished lines are final, held multiline records complete. */
  finishRun(): void {
    if (this.tty) this.ttySplitter.end(this.assembler);
    this.assembler.flushPending();
    this.flushJoiner();
    this.sealAndEmit();
    this.clearFlushTimer();
    // A stream opened while the container was stopped may still have followed a run that started
    // meanwhile (the daemon decides to follow when the request arrives): the next run's stream
    // must start after everything this one handed on.
    this.resumeAt = this.snapshot();
  }

  /** The next stream starts at the first line not yet handed on; unfinished lines are read again. */
  rewindForNextStream(): void {
    this.flushJoiner();
    this.sealAndEmit();
    this.clearFlushTimer();
    this.resumeAt = this.snapshot();
    this.assembler.dropPending();
    this.demux.reset();
    this.ttySplitter.reset();
  }

  // LineSink: the hot path, once per line.
  line(stream: StreamIndex, time: bigint, buf: Buffer, start: number, end: number, pieces: number, truncated: boolean): void {
    const current = this.current[stream]!;
    let index: number;
    if (time === current.time) {
      index = current.count++;
    } else {
      current.time = time;
      current.count = 1;
      index = 0;
    }
    if (this.maxReadTime === undefined || time > this.maxReadTime) this.maxReadTime = time;
    if (!this.caughtUp[stream]) {
      if (alreadyDelivered(this.resumeAt.streams[stream], time, index)) {
        this.batchSkipped++;
        return;
      }
      this.caughtUp[stream] = true;
    }
    const message = buf.toString('utf8', start, end);
    const bytes = end - start;
    if (message.indexOf('\uFFFD') !== -1) {
      if (isUtf8(buf.subarray(start, end))) this.batchReplacedUpstream++;
      else this.batchInvalid++;
    }
    if (pieces > 1) this.batchMerges++;
    if (truncated) this.batchTruncated++;
    this.batchLines[stream]++;
    this.batchBytes[stream] += bytes;
    if (this.joiner) {
      this.joiner.push({ stream, time, index, lastTime: time, lastIndex: index, message, bytes, truncated }, this.completed);
      this.drainCompleted();
    } else {
      this.addRecord(stream, time, index, time, index, message, truncated);
    }
  }

  private drainCompleted(): void {
    for (const l of this.completed) {
      if (l.lastTime !== l.time || l.lastIndex !== l.index) this.batchMultiline++;
      this.addRecord(l.stream, l.time, l.index, l.lastTime, l.lastIndex, l.message, l.truncated);
    }
    this.completed.length = 0;
  }

  private addRecord(stream: StreamIndex, time: bigint, index: number, lastTime: bigint, lastIndex: number, message: string, truncated: boolean): void {
    if (!this.batch) {
      this.batch = this.tracker.open();
      // A rename (or a late inventory entry) shows from the next batch on.
      this.meta = this.ctx.inventory.get(this.id)?.meta ?? this.meta;
    }
    const record: Mutable<LogRecord> = {
      kind: 'log',
      id: `${this.idPrefix[stream]}${time}:${index}`,
      time,
      stream: STREAM_NAMES[stream],
      message,
      container: this.meta,
      ack: this.batch.ack,
    };
    if (truncated) record.truncated = true;
    if (this.processing.json) {
      const json = parseJsonObject(message);
      if (json) record.json = json;
    }
    this.records.push(record);
    this.emittedTime[stream] = lastTime;
    this.emittedCount[stream] = lastIndex + 1;
    if (this.batchLastTime === undefined || lastTime > this.batchLastTime) this.batchLastTime = lastTime;
  }

  private flushJoiner(): void {
    if (!this.joiner?.holding) return;
    this.joiner.flush(this.completed);
    this.drainCompleted();
  }

  /**
   * Where a new stream must start if everything handed on so far is stored: per stream the last
   * line handed on, and `since` no later than any line not yet handed on — an unfinished line, a
   * held multiline record, or an unread line, which the reorder window bounds from below.
   */
  private snapshot(): ResumePoint {
    let since = this.maxReadTime === undefined ? this.resumeAt.since : this.maxReadTime - this.settings.reorderWindowNs;
    for (const stream of [0, 1] as const) {
      const pending = this.assembler.pendingTime(stream);
      if (pending !== undefined && pending < since) since = pending;
      const held = this.joiner?.heldTime(stream);
      if (held !== undefined && held < since) since = held;
    }
    if (since < this.resumeAt.since) since = this.resumeAt.since;
    return { since, streams: [this.position(0), this.position(1)] };
  }

  private position(stream: StreamIndex): StreamPosition | undefined {
    const time = this.emittedTime[stream];
    return time === undefined ? undefined : { time, count: this.emittedCount[stream] };
  }

  /** Closes the current batch (if any) and queues it for emission behind earlier ones. */
  private sealAndEmit(): void {
    this.countBatch();
    if (this.joiner?.holding) this.armFlushTimer();
    const batch = this.batch;
    if (!batch) return;
    this.tracker.seal(batch, this.snapshot(), this.batchLastTime);
    const records = this.records;
    this.records = [];
    this.batch = undefined;
    this.batchLastTime = undefined;
    this.totals.lines += records.length;
    this.inFlight++;
    this.chain = this.chain.then(() => this.deliver(records, batch));
  }

  private async deliver(records: LogRecord[], batch: Batch): Promise<void> {
    try {
      await this.ctx.emit(records);
    } catch (error) {
      this.inFlight--;
      // Never release a batch that was not queued: its checkpoint must not move (the lines come again next start).
      this.totals.emitFailures++;
      this.ctx.logger.error({ container: this.meta.name, err: errorMessage(error) }, 'emitting log records failed');
      return;
    }
    this.inFlight--;
    batch.ack.release();
  }

  private countBatch(): void {
    const container = this.meta.name;
    for (const stream of [0, 1] as const) {
      if (this.batchLines[stream] === 0) continue;
      const labels = { container, stream: STREAM_NAMES[stream] };
      this.metrics.lines.inc(labels, this.batchLines[stream]);
      this.metrics.bytes.inc(labels, this.batchBytes[stream]);
      this.totals.bytes += this.batchBytes[stream];
      this.batchLines[stream] = 0;
      this.batchBytes[stream] = 0;
    }
    if (this.batchMerges) this.metrics.partialMerges.inc({ container }, this.batchMerges);
    if (this.batchTruncated) this.metrics.truncated.inc({ container }, this.batchTruncated);
    if (this.batchInvalid) this.metrics.invalidUtf8.inc({ container, replaced_by: 'agent' }, this.batchInvalid);
    if (this.batchReplacedUpstream) this.metrics.invalidUtf8.inc({ container, replaced_by: 'upstream' }, this.batchReplacedUpstream);
    if (this.batchMultiline) this.metrics.multilineRecords.inc({ container }, this.batchMultiline);
    if (this.batchSkipped) {
      this.metrics.replaySkipped.inc({ container }, this.batchSkipped);
      this.totals.skipped += this.batchSkipped;
    }
    this.batchMerges = this.batchTruncated = this.batchInvalid = this.batchReplacedUpstream = this.batchMultiline = this.batchSkipped = 0;
  }

  private armFlushTimer(): void {
    if (this.flushTimer || !this.joiner) return;
    const timeout = this.joiner.settings.timeoutMs;
    const check = () => {
      this.flushTimer = undefined;
      if (!this.joiner?.holding) return;
      const idle = Date.now() - this.joiner.lastAddedAt;
      if (idle < timeout) {
        this.flushTimer = setTimeout(check, timeout - idle);
        return;
      }
      this.flushJoiner();
      this.sealAndEmit();
    };
    this.flushTimer = setTimeout(check, timeout);
  }

  private clearFlushTimer(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
  }

  private async inspect(): Promise<InspectSummary> {
    const info = await this.ctx.docker.docker.getContainer(this.id).inspect();
    const state = info.State;
    return {
      running: state.Running || state.Restarting || state.Paused,
      tty: info.Config?.Tty ?? false,
      // The same conversion as the inventory's: a finished run is recognised by comparing the two.
      startedAt: toEpochSeconds(state.StartedAt),
    };
  }

  /** A request failed: connection-level failures take the daemon down (it is probed until back). */
  private async daemonTrouble(error: unknown, backoff: Backoff): Promise<void> {
    if (statusCode(error) === undefined) {
      this.ctx.docker.reportFailure(error);
    } else {
      this.ctx.logger.warn({ container: this.meta.name, err: errorMessage(error) }, 'reading container logs failed; retrying');
      this.ctx.metrics.errors.inc({ component: 'logs', kind: 'logs_request' });
    }
    await sleep(backoff.nextDelayMs(), this.ctx.signal);
  }

  /** After a broken stream: if the daemon does not answer, report it so everyone waits for it. */
  private async checkDaemon(cause: unknown): Promise<void> {
    try {
      await this.ctx.docker.docker.ping();
    } catch {
      this.ctx.docker.reportFailure(cause);
    }
  }
}

function statusCode(error: unknown): number | undefined {
  const code = (error as { statusCode?: unknown } | undefined)?.statusCode;
  return typeof code === 'number' ? code : undefined;
}
