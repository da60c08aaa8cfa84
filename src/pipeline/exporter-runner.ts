/**
 * The exporter helper: queue → batch → export with retry, once for every exporter.
 * Retryable failures (and unknown ones: losing data is worse than waiting) back off and try the
 * same batch again without limit while the agent runs; permanent failures drop the batch, counted.
 * A batch's acknowledgements are released only once the exporter has stored it.
 */
import type { AgentRecord } from '../records.js';
import type { BatchSettings, Exporter, Health } from '../component.js';
import type { Logger } from '../telemetry/logger.js';
import type { SelfMetrics } from '../telemetry/metrics.js';
import { PermanentError, RetryableError, errorMessage } from '../errors.js';
import { Backoff, sleep, withDeadline } from '../util/backoff.js';
import { BoundedQueue } from './queue.js';
import { releaseAcks, retainAcks } from './ack.js';

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

  constructor(
    readonly exporter: Exporter,
    private readonly logger: Logger,
    private readonly metrics: SelfMetrics,
    settings: Partial<BatchSettings> = {},
    private readonly retry: RetrySettings = DEFAULT_RETRY,
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
      consecutive_failures: this.consecutiveFailures,
      ...(this.lastError ? { last_error: this.lastError } : {}),
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
        const stored = await this.exportWithRetry(batch, signal);
        if (stored) {
          this.exported += batch.length;
          this.countByKind(this.metrics.recordsOut, batch);
          releaseAcks(batch);
        }
      } finally {
        this.inFlight--;
      }
      if (signal.aborted) return;
    }
  }

  /** Returns true once stored, false when the batch was dropped or the runner was stopped first. */
  private async exportWithRetry(batch: readonly AgentRecord[], signal: AbortSignal): Promise<boolean> {
    const backoff = new Backoff(this.retry);
    for (;;) {
      const end = this.metrics.exportDuration.startTimer({ component: this.id });
      try {
        await this.exporter.export(batch);
        end();
        this.consecutiveFailures = 0;
        this.lastError = undefined;
        return true;
      } catch (error) {
        end();
        if (error instanceof PermanentError) {
          this.logger.error({ exporter: this.id, err: errorMessage(error), records: batch.length }, 'permanent export failure: batch dropped');
          this.metrics.errors.inc({ component: this.id, kind: 'permanent' });
          this.drop(batch, 'permanent_error');
          return false;
        }
        this.consecutiveFailures++;
        this.lastError = errorMessage(error);
        this.metrics.errors.inc({ component: this.id, kind: error instanceof RetryableError ? 'retryable' : 'unexpected' });
        const delay = error instanceof RetryableError && error.retryAfterMs !== undefined ? error.retryAfterMs : backoff.nextDelayMs();
        this.logger.warn({ exporter: this.id, err: this.lastError, attempt: backoff.attempts, retryInMs: delay }, 'export failed, will retry');
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
