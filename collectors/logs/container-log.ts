/**
 * One container's log as lines: the bytes of its streams (one after the other: a stream ends, breaks,
 * or the container runs again) become records, exactly once each. The parts: frames or TTY bytes →
 * LineAssembler (whole lines) → per-stream StreamCursor (index, or skip a line handed on already) →
 * MultilineJoiner (optional) → RecordBatcher (batches, acknowledgements, checkpoints).
 *
 * How a stream ends decides what happens to what is unfinished (a long line's pieces so far, a TTY
 * message without newline, held multiline records):
 * - `rewind()`: it is read again from the next stream (whose `since` stays at or before it). It is
 *   kept until that stream starts: if none can (the container is gone), `endRun()` still has it.
 * - `endRun()`: the run is over, so an unfinished line is its last line, complete as it is
 *   (shipped once, even if the container is removed right after).
 */
import { isUtf8 } from 'node:buffer';
import { RecordBatcher, type BatchOutput } from './batcher.js';
import { AckTracker, type ResumePoint } from './checkpoints.js';
import { SKIP, StreamCursor } from './cursor.js';
import { FrameDemuxer } from './demux.js';
import type { Processing } from './filters.js';
import { LineAssembler, TtySplitter, type LineSink, type StreamIndex } from './lines.js';
import { LineCounters, type LogsMetrics } from './metrics.js';
import { MultilineJoiner, type LogLine } from './multiline.js';
import { nanosFromMs } from './timestamp.js';

export interface ContainerLogSettings {
  readonly maxLineBytes: number;
  /** How far the daemon's stdout and stderr timestamps may run out of order in its log file. */
  readonly reorderWindowNs: bigint;
}

export interface LogOutput extends BatchOutput {
  readonly metrics: LogsMetrics;
  /** A resume point whose every line is stored. */
  onCommit(point: ResumePoint): void;
  /** Milliseconds, for multiline timing; Date.now by default. */
  readonly now?: () => number;
}

/**
 * How long a held multiline record waits, beyond its timeout, for a line already stamped by the
 * daemon but still on its way (log file, reader, socket) before time alone completes it.
 */
export const MULTILINE_TRANSIT_MARGIN_MS = 1000;

export class ContainerLog implements LineSink {
  readonly tracker: AckTracker;
  private readonly batcher: RecordBatcher;
  private readonly cursors: readonly [StreamCursor, StreamCursor];
  private processing: Processing;
  private joiner: MultilineJoiner | undefined;
  private tty = false;
  private readonly demux = new FrameDemuxer();
  private readonly ttySplitter = new TtySplitter();
  private assembler: LineAssembler;
  private resumeAt: ResumePoint;
  private maxReadTime: bigint | undefined;
  private readonly counters = new LineCounters();
  private readonly completed: LogLine[] = [];
  private removed = false;
  /** What is unfinished was left for the next stream to read again (see rewind). */
  private readAgain = false;
  private readonly now: () => number;
  /** When the latest bytes arrived (multiline only). */
  private lastReceivedAt = 0;
  /** Since when a stream is read without pause; undefined while none is (paused, between streams). */
  private liveSince: number | undefined;
  private groupTimer: NodeJS.Timeout | undefined;
  /** StartedAt (epoch seconds) of the run read to its end, once it has been. */
  finishedStartedAt: number | undefined;
  /**
   * The most the daemon's stamps ran ahead of this host's clock as they were read (ms, 0 at least):
   * the daemon's clock's lead, less a read's delay. A remote daemon, or a VM's drifted clock.
   */
  daemonClockAheadMs = 0;

  constructor(
    readonly id: string,
    start: ResumePoint,
    private readonly output: LogOutput,
    private readonly settings: ContainerLogSettings,
    processing: Processing,
  ) {
    this.now = output.now ?? Date.now;
    this.processing = processing;
    this.joiner = processing.multiline ? new MultilineJoiner(processing.multiline) : undefined;
    this.resumeAt = start;
    this.cursors = [new StreamCursor(start.streams[0]), new StreamCursor(start.streams[1])];
    this.assembler = new LineAssembler(this, settings.maxLineBytes, false);
    this.tracker = new AckTracker(start, (point) => {
      if (!this.removed) output.onCommit(point);
    });
    this.batcher = new RecordBatcher(id, start, this.tracker, output);
    this.batcher.json = processing.json;
  }

  get name(): string {
    return this.batcher.name;
  }

  /** Where the next stream starts. */
  get resumePoint(): ResumePoint {
    return this.resumeAt;
  }

  /** Records made but not yet sealed into a batch. */
  get unsealed(): number {
    return this.batcher.size;
  }

  /** Batches sealed but not yet queued in the pipeline. */
  get inFlight(): number {
    return this.batcher.inFlight;
  }

  /** New processing settings (labels or config); the multiline state is kept when unchanged. */
  setProcessing(processing: Processing): void {
    this.processing = processing;
    this.batcher.json = processing.json;
    if (processing.multiline !== this.joiner?.settings && !this.joiner?.holding) {
      this.joiner = processing.multiline ? new MultilineJoiner(processing.multiline) : undefined;
    }
  }

  get isTty(): boolean {
    return this.tty;
  }

  setTty(tty: boolean): void {
    if (tty === this.tty) return;
    this.tty = tty;
    this.assembler = new LineAssembler(this, this.settings.maxLineBytes, tty);
  }

  markRemoved(): void {
    this.removed = true;
  }

  /** Resolves once every batch made so far has been handed to the pipeline. */
  emitted(): Promise<void> {
    return this.batcher.emitted();
  }

  /** Resolves once every batch made so far is stored. */
  idle(): Promise<void> {
    return this.batcher.idle();
  }

  /** A new stream begins (at `resumePoint.since`): per-stream line counting restarts. */
  startStream(): void {
    if (this.readAgain) {
      this.readAgain = false;
      this.assembler.dropPending();
      this.joiner?.drop();
      this.cursors[0].moveTo(this.batcher.position(0));
      this.cursors[1].moveTo(this.batcher.position(1));
    }
    this.demux.reset();
    this.ttySplitter.reset();
    this.cursors[0].restart();
    this.cursors[1].restart();
  }

  /** Bytes of a stream, `buf[start, end)`: their lines are made into records (not yet sealed). Throws DemuxError for bytes out of step. */
  parse(buf: Buffer, start = 0, end = buf.length): void {
    if (this.joiner) this.lastReceivedAt = this.now();
    if (this.tty) this.ttySplitter.push(start === 0 && end === buf.length ? buf : buf.subarray(start, end), this.assembler);
    else this.demux.push(buf, this.assembler, start, end);
  }

  /** Seals the records made so far into a batch and queues it (await `emitted()` before reading on). */
  seal(): void {
    this.noteDaemonClock();
    this.counters.flush(this.output.metrics, this.batcher.name);
    this.batcher.seal(this.snapshot());
    if (this.joiner?.holding) this.armGroupTimer();
  }

  /** `parse` and `seal`: one chunk in, its batch out. */
  consume(chunk: Buffer): void {
    this.parse(chunk);
    this.seal();
  }

  /** Whether a stream is being read right now (open, not paused): only then can quiet mean that nothing more is coming. */
  setLive(live: boolean): void {
    if (live) {
      this.liveSince = this.now();
      if (this.joiner?.holding) this.armGroupTimer();
    } else {
      this.liveSince = undefined;
      this.clearGroupTimer();
    }
  }

  /**
   * The stream broke (`ended` false) or ended by itself while its run may go on: what is unfinished
   * is read again from the next stream, which starts at or before it.
   */
  rewind(ended: boolean): void {
    // A TTY message held without newline at a stream's own end is a run's last line: cut it there when it comes again.
    if (ended && this.tty) this.ttySplitter.endOfStream();
    const point = this.snapshot();
    this.counters.flush(this.output.metrics, this.batcher.name);
    this.batcher.seal(point);
    this.resumeAt = point;
    this.readAgain = true;
    this.demux.reset();
    this.setLive(false);
  }

  /**
   * The stream ended and the run it followed is over (or the container is gone): an unfinished
   * line is the run's last line. Held multiline records stay held (a restart within their timeout
   * may continue them); see `groupsDueAt` and `completeGroups`.
   */
  endRun(): void {
    this.readAgain = false;
    if (this.tty) this.ttySplitter.end(this.assembler);
    this.assembler.endRun();
    this.seal();
    // The next stream (a later run's) starts after everything handed on.
    this.resumeAt = this.snapshot();
    this.demux.reset();
    this.setLive(false);
  }

  /** When held multiline records may be completed by time alone after their run ended (ms), or undefined when none are held. */
  groupsDueAt(): number | undefined {
    return this.joiner?.holding ? this.lastReceivedAt + this.joiner.settings.timeoutMs : undefined;
  }

  /** No later line can belong to the held multiline records (their run is over and their time passed): they are complete. */
  completeGroups(): void {
    if (!this.joiner?.holding) return;
    this.joiner.complete(0, this.completed);
    this.joiner.complete(1, this.completed);
    this.drainCompleted();
    this.seal();
    this.resumeAt = this.snapshot();
  }

  /**
   * Completes held multiline records whose time has passed while a stream was read without a
   * pause: a line stamped within their timeout would have arrived by now. Called by a timer; public
   * so tests can drive the clock.
   */
  completeQuietGroups(): void {
    this.groupTimer = undefined;
    const joiner = this.joiner;
    if (!joiner?.holding || this.liveSince === undefined) return;
    const quietSince = Math.max(this.lastReceivedAt, this.liveSince);
    const wait = quietSince + joiner.settings.timeoutMs + MULTILINE_TRANSIT_MARGIN_MS - this.now();
    if (wait > 0) {
      this.groupTimer = setTimeout(() => this.completeQuietGroups(), wait);
      return;
    }
    joiner.complete(0, this.completed);
    joiner.complete(1, this.completed);
    this.drainCompleted();
    this.seal();
  }

  /** Whether a line stamped more than `marginMs` after `epochSeconds` (by the daemon's clock) has been read; false when that time is unknown. */
  readPast(epochSeconds: number | undefined, marginMs: number): boolean {
    if (epochSeconds === undefined || this.maxReadTime === undefined) return false;
    return this.maxReadTime > nanosFromMs(epochSeconds * 1000 + marginMs);
  }

  // LineSink: the hot path, once per line.
  line(stream: StreamIndex, time: bigint, buf: Buffer, start: number, end: number, pieces: number, truncated: boolean): void {
    const index = this.cursors[stream].accept(time);
    if (this.maxReadTime === undefined || time > this.maxReadTime) this.maxReadTime = time;
    const counters = this.counters;
    if (index === SKIP) {
      counters.skipped++;
      return;
    }
    const message = buf.toString('utf8', start, end);
    const bytes = end - start;
    if (message.indexOf('\uFFFD') !== -1) {
      if (isUtf8(buf.subarray(start, end))) counters.replacedUpstream++;
      else counters.invalid++;
    }
    if (pieces > 1) counters.merges++;
    if (truncated) counters.truncated++;
    counters.lines[stream]++;
    counters.bytes[stream] += bytes;
    const joiner = this.joiner;
    if (joiner) {
      if (joiner.holds(stream === 0 ? 1 : 0)) joiner.passTime(stream, time, this.settings.reorderWindowNs, this.completed);
      joiner.push({ stream, time, index, lastTime: time, lastIndex: index, message, bytes, truncated }, this.completed);
      this.drainCompleted();
    } else {
      this.batcher.add(stream, time, index, time, index, message, truncated);
    }
  }

  private drainCompleted(): void {
    for (const l of this.completed) {
      if (l.lastTime !== l.time || l.lastIndex !== l.index) this.counters.multiline++;
      this.batcher.add(l.stream, l.time, l.index, l.lastTime, l.lastIndex, l.message, l.truncated);
    }
    this.completed.length = 0;
  }

  /**
   * Where a new stream must start if everything handed on so far is stored: per stream the last
   * line handed on in a record, and `since` no later than any line not yet in one — an unfinished
   * line, a held multiline record, or an unread line, which the reorder window bounds from below.
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
    return { since, streams: [this.batcher.position(0), this.batcher.position(1)] };
  }

  private noteDaemonClock(): void {
    if (this.maxReadTime === undefined) return;
    const ahead = Number(this.maxReadTime / 1_000_000n) - Date.now();
    if (ahead > this.daemonClockAheadMs) this.daemonClockAheadMs = ahead;
  }

  private armGroupTimer(): void {
    if (this.groupTimer || this.liveSince === undefined) return;
    this.groupTimer = setTimeout(() => this.completeQuietGroups(), this.joiner!.settings.timeoutMs);
  }

  private clearGroupTimer(): void {
    if (this.groupTimer) clearTimeout(this.groupTimer);
    this.groupTimer = undefined;
  }
}
