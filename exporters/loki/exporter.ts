/**
 * The Loki exporter: logs (and events) through Loki's push API, one push request per export()
 * call. It never retries by itself: the answer becomes stored, a RetryableError or a PermanentError
 * (answers.ts) and the exporter runner does the rest.
 *
 * Config section `exporters.loki` (config.ts).
 */
import type { BatchSettings, Exporter, ExporterContext, Health } from '../../src/component.js';
import { PartialExportError, PermanentError, RetryableError, errorMessage, type RejectedRecord } from '../../src/errors.js';
import type { AgentRecord, RecordKind } from '../../src/records.js';
import type { Logger } from '../../src/telemetry/logger.js';
import { ProtoWriter } from '../../src/util/protobuf-writer.js';
import { HttpPushClient } from '../push/http-push.js';
import { scrubber } from '../push/scrub.js';
import { verdictOf, type Refusal } from './answers.js';
import { exporterShape, resolveTarget, type LokiConfig } from './config.js';
import { StreamLabels } from './labels.js';
import { LokiMetrics } from './metrics.js';
import { encodeJson, encodeProtobuf, groupStreams, lineOf, type EncodedPush, type ShippedRecord } from './push-body.js';

type Context = Pick<ExporterContext, 'logger' | 'metrics'>;

export class LokiExporter implements Exporter {
  readonly id = 'loki';
  readonly accepts: ReadonlySet<RecordKind>;
  readonly batching: Partial<BatchSettings>;
  readonly retry: { readonly initialMs: number; readonly maxMs: number };

  private readonly client: HttpPushClient;
  private readonly auth: string;
  private readonly scrub: (text: string) => string;
  private readonly logger: Logger;
  private readonly metrics: LokiMetrics;
  private readonly labels: StreamLabels;
  private readonly writer = new ProtoWriter(256 * 1024);
  private withMetadata: boolean;
  private started = false;
  private stopped = false;
  /** Set while the last request got no answer at all: then whenAnswering probes. */
  private unanswered = false;
  private consecutiveFailures = 0;
  private lastError: string | undefined;
  private lastRejection: string | undefined;
  private readonly counts = { requests: 0, entriesSent: 0, entriesStored: 0, bytesSent: 0, rejected: {} as Partial<Record<Refusal, number>> };

  constructor(private readonly config: LokiConfig, ctx: Context) {
    const resolved = resolveTarget(config);
    this.client = new HttpPushClient(resolved.target);
    this.auth = resolved.auth;
    this.scrub = scrubber(resolved.secrets);
    this.logger = ctx.logger.child({ exporter: 'loki' });
    this.metrics = new LokiMetrics(ctx.metrics);
    this.labels = new StreamLabels(config.labels);
    this.withMetadata = config.structured_metadata;
    ({ accepts: this.accepts, batching: this.batching, retry: this.retry } = exporterShape(config));
  }

  async start(): Promise<void> {
    this.started = true;
  }

  async export(batch: readonly AgentRecord[]): Promise<void> {
    if (this.stopped) throw new RetryableError('Loki exporter stopping');
    const records = batch.filter((r): r is ShippedRecord => this.accepts.has(r.kind));
    if (records.length === 0) return;
    const { sendable, tooLong } = splitLongLines(records, this.config.max_line_bytes);
    if (tooLong.length === 0) return this.push(records);
    // Loki would answer the whole push 400 for one such line: it is refused here alone, the rest is pushed.
    const rejected = this.refuseLongLines(tooLong);
    try {
      if (sendable.length > 0) await this.push(sendable);
    } catch (error) {
      throw withRejected(error, sendable, rejected);
    }
    throw new PartialExportError(`${tooLong.length} line(s) above exporters.loki.max_line_bytes (${this.config.max_line_bytes}) not sent`, [], rejected);
  }

  private refuseLongLines(tooLong: readonly ShippedRecord[]): RejectedRecord<AgentRecord>[] {
    this.counts.rejected.line_too_long = (this.counts.rejected.line_too_long ?? 0) + tooLong.length;
    this.metrics.entriesRejected.inc({ reason: 'line_too_long' }, tooLong.length);
    this.logger.warn({ entries: tooLong.length, max_line_bytes: this.config.max_line_bytes }, 'lines longer than Loki takes: they go to the dead-letter file, the rest of the batch is pushed');
    return tooLong.map((record) => ({
      record,
      reason: `line_too_long: ${Buffer.byteLength(lineOf(record))} bytes, above exporters.loki.max_line_bytes (${this.config.max_line_bytes}, Loki's max_line_size)`,
    }));
  }

  /** One push request of `records`; its answer becomes a return (stored) or an error (answers.ts). */
  private async push(records: readonly ShippedRecord[]): Promise<void> {
    const withMetadata = this.withMetadata;
    const push = await this.encode(records, withMetadata);
    const answer = await this.send(push);
    const verdict = verdictOf(answer, withMetadata, this.scrub);
    switch (verdict.kind) {
      case 'stored':
        this.answered('ok');
        this.counts.entriesStored += push.entries;
        this.metrics.entriesStored.inc(push.entries);
        return;
      case 'retry':
        this.failed('retried', verdict.error.message);
        throw verdict.error;
      case 'metadata_refused':
        this.withMetadata = false;
        this.failed('retried', verdict.error.message);
        this.logger.warn({ err: verdict.error.message }, 'Loki refuses structured metadata (Loki before 3, or allow_structured_metadata off): sending without it from now on; set exporters.loki.structured_metadata: false to stop this warning');
        throw verdict.error;
      case 'rejected':
        this.answered('rejected');
        this.counts.rejected[verdict.refusal] = (this.counts.rejected[verdict.refusal] ?? 0) + push.entries;
        this.metrics.entriesRejected.inc({ reason: verdict.refusal }, push.entries);
        this.lastRejection = verdict.error.message;
        this.logger.warn({ entries: push.entries, reason: verdict.refusal, err: verdict.error.message }, 'Loki refused a push for good: its records go to the dead-letter file');
        throw verdict.error;
    }
  }

  /** Nothing is buffered here: export() returns only once Loki has answered. */
  async flush(): Promise<void> {}

  /** Probes Loki only after a request went unanswered; while Loki answers (even 429/5xx) the runner's backoff stands. */
  whenAnswering(signal: AbortSignal): Promise<void> {
    if (!this.unanswered || this.stopped) {
      return new Promise((resolve) => {
        if (signal.aborted) resolve();
        else signal.addEventListener('abort', () => resolve(), { once: true });
      });
    }
    return this.client.whenAnswering(signal);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.client.close();
  }

  health(): Health {
    if (!this.started) return { healthy: false, reason: 'Loki exporter not started' };
    if (this.consecutiveFailures > 0) return { healthy: false, reason: `Loki push requests failing (${this.consecutiveFailures} in a row): ${this.lastError}` };
    return { healthy: true };
  }

  status(): Record<string, unknown> {
    return {
      url: this.client.displayUrl,
      auth: this.auth,
      tenant: this.config.tenant_id ?? null,
      encoding: this.config.encoding,
      structured_metadata: this.withMetadata,
      requests: this.counts.requests,
      entries: { sent: this.counts.entriesSent, stored: this.counts.entriesStored, rejected: this.counts.rejected },
      bytes_sent: this.counts.bytesSent,
      consecutive_failures: this.consecutiveFailures,
      ...(this.lastError ? { last_error: this.lastError } : {}),
      ...(this.lastRejection ? { last_rejection: this.lastRejection } : {}),
    };
  }

  private encode(records: readonly ShippedRecord[], withMetadata: boolean): Promise<EncodedPush> | EncodedPush {
    const streams = groupStreams(records, this.labels, withMetadata);
    return this.config.encoding === 'json' ? encodeJson(streams, this.config.compression === 'gzip') : encodeProtobuf(streams, this.writer);
  }

  private async send(push: EncodedPush) {
    this.counts.requests++;
    this.counts.entriesSent += push.entries;
    this.counts.bytesSent += push.body.length;
    this.metrics.entriesSent.inc(push.entries);
    this.metrics.bytesSent.inc(push.body.length);
    this.metrics.inFlight.inc();
    const end = this.metrics.duration.startTimer();
    try {
      const answer = await this.client.post(push.body, push.headers);
      this.unanswered = false;
      return answer;
    } catch (error) {
      this.unanswered = true;
      const message = this.scrub(errorMessage(error));
      this.failed('error', message);
      throw error instanceof RetryableError ? new RetryableError(message) : error;
    } finally {
      end();
      this.metrics.inFlight.dec();
    }
  }

  private answered(outcome: 'ok' | 'rejected'): void {
    this.metrics.requests.inc({ outcome });
    if (this.consecutiveFailures > 0) this.logger.info({ after: this.consecutiveFailures }, 'Loki push requests succeed again');
    this.consecutiveFailures = 0;
    this.lastError = undefined;
    this.metrics.consecutiveFailures.set(0);
  }

  private failed(outcome: 'retried' | 'error', message: string): void {
    this.metrics.requests.inc({ outcome });
    this.consecutiveFailures++;
    this.lastError = message;
    this.metrics.consecutiveFailures.set(this.consecutiveFailures);
  }
}

/** Records whose line Loki would refuse as too long (0: no limit), and the rest. */
export function splitLongLines(records: readonly ShippedRecord[], maxBytes: number): { sendable: readonly ShippedRecord[]; tooLong: ShippedRecord[] } {
  if (maxBytes === 0) return { sendable: records, tooLong: [] };
  const tooLong = records.filter((record) => isTooLong(record, maxBytes));
  if (tooLong.length === 0) return { sendable: records, tooLong };
  const refused = new Set(tooLong);
  return { sendable: records.filter((record) => !refused.has(record)), tooLong };
}

function isTooLong(record: ShippedRecord, maxBytes: number): boolean {
  // A UTF-16 unit is at most 3 UTF-8 bytes: most lines are decided without counting.
  if (record.kind === 'log' && record.message.length * 3 <= maxBytes) return false;
  return Buffer.byteLength(lineOf(record)) > maxBytes;
}

/** The push of the rest failed: the long lines are rejected all the same, the rest retried or rejected as the push was. */
function withRejected(error: unknown, sent: readonly ShippedRecord[], rejected: RejectedRecord<AgentRecord>[]): PartialExportError<AgentRecord> {
  const message = errorMessage(error);
  if (error instanceof PermanentError) return new PartialExportError(message, [], [...rejected, ...sent.map((record) => ({ record, reason: `permanent_error: ${message}` }))]);
  const retryAfterMs = error instanceof RetryableError ? error.retryAfterMs : undefined;
  return new PartialExportError(message, sent, rejected, retryAfterMs === undefined ? {} : { retryAfterMs });
}
