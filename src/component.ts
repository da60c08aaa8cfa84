/**
 * The contracts between the rooms: collectors produce records, exporters store them,
 * the agent wires them. A collector never sees an exporter; an exporter never sees Docker.
 */
import type { AgentRecord, RecordKind } from './records.js';
import type { Logger } from './telemetry/logger.js';
import type { SelfMetrics } from './telemetry/metrics.js';
import type { StateStore } from './state/store.js';
import type { DockerConnection } from './docker/connection.js';
import type { Inventory, InventoryView } from './docker/inventory.js';

export interface Health {
  readonly healthy: boolean;
  /** Why not healthy, for /readyz and /status. */
  readonly reason?: string;
}

export interface CollectorContext {
  readonly signal: AbortSignal;
  /** Resolves once the records are queued for every exporter that accepts them (backpressure). */
  emit(records: readonly AgentRecord[]): Promise<void>;
  readonly docker: DockerConnection;
  readonly inventory: Inventory;
  readonly logger: Logger;
  readonly metrics: SelfMetrics;
  readonly state: StateStore;
}

export interface Collector {
  readonly id: string;
  /** Runs until ctx.signal aborts, then returns after it has stopped cleanly. Never throws for a daemon outage. */
  run(ctx: CollectorContext): Promise<void>;
  /** Counters and state for /status. */
  status?(): Record<string, unknown>;
}

export interface ExporterContext {
  readonly logger: Logger;
  readonly metrics: SelfMetrics;
  readonly dataDir: string;
  /** Container states (not Docker): for exporters that render state, like Prometheus. */
  readonly inventory: InventoryView;
  readonly agentVersion: string;
}

export interface Exporter {
  readonly id: string;
  readonly accepts: ReadonlySet<RecordKind>;
  /** Prepares the exporter. Must not throw for an unreachable backend: report it through health(). */
  start(): Promise<void>;
  /**
   * Stores a batch (always of one record kind); resolves only once stored. Throws RetryableError,
   * PermanentError, or PartialExportError (part stored). Each kind has its own lane in the runner, so
   * calls for different kinds may run at once (and `batching.concurrency` calls for logs).
   */
  export(batch: readonly AgentRecord[]): Promise<void>;
  flush(): Promise<void>;
  stop(): Promise<void>;
  health(): Health;
  status?(): Record<string, unknown>;
  /**
   * Resolves once a backend that did not answer at all (connection refused, timed out) answers a cheap
   * probe again; never while it answers, even with errors. The runner races its backoff sleep with it,
   * so the first retry goes out as soon as the backend is back, not after a long backoff.
   * Resolves (or never) when `signal` aborts; optional.
   */
  whenAnswering?(signal: AbortSignal): Promise<void>;
  /** A prom-client registry whose metrics are served on /metrics beside the agent's own. */
  readonly registry?: import('prom-client').Registry;
  /** How the exporter helper should batch for this exporter; defaults apply where absent. */
  readonly batching?: Partial<BatchSettings>;
  /** Backoff of the exporter helper's whole-batch retries; defaults apply where absent. */
  readonly retry?: { readonly initialMs: number; readonly maxMs: number };
  /**
   * Where the exporter runner writes this exporter's dead letters (records it rejected for good);
   * default `<data_dir>/dead-letters`. The file sink sets its records folder, so they sit beside its records.
   */
  readonly deadLetterDir?: string;
}

export interface BatchSettings {
  /** Most records per export() call. */
  readonly maxRecords: number;
  /** Most record bytes per export() call (estimated as queued, src/pipeline/record-bytes.ts); at least one record. */
  readonly maxBytes: number;
  /** How long to wait for a fuller batch once one record is there. */
  readonly lingerMs: number;
  /** export() calls in flight at once. */
  readonly concurrency: number;
  /** Log records the exporter's log lane holds before emit waits (events and metrics have lanes of their own). */
  readonly queueSize: number;
  /** Log record bytes (estimated) the log lane holds before emit waits: the bound that holds for long lines. */
  readonly queueBytes: number;
  /** Of the log lane. block: emit waits for room (nothing lost); drop_newest: records that do not fit are dropped and counted. */
  readonly whenFull: 'block' | 'drop_newest';
}

/** How a collector type is declared in collectors/index.ts: its config section and how to build it. */
export interface CollectorFactory<S extends import('zod').ZodType = import('zod').ZodType> {
  readonly type: string;
  readonly configSchema: S;
  /** The record kinds it emits: a collector none of whose kinds any exporter takes is not run. */
  readonly produces: readonly RecordKind[];
  create(config: import('zod').output<S>, deps: CollectorDeps): Collector;
}

/** What a collector may know at construction time besides its own config section (narrow: never the whole config). */
export interface CollectorDeps {
  readonly dataDir: string;
  readonly agentVersion: string;
}

/** How an exporter type is declared in exporters/index.ts. */
export interface ExporterFactory<S extends import('zod').ZodType = import('zod').ZodType> {
  readonly type: string;
  readonly configSchema: S;
  /**
   * Whether the exporter runs with this config (most have an `enabled` key). `exporters` is every
   * exporter's section, for a default that depends on another (the file sink stands in for Elasticsearch).
   */
  isEnabled(config: import('zod').output<S>, exporters: Readonly<Record<string, unknown>>): boolean;
  create(config: import('zod').output<S>, ctx: ExporterContext): Exporter;
  /** Maps environment variables (ELASTICSEARCH_URL, …) onto this exporter's config section. */
  fromEnv?(env: NodeJS.ProcessEnv): Record<string, unknown> | undefined;
}

export function defineCollector<S extends import('zod').ZodType>(factory: CollectorFactory<S>): CollectorFactory<S> {
  return factory;
}

export function defineExporter<S extends import('zod').ZodType>(factory: ExporterFactory<S>): ExporterFactory<S> {
  return factory;
}
