/**
 * The `elasticsearch` exporter: ECS documents into data streams (or daily indices) through `_bulk`,
 * with every record accounted for before its batch is acknowledged:
 *
 * - 201 stored, 409 already there from an earlier attempt (the `_id` is the record's deterministic
 *   id, written with `create`): delivered;
 * - 429, 5xx, index blocks: sent again, only those items, with capped exponential backoff and jitter;
 * - other 4xx (mapping errors): written to the dead-letter index with the reason and the original;
 * - a request that fails as a whole: RetryableError, and the runner sends the whole batch again,
 *   which the 409s make safe.
 *
 * Config section `exporters.elasticsearch` (config.ts).
 */
import { defineExporter, type BatchSettings, type Exporter, type ExporterContext, type Health } from '../../src/component.js';
import { RetryableError, errorMessage } from '../../src/errors.js';
import type { AgentRecord, RecordKind } from '../../src/records.js';
import type { Logger } from '../../src/telemetry/logger.js';
import { Backoff, sleep } from '../../src/util/backoff.js';
import { Limiter, encodeItem, itemOutcomes, splitByBytes, type BulkItem, type ItemOutcome } from './bulk.js';
import { elasticsearchConfigFromEnv, elasticsearchConfigSchema, resolveSecrets, type ElasticsearchConfig, type ResolvedSecrets } from './config.js';
import { EsConnection, describeFailure, publicUrl, secretScrubber, type Failure } from './connection.js';
import { dataStreamName, deadLetterDocument, toDocument, type DocumentSettings, type PreparedDocument, type ShippedRecord } from './documents.js';
import { ElasticsearchMetrics } from './metrics.js';
import { installTemplates, templatePlan } from './templates.js';

/**
 * Only what an item's fate needs (as Beats and Logstash ask): a full bulk answer is ~200 bytes an item
 * for the cluster to write and the agent to parse, most of it `_index`, `_version`, `_shards`, `_seq_no`.
 */
const BULK_FILTER_PATH = 'errors,items.*.error,items.*.status';

/** Rounds in a row in which Elasticsearch took none of the documents it was sent before health says so. */
const STALLED_ROUNDS_UNHEALTHY = 3;

type TemplateState = 'pending' | 'installed' | 'disabled' | 'forbidden' | 'failed';

export class ElasticsearchExporter implements Exporter {
  readonly id = 'elasticsearch';
  readonly accepts: ReadonlySet<RecordKind>;
  readonly batching: Partial<BatchSettings>;
  readonly retry: { readonly initialMs: number; readonly maxMs: number };

  private readonly connection: EsConnection;
  private readonly secrets: ResolvedSecrets;
  private readonly scrub: (text: string) => string;
  private readonly logger: Logger;
  private readonly metrics: ElasticsearchMetrics;
  private readonly limiter: Limiter;
  private readonly documentSettings: DocumentSettings;
  private readonly stopping = new AbortController();

  private started = false;
  private ready = false;
  private setupAttempt: Promise<void> | undefined;
  private setupError: string | undefined;
  private serverVersion: string | undefined;
  private templates: TemplateState;
  private consecutiveFailures = 0;
  private lastError: string | undefined;
  private stalledRounds = 0;
  private lastItemError: string | undefined;
  private readonly counts = { sent: 0, stored: 0, duplicates: 0, deadLettered: 0, retried: 0, dropped: 0, bulkRequests: 0, failedRequests: 0 };

  constructor(private readonly config: ElasticsearchConfig, ctx: Pick<ExporterContext, 'logger' | 'metrics' | 'agentVersion'>) {
    this.secrets = resolveSecrets(config);
    this.scrub = secretScrubber(this.secrets.secretValues);
    this.logger = ctx.logger.child({ exporter: 'elasticsearch' });
    this.metrics = new ElasticsearchMetrics(ctx.metrics);
    this.accepts = new Set<RecordKind>(config.metrics.enabled ? ['log', 'event', 'metric'] : ['log', 'event']);
    this.batching = {
      maxRecords: config.batch.max_records,
      lingerMs: config.batch.linger_ms,
      concurrency: config.batch.concurrency,
      queueSize: config.queue_size,
    };
    this.retry = { initialMs: config.retry.initial_ms, maxMs: config.retry.max_ms };
    this.limiter = new Limiter(config.batch.concurrency);
    this.templates = config.template.install ? 'pending' : 'disabled';
    this.documentSettings = { mode: config.mode, namespace: config.namespace, indexPrefix: config.index_prefix, agentVersion: ctx.agentVersion };
    this.connection = new EsConnection({
      urls: config.urls,
      credentials: this.secrets.credentials,
      ca: this.secrets.ca,
      tlsVerify: config.tls_verify,
      compression: config.compression,
      requestTimeoutMs: config.request_timeout_ms,
      agentVersion: ctx.agentVersion,
    });
  }

  async start(): Promise<void> {
    this.started = true;
    try {
      await this.ensureReady();
    } catch (error) {
      this.logger.warn({ urls: this.publicUrls(), err: errorMessage(error) }, 'Elasticsearch is not reachable yet; retrying in the background');
      void this.retrySetupInBackground();
    }
  }

  async export(batch: readonly AgentRecord[]): Promise<void> {
    this.throwIfStopping();
    await this.ensureReady();
    let pending: BulkItem[] = [];
    for (const record of batch) {
      if (this.accepts.has(record.kind)) pending.push(this.prepare(record as ShippedRecord));
    }
    const backoff = new Backoff({ initialMs: this.config.retry.initial_ms, maxMs: this.config.retry.max_ms });
    while (pending.length > 0) {
      const outcomes = await this.sendAll(pending);
      const next: BulkItem[] = [];
      let retries = 0;
      let progressed = false;
      let lastRetry: ItemOutcome | undefined;
      const refused: { item: BulkItem; outcome: Extract<ItemOutcome, { result: 'refused' }> }[] = [];
      pending.forEach((item, i) => {
        const outcome = outcomes[i]!;
        switch (outcome.result) {
          case 'stored':
          case 'duplicate':
            progressed = true;
            this.countDelivered(item, outcome.result);
            break;
          case 'retry':
            retries++;
            lastRetry = outcome;
            next.push(item);
            break;
          case 'refused':
            progressed = true;
            refused.push({ item, outcome });
            if (!item.deadLetter) next.push(this.deadLetterItem(item.document, outcome));
            break;
        }
      });
      this.reportRefused(refused);
      this.noteRound(progressed, lastRetry);
      if (retries > 0) {
        this.counts.retried += retries;
        this.metrics.retried.inc(retries);
      }
      // Back off harder only while the cluster refuses most of what it is sent: doubling the wait on
      // every round of a 30% 429 share (~6 rounds until a 1,000-item batch is in) held each batch for
      // ~13 s while the pipeline behind it stood still; a round that got most items in starts over.
      if (retries * 2 < pending.length) backoff.reset();
      pending = next;
      if (pending.length > 0 && retries > 0) {
        await sleep(backoff.nextDelayMs(), this.stopping.signal);
        this.throwIfStopping();
      }
    }
    this.stalledRounds = 0;
  }

  /** Nothing is buffered here: export() returns only once Elasticsearch holds its batch. */
  async flush(): Promise<void> {}

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.connection.close();
  }

  health(): Health {
    if (!this.started) return { healthy: false, reason: 'Elasticsearch exporter not started' };
    if (!this.ready) return { healthy: false, reason: `Elasticsearch not reachable: ${this.setupError ?? 'connecting'}` };
    if (this.consecutiveFailures > 0) return { healthy: false, reason: `Elasticsearch bulk requests failing (${this.consecutiveFailures} in a row): ${this.lastError}` };
    if (this.stalledRounds >= STALLED_ROUNDS_UNHEALTHY) return { healthy: false, reason: `Elasticsearch keeps rejecting documents, retrying: ${this.lastItemError}` };
    return { healthy: true };
  }

  status(): Record<string, unknown> {
    const kinds = [...this.accepts] as ShippedRecord['kind'][];
    return {
      urls: this.publicUrls(),
      auth: this.secrets.credentials.kind,
      server_version: this.serverVersion ?? null,
      ready: this.ready,
      mode: this.config.mode,
      targets: this.config.mode === 'data_stream'
        ? Object.fromEntries(kinds.map((k) => [k, dataStreamName(k, this.config.namespace)]))
        : { all: `${this.config.index_prefix}-yyyy.MM.dd` },
      dead_letter_index: this.config.dead_letter_index,
      templates: this.templates,
      documents: {
        sent: this.counts.sent, stored: this.counts.stored, duplicates: this.counts.duplicates,
        dead_lettered: this.counts.deadLettered, retried: this.counts.retried, dropped: this.counts.dropped,
      },
      bulk_requests: this.counts.bulkRequests,
      failed_requests: this.counts.failedRequests,
      in_flight: this.limiter.running,
      consecutive_failures: this.consecutiveFailures,
      ...(this.lastError ? { last_error: this.lastError } : {}),
      ...(this.lastItemError ? { last_item_error: this.lastItemError } : {}),
      ...(this.setupError && !this.ready ? { setup_error: this.setupError } : {}),
    };
  }

  // ---- connection and templates ----------------------------------------------------------------

  private ensureReady(): Promise<void> {
    if (this.ready) return Promise.resolve();
    this.setupAttempt ??= this.setup().finally(() => { this.setupAttempt = undefined; });
    return this.setupAttempt;
  }

  private async setup(): Promise<void> {
    const signal = this.stopping.signal;
    try {
      const version = await this.connection.negotiate(signal);
      if (version !== this.serverVersion) {
        this.logger.info({ urls: this.publicUrls(), version }, 'connected to Elasticsearch');
        if (Number.parseInt(version, 10) < 8) this.logger.warn({ version }, 'Elasticsearch older than 8.x is not supported: data streams, date_nanos and match_only_text mappings may be refused');
      }
      this.serverVersion = version;
      if (this.templates === 'pending') await this.installTemplates(signal);
      this.ready = true;
      this.setupError = undefined;
    } catch (error) {
      const failure = describeFailure(error, this.scrub);
      this.setupError = failure.reason;
      throw new RetryableError(`Elasticsearch not ready: ${failure.reason}`, failure.retryAfterMs !== undefined ? { retryAfterMs: failure.retryAfterMs } : {});
    }
  }

  private async installTemplates(signal: AbortSignal): Promise<void> {
    const outcome = await installTemplates(this.connection, templatePlan(this.config), this.logger, this.scrub, signal);
    if (outcome.status === 'installed') {
      this.templates = 'installed';
      return;
    }
    this.templates = outcome.status;
    const advice = outcome.status === 'forbidden'
      ? 'grant the user manage_index_templates (and manage_ilm with ilm.enabled), install the templates yourself, or set template.install: false'
      : 'fix the template settings or install the templates yourself';
    // Shipping goes on either way: the cluster's own templates (or dynamic mappings) then apply.
    this.logger.warn({ resource: outcome.resource, err: outcome.failure.reason }, `could not install the Elasticsearch templates; documents are still shipped, with the cluster's default mappings: ${advice}`);
  }

  private async retrySetupInBackground(): Promise<void> {
    const backoff = new Backoff({ initialMs: this.config.retry.initial_ms, maxMs: this.config.retry.max_ms });
    while (!this.ready && !this.stopping.signal.aborted) {
      await sleep(backoff.nextDelayMs(), this.stopping.signal);
      if (this.stopping.signal.aborted) return;
      try {
        await this.ensureReady();
      } catch {
        // health() carries the reason; the log would repeat it every attempt.
      }
    }
  }

  // ---- bulk --------------------------------------------------------------------------------------

  private prepare(record: ShippedRecord): BulkItem {
    const document = toDocument(record, this.documentSettings);
    try {
      return encodeItem(document);
    } catch (error) {
      // A record that cannot even be serialised (a bigint in parsed JSON, say) goes to the dead letters with what can be kept.
      const kept = { '@timestamp': document.source['@timestamp'], message: document.source.message, container: document.source.container, host: document.source.host };
      return this.deadLetterItem({ ...document, source: kept }, { result: 'refused', status: 0, type: 'serialization_error', reason: errorMessage(error) });
    }
  }

  private deadLetterItem(document: PreparedDocument, outcome: Extract<ItemOutcome, { result: 'refused' }>): BulkItem {
    const refused = { document, status: outcome.status, type: outcome.type, reason: outcome.reason };
    return encodeItem(deadLetterDocument(refused, this.config.dead_letter_index, this.documentSettings.agentVersion), true);
  }

  /** Sends items in byte-bounded requests, at most batch.concurrency at once across all exports. */
  private async sendAll(items: readonly BulkItem[]): Promise<ItemOutcome[]> {
    const chunks = splitByBytes(items, this.config.batch.max_bytes);
    const results = await Promise.allSettled(chunks.map((chunk) => this.limiter.run(() => this.sendChunk(chunk))));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    return results.flatMap((r) => (r as PromiseFulfilledResult<ItemOutcome[]>).value);
  }

  private async sendChunk(chunk: readonly BulkItem[]): Promise<ItemOutcome[]> {
    this.throwIfStopping();
    const body = chunk.map((item) => item.ndjson).join('');
    const bytes = chunk.reduce((sum, item) => sum + item.bytes, 0);
    this.counts.sent += chunk.length;
    this.counts.bulkRequests++;
    this.metrics.sent.inc(chunk.length);
    this.metrics.bytesSent.inc(bytes);
    this.metrics.inFlight.inc();
    const end = this.metrics.bulkDuration.startTimer();
    let failure: Failure;
    try {
      const response = await this.connection.request({ method: 'POST', path: '/_bulk', bulkBody: body, querystring: { filter_path: BULK_FILTER_PATH } }, { signal: this.stopping.signal });
      const outcomes = itemOutcomes(response.body, chunk.length);
      this.requestSucceeded();
      return outcomes;
    } catch (error) {
      failure = describeFailure(error, this.scrub);
    } finally {
      end();
      this.metrics.inFlight.dec();
    }
    // The cluster answered, but refused the request itself: too large, or something in it is malformed.
    if (failure.status === 400 || failure.status === 413) {
      if (failure.type === 'media_type_header_exception') {
        this.connection.renegotiate();
        this.ready = false;
      } else {
        this.requestAnswered('refused');
        if (chunk.length === 1) return [{ result: 'refused', status: failure.status, type: failure.type ?? 'request_refused', reason: failure.reason }];
        // Halves find the document at fault; the others go through.
        const middle = Math.ceil(chunk.length / 2);
        return [...await this.sendChunk(chunk.slice(0, middle)), ...await this.sendChunk(chunk.slice(middle))];
      }
    }
    this.requestFailed(failure);
    throw new RetryableError(`Elasticsearch bulk request failed: ${failure.reason}`, failure.retryAfterMs !== undefined ? { retryAfterMs: failure.retryAfterMs } : {});
  }

  private requestSucceeded(): void {
    this.requestAnswered('ok');
  }

  /** The cluster answered (with item results, or by refusing the request as malformed or too large): it is reachable. */
  private requestAnswered(outcome: 'ok' | 'refused'): void {
    this.metrics.bulkRequests.inc({ outcome });
    if (this.consecutiveFailures > 0) this.logger.info({ after: this.consecutiveFailures }, 'Elasticsearch bulk requests succeed again');
    this.consecutiveFailures = 0;
    this.lastError = undefined;
    this.metrics.consecutiveFailures.set(0);
  }

  private requestFailed(failure: Failure): void {
    this.counts.failedRequests++;
    this.metrics.bulkRequests.inc({ outcome: 'error' });
    this.consecutiveFailures++;
    this.lastError = failure.reason;
    this.metrics.consecutiveFailures.set(this.consecutiveFailures);
  }

  private countDelivered(item: BulkItem, result: 'stored' | 'duplicate'): void {
    if (item.deadLetter) {
      this.counts.deadLettered++;
      this.metrics.deadLettered.inc();
    } else if (result === 'stored') {
      this.counts.stored++;
      this.metrics.stored.inc();
    } else {
      this.counts.duplicates++;
      this.metrics.duplicates.inc();
    }
  }

  private reportRefused(refused: { item: BulkItem; outcome: Extract<ItemOutcome, { result: 'refused' }> }[]): void {
    if (refused.length === 0) return;
    const lost = refused.filter((r) => r.item.deadLetter);
    const toDeadLetters = refused.length - lost.length;
    const sample = refused[0]!;
    if (toDeadLetters > 0) {
      this.logger.warn({ documents: toDeadLetters, dead_letter_index: this.config.dead_letter_index, index: sample.item.document.index, type: sample.outcome.type, reason: this.scrub(sample.outcome.reason) },
        'Elasticsearch refused documents; writing them to the dead-letter index');
    }
    if (lost.length > 0) {
      this.counts.dropped += lost.length;
      this.metrics.dropped.inc(lost.length);
      const first = lost[0]!;
      this.logger.error({ documents: lost.length, dead_letter_index: this.config.dead_letter_index, ids: lost.slice(0, 5).map((r) => r.item.document.id), type: first.outcome.type, reason: this.scrub(first.outcome.reason) },
        'Elasticsearch refused dead-letter documents too: they are lost');
    }
  }

  /** Tracks whether Elasticsearch takes anything at all; health turns once it keeps refusing everything. */
  private noteRound(progressed: boolean, lastRetry: ItemOutcome | undefined): void {
    if (lastRetry && lastRetry.result === 'retry') this.lastItemError = this.scrub(`HTTP ${lastRetry.status} ${lastRetry.type}: ${lastRetry.reason}`);
    if (progressed) this.stalledRounds = 0;
    else if (lastRetry) this.stalledRounds++;
  }

  private throwIfStopping(): void {
    if (this.stopping.signal.aborted) throw new RetryableError('Elasticsearch exporter stopping');
  }

  private publicUrls(): string[] {
    return this.config.urls.map(publicUrl);
  }
}

export const elasticsearchExporter = defineExporter({
  type: 'elasticsearch',
  configSchema: elasticsearchConfigSchema,
  isEnabled: (config) => config.enabled,
  create: (config, ctx) => new ElasticsearchExporter(config, ctx),
  fromEnv: elasticsearchConfigFromEnv,
});

export { elasticsearchConfigSchema, elasticsearchConfigFromEnv };
export type { ElasticsearchConfig };
