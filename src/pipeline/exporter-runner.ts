/**
 * The exporter helper: queue → batch → export with retry, once for every exporter, and the only
 * place that retries. Retryable failures (and unknown ones: losing data is worse than waiting) back
 * off and try again without limit while the agent runs; a partial result (PartialExportError) is
 * split into stored, failed and rejected records; rejected records and permanently failed batches go
 * to the local dead-letter file. A record's acknowledgement is released only once it is stored or
 * written to the dead-letter file.
 */
import type { AgentRecord, RecordKind } from '../records.js';
import type { BatchSettings, Exporter, Health } from '../component.js';
import type { Logger } from '../telemetry/logger.js';
import type { SelfMetrics } from '../telemetry/metrics.js';
import { PartialExportError, PermanentError, RetryableError, errorMessage, type RejectedRecord } from '../errors.js';
import { Backoff, sleep, withDeadline } from '../util/backoff.js';
import path from 'node:path';
import { MemoryLane, SpillingLane, eventSpillCodec, type Lane, type LaneBatch, type LaneHooks } from './lanes.js';
import { SpillLog } from './spill.js';
import { pipelineEvents, type PipelineEvents } from './pipeline-events.js';
import { releaseAcks, retainAcks } from './ack.js';
import type { DeadLetterSink } from './dead-letter-file.js';

const MiB = 1024 * 1024;

export const DEFAULT_BATCHING: BatchSettings = {
  maxRecords: 1000,
  maxBytes: 8 * MiB,
  lingerMs: 50,
  concurrency: 1,
  queueSize: 20_000,
  queueBytes: 16 * MiB,
  whenFull: 'block',
};

export const DEFAULT_RETRY: RetrySettings = { initialMs: 200, maxMs: 30_000 };

/** The longest wait a backend's Retry-After may impose (as Elasticsearch's own clients do): a longer one is cut to this. */
export const MAX_RETRY_AFTER_MS = 300_000;

/**
 * A backend's Retry-After as the runner waits it: never below retry.initial_ms (a 0, a past date or
 * a negative value would retry in a hot loop), never above MAX_RETRY_AFTER_MS (nor past setTimeout's
 * range, where Node waits 1 ms instead).
 */
export function boundedRetryAfterMs(retryAfterMs: number | undefined, retry: RetrySettings): number | undefined {
  if (retryAfterMs === undefined || Number.isNaN(retryAfterMs)) return undefined;
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(retry.initialMs, retryAfterMs));
}

export interface RetrySettings {
  readonly initialMs: number;
  readonly maxMs: number;
}

/** What one export() call left: stored, to send again, rejected for good. */
interface Round {
  readonly stored: readonly AgentRecord[];
  readonly retry: readonly AgentRecord[];
  readonly rejected: readonly RejectedRecord<AgentRecord>[];
  readonly error?: string;
  readonly retryAfterMs?: number | undefined;
}

/**
 * Sorts `pending` by a partial failure. Records are matched by identity; a record named in both
 * lists is rejected, one named by neither was stored, and names not in `pending` are ignored.
 */
export function splitPartial(pending: readonly AgentRecord[], error: PartialExportError<AgentRecord>): Pick<Round, 'stored' | 'retry' | 'rejected'> {
  const reasons = new Map<AgentRecord, string>();
  for (const entry of error.rejected) if (!reasons.has(entry.record)) reasons.set(entry.record, entry.reason);
  const again = new Set(error.retry);
  const stored: AgentRecord[] = [];
  const retry: AgentRecord[] = [];
  const rejected: RejectedRecord<AgentRecord>[] = [];
  for (const record of pending) {
    const reason = reasons.get(record);
    if (reason !== undefined) rejected.push({ record, reason });
    else if (again.has(record)) retry.push(record);
    else stored.push(record);
  }
  return { stored, retry, rejected };
}

function oldestTime(records: readonly AgentRecord[]): bigint {
  let oldest = records[0]!.time;
  for (const record of records) if (record.time < oldest) oldest = record.time;
  return oldest;
}

/**
 * How far the lane is behind: seconds from its oldest record not yet stored (waiting in memory or
 * being delivered) to now, by the record's own time (when the line was written, the sample taken);
 * 0 when nothing is waiting. Spilled events are on disk and not counted.
 */
export function ackLagSeconds(state: Pick<LaneState, 'lane' | 'deliveringSince'>, nowMs = Date.now()): number {
  let oldest = state.lane.oldestWaiting()?.time;
  for (const since of state.deliveringSince.values()) if (oldest === undefined || since < oldest) oldest = since;
  if (oldest === undefined) return 0;
  return Math.max(0, (nowMs - Number(oldest / 1_000_000n)) / 1000);
}

/** Used when no dead-letter sink is given: dead letters then wait (unacknowledged) instead of vanishing. */
const NO_DEAD_LETTER_SINK: DeadLetterSink = {
  write: () => Promise.reject(new Error('no dead-letter file configured')),
};

/** How an exporter's lanes are sized beyond the log queue (BatchSettings.queueSize). */
export interface LaneSettings {
  /** Events held in memory per exporter before they spill. */
  readonly eventMemoryRecords: number;
  /** Where events spill (`<dir>/event`); without it the event lane waits for room like the log lane. */
  readonly spillDir?: string | undefined;
  /** Unread spilled bytes at most, per exporter; beyond, new events are dropped (counted). */
  readonly spillMaxBytes: number;
  readonly spillSegmentBytes: number;
  /** Metric (and engine) samples queued per exporter; when full the oldest are dropped (counted). */
  readonly metricRecords: number;
}

export const DEFAULT_LANES: LaneSettings = {
  eventMemoryRecords: 100,
  spillMaxBytes: 256 * 1024 * 1024,
  spillSegmentBytes: 8 * 1024 * 1024,
  metricRecords: 10_000,
};

/** A lane and how its deliveries are going. */
interface LaneState {
  readonly lane: Lane;
  consecutiveFailures: number;
  lastError: string | undefined;
  /** Per batch being delivered (their number is the lane's in-flight count), its oldest record's time (ns): what the lane's ack lag is measured from. */
  readonly deliveringSince: Map<LaneBatch, bigint>;
}

export class ExporterRunner {
  readonly settings: BatchSettings;
  readonly lanes = new Map<RecordKind, LaneState>();
  private readonly stopSignal = new AbortController();
  private workers: Promise<void>[] = [];
  private exported = 0;
  private dropped = 0;
  private deadLettered = 0;
  private deadLetterError: string | undefined;
  private readonly events: PipelineEvents;

  constructor(
    readonly exporter: Exporter,
    private readonly logger: Logger,
    private readonly metrics: SelfMetrics,
    settings: Partial<BatchSettings> = {},
    private readonly retry: RetrySettings = DEFAULT_RETRY,
    /** Where rejected records and permanently failed batches are kept. */
    private readonly deadLetters: DeadLetterSink = NO_DEAD_LETTER_SINK,
    laneSettings: Partial<LaneSettings> = {},
  ) {
    this.settings = { ...DEFAULT_BATCHING, ...exporter.batching, ...settings };
    this.events = pipelineEvents(metrics, logger);
    const lanes = { ...DEFAULT_LANES, ...laneSettings };
    for (const kind of exporter.accepts) {
      const lane = this.createLane(kind, lanes);
      this.lanes.set(kind, { lane, consecutiveFailures: 0, lastError: undefined, deliveringSince: new Map() });
      metrics.queueCapacity.set({ component: this.id, kind }, lane.capacity);
      this.gauges(lane);
    }
  }

  private createLane(kind: RecordKind, lanes: LaneSettings): Lane {
    const hooks: LaneHooks = {
      dropped: (records, reason, detail) => this.drop(records, reason, detail),
      spilled: (records) => {
        this.events.spilled.emit({ component: this.id, kind }, { spill_bytes: (this.lanes.get(kind)?.lane as SpillingLane | undefined)?.spillBytes }, records.length);
        // On disk, read back after a restart too: as good as stored for the collectors' positions.
        releaseAcks(records);
      },
      changed: (lane) => this.gauges(lane),
    };
    if (kind === 'log') return new MemoryLane(kind, this.settings.whenFull, this.settings.queueSize, this.settings.concurrency, hooks, this.settings.queueBytes);
    if (kind === 'event') {
      if (!lanes.spillDir) return new MemoryLane(kind, 'block', lanes.eventMemoryRecords, 1, hooks);
      const spill = new SpillLog<AgentRecord>(path.join(lanes.spillDir, kind), eventSpillCodec, { maxBytes: lanes.spillMaxBytes, segmentBytes: lanes.spillSegmentBytes });
      return new SpillingLane(kind, lanes.eventMemoryRecords, spill, hooks);
    }
    return new MemoryLane(kind, 'drop_oldest', lanes.metricRecords, 1, hooks);
  }

  get id(): string {
    return this.exporter.id;
  }

  accepts(record: AgentRecord): boolean {
    return this.exporter.accepts.has(record.kind);
  }

  /** Queues records for this exporter, each in its kind's lane (logs wait for room; events and samples never wait). */
  enqueue(records: readonly AgentRecord[]): Promise<void> {
    if (records.length === 0) return Promise.resolve();
    try {
      retainAcks(records);
      this.countByKind(this.metrics.recordsIn, records);
      const kind = records[0]!.kind;
      // Collectors emit batches of one kind: the common case needs no grouping.
      if (isOfKind(records, kind)) return this.enqueueInLane(kind, records);
      return Promise.all([...groupByKind(records)].map(([group, of]) => this.enqueueInLane(group, of))).then(() => undefined);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private enqueueInLane(kind: RecordKind, records: readonly AgentRecord[]): Promise<void> {
    const state = this.lanes.get(kind);
    if (state) return state.lane.enqueue(records);
    this.drop(records, 'not_accepted');
    return Promise.resolve();
  }

  /** Opens the lanes (a spill left by an earlier run is picked up here) and starts their workers. */
  async start(): Promise<void> {
    for (const state of this.lanes.values()) {
      await state.lane.open();
      for (let i = 0; i < state.lane.workers; i++) this.workers.push(this.work(state));
    }
  }

  /** Stops taking new records and waits for the lanes to drain, at most until `deadline` (ms epoch). */
  async drain(deadline: number): Promise<boolean> {
    for (const state of this.lanes.values()) await state.lane.close();
    const drained = await withDeadline(Promise.all(this.workers), deadline);
    // Whatever is still in flight stays unacknowledged: its checkpoints never moved, so it is read again next start.
    this.stopSignal.abort();
    return drained;
  }

  health(): Health {
    const own = this.exporter.health();
    if (!own.healthy) return own;
    if (this.deadLetterError) return { healthy: false, reason: `dead-letter file write failing: ${this.deadLetterError}` };
    for (const [kind, state] of this.lanes) {
      if (state.consecutiveFailures > 0) return { healthy: false, reason: `export of ${kind} records failing (${state.consecutiveFailures} in a row): ${state.lastError}` };
    }
    return { healthy: true };
  }

  status(): Record<string, unknown> {
    const states = [...this.lanes.values()];
    const lastError = states.find((s) => s.lastError)?.lastError;
    return {
      queued: states.reduce((sum, s) => sum + s.lane.size, 0),
      queue_capacity: this.settings.queueSize,
      queue_capacity_bytes: this.settings.queueBytes,
      in_flight: states.reduce((sum, s) => sum + s.deliveringSince.size, 0),
      exported: this.exported,
      dropped: this.dropped,
      dead_lettered: this.deadLettered,
      consecutive_failures: Math.max(0, ...states.map((s) => s.consecutiveFailures)),
      ...(lastError ? { last_error: lastError } : {}),
      ...(this.deadLetterError ? { dead_letter_error: this.deadLetterError } : {}),
      lanes: Object.fromEntries(states.map((s) => [s.lane.kind, { ...s.lane.status(), in_flight: s.deliveringSince.size, consecutive_failures: s.consecutiveFailures, ack_lag_seconds: ackLagSeconds(s) }])),
      drops: this.events.dropped.status(),
      spills: this.events.spilled.status(),
      ...this.exporter.status?.(),
    };
  }

  private async work(state: LaneState): Promise<void> {
    const signal = this.stopSignal.signal;
    const max = this.settings.maxRecords;
    for (;;) {
      const batch = await state.lane.next(max, this.settings.lingerMs, signal, this.settings.maxBytes);
      if (!batch) return;
      state.deliveringSince.set(batch, oldestTime(batch.records));
      try {
        if (await this.deliver(batch, state, signal)) await batch.delivered();
      } finally {
        state.deliveringSince.delete(batch);
      }
      if (signal.aborted) return;
    }
  }

  /** Depth and spill size (the capacity is set once: it never changes). */
  private gauges(lane: Lane): void {
    this.metrics.queueDepth.set({ component: this.id, kind: lane.kind }, lane.size);
    if (lane instanceof SpillingLane) this.metrics.spillBytes.set({ component: this.id, kind: lane.kind }, lane.spillBytes);
  }

  /**
   * Delivers `batch` until every record is stored or dead-lettered, or the runner stops (then what is
   * left stays unacknowledged and is read again at the next start). Each round may store part of what
   * is pending (PartialExportError): the stored part is acknowledged at once, the rejected part goes to
   * the dead-letter file, only the failed subset is sent again; a round that made progress resets the backoff.
   */
  private async deliver(batch: LaneBatch, state: LaneState, signal: AbortSignal): Promise<boolean> {
    const backoff = new Backoff(this.retry);
    let pending = batch.records;
    let offerTakeBack = batch.takeBack !== undefined;
    while (pending.length > 0) {
      const round = await this.attempt(pending);
      const retryAfterMs = boundedRetryAfterMs(round.retryAfterMs, this.retry);
      this.acknowledgeStored(round.stored);
      if (round.rejected.length > 0 && !(await this.deadLetter(round.rejected, signal))) return false;
      pending = round.retry;
      if (pending.length === 0) break;
      if (offerTakeBack) {
        offerTakeBack = false;
        // The lane keeps them (on disk) and hands them out again itself.
        if (await batch.takeBack!(pending)) {
          state.consecutiveFailures++;
          state.lastError = round.error;
          await this.pause(retryAfterMs, backoff, signal);
          return false;
        }
      }
      if (round.stored.length + round.rejected.length > 0) {
        backoff.reset();
        state.consecutiveFailures = 0;
      } else {
        state.consecutiveFailures++;
      }
      state.lastError = round.error;
      const delay = retryAfterMs ?? backoff.nextDelayMs();
      this.logger.warn({ exporter: this.id, kind: state.lane.kind, err: round.error, pending: pending.length, attempt: backoff.attempts, retryInMs: delay }, 'export failed, will retry');
      await this.pause(retryAfterMs, backoff, signal, delay);
      if (signal.aborted) return false;
    }
    state.consecutiveFailures = 0;
    state.lastError = undefined;
    return true;
  }

  /**
   * Waits before a retry: the backend's own Retry-After (bounded by boundedRetryAfterMs); otherwise the backoff, cut short
   * when the exporter sees its backend answer again after not answering at all (whenAnswering), so a
   * retry goes out within a probe interval of the end of an outage, not up to retry.max_ms later.
   */
  private async pause(retryAfterMs: number | undefined, backoff: Backoff, signal: AbortSignal, delay = retryAfterMs ?? backoff.nextDelayMs()): Promise<void> {
    if (retryAfterMs !== undefined || !this.exporter.whenAnswering) return sleep(delay, signal);
    const done = new AbortController();
    const stop = () => done.abort();
    signal.addEventListener('abort', stop, { once: true });
    try {
      await Promise.race([sleep(delay, done.signal), this.exporter.whenAnswering(done.signal)]);
    } finally {
      done.abort();
      signal.removeEventListener('abort', stop);
    }
  }

  /** One export() call, its outcome sorted into stored / to retry / rejected for good. */
  private async attempt(pending: readonly AgentRecord[]): Promise<Round> {
    const end = this.metrics.exportDuration.startTimer({ component: this.id });
    try {
      await this.exporter.export(pending);
      return { stored: pending, retry: [], rejected: [] };
    } catch (error) {
      if (error instanceof PartialExportError) {
        this.metrics.errors.inc({ component: this.id, kind: 'partial' });
        return { ...splitPartial(pending, error as PartialExportError<AgentRecord>), error: errorMessage(error), retryAfterMs: error.retryAfterMs };
      }
      if (error instanceof PermanentError) {
        this.metrics.errors.inc({ component: this.id, kind: 'permanent' });
        const reason = `permanent_error: ${errorMessage(error)}`;
        return { stored: [], retry: [], rejected: pending.map((record) => ({ record, reason })), error: errorMessage(error) };
      }
      this.metrics.errors.inc({ component: this.id, kind: error instanceof RetryableError ? 'retryable' : 'unexpected' });
      const retryAfterMs = error instanceof RetryableError ? error.retryAfterMs : undefined;
      return { stored: [], retry: pending, rejected: [], error: errorMessage(error), retryAfterMs };
    } finally {
      end();
    }
  }

  private acknowledgeStored(stored: readonly AgentRecord[]): void {
    if (stored.length === 0) return;
    this.exported += stored.length;
    this.countByKind(this.metrics.recordsOut, stored);
    releaseAcks(stored);
  }

  /**
   * Writes `rejected` to the dead-letter file, then releases their acks (their checkpoints may move
   * on: the records are kept there). A failing write is retried until it succeeds or the runner stops
   * (false): a record leaves only through the exporter or the file, never silently.
   */
  private async deadLetter(rejected: readonly RejectedRecord<AgentRecord>[], signal: AbortSignal): Promise<boolean> {
    const backoff = new Backoff(this.retry);
    for (;;) {
      try {
        await this.deadLetters.write(this.id, rejected);
        this.deadLetterError = undefined;
        this.deadLettered += rejected.length;
        releaseAcks(rejected.map((entry) => entry.record));
        return true;
      } catch (error) {
        this.deadLetterError = errorMessage(error);
        const delay = backoff.nextDelayMs();
        this.logger.error({ exporter: this.id, err: this.deadLetterError, records: rejected.length, retryInMs: delay }, 'dead-letter file write failed; records kept, will retry');
        await sleep(delay, signal);
        if (signal.aborted) return false;
      }
    }
  }

  /** Batches are mostly of one kind: count runs, not records. */
  private countByKind(counter: SelfMetrics['recordsIn'], records: readonly AgentRecord[]): void {
    let kind = records[0]!.kind;
    let run = 0;
    for (const record of records) {
      if (record.kind === kind) {
        run++;
        continue;
      }
      counter.inc({ component: this.id, kind }, run);
      kind = record.kind;
      run = 1;
    }
    counter.inc({ component: this.id, kind }, run);
  }

  private drop(records: readonly AgentRecord[], reason: string, detail?: string): void {
    this.dropped += records.length;
    this.events.dropped.emit({ component: this.id, reason }, { kind: records[0]?.kind, ...(detail ? { detail } : {}) }, records.length);
    // Dropping is a decision (configured, or impossible to keep): release so checkpoints move on.
    releaseAcks(records);
  }
}

function isOfKind(records: readonly AgentRecord[], kind: RecordKind): boolean {
  for (const record of records) if (record.kind !== kind) return false;
  return true;
}

function groupByKind(records: readonly AgentRecord[]): Map<RecordKind, AgentRecord[]> {
  const groups = new Map<RecordKind, AgentRecord[]>();
  for (const record of records) {
    const group = groups.get(record.kind);
    if (group) group.push(record);
    else groups.set(record.kind, [record]);
  }
  return groups;
}
