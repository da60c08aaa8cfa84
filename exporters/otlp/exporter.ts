/**
 * The OTLP/HTTP exporter: log lines and Docker events to <endpoint>/v1/logs, container metrics to
 * <endpoint>/v1/metrics, as protobuf (default) or JSON, gzipped by default. One export() call is
 * one request; the exporter runner alone sends anything again. As the OTLP specification says:
 *
 * - 2xx: stored. A partial success (rejected_log_records / rejected_data_points > 0) is logged and
 *   counted, and not retried (the specification: not retryable). The receiver does not say which
 *   records it rejected, so none is guessed into the dead-letter file: the batch is acknowledged.
 * - 429, 502, 503, 504 (the specification's retryable statuses), and also 401/403 (credentials or
 *   privileges fixed later), 404 (a wrong path or proxy), 408 and every 5xx: RetryableError, with the
 *   receiver's Retry-After. Dead-lettering them would release the acks of everything sent while a
 *   token is expired into a dead-letter file that rotates: fixed by an operator, never by dropping data.
 * - 413 (too large, often a proxy's limit): the batch is sent again in halves, down to one record.
 * - any other status (400: the receiver cannot decode it), and 413 for a single record:
 *   PermanentError; the runner writes the batch to the local dead-letter file. A google.rpc.Status
 *   body gives the error text.
 * - Every error text is scrubbed of the configured secrets (header values, tokens, URL credentials).
 * - no answer (refused, reset, timeout): RetryableError; whenAnswering() then probes the receiver.
 *
 * Config section `exporters.otlp` (config.ts).
 */
import os from 'node:os';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import type { BatchSettings, Exporter, ExporterContext, Health } from '../../src/component.js';
import { PartialExportError, PermanentError, RetryableError, errorMessage, type RejectedRecord } from '../../src/errors.js';
import { nowNanos, type AgentRecord, type MetricRecord, type RecordKind } from '../../src/records.js';
import type { Logger } from '../../src/telemetry/logger.js';
import { HttpPushClient, isRetryablePushStatus, statusError, type PushAnswer } from '../push/http-push.js';
import { scrubbedError, scrubber, targetSecrets } from '../push/scrub.js';
import { exporterShape, resolveSignal, type OtlpConfig, type Signal, type SignalTarget } from './config.js';
import { writeLogsRequest, type LogsEncoding, type LogsSignalRecord } from './logs.js';
import { writeMetricsRequest, type MetricsEncoding } from './metrics-encoding.js';
import { errorTextOf, partialSuccessOf } from './response.js';
import { OtlpMetrics, type FailureReason } from './self-metrics.js';
import { JsonOtlpWriter, ProtoOtlpWriter, type Fill } from './wire.js';

const gzip = promisify(zlib.gzip);

const TOO_LARGE = 413;

/** A 413: the request was too large for the receiver or a proxy before it; a smaller one may pass. */
class TooLargeError extends PermanentError {}

const CONTENT_TYPE = { protobuf: 'application/x-protobuf', json: 'application/json' } as const;

/** Why a receiver counts as not answering before anything was sent to it. */
const NOT_REACHED_YET = 'not reached yet (probing it)';

type Context = Pick<ExporterContext, 'logger' | 'metrics' | 'agentVersion' | 'inventory'>;

/** A signal's target and client, and whether its last request went unanswered (an outage). */
interface Channel {
  readonly target: SignalTarget;
  readonly client: HttpPushClient;
  unanswered: string | undefined;
}

export class OtlpExporter implements Exporter {
  readonly id = 'otlp';
  readonly accepts: ReadonlySet<RecordKind>;
  readonly batching: Partial<BatchSettings>;
  readonly retry: { readonly initialMs: number; readonly maxMs: number };

  private readonly logger: Logger;
  private readonly metrics: OtlpMetrics;
  private readonly channels: Record<Signal, Channel | undefined>;
  private readonly scrub: (text: string) => string;
  private readonly logsEncoding: LogsEncoding;
  private readonly metricsEncoding: MetricsEncoding;
  /** The latest sample of each container, for container.cpu.usage. */
  private readonly lastSamples = new Map<string, MetricRecord>();
  private started = false;
  private readonly stopping = new AbortController();
  private consecutiveFailures = 0;
  private lastError: string | undefined;
  private readonly counts = { requests: 0, sent: 0, stored: 0, rejected: 0, failedRequests: 0, partialRequests: 0 };

  constructor(config: OtlpConfig, ctx: Context) {
    ({ accepts: this.accepts, batching: this.batching, retry: this.retry } = exporterShape(config));
    this.logger = ctx.logger.child({ exporter: 'otlp' });
    this.metrics = new OtlpMetrics(ctx.metrics);
    const channel = (signal: Signal): Channel => {
      const target = resolveSignal(config, signal);
      return { target, client: new HttpPushClient(target.push), unanswered: undefined };
    };
    this.channels = { logs: channel('logs'), metrics: config.metrics.enabled ? channel('metrics') : undefined };
    this.scrub = scrubber(this.activeChannels().flatMap((c) => targetSecrets(c.target.push)));
    const inventory = ctx.inventory;
    this.logsEncoding = {
      agentVersion: ctx.agentVersion,
      hostName: () => inventory.list()[0]?.meta.host ?? os.hostname(),
    };
    this.metricsEncoding = {
      agentVersion: ctx.agentVersion,
      startedAt: (id) => {
        const seconds = inventory.get(id)?.startedAt ?? 0;
        return seconds > 0 ? BigInt(Math.round(seconds * 1e6)) * 1000n : undefined;
      },
      previous: (record) => {
        const before = this.lastSamples.get(record.container.id);
        return before && before.time < record.time ? before : undefined;
      },
    };
  }

  /** Not healthy until each receiver has answered once (a probe of its origin, in the background): /readyz tells a receiver that is down before any record is sent. */
  async start(): Promise<void> {
    this.started = true;
    for (const channel of this.activeChannels()) {
      // Never the headers: they may carry credentials.
      this.logger.info({ signal: channel.target.signal, url: channel.client.displayUrl, encoding: channel.target.encoding, gzip: channel.target.gzip }, 'OTLP exporter ready');
      channel.unanswered = NOT_REACHED_YET;
      void channel.client.whenAnswering(this.stopping.signal).then(() => {
        if (channel.unanswered === NOT_REACHED_YET && !this.stopping.signal.aborted) channel.unanswered = undefined;
      });
    }
  }

  async export(batch: readonly AgentRecord[]): Promise<void> {
    if (this.stopping.signal.aborted) throw new RetryableError('OTLP exporter stopping');
    if (batch.length === 0) return;
    const signal: Signal = batch[0]!.kind === 'metric' ? 'metrics' : 'logs';
    const channel = this.channels[signal];
    if (!channel) throw new PermanentError(`OTLP ${signal} are not enabled`);
    const body = this.encode(channel.target, batch);
    const sent = await this.sendFitting(channel, batch, body);
    if (signal === 'metrics') for (const record of batch.slice(0, sent) as readonly MetricRecord[]) this.rememberSample(record);
    if (sent < batch.length) {
      throw new PartialExportError(`OTLP ${signal}: the receiver refused ${batch.length} records as too large (HTTP 413) and stored the first ${sent}; the rest is sent next`, batch.slice(sent));
    }
  }

  /**
   * Sends `batch` (encoded as `body`), halving it while the receiver answers 413: how many of its
   * first records were stored. A single record still too large is refused for good.
   */
  private async sendFitting(channel: Channel, batch: readonly AgentRecord[], body: Buffer): Promise<number> {
    for (let count = batch.length; ; count = Math.ceil(count / 2)) {
      try {
        await this.send(channel, count === batch.length ? body : this.encode(channel.target, batch.slice(0, count)), count);
        return count;
      } catch (error) {
        if (!(error instanceof TooLargeError) || count === 1) throw error;
      }
    }
  }

  /** Nothing is buffered here: export() returns only once the receiver answered. */
  async flush(): Promise<void> {}

  /**
   * Resolves once a receiver that did not answer answers anything again (probing its origin); never
   * while every receiver answers, even with errors (429, 503): then the runner's backoff stands.
   */
  whenAnswering(signal: AbortSignal): Promise<void> {
    const silent = this.activeChannels().filter((c) => c.unanswered !== undefined);
    if (silent.length === 0 || signal.aborted) {
      return new Promise((resolve) => {
        if (signal.aborted) resolve();
        else signal.addEventListener('abort', () => resolve(), { once: true });
      });
    }
    return Promise.race(silent.map((c) => c.client.whenAnswering(signal)));
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    for (const channel of this.activeChannels()) channel.client.close();
  }

  health(): Health {
    if (!this.started) return { healthy: false, reason: 'OTLP exporter not started' };
    const silent = this.activeChannels().find((c) => c.unanswered !== undefined);
    if (silent) return { healthy: false, reason: `OTLP receiver not answering (${silent.target.signal}): ${silent.unanswered}` };
    return { healthy: true };
  }

  status(): Record<string, unknown> {
    return {
      ...Object.fromEntries(this.activeChannels().map((c) => [c.target.signal, { url: c.client.displayUrl, encoding: c.target.encoding, gzip: c.target.gzip }])),
      requests: this.counts.requests,
      failed_requests: this.counts.failedRequests,
      partial_requests: this.counts.partialRequests,
      records_sent: this.counts.sent,
      records_stored: this.counts.stored,
      records_rejected: this.counts.rejected,
      ...(this.lastError ? { last_error: this.lastError } : {}),
    };
  }

  private activeChannels(): Channel[] {
    return [this.channels.logs, this.channels.metrics].filter((c): c is Channel => c !== undefined);
  }

  /** The request body of a batch, in the signal's encoding (not yet compressed). */
  private encode(target: SignalTarget, batch: readonly AgentRecord[]): Buffer {
    try {
      return this.encodeRecords(target, batch);
    } catch (error) {
      throw this.encodingFailure(target, batch, error);
    }
  }

  private encodeRecords(target: SignalTarget, batch: readonly AgentRecord[]): Buffer {
    const fill: Fill = target.signal === 'logs'
      ? (w) => writeLogsRequest(w, batch as readonly LogsSignalRecord[], this.logsEncoding, nowNanos())
      : (w) => writeMetricsRequest(w, batch as readonly MetricRecord[], this.metricsEncoding);
    if (target.encoding === 'json') return JsonOtlpWriter.encode(fill);
    const writer = new ProtoOtlpWriter();
    fill(writer);
    return writer.finish();
  }

  /**
   * A batch that cannot be encoded (a value no encoding takes, parsed JSON nested too deep for the
   * stack): the records at fault, found one by one, are rejected for good (the runner's dead-letter
   * file), the others handed back to be sent again without them.
   */
  private encodingFailure(target: SignalTarget, batch: readonly AgentRecord[], error: unknown): PartialExportError<AgentRecord> {
    const rejected: RejectedRecord<AgentRecord>[] = [];
    const retry: AgentRecord[] = [];
    for (const record of batch) {
      try {
        this.encodeRecords(target, [record]);
        retry.push(record);
      } catch (own) {
        rejected.push({ record, reason: `cannot be encoded as OTLP: ${errorMessage(own)}` });
      }
    }
    // Fails only together (a limit of the whole request): all of them are at fault, none is sent again in a loop.
    if (rejected.length === 0) rejected.push(...retry.splice(0).map((record) => ({ record, reason: `the batch cannot be encoded as OTLP: ${errorMessage(error)}` })));
    this.metrics.failures.inc({ signal: target.signal, reason: 'encoding' });
    this.logger.error({ signal: target.signal, rejected: rejected.length, records: batch.length, err: rejected[0]!.reason }, 'records that cannot be encoded as OTLP go to the dead-letter file');
    return new PartialExportError(`OTLP ${target.signal}: ${rejected.length} of ${batch.length} records cannot be encoded`, retry, rejected);
  }

  /** One request: resolves once stored (partial success included); throws what the runner should do otherwise. */
  private async send(channel: Channel, body: Buffer, records: number): Promise<void> {
    const { signal, encoding } = channel.target;
    const headers: Record<string, string> = { 'content-type': CONTENT_TYPE[encoding] };
    let wire = body;
    if (channel.target.gzip) {
      wire = await gzip(body, { level: 1 });
      headers['content-encoding'] = 'gzip';
    }
    this.counts.requests++;
    this.counts.sent += records;
    this.metrics.recordsSent.inc({ signal }, records);
    this.metrics.bytesSent.inc({ signal }, body.length);
    this.metrics.inFlight.inc();
    const end = this.metrics.requestDuration.startTimer({ signal });
    let answer: PushAnswer;
    try {
      answer = await channel.client.post(wire, headers);
    } catch (error) {
      const scrubbed = scrubbedError(error, this.scrub);
      channel.unanswered = scrubbed.message;
      this.failed(signal, 'unreachable', channel.unanswered);
      throw scrubbed;
    } finally {
      end();
      this.metrics.inFlight.dec();
    }
    channel.unanswered = undefined;
    this.settle(channel, answer, records);
  }

  /** Counts and logs an answer; throws for an error status. */
  private settle(channel: Channel, answer: PushAnswer, records: number): void {
    const { signal } = channel.target;
    const what = `OTLP ${signal} export to ${channel.client.displayUrl}`;
    const answered = statusError({ ...answer, body: Buffer.from(errorTextOf(answer)) }, what, isRetryablePushStatus);
    if (answered) {
      const error = answer.status === TOO_LARGE ? new TooLargeError(this.scrub(answered.message)) : scrubbedError(answered, this.scrub);
      this.failed(signal, answer.status === 429 ? 'throttled' : error instanceof RetryableError ? 'unavailable' : 'refused', error.message);
      if (error instanceof TooLargeError && records > 1) this.logger.warn({ signal, records, err: error.message }, 'the OTLP receiver refused a request as too large: sending it again in halves');
      else if (error instanceof PermanentError) this.logger.error({ signal, status: answer.status, records, err: error.message }, 'the OTLP receiver refused a batch (not retryable): it goes to the dead-letter file');
      throw error;
    }
    const partial = partialSuccessOf(answer);
    const rejected = Math.min(records, partial?.rejected ?? 0);
    if (partial) {
      this.counts.partialRequests++;
      this.logger.warn({ signal, rejected, records, message: this.scrub(partial.message) }, rejected > 0
        ? 'the OTLP receiver rejected part of a request (partial success; not retryable, and it does not say which records)'
        : 'the OTLP receiver accepted a request with a warning');
    }
    this.metrics.requests.inc({ signal, outcome: rejected > 0 ? 'partial' : 'ok' });
    if (rejected > 0) {
      this.counts.rejected += rejected;
      this.metrics.recordsRejected.inc({ signal }, rejected);
    }
    this.counts.stored += records - rejected;
    this.metrics.recordsStored.inc({ signal }, records - rejected);
    if (this.consecutiveFailures > 0) this.logger.info({ signal, after: this.consecutiveFailures }, 'OTLP export requests succeed again');
    this.consecutiveFailures = 0;
    this.lastError = undefined;
    this.metrics.consecutiveFailures.set(0);
  }

  private failed(signal: Signal, reason: FailureReason, message: string): void {
    this.counts.failedRequests++;
    this.consecutiveFailures++;
    this.lastError = message;
    this.metrics.requests.inc({ signal, outcome: 'failed' });
    this.metrics.failures.inc({ signal, reason });
    this.metrics.consecutiveFailures.set(this.consecutiveFailures);
  }

  /** Keeps the latest sample per container (for container.cpu.usage); forgets containers not sampled for ten minutes. */
  private rememberSample(record: MetricRecord): void {
    const before = this.lastSamples.get(record.container.id);
    if (!before || before.time < record.time) this.lastSamples.set(record.container.id, record);
    if (this.lastSamples.size > 64) {
      const horizon = record.time - 600_000_000_000n;
      for (const [id, sample] of this.lastSamples) if (sample.time < horizon) this.lastSamples.delete(id);
    }
  }
}
