/**
 * Runs collectors the way the agent does, without the agent: a real DockerConnection and
 * Inventory (kept current by the agent's InventoryService) against the test daemon, a StateStore in a temp dir, and an `emit` that stores
 * records in an array (and, like an exporter, takes and releases its share of each ack). An
 * optional `sink` sees each batch too (e.g. the Prometheus exporter's export()).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Collector, CollectorContext } from '../../src/component.js';
import { DockerConnection } from '../../src/docker/connection.js';
import { resolveEndpoint } from '../../src/docker/endpoint.js';
import { Inventory } from '../../src/docker/inventory.js';
import { InventoryService } from '../../src/docker/inventory-service.js';
import { releaseAcks, retainAcks } from '../../src/pipeline/ack.js';
import type { AgentRecord } from '../../src/records.js';
import { StateStore } from '../../src/state/store.js';
import { silentLogger, type Logger } from '../../src/telemetry/logger.js';
import { SelfMetrics } from '../../src/telemetry/metrics.js';
import { waitFor } from './wait.js';

export interface HarnessOptions {
  readonly labelAllow?: readonly string[];
  /** Reuse a state dir (to run a collector again where the last one stopped). */
  readonly stateDir?: string;
  readonly sink?: (records: readonly AgentRecord[]) => Promise<void>;
  readonly logger?: Logger;
  /** node-cron schedule of the inventory's full re-sync (default every 5 minutes). */
  readonly resyncSchedule?: string;
}

export class CollectorHarness {
  readonly records: AgentRecord[] = [];
  readonly metrics = new SelfMetrics({ defaultMetrics: false });
  private readonly running = new Map<Collector, { stop: AbortController; done: Promise<void> }>();

  private constructor(
    readonly connection: DockerConnection,
    readonly inventory: Inventory,
    readonly inventoryService: InventoryService,
    readonly state: StateStore,
    readonly stateDir: string,
    private readonly ownsStateDir: boolean,
    private readonly logger: Logger,
    private readonly sink: HarnessOptions['sink'],
  ) {}

  static async create(options: HarnessOptions = {}): Promise<CollectorHarness> {
    const logger = options.logger ?? silentLogger();
    const metrics = new SelfMetrics({ defaultMetrics: false });
    const endpoint = resolveEndpoint({ host: process.env.DOCKER_HOST, tlsVerify: process.env.DOCKER_TLS_VERIFY === '1', certPath: process.env.DOCKER_CERT_PATH });
    const connection = new DockerConnection(endpoint, { reconnectInitialMs: 100, reconnectMaxMs: 2000, requestTimeoutMs: 15_000 }, logger, metrics);
    const inventory = new Inventory(options.labelAllow ?? [], logger);
    connection.on('up', () => { if (connection.info) inventory.hostName = connection.info.hostName; });
    const stateDir = options.stateDir ?? (await mkdtemp(path.join(os.tmpdir(), 'dockhand-harness-')));
    const state = new StateStore(stateDir);
    await state.init();
    connection.start();
    const inventoryService = new InventoryService(inventory, connection, { resyncSchedule: options.resyncSchedule ?? '*/5 * * * *' }, logger, metrics);
    inventoryService.start();
    return new CollectorHarness(connection, inventory, inventoryService, state, stateDir, options.stateDir === undefined, logger, options.sink);
  }

  context(signal: AbortSignal): CollectorContext {
    return {
      signal,
      emit: async (records) => {
        retainAcks(records);
        this.records.push(...records);
        try {
          await this.sink?.(records);
        } finally {
          releaseAcks(records);
        }
      },
      docker: this.connection,
      inventory: this.inventory,
      logger: this.logger,
      metrics: this.metrics,
      state: this.state,
    };
  }

  start(collector: Collector): void {
    const stop = new AbortController();
    this.running.set(collector, { stop, done: collector.run(this.context(stop.signal)) });
  }

  /** Aborts the collector and waits for run() to return (fails the test if it takes over 5 s). */
  async stop(collector: Collector): Promise<number> {
    const entry = this.running.get(collector);
    if (!entry) return 0;
    this.running.delete(collector);
    const started = Date.now();
    entry.stop.abort();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([entry.done, new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${collector.id} did not return within 5 s of abort`)), 5000); })]);
    clearTimeout(timer);
    return Date.now() - started;
  }

  /** Waits until the collector says it is connected (status().connected). */
  async waitConnected(collector: Collector, timeoutMs = 20_000): Promise<void> {
    await waitFor(() => collector.status?.().connected === true, { timeoutMs, what: `${collector.id} connected` });
  }

  async close(): Promise<void> {
    for (const collector of [...this.running.keys()]) await this.stop(collector).catch(() => undefined);
    await this.inventoryService.close();
    await this.connection.stop();
    if (this.ownsStateDir) await rm(this.stateDir, { recursive: true, force: true });
  }
}
