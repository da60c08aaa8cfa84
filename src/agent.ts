/**
 * The only place that knows every room: builds the Docker connection, inventory, exporters,
 * pipeline and collectors from the config, starts them in order (exporters → pipeline →
 * inventory → collectors → HTTP) and stops them in reverse, draining queues within the grace period.
 * Each component gets the narrow settings it uses, never the whole config.
 */
import type { Config } from '../config/schema.js';
import { collectorFactories } from '../collectors/index.js';
import { exporterFactories } from '../exporters/index.js';
import type { Collector, CollectorContext, CollectorFactory, Exporter, Health } from './component.js';
import type { RecordKind } from './records.js';
import { DockerConnection } from './docker/connection.js';
import { resolveEndpoint } from './docker/endpoint.js';
import { Inventory } from './docker/inventory.js';
import { InventoryService } from './docker/inventory-service.js';
import { ExporterRunner } from './pipeline/exporter-runner.js';
import { Router } from './pipeline/router.js';
import { DeadLetterFiles } from './pipeline/dead-letter-file.js';
import { deadLetterEvents, type DeadLetterEvents } from './pipeline/pipeline-events.js';
import { StateStore } from './state/store.js';
import type { Logger } from './telemetry/logger.js';
import { SelfMetrics } from './telemetry/metrics.js';
import { errorMessage } from './errors.js';
import { withDeadline } from './util/backoff.js';
import { AGENT_VERSION } from './version.js';
import { startHttpServer, type HttpServer, type HttpServerOptions } from './server/index.js';
import { loadAuthenticator } from './server/auth.js';
import { loadServerTls } from './server/tls.js';
import { containerTop, TopError } from '../collectors/stats/index.js';
import { LivePage } from './ui/live-page.js';
import { livePageView } from './ui/page-view.js';
import type { LivePageView } from './ui/routes.js';

export interface Readiness {
  readonly ready: boolean;
  readonly checks: Record<string, Health>;
}

export class Agent {
  readonly metrics = new SelfMetrics();
  readonly connection: DockerConnection;
  readonly inventory: Inventory;
  readonly inventoryService: InventoryService;
  readonly state: StateStore;
  readonly runners: ExporterRunner[];
  readonly collectors: Collector[];
  /** Enabled collectors that are not run, and why (no exporter takes what they produce). */
  readonly idleCollectors = new Map<string, string>();
  /** The record kinds each collector produces (by collector id), for the live page's graph. */
  private readonly collectorKinds = new Map<string, readonly RecordKind[]>();
  /** The live page's own state: containers' recent history, last events, open tails. */
  readonly livePage: LivePage;
  readonly page: LivePageView;
  private readonly router: Router;
  private readonly deadLetterEvents: DeadLetterEvents;
  private readonly collectorsStop = new AbortController();
  private collectorRuns: Promise<void>[] = [];
  private server: HttpServer | undefined;
  /** TLS and credentials read at construction: a bad file is a configuration error (exit 2), not a failed start. */
  private readonly serverOptions: HttpServerOptions;
  private started = false;
  private stopping: Promise<StopResult> | undefined;

  constructor(readonly config: Config, readonly logger: Logger) {
    this.serverOptions = {
      listen: config.listen,
      tls: loadServerTls(config.server.tls),
      auth: loadAuthenticator(config.server.auth),
      openPaths: config.server.auth.open_paths,
      statusTop: config.server.status_top,
      allowedHosts: config.server.allowed_hosts,
    };
    this.connection = new DockerConnection(
      resolveEndpoint({
        host: config.docker.host,
        tlsVerify: config.docker.tls_verify,
        certPath: config.docker.cert_path,
        context: config.docker.context,
        configDir: config.docker.config_dir,
      }),
      { reconnectInitialMs: config.docker.reconnect_initial_ms, reconnectMaxMs: config.docker.reconnect_max_ms, requestTimeoutMs: config.docker.request_timeout_ms },
      logger.child({ component: 'docker' }),
      this.metrics,
    );
    this.inventory = new Inventory(config.labels.allow, logger.child({ component: 'inventory' }));
    this.connection.on('up', () => {
      if (!this.connection.info) return;
      this.inventory.hostName = this.connection.info.hostName;
      this.inventory.cgroupDriver = this.connection.info.cgroupDriver;
    });
    this.inventoryService = new InventoryService(this.inventory, this.connection, { resyncSchedule: config.inventory.resync_schedule }, logger.child({ component: 'inventory' }), this.metrics);
    this.state = new StateStore(`${config.data_dir}/state`);
    this.deadLetterEvents = deadLetterEvents(this.metrics, logger.child({ component: 'dead-letters' }));
    const deadLetters = new DeadLetterFiles(this.deadLetterEvents, `${config.data_dir}/dead-letters`);
    this.runners = this.createExporters().map(
      (exporter) => new ExporterRunner(exporter, logger.child({ component: `exporter:${exporter.id}` }), this.metrics, {
        queueSize: config.pipeline.queue_size,
        queueBytes: config.pipeline.queue_bytes,
        whenFull: config.pipeline.when_full,
        ...exporter.batching,
      }, exporter.retry, deadLetters.for(exporter), {
        eventMemoryRecords: config.pipeline.events.memory_records,
        spillMaxBytes: config.pipeline.events.spill_max_bytes,
        spillDir: `${config.data_dir}/spill/${exporter.id}`,
        metricRecords: config.pipeline.metrics.queue_size,
      }),
    );
    this.router = new Router(this.runners);
    this.collectors = this.createCollectors();
    this.livePage = new LivePage({ statsIntervalMs: (config.collectors as { stats?: { interval_ms?: number } }).stats?.interval_ms ?? 10_000, eventsKept: 200 });
    this.inventory.on('removed', () => this.livePage.history.keepOnly((id) => this.inventory.get(id) !== undefined));
    this.page = livePageView(this.livePage, this.inventory, {
      readiness: () => this.readiness(),
      metrics: this.metrics,
      collectors: () => [
        ...this.collectors.map((c) => {
          const kinds = this.collectorKinds.get(c.id) ?? [];
          return { id: c.id, kinds, running: !this.collectorFailures.has(c.id), emitted: this.livePage.emittedOf(kinds), status: this.collectorStatus(c) };
        }),
        ...[...this.idleCollectors].map(([id, reason]) => ({ id, kinds: [], running: false, emitted: 0, status: { reason } })),
      ],
      exporters: () => this.runners.map((r) => ({ id: r.id, accepts: [...r.exporter.accepts], health: r.health(), status: r.status() })),
    });
    this.registerReadinessMetrics();
  }

  /** dockhand_ready and dockhand_component_ready, computed at scrape time from readiness(). */
  private registerReadinessMetrics(): void {
    const agent = this;
    this.metrics.gauge('dockhand_ready', '1 when the daemon answers and every exporter is healthy (as /readyz).', [], function collect() {
      this.set(agent.readiness().ready ? 1 : 0);
    });
    this.metrics.gauge('dockhand_component_ready', '1 when a part of the agent is healthy, by component.', ['component'], function collect() {
      this.reset();
      for (const [component, health] of Object.entries(agent.readiness().checks)) this.set({ component }, health.healthy ? 1 : 0);
    });
    this.metrics.gauge('dockhand_containers_tracked', 'Containers in the inventory.', [], function collect() {
      this.set(agent.inventory.size);
    });
  }

  private createExporters(): Exporter[] {
    const sections = this.config.exporters as Record<string, unknown>;
    return exporterFactories
      .filter((factory) => factory.isEnabled(sections[factory.type], sections))
      .map((factory) => factory.create(sections[factory.type], {
        logger: this.logger.child({ component: `exporter:${factory.type}` }),
        metrics: this.metrics,
        dataDir: this.config.data_dir,
        inventory: this.inventory,
        agentVersion: AGENT_VERSION,
      }));
  }

  /**
   * Enabled collectors whose records some exporter takes. One whose kinds no exporter accepts is
   * not run at all (its checkpoints stay where they are, so enabling a sink later ships from there).
   */
  private createCollectors(): Collector[] {
    const sections = this.config.collectors as Record<string, { enabled?: boolean } | undefined>;
    const taken = new Set<RecordKind>(this.runners.flatMap((r) => [...r.exporter.accepts]));
    const create = (factory: CollectorFactory) => factory.create(sections[factory.type], { dataDir: this.config.data_dir, agentVersion: AGENT_VERSION });
    const collectors: Collector[] = [];
    for (const factory of collectorFactories.filter((f) => sections[f.type]?.enabled !== false)) {
      if (factory.produces.some((kind) => taken.has(kind))) {
        const collector = create(factory);
        this.collectorKinds.set(collector.id, factory.produces);
        collectors.push(collector);
      } else this.idleCollectors.set(factory.type, `no exporter takes ${factory.produces.join(' or ')} records`);
    }
    return collectors;
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.state.init();
    for (const runner of this.runners) {
      await runner.exporter.start();
      await runner.start();
    }
    this.connection.start();
    this.inventoryService.start();
    for (const [collector, reason] of this.idleCollectors) this.logger.warn({ collector, reason }, 'collector not run');
    for (const collector of this.collectors) this.collectorRuns.push(this.runCollector(collector));
    this.server = await startHttpServer(this, this.serverOptions, this.logger.child({ component: 'http' }));
    this.logger.info({ listen: this.server.address, http: { tls: this.server.scheme === 'https', authentication: this.serverOptions.auth !== undefined, status_top: this.serverOptions.statusTop }, docker: this.connection.description, version: AGENT_VERSION, exporters: this.runners.map((r) => r.id), collectors: this.collectors.map((c) => c.id) }, 'dockhand started');
  }

  private async runCollector(collector: Collector): Promise<void> {
    const ctx: CollectorContext = {
      signal: this.collectorsStop.signal,
      // The live page looks at each batch on its way in (a count, no await); the router fans it out.
      emit: (records) => {
        this.livePage.observe(records, this.pageFailed);
        return this.router.emit(records);
      },
      docker: this.connection,
      inventory: this.inventory,
      logger: this.logger.child({ component: `collector:${collector.id}` }),
      metrics: this.metrics,
      state: this.state,
    };
    try {
      await collector.run(ctx);
    } catch (error) {
      // A collector that dies is a bug; keep the rest of the agent running and say so on /readyz.
      this.collectorFailures.set(collector.id, errorMessage(error));
      this.logger.error({ collector: collector.id, err: errorMessage(error) }, 'collector failed');
    }
  }

  private readonly collectorFailures = new Map<string, string>();
  private readonly pageFailed = (error: unknown) => this.logger.warn({ err: errorMessage(error) }, 'live page could not take a batch (shipping goes on)');

  readiness(): Readiness {
    const checks: Record<string, Health> = { docker: this.connection.health() };
    for (const runner of this.runners) checks[`exporter:${runner.id}`] = runner.health();
    for (const [id, reason] of this.collectorFailures) checks[`collector:${id}`] = { healthy: false, reason };
    return { ready: Object.values(checks).every((c) => c.healthy), checks };
  }

  status(): Record<string, unknown> {
    return {
      version: AGENT_VERSION,
      uptime_seconds: Math.round(process.uptime()),
      docker: this.connection.status(),
      containers_tracked: this.inventory.size,
      inventory: this.inventoryService.status(),
      collectors: {
        ...Object.fromEntries(this.collectors.map((c) => [c.id, { running: !this.collectorFailures.has(c.id), ...this.collectorStatus(c) }])),
        ...Object.fromEntries([...this.idleCollectors].map(([id, reason]) => [id, { running: false, reason }])),
      },
      exporters: Object.fromEntries(this.runners.map((r) => [r.id, { healthy: r.health().healthy, ...r.status() }])),
      dead_letters: { written: this.deadLetterEvents.written.status(), discarded_by_rotation: this.deadLetterEvents.discarded.status() },
    };
  }

  private collectorStatus(collector: Collector): Record<string, unknown> {
    const failed = this.collectorFailures.get(collector.id);
    return { ...(collector.status?.() ?? {}), ...(failed !== undefined ? { failed } : {}) };
  }

  /** `docker top` for a container the agent tracks (by id, id prefix or name); ignored containers are not found. */
  async top(ref: string, psArgs?: string): Promise<unknown> {
    const container = this.inventory.list().find((c) => c.meta.id === ref || c.meta.name === ref || (ref.length >= 12 && c.meta.id.startsWith(ref)));
    if (!container) throw new TopError(`no tracked container ${JSON.stringify(ref)}`, 404);
    return { id: container.meta.id, name: container.meta.name, ...(await containerTop(this.connection, container.meta.id, psArgs ? { psArgs } : {})) };
  }

  /** Prometheus registries to serve on /metrics: the agent's own plus each exporter's. */
  registries(): import('prom-client').Registry[] {
    return [this.metrics.registry, ...this.runners.flatMap((r) => (r.exporter.registry ? [r.exporter.registry] : []))];
  }

  /** Stops in reverse order; safe to call before start and more than once (same promise). */
  stop(reason = 'stop'): Promise<StopResult> {
    this.stopping ??= this.doStop(reason);
    return this.stopping;
  }

  private async doStop(reason: string): Promise<StopResult> {
    const deadline = Date.now() + this.config.shutdown.grace_ms;
    this.logger.info({ reason, graceMs: this.config.shutdown.grace_ms }, 'stopping');
    this.collectorsStop.abort();
    await withDeadline(Promise.all(this.collectorRuns), deadline);
    await this.inventoryService.close();
    let drained = true;
    for (const runner of this.runners) drained = (await runner.drain(deadline)) && drained;
    for (const runner of this.runners) {
      try {
        await runner.exporter.flush();
        await runner.exporter.stop();
      } catch (error) {
        this.logger.error({ exporter: runner.id, err: errorMessage(error) }, 'exporter failed to stop cleanly');
      }
    }
    await this.connection.stop();
    await this.server?.close();
    this.logger.info({ drained }, drained ? 'stopped; everything queued was written' : 'stopped at the grace deadline; unwritten records will be read again at next start');
    return { drained };
  }
}

export interface StopResult {
  readonly drained: boolean;
}
