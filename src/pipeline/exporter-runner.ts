/**
 * The exporter helper: queue → batch → export with retry, once for every exporter, and the only
 * place that retries. Retryable failures (and unknown ones: losing data is worse than waiting) back
 * off and try again without limit while the agent runs; a partial result (PartialExportError) is
 * split into stored, failed and rejected records; rejected records and permanently failed batches go
 * to the local dead-letter file. A record's acknowledgement is released only once it is stored or
 * written to the dead-letter file.
 */
import type { AgentRecord } from '../records.js';
import type { BatchSettings, Exporter, Health } from '../component.js';
import type { Logger } from '../telemetry/logger.js';
import type { SelfMetrics } from '../telemetry/metrics.js';
import { PartialExportError, PermanentError, RetryableError, errorMessage, type RejectedRecord } from '../errors.js';
import { Backoff, sleep, withDeadline } from '../util/backoff.js';
import { BoundedQueue } from './queue.js';
import { releaseAcks, retainAcks } from './ack.js';
import type { DeadLetterSink } from './dead-letter-file.js';

export const DEFAULT_BATCHING: BatchSettings = {
  maxRecords: 1000,
  lingerMs: 50,
  concurrency: 1,
  queueSize: 20_000,
  whenFull: 'block',
};

export const DEFAULT_RETRY: RetrySettings = { initialMs: 200, maxMs: 30_000 };

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

/** Used when no dead-letter sink is given: dead letters then wait (unacknowledged) instead of vanishing. */
const NO_DEAD_LETTER_SINK: DeadLetterSink = {
  write: () => Promise.reject(new Error('no dead-letter file configured')),
};

export class ExporterRunner {
  readonly queue: BoundedQueue<AgentRecord>;
  readonly settings: BatchSettings;
  private readonly stopSignal = new AbortController();
  private workers: Promise<void>[] = [];
  private inFlight = 0;
  private consecutiveFailures = 0;
  private lastError: string | undefined;
  private exported = 0;
  private dropped = 0;
  private deadLettered = 0;
  private deadLetterError: string | undefined;
  constructor(
    readonly exporter: Exporter,
    private readonly logger: Logger,
    private readonly metrics: SelfMetrics,
    settings: Partial<BatchSettings> = {},
    private readonly retry: RetrySettings = DEFAULT_RETRY,
    /** Where rejected records and permanently failed batches are kept. */
    private readonly deadLetters: DeadLetterSink = NO_DEAD_LETTER_SINK,
  ) {
    this.settings = { ...DEFAULT_BATCHING, ...exporter.batching, ...settings };
    this.queue = new BoundedQueue(this.settings.queueSize);
    metrics.queueCapacity.set({ component: exporter.id }, this.settings.queueSize);
  }

  get id(): string {
    return this.exporter.id;
  }

  accepts(record: AgentRecord): boolean {
    return this.exporter.accepts.has(record.kind);
  }

  /** Queues records for this exporter, waiting for room (or dropping, if so configured). */
  async enqueue(records: readonly AgentRecord[]): Promise<void> {
    if (records.length === 0) return;
    retainAcks(records);
    this.countByKind(this.metrics.recordsIn, records);
    if (this.settings.whenFull === 'drop_newest') {
      const rejected = this.queue.offer(records);
      if (rejected.length > 0) this.drop(rejected, 'queue_full');
    } else {
      await this.queue.push(records);
    }
    this.metrics.queueDepth.set({ component: this.id }, this.queue.size);
  }

  start(): void {
    for (let i = 0; i < this.settings.concurrency; i++) this.workers.push(this.work());
  }

  /** Stops taking new records and waits for the queue to drain, at most until `deadline` (ms epoch). */
  async drain(deadline: number): Promise<boolean> {
    this.queue.close();
    const drained = await withDeadline(Promise.all(this.workers), deadline);
    // Whatever is still in flight stays unacknowledged: its checkpoints never moved, so it is read again next start.
    this.stopSignal.abort();
    return drained;
  }

  health(): Health {
    const own = this.exporter.health();
    if (!own.healthy) return own;
    if (this.deadLetterError) return { healthy: false, reason: `dead-letter file write failing: ${this.deadLetterError}` };
    if (this.consecutiveFailures > 0) return { healthy: false, reason: `export failing (${this.consecutiveFailures} in a row): ${this.lastError}` };
    return { healthy: true };
  }

  status(): Record<string, unknown> {
    return {
      queued: this.queue.size,
      queue_capacity: this.settings.queueSize,
      in_flight: this.inFlight,
      exported: this.exported,
      dropped: this.dropped,
      dead_lettered: this.deadLettered,
      consecutive_failures: this.consecutiveFailures,
      ...(this.lastError ? { last_error: this.lastError } : {}),
      ...(this.deadLetterError ? { dead_letter_error: this.deadLetterError } : {}),
      ...this.exporter.status?.(),
    };
  }

  private async work(): Promise<void> {
    const signal = this.stopSignal.signal;
    for (;;) {
      const batch = await this.queue.take(this.settings.maxRecords, this.settings.lingerMs, signal);
      this.metrics.queueDepth.set({ component: this.id }, this.queue.size);
      if (batch.length === 0) return;
      this.inFlight++;
      try {
        await this.deliver(batch, signal);
      } finally {
        this.inFlight--;
      }
      if (signal.aborted) return;
    }
  }

  /**
   * Delivers `batch` until every record is stored or dead-lettered, or the runner stops (then what is
   * left stays unacknowledged and is read again at the next start). Each round may store part of what
   * is pending (PartialExportError): the stored part is acknowledged at once, the rejected part goes to
   * the dead-letter file, only the failed subset is sent again; a round that made progress resets the backoff.
   */
  private async deliver(batch: readonly AgentRecord[], signal: AbortSignal): Promise<void> {
    const backoff = new Backoff(this.retry);
    let pending = batch;
    while (pending.length > 0) {
      const round = await this.attempt(pending);
      this.acknowledgeStored(round.stored);
      if (round.rejected.length > 0 && !(await this.deadLetter(round.rejected, signal))) return;
      pending = round.retry;
      if (pending.length === 0) {
        this.consecutiveFailures = 0;
        this.lastError = undefined;
        return;
      }
      if (round.stored.length + round.rejected.length > 0) {
        backoff.reset();
        this.consecutiveFailures = 0;
      } else {
        this.consecutiveFailures++;
      }
      this.lastError = round.error;
      const delay = round.retryAfterMs ?? backoff.nextDelayMs();
      this.logger.warn({ exporter: this.id, err: round.error, pending: pending.length, attempt: backoff.attempts, retryInMs: delay }, 'export failed, will retry');
      await sleep(delay, signal);
      if (signal.aborted) return;
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

  private drop(records: readonly AgentRecord[], reason: string): void {
    this.dropped += records.length;
    this.metrics.recordsDropped.inc({ component: this.id, reason }, records.length);
    // Dropping is a decision (configured, or impossible to store): release so checkpoints move on.
    releaseAcks(records);
  }
}
