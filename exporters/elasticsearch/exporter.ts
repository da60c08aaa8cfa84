/**
 * The Elasticsearch exporter itself (index.ts declares it and loads this module only when enabled):
 * ECS documents into data streams (or daily indices) through `_bulk`.
 * One export() call sends its batch once (byte-bounded requests, at most batch.concurrency in
 * flight) and accounts for every record; the exporter runner alone sends anything again:
 *
 * - 201 stored, 409 already there from an earlier attempt (the `_id` is the record's deterministic
 *   id, written with `create`): delivered;
 * - 429, 5xx, index blocks: handed back in a PartialExportError's `retry`, only those items;
 * - other 4xx (mapping errors), and records that cannot be encoded at all: written to the dead-letter
 *   index with the reason; if that is refused too, handed back as `rejected`, for the runner's local
 *   dead-letter file — nothing is dropped;
 * - a request that fails as a whole, or is refused as a whole in a way not shown to be about one
 *   document (refusals.ts): an outage; its records are retried, /readyz says why, nothing is
 *   dead-lettered. A batch that got nowhere is a RetryableError.
 *
 * Config section `exporters.elasticsearch` (config.ts).
 */
import { setImmediate as pendingIo } from 'node:timers/promises';
import type { BatchSettings, Exporter, ExporterContext, Health } from '../../src/component.js';
import { PartialExportError, RetryableError, errorMessage, type RejectedRecord } from '../../src/errors.js';
import type { AgentRecord, RecordKind } from '../../src/records.js';
import { InternalEvent } from '../../src/telemetry/internal-event.js';
import type { Logger } from '../../src/telemetry/logger.js';
import { Backoff, sleep } from '../../src/util/backoff.js';
import { scrubber } from '../push/scrub.js';
import { BodyBuffers, BulkBody, Limiter, itemOutcomes, type ItemOutcome } from './bulk.js';
import { deprecatedLifecycleKey, exporterShape, gzipPays, resolveSecrets, type ElasticsearchConfig, type ResolvedSecrets } from './config.js';
import { EsConnection, describeFailure, publicUrl, type Failure } from './connection.js';
import { ActionPrefixes, MetricHistory, localHost, dataStreamName, deadLetterDocument, targetIndex, toDocument, writeLogItem, type DocumentSettings, type PreparedDocument, type ShippedRecord } from './documents.js';
import { ElasticsearchMetrics } from './metrics.js';
import { bisect, mayBeADocument, type Posted } from './refusals.js';
import { installTemplates, type Lifecycle } from './templates.js';

/**
 * Only what an item's fate needs (as Beats and Logstash ask): a full bulk answer is ~200 bytes an item
 * for the cluster to write and the agent to parse, most of it `_index`, `_version`, `_shards`, `_seq_no`.
 */
const BULK_FILTER_PATH = 'errors,items.*.error,items.*.status';
/** Records encoded between two looks at pending I/O (encode()): ~0.5 ms of work. */
const ENCODE_SLICE = 500;

/** While Elasticsearch does not answer, how often it is asked `GET /` (whenAnswering), and how long an answer may take. */
const PROBE_INTERVAL_MS = 500;
const PROBE_TIMEOUT_MS = 1_000;

/** Exports in a row in which Elasticsearch took none of the documents it was sent before health says so. */
const STALLED_ROUNDS_UNHEALTHY = 3;

type Refused = Extract<ItemOutcome, { result: 'refused' }>;
type ItemRetry = Extract<ItemOutcome, { result: 'retry' }>;

/**
 * One export's documents, written straight into one NDJSON body (no object per line): item `i` is
 * `records[i]`'s own document, or its dead letter when `deadLetterFor` has `i`.
 */
class Shipments {
  readonly records: AgentRecord[] = [];
  /** Items that are a record's dead letter: why its own document was refused (`type: reason`). */
  readonly deadLetterFor = new Map<number, string>();

  constructor(readonly body: BulkBody) {}

  get length(): number {
    return this.records.length;
  }
}

/** A record whose own document was refused, and its dead letter (encoded) still to be stored. */
interface PendingDeadLetter {
  readonly item: Buffer;
  readonly deadLetterFor: string;
}

/** What one export() call leaves for the runner, and what it saw on the way. */
class Leftovers {
  readonly retry: AgentRecord[] = [];
  readonly rejected: RejectedRecord<AgentRecord>[] = [];
  /** Something was stored, found already there, or dead-lettered. */
  progressed = false;
  itemRetries = 0;
  lastItemRetry: ItemRetry | undefined;
  wholeFailure: Failure | undefined;
  retryAfterMs: number | undefined;

  retryItem(record: AgentRecord, outcome: ItemRetry): void {
    this.retry.push(record);
    this.itemRetries++;
    this.lastItemRetry = outcome;
  }

  retryFailed(record: AgentRecord, failure: Failure): void {
    this.retry.push(record);
    this.wholeFailure ??= failure;
    if (failure.retryAfterMs !== undefined) this.retryAfterMs = Math.max(this.retryAfterMs ?? 0, failure.retryAfterMs);
  }

  /** Nothing got anywhere, and only because requests failed as a whole. */
  get nothingButOutage(): boolean {
    return !this.progressed && this.rejected.length === 0 && this.itemRetries === 0 && this.wholeFailure !== undefined;
  }
}

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
  /** The lifecycle the installed templates give dockhand's data (status()). */
  private lifecycle: Lifecycle | undefined;
  private consecutiveFailures = 0;
  /** The last request nothing answered (connection refused, timed out), until one is answered again. */
  private unanswered: Failure | undefined;
  /** The probe loop while the cluster does not answer and someone waits for it (whenAnswering). */
  private probe: { readonly answered: Promise<void>; readonly stop: AbortController; waiters: number } | undefined;
  private lastError: string | undefined;
  private stalledRounds = 0;
  private lastItemError: string | undefined;
  /** Bulk requests answered with per-item results so far: the evidence refusals.ts weighs suspects against. */
  private acceptedRequests = 0;
  /** Records refused alone without proof of their fault: acceptedRequests when first refused (refusals.ts, rule 3). */
  private readonly suspectSince = new WeakMap<AgentRecord, number>();
  /** Records whose own document was refused and whose dead letter is still to be stored: sent straight there when retried. */
  private readonly pendingDeadLetters = new WeakMap<AgentRecord, PendingDeadLetter>();
  private readonly bodyBuffers = new BodyBuffers();
  private readonly actionPrefixes: ActionPrefixes;
  /** Bytes of the last body, to size the next one's buffer. */
  private lastBodyBytes = 64 * 1024;
  /** The encoding in progress (encodeInTurn). */
  private encoding: Promise<void> = Promise.resolve();
  private readonly events: { readonly refusalOutage: InternalEvent<'by'>; readonly rejected: InternalEvent };
  private readonly counts = { sent: 0, stored: 0, duplicates: 0, deadLettered: 0, retried: 0, rejected: 0, bulkRequests: 0, failedRequests: 0, refusedRequests: 0 };

  constructor(private readonly config: ElasticsearchConfig, ctx: Pick<ExporterContext, 'logger' | 'metrics' | 'agentVersion'>) {
    this.secrets = resolveSecrets(config);
    this.scrub = scrubber(this.secrets.secretValues);
    this.logger = ctx.logger.child({ exporter: 'elasticsearch' });
    this.metrics = new ElasticsearchMetrics(ctx.metrics);
    this.events = {
      refusalOutage: new InternalEvent({
        metric: 'dockhand_elasticsearch_request_refusals_total',
        help: 'Bulk requests refused as a whole (HTTP 400/413) in a way not shown to be about one document (a proxy refusing the body, a body the cluster cannot read, every part refused alike): an outage, retried, nothing dead-lettered. By who answered (elasticsearch, proxy).',
        labels: ['by'],
        level: 'warn',
        message: 'Elasticsearch bulk requests are refused as a whole, not because of one document: treated as an outage, retrying',
      }, ctx.metrics, this.logger),
      rejected: new InternalEvent({
        metric: 'dockhand_elasticsearch_documents_rejected_total',
        help: 'Documents neither their index nor the dead-letter index would take (or that cannot be encoded at all): handed to the exporter runner, which keeps them in the local dead-letter file with the reason.',
        labels: [],
        level: 'error',
        message: 'Elasticsearch refused documents and their dead letters too: handing them to the local dead-letter file',
      }, ctx.metrics, this.logger),
    };
    ({ accepts: this.accepts, batching: this.batching, retry: this.retry } = exporterShape(config));
    this.limiter = new Limiter(config.batch.concurrency);
    this.templates = config.template.install ? 'pending' : 'disabled';
    this.documentSettings = {
      mode: config.mode, namespace: config.namespace, indexPrefix: config.index_prefix, agentVersion: ctx.agentVersion,
      ...(config.metrics.enabled ? { host: localHost(), metricHistory: new MetricHistory() } : {}),
    };
    this.actionPrefixes = new ActionPrefixes(this.documentSettings);
    this.connection = new EsConnection({
      urls: config.urls,
      credentials: this.secrets.credentials,
      ca: this.secrets.ca,
      tlsVerify: config.tls_verify,
      compression: gzipPays(config.compression, config.urls),
      requestTimeoutMs: config.request_timeout_ms,
      agentVersion: ctx.agentVersion,
    });
  }

  async start(): Promise<void> {
    this.started = true;
    const deprecated = deprecatedLifecycleKey(this.config);
    if (deprecated) this.logger.warn(deprecated);
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
    const left = new Leftovers();
    const acceptedAtStart = this.acceptedRequests;
    const shipments = await this.encodeInTurn(batch, left);
    const documents = shipments.length;
    const deadLetters = this.settle(shipments, await this.sendAll(shipments, acceptedAtStart), left);
    if (deadLetters.length > 0) this.settle(deadLetters, await this.sendAll(deadLetters, acceptedAtStart), left);
    this.conclude(left, documents);
  }

  /**
   * `batch` encoded into one body, after any other export's encoding (metric documents are rates
   * between a container's samples, read in order).
   */
  private encodeInTurn(batch: readonly AgentRecord[], left: Leftovers): Promise<Shipments> {
    const turn = this.encoding.then(() => this.encode(batch, left));
    this.encoding = turn.then(() => undefined, () => undefined);
    return turn;
  }

  /**
   * Encodes in slices of ENCODE_SLICE records, letting pending I/O run between them: a 2,000-line
   * body took 2-4 ms in one go, longer than the ~4 ms of lines a followed container's socket holds,
   * so the daemon waited on that stream meanwhile.
   */
  private async encode(batch: readonly AgentRecord[], left: Leftovers): Promise<Shipments> {
    const shipments = new Shipments(new BulkBody(this.bodyBuffers, this.lastBodyBytes));
    for (let i = 0; i < batch.length; i++) {
      if (i > 0 && i % ENCODE_SLICE === 0) {
        await pendingIo();
        if (this.stopping.signal.aborted) {
          shipments.body.release();
          this.throwIfStopping();
        }
      }
      const record = batch[i]!;
      if (this.accepts.has(record.kind)) this.prepare(record as ShippedRecord, shipments, left);
    }
    this.lastBodyBytes = Math.max(64 * 1024, shipments.body.size);
    return shipments;
  }

  /** Nothing is buffered here: export() returns only once Elasticsearch holds its batch. */
  async flush(): Promise<void> {}

  /**
   * Resolves once the cluster answers `GET /` again after requests went unanswered (one probe loop,
   * every PROBE_INTERVAL_MS, shared by every waiter and stopped when none is left). Never resolves
   * while the cluster answers, even with errors (429, 503): then the runner's backoff stands.
   */
  whenAnswering(signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      if (signal.aborted || !this.unanswered || this.stopping.signal.aborted) {
        if (signal.aborted) resolve();
        else signal.addEventListener('abort', () => resolve(), { once: true });
        return;
      }
      const probe = this.probe ??= this.startProbe();
      probe.waiters++;
      const leave = () => {
        signal.removeEventListener('abort', leave);
        if (--probe.waiters === 0 && this.probe === probe) {
          probe.stop.abort();
          this.probe = undefined;
        }
        resolve();
      };
      signal.addEventListener('abort', leave, { once: true });
      void probe.answered.then(leave);
    });
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    this.probe?.stop.abort();
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
      ...(this.lifecycle ? { lifecycle: this.lifecycle } : {}),
      documents: {
        sent: this.counts.sent, stored: this.counts.stored, duplicates: this.counts.duplicates,
        dead_lettered: this.counts.deadLettered, retried: this.counts.retried, rejected: this.counts.rejected,
      },
      bulk_requests: this.counts.bulkRequests,
      failed_requests: this.counts.failedRequests,
      refused_requests: this.counts.refusedRequests,
      request_refusals: this.events.refusalOutage.status(),
      in_flight: this.limiter.running,
      consecutive_failures: this.consecutiveFailures,
      ...(this.lastError ? { last_error: this.lastError } : {}),
      ...(this.lastItemError ? { last_item_error: this.lastItemError } : {}),
      ...(this.setupError && !this.ready ? { setup_error: this.setupError } : {}),
    };
  }

  // ---- connection and templates ----------------------------------------------------------------

  private startProbe(): NonNullable<ElasticsearchExporter['probe']> {
    const stop = new AbortController();
    const stopping = this.stopping.signal;
    const answered = (async () => {
      while (!stop.signal.aborted && !stopping.aborted && this.unanswered) {
        await sleep(PROBE_INTERVAL_MS, stop.signal);
        if (stop.signal.aborted || stopping.aborted) return;
        try {
          await this.connection.ping(PROBE_TIMEOUT_MS, stop.signal);
          this.logger.info({ after: this.unanswered?.reason }, 'Elasticsearch answers again; retrying now');
          this.unanswered = undefined;
        } catch {
          // Still not answering: the reason is already on health().
        }
      }
    })();
    const probe = { answered, stop, waiters: 0 };
    void answered.finally(() => { if (this.probe === probe) this.probe = undefined; });
    return probe;
  }

  /** Notes a request nothing answered: whenAnswering() then probes for the cluster's return. */
  private noteUnanswered(failure: Failure): void {
    if (failure.type === 'connection' || failure.type === 'timeout') this.unanswered = failure;
  }

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
      this.unanswered = undefined;
    } catch (error) {
      const failure = describeFailure(error, this.scrub);
      this.noteUnanswered(failure);
      this.setupError = failure.reason;
      throw new RetryableError(`Elasticsearch not ready: ${failure.reason}`, failure.retryAfterMs !== undefined ? { retryAfterMs: failure.retryAfterMs } : {});
    }
  }

  private async installTemplates(signal: AbortSignal): Promise<void> {
    const outcome = await installTemplates(this.connection, this.config, this.serverVersion ?? '0', this.logger, this.scrub, signal);
    if (outcome.status === 'installed') {
      this.templates = 'installed';
      this.lifecycle = outcome.lifecycle;
      if (outcome.changed.length > 0) {
        this.logger.info({ lifecycle: outcome.lifecycle, managed_components: outcome.managed }, outcome.managed.length > 0
          ? 'Elasticsearch templates composed with the cluster\'s managed templates'
          : 'Elasticsearch templates installed with dockhand\'s own settings (the cluster has no managed logs@/metrics@ templates)');
      }
      return;
    }
    this.templates = outcome.status;
    const advice = outcome.status === 'forbidden'
      ? 'grant the user manage_index_templates (and manage_ilm for an ILM lifecycle), install the templates yourself, or set template.install: false'
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

  // ---- one export: prepare, send, settle, conclude -------------------------------------------------

  /** Adds the record's document to `shipments`, or its dead letter when it cannot be encoded (or was refused before); nothing once rejected. */
  private prepare(record: ShippedRecord, shipments: Shipments, left: Leftovers): void {
    const { body } = shipments;
    const pending = this.pendingDeadLetters.get(record);
    if (pending) {
      shipments.deadLetterFor.set(shipments.length, pending.deadLetterFor);
      shipments.records.push(record);
      body.addEncoded(pending.item);
      return;
    }
    if (record.kind === 'log' && writeLogItem(body, this.actionPrefixes, record, this.documentSettings)) {
      shipments.records.push(record);
      return;
    }
    const document = toDocument(record, this.documentSettings);
    try {
      body.addDocument(document);
      shipments.records.push(record);
    } catch (error) {
      // Cannot be serialised (a bigint, JSON nested too deep for JSON.stringify): retrying cannot help.
      // The dead letter keeps what can be kept; the runner's dead-letter file gets the whole record if that is refused too.
      const kept = { '@timestamp': document.source['@timestamp'], message: document.source.message, container: document.source.container, host: document.source.host };
      this.addDeadLetter(shipments, record, { ...document, source: kept }, { result: 'refused', status: 0, type: 'serialization_error', reason: errorMessage(error) }, left);
    }
  }

  private addDeadLetter(shipments: Shipments, record: AgentRecord, document: PreparedDocument, refused: Refused, left: Leftovers): void {
    const cause = `${refused.type}: ${refused.reason}`;
    try {
      const letter = deadLetterDocument({ document, status: refused.status, type: refused.type, reason: refused.reason }, this.config.dead_letter_index, this.documentSettings.agentVersion);
      shipments.body.addDocument(letter);
      shipments.deadLetterFor.set(shipments.length, this.scrub(cause));
      shipments.records.push(record);
    } catch (error) {
      left.rejected.push({ record, reason: this.scrub(`${cause}; its dead-letter document cannot be encoded either: ${errorMessage(error)}`) });
    }
  }

  /** Sorts what Elasticsearch said about each item into `left`; returns the dead letters still to send. */
  private settle(shipments: Shipments, outcomes: readonly ItemOutcome[], left: Leftovers): Shipments {
    const { records, deadLetterFor, body } = shipments;
    const deadLetters = new Shipments(new BulkBody(this.bodyBuffers, 1024));
    const refused: { record: AgentRecord; outcome: Refused }[] = [];
    const delivered = { stored: 0, duplicates: 0, deadLettered: 0 };
    const anyLetters = deadLetterFor.size > 0;
    for (let i = 0; i < records.length; i++) {
      const outcome = outcomes[i]!;
      const record = records[i]!;
      const letter = anyLetters ? deadLetterFor.get(i) : undefined;
      switch (outcome.result) {
        case 'stored':
        case 'duplicate':
          left.progressed = true;
          if (letter !== undefined) {
            delivered.deadLettered++;
            this.pendingDeadLetters.delete(record);
          } else if (outcome.result === 'stored') delivered.stored++;
          else delivered.duplicates++;
          break;
        case 'retry':
          left.retryItem(record, outcome);
          if (letter !== undefined) this.pendingDeadLetters.set(record, { item: body.copyItem(i), deadLetterFor: letter });
          break;
        case 'failed':
          left.retryFailed(record, outcome.failure);
          if (letter !== undefined) this.pendingDeadLetters.set(record, { item: body.copyItem(i), deadLetterFor: letter });
          break;
        case 'refused':
          left.progressed = true;
          if (letter === undefined) {
            refused.push({ record, outcome });
            this.addDeadLetter(deadLetters, record, toDocument(record as ShippedRecord, this.documentSettings), outcome, left);
          } else {
            this.pendingDeadLetters.delete(record);
            left.rejected.push({ record, reason: this.scrub(`${letter}; the dead-letter index ${this.config.dead_letter_index} refused it too: ${outcome.type}: ${outcome.reason}`) });
          }
          break;
      }
    }
    body.release();
    this.countDelivered(delivered);
    this.reportRefused(refused);
    return deadLetters;
  }

  /** Counts, health, and what the runner is told: nothing (all taken), a partial result, or a RetryableError. */
  private conclude(left: Leftovers, documents: number): void {
    if (left.itemRetries > 0) {
      this.counts.retried += left.itemRetries;
      this.metrics.retried.inc(left.itemRetries);
    }
    if (left.rejected.length > 0) {
      this.counts.rejected += left.rejected.length;
      this.events.rejected.emit({}, { ids: left.rejected.slice(0, 5).map((r) => (r.record as { id?: string }).id), reason: left.rejected[0]!.reason }, left.rejected.length);
    }
    this.noteRound(left);
    if (left.retry.length === 0 && left.rejected.length === 0) return;
    const retryAfter = left.retryAfterMs !== undefined ? { retryAfterMs: left.retryAfterMs } : {};
    if (left.nothingButOutage) throw new RetryableError(`Elasticsearch bulk request failed: ${left.wholeFailure!.reason}`, retryAfter);
    const why = left.wholeFailure ? left.wholeFailure.reason : left.lastItemRetry ? `HTTP ${left.lastItemRetry.status} ${left.lastItemRetry.type}` : 'refused';
    throw new PartialExportError(`Elasticsearch took ${documents - left.retry.length - left.rejected.length} of ${documents} documents; `
      + `${left.retry.length} to send again, ${left.rejected.length} rejected (${this.scrub(why)})`, left.retry, left.rejected, retryAfter);
  }

  // ---- bulk requests -----------------------------------------------------------------------------

  /** Sends the items in byte-bounded requests, at most batch.concurrency at once across all exports: one outcome each. */
  private async sendAll(shipments: Shipments, acceptedAtStart: number): Promise<ItemOutcome[]> {
    const outcomes = new Array<ItemOutcome>(shipments.length);
    if (shipments.length === 0) return outcomes;
    const ranges = shipments.body.ranges(this.config.batch.max_bytes);
    const results = await Promise.allSettled(ranges.map(([from, to]) => this.limiter.run(async () => {
      const answered = await this.sendRange(shipments, from, to, acceptedAtStart);
      for (let i = 0; i < answered.length; i++) outcomes[from + i] = answered[i]!;
    })));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    return outcomes;
  }

  /**
   * One request (items `from` to `to`); a refusal of it as a whole is bisected to tell a document at
   * fault from an outage (refusals.ts). `acceptedAtStart`: acceptedRequests when the export began,
   * the evidence baseline.
   */
  private async sendRange(shipments: Shipments, from: number, to: number, acceptedAtStart: number): Promise<readonly ItemOutcome[]> {
    const { body, records } = shipments;
    const count = to - from;
    const posted = await this.post(body, from, to);
    if ('outcomes' in posted) return posted.outcomes;
    if (!mayBeADocument(posted.failure)) return this.outage(count, posted.failure, isRefusal(posted.failure) ? 'not about one document' : undefined);
    const items = Array.from({ length: count }, (_, i) => from + i);
    const bisected = await bisect(items, posted.failure, (part) => this.post(body, part[0]!, part[part.length - 1]! + 1));
    if (bisected.kind === 'outage') return this.outage(count, bisected.failure, isRefusal(bisected.failure) ? 'every part refused alike, not one document\'s fault' : undefined);
    const outcomes: ItemOutcome[] = [];
    const unproven: number[] = [];
    const confirm: number[] = [];
    for (let i = 0; i < count; i++) {
      const known = bisected.outcomes[i];
      if (known) outcomes[i] = known;
      else if (this.provenAtFault(records[from + i]!, acceptedAtStart)) confirm.push(i);
      else unproven.push(i);
    }
    // The acceptance that convicts may have crossed this refusal in flight (requests sent side by side as
    // a refusing cluster recovers): the suspect is sent alone once more, now that an acceptance is in.
    await Promise.all(confirm.map(async (i) => {
      const again = await this.post(body, from + i, from + i + 1);
      if ('outcomes' in again) outcomes[i] = again.outcomes[0]!;
      else if (mayBeADocument(again.failure)) outcomes[i] = { result: 'refused', status: again.failure.status ?? 0, type: again.failure.type ?? 'request_refused', reason: again.failure.reason };
      else outcomes[i] = this.outage(1, again.failure, 'refused alone, then refused otherwise: not shown to be the document\'s fault')[0]!;
    }));
    if (unproven.length > 0) {
      const failed = this.outage(unproven.length, bisected.suspects.get(unproven[0]!)!, 'refused alone, but no request was accepted since: not shown to be the document\'s fault');
      unproven.forEach((i, n) => { outcomes[i] = failed[n]!; });
    }
    return outcomes;
  }

  /**
   * A document refused alone is at fault once the cluster accepted another request since this export
   * began, or since the document was first refused alone (refusals.ts, rule 3); until then it is
   * remembered as a suspect and retried.
   */
  private provenAtFault(record: AgentRecord, acceptedAtStart: number): boolean {
    const since = Math.min(this.suspectSince.get(record) ?? acceptedAtStart, acceptedAtStart);
    if (this.acceptedRequests > since) {
      this.suspectSince.delete(record);
      return true;
    }
    this.suspectSince.set(record, since);
    return false;
  }

  /**
   * The request (or these documents of it) could not be stored for a reason that is not theirs: they
   * are retried, and health says why. `refusal`: why a refusal of the request counts as an outage
   * (failures that are not refusals were noted when they happened).
   */
  private outage(count: number, failure: Failure, refusal?: string): ItemOutcome[] {
    let reported = failure;
    if (refusal !== undefined) {
      reported = { ...failure, reason: `refused as a whole, ${refusal}: ${failure.reason}` };
      this.events.refusalOutage.emit({ by: failure.fromElasticsearch ? 'elasticsearch' : 'proxy' }, { status: failure.status, type: failure.type, reason: failure.reason, documents: count });
      this.requestFailed(reported.reason);
    }
    return new Array<ItemOutcome>(count).fill({ result: 'failed', failure: reported });
  }

  /** Sends items `from` to `to` of `body` as one bulk request: per-item outcomes, or how it failed as a whole. Throws only when stopping. */
  private async post(body: BulkBody, from: number, to: number): Promise<Posted> {
    this.throwIfStopping();
    const bytes = body.slice(from, to);
    const count = to - from;
    this.counts.sent += count;
    this.counts.bulkRequests++;
    this.metrics.sent.inc(count);
    this.metrics.bytesSent.inc(bytes.length);
    this.metrics.inFlight.inc();
    const end = this.metrics.bulkDuration.startTimer();
    try {
      const response = await this.connection.request({ method: 'POST', path: '/_bulk', bulkBody: bytes, querystring: { filter_path: BULK_FILTER_PATH } }, { signal: this.stopping.signal });
      const outcomes = itemOutcomes(response.body, count);
      this.requestAccepted();
      return { outcomes };
    } catch (error) {
      // The request may still be on a socket: its bytes must not be reused.
      body.keepBuffer();
      this.throwIfStopping();
      const failure = describeFailure(error, this.scrub);
      this.noteUnanswered(failure);
      if (failure.type === 'media_type_header_exception') {
        // The cluster was up- or downgraded under us: negotiate again before the next export.
        this.connection.renegotiate();
        this.ready = false;
      }
      if (isRefusal(failure)) {
        this.counts.refusedRequests++;
        this.metrics.bulkRequests.inc({ outcome: 'refused' });
      } else {
        this.counts.failedRequests++;
        this.metrics.bulkRequests.inc({ outcome: 'error' });
        this.requestFailed(failure.reason);
      }
      return { failure };
    } finally {
      end();
      this.metrics.inFlight.dec();
    }
  }

  /** The cluster answered with item results: it takes requests. */
  private requestAccepted(): void {
    this.acceptedRequests++;
    this.unanswered = undefined;
    this.metrics.bulkRequests.inc({ outcome: 'ok' });
    if (this.consecutiveFailures > 0) this.logger.info({ after: this.consecutiveFailures }, 'Elasticsearch bulk requests succeed again');
    this.consecutiveFailures = 0;
    this.lastError = undefined;
    this.metrics.consecutiveFailures.set(0);
  }

  private requestFailed(reason: string): void {
    this.consecutiveFailures++;
    this.lastError = reason;
    this.metrics.consecutiveFailures.set(this.consecutiveFailures);
  }

  private countDelivered(delivered: { stored: number; duplicates: number; deadLettered: number }): void {
    if (delivered.stored > 0) {
      this.counts.stored += delivered.stored;
      this.metrics.stored.inc(delivered.stored);
    }
    if (delivered.duplicates > 0) {
      this.counts.duplicates += delivered.duplicates;
      this.metrics.duplicates.inc(delivered.duplicates);
    }
    if (delivered.deadLettered > 0) {
      this.counts.deadLettered += delivered.deadLettered;
      this.metrics.deadLettered.inc(delivered.deadLettered);
    }
  }

  private reportRefused(refused: readonly { record: AgentRecord; outcome: Refused }[]): void {
    if (refused.length === 0) return;
    const sample = refused[0]!;
    this.logger.warn({ documents: refused.length, dead_letter_index: this.config.dead_letter_index, index: targetIndex(sample.record as ShippedRecord, this.documentSettings), type: sample.outcome.type, reason: this.scrub(sample.outcome.reason) },
      'Elasticsearch refused documents; writing them to the dead-letter index');
  }

  /** Tracks whether Elasticsearch takes anything at all; health turns once it keeps refusing everything. */
  private noteRound(left: Leftovers): void {
    const last = left.lastItemRetry;
    if (last) this.lastItemError = this.scrub(`HTTP ${last.status} ${last.type}: ${last.reason}`);
    if (left.progressed || left.rejected.length > 0) this.stalledRounds = 0;
    else if (last) this.stalledRounds++;
  }

  private throwIfStopping(): void {
    if (this.stopping.signal.aborted) throw new RetryableError('Elasticsearch exporter stopping');
  }

  private publicUrls(): string[] {
    return this.config.urls.map(publicUrl);
  }
}

/** Refused as a whole (malformed or too large) rather than failed: the request got an answer. */
function isRefusal(failure: Failure): boolean {
  return failure.status === 400 || failure.status === 413;
}
