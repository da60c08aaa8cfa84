/**
 * The `logs` collector: every container's stdout and stderr, exactly once and in order per stream,
 * resumable after an agent crash, a container restart or a daemon restart. Containers are found
 * through the inventory (its `added`/`updated` events start them at once; a periodic look at the
 * whole inventory catches the rest, including containers that ran and exited between two looks).
 * Config section `collectors.logs`.
 */
import { setMaxListeners } from 'node:events';
import type { Gauge } from 'prom-client';
import { defineCollector, type Collector, type CollectorContext } from '../../src/component.js';
import type { ContainerState } from '../../src/docker/inventory.js';
import { errorMessage } from '../../src/errors.js';
import { nowNanos } from '../../src/records.js';
import { InternalEvent } from '../../src/telemetry/internal-event.js';
import { CheckpointStore, START, type ResumePoint } from './checkpoints.js';
import { logsConfigSchema, type LogsConfig } from './config.js';
import { ContainerLog } from './container-log.js';
import { connectionLogDaemon, type LogDaemon, type RunInfo } from './daemon.js';
import { ContainerFilter, ProcessingRules, type Selectable } from './filters.js';
import { LogFollower, type FollowOutcome } from './follower.js';
import { LogsMetrics } from './metrics.js';
import { detectOwnContainer } from './own-container.js';
import { nanosFromMs } from './timestamp.js';
import type { OwnContainer } from './filters.js';

export { logsConfigSchema } from './config.js';

const RUNNING_STATES = new Set(['running', 'restarting', 'paused']);

/** What the follower's own inspect would say (connectionLogDaemon's inspect), from the inventory's. */
function runInfoOf(state: ContainerState): RunInfo {
  return { running: RUNNING_STATES.has(state.state), tty: state.tty, startedAt: state.startedAt, finishedAt: state.finishedAt };
}

export class LogsCollector implements Collector {
  readonly id = 'logs';
  private ctx!: CollectorContext;
  private metrics!: LogsMetrics;
  private checkpoints!: CheckpointStore;
  private filter!: ContainerFilter;
  private rules!: ProcessingRules;
  private own: OwnContainer = {};
  private readonly logs = new Map<string, LogFollower>();
  /** Containers `dockhand_logs_lag_seconds` showed at the last scrape. */
  private lagShown = new Set<string>();
  private daemon!: LogDaemon;
  private missed!: InternalEvent<never>;
  private endsUnread!: InternalEvent<never>;
  private readonly active = new Map<string, Promise<void>>();
  private readonly settling = new Set<Promise<void>>();
  private readonly skippedReported = new Set<string>();
  /** Containers found gone: never followed again, never counted twice. */
  private readonly gone = new RecentIds(4096);
  private readonly counters = { started: 0, finished: 0, removed: 0 };

  /** `daemon` replaces the port over the agent's Docker connection (tests). */
  constructor(private readonly config: LogsConfig, private readonly ownContainer?: OwnContainer, private readonly daemonPort?: LogDaemon) {}

  async run(outer: CollectorContext): Promise<void> {
    // One abort listener per open stream and per waiting follower: more than EventTarget's default warning threshold.
    const stop = new AbortController();
    setMaxListeners(0, stop.signal);
    if (outer.signal.aborted) stop.abort();
    else outer.signal.addEventListener('abort', () => stop.abort(), { once: true });
    const ctx: CollectorContext = { ...outer, signal: stop.signal, emit: (records) => outer.emit(records) };
    this.ctx = ctx;
    this.metrics = new LogsMetrics(ctx.metrics, (gauge) => this.collectLag(gauge), () => this.active.size);
    this.missed = new InternalEvent({
      metric: 'dockhand_logs_containers_missed_total',
      help: 'Containers removed before their logs could be read.',
      labels: [],
      level: 'warn',
      message: 'container removed before its logs could be read',
    }, ctx.metrics, ctx.logger);
    this.endsUnread = new InternalEvent({
      metric: 'dockhand_logs_run_ends_unread_total',
      help: 'Container runs whose log could not be read once more after they ended (removed at once, e.g. docker run --rm): a last line without newline, if there was one, is lost.',
      labels: [],
      level: 'warn',
      message: 'container removed before the end of its log could be read again; a last line without newline, if any, is lost',
    }, ctx.metrics, ctx.logger);
    this.daemon = this.daemonPort ?? connectionLogDaemon(ctx.docker);
    this.checkpoints = new CheckpointStore(ctx.state, this.config.checkpoint_interval_ms, ctx.logger);
    await this.checkpoints.load(nowNanos());
    this.own = this.ownContainer ?? (await detectOwnContainer());
    if (this.own.id || this.own.shortId) ctx.logger.info({ own_container: this.own.id ?? this.own.shortId, excluded: this.config.exclude_self }, 'running inside a container');
    this.filter = new ContainerFilter(this.config, this.own);
    this.rules = new ProcessingRules(this.config, ctx.logger);

    const onState = (state: ContainerState, _previous: ContainerState | undefined, inspected: boolean) => this.consider(state, inspected);
    const onRemoved = (state: ContainerState) => this.onRemoved(state);
    const onVanished = (container: VanishedContainer) => this.onVanished(container);
    ctx.inventory.on('added', onState);
    ctx.inventory.on('updated', onState);
    ctx.inventory.on('removed', onRemoved);
    ctx.inventory.on('vanished', onVanished);
    const rescan = setInterval(() => this.rescan(), this.config.rescan_interval_ms);
    try {
      this.rescan();
      void this.forgetRemovedWhileDown();
      await new Promise<void>((resolve) => {
        if (ctx.signal.aborted) return resolve();
        ctx.signal.addEventListener('abort', () => resolve(), { once: true });
      });
    } finally {
      clearInterval(rescan);
      ctx.inventory.off('added', onState);
      ctx.inventory.off('updated', onState);
      ctx.inventory.off('removed', onRemoved);
      ctx.inventory.off('vanished', onVanished);
      await Promise.all(this.active.values());
      // The exporters keep draining while collectors stop: wait for what is in flight, so its checkpoints are saved.
      await Promise.all([...this.logs.values()].map((follower) => follower.log.idle()));
      await Promise.all(this.settling);
      await this.checkpoints.flush();
    }
  }

  status(): Record<string, unknown> {
    return {
      containers_followed: this.active.size,
      containers_known: this.logs.size,
      checkpoints: this.checkpoints?.size ?? 0,
      checkpoint_writes: this.checkpoints?.writes ?? 0,
      checkpoint_write_failures: this.checkpoints?.failures ?? 0,
      ...this.counters,
      missed: this.missed?.total ?? 0,
      run_ends_unread: this.endsUnread?.total ?? 0,
    };
  }

  private rescan(): void {
    for (const state of this.ctx.inventory.list()) this.consider(state);
  }

  /**
   * Starts reading a container's log when there is something to read and nobody reads it yet.
   * `inspected`: the state is an inspect's answer of this moment (the inventory's refresh: on an
   * event, at its start-up sync, a scheduled re-sync or after a reconnect), so
   * the follower opens the log at once instead of asking the same again (under a busy daemon an
   * inspect took 10-200 ms, while the container's first lines went unread).
   */
  private consider(state: ContainerState, inspected = false): void {
    if (this.ctx.signal.aborted) return;
    const id = state.meta.id;
    if (this.active.has(id) || this.gone.has(id)) return;
    const rejected = this.filter.rejects(state);
    if (rejected) {
      if (!this.skippedReported.has(id)) {
        this.skippedReported.add(id);
        this.ctx.logger.debug({ container: state.meta.name, reason: rejected }, 'not reading this container\'s logs');
      }
      return;
    }
    if (state.startedAt === 0) return; // created, never started: no log yet
    const follower = this.logs.get(id);
    const saved = follower ? undefined : this.checkpoints.get(id);
    // A run already read to its end (the inventory may still call it running for a moment).
    if ((follower?.log.finishedStartedAt ?? saved?.finishedStartedAt) === state.startedAt) return;
    if (!follower && !saved && !RUNNING_STATES.has(state.state) && !this.wantsExited(state)) return;
    this.start(state, follower, saved?.point, inspected ? runInfoOf(state) : undefined);
  }

  /** An exited container we hold no checkpoint for: read if it ran after our first start, or if all history is wanted. */
  private wantsExited(state: ContainerState): boolean {
    if (this.config.history === 'all') return true;
    return nanosFromMs(state.finishedAt * 1000) >= this.checkpoints.firstStartNs;
  }

  private startPoint(state: ContainerState): ResumePoint {
    if (this.config.history === 'none' && nanosFromMs(state.createdAt * 1000) < this.checkpoints.firstStartNs) {
      return { since: this.checkpoints.firstStartNs, streams: [undefined, undefined] };
    }
    return START;
  }

  private start(state: ContainerState, existing: LogFollower | undefined, saved: ResumePoint | undefined, inspected: RunInfo | undefined): void {
    const id = state.meta.id;
    const processing = this.rules.for(state);
    let follower = existing;
    if (follower) {
      follower.log.setProcessing(processing);
    } else {
      follower = new LogFollower(this.containerLog(id, saved ?? this.startPoint(state), processing), {
        daemon: this.daemon,
        signal: this.ctx.signal,
        logger: this.ctx.logger,
        metrics: this.metrics,
        countRequestError: () => this.ctx.metrics.errors.inc({ component: 'logs', kind: 'logs_request' }),
        endUnread: () => this.endsUnread.emit({}, { container: state.meta.name, id }),
      });
      this.logs.set(id, follower);
    }
    this.counters.started++;
    const following = follower.log;
    const run = follower.follow(inspected)
      .then((outcome) => {
        // Settling may wait for the exporters; a new run of the container must not wait for it.
        const settling = this.settle(following, outcome).finally(() => this.settling.delete(settling));
        this.settling.add(settling);
      })
      .catch((error: unknown) => {
        this.ctx.metrics.errors.inc({ component: this.id, kind: 'follow' });
        this.ctx.logger.error({ container: following.name, err: errorMessage(error) }, 'following a container log failed');
      })
      .finally(() => {
        this.active.delete(id);
        // It may have started again while we finished.
        const now = this.ctx.inventory.get(id);
        if (now && this.logs.has(id)) queueMicrotask(() => this.consider(now));
      });
    this.active.set(id, run);
  }

  private containerLog(id: string, start: ResumePoint, processing: ReturnType<ProcessingRules['for']>): ContainerLog {
    const { ctx } = this;
    const settings = { maxLineBytes: this.config.max_line_bytes, reorderWindowNs: nanosFromMs(this.config.reorder_window_ms) };
    return new ContainerLog(id, start, {
      emit: (records) => ctx.emit(records),
      meta: () => ctx.inventory.meta(id),
      logger: ctx.logger,
      metrics: this.metrics,
      onCommit: (point) => this.checkpoints.set(id, point),
    }, settings, processing);
  }

  private async settle(log: ContainerLog, outcome: FollowOutcome): Promise<void> {
    if (outcome.kind === 'finished') {
      this.counters.finished++;
      // Only once the last lines are stored may a restart skip this run.
      await log.idle();
      if (this.logs.get(log.id)?.log === log) this.checkpoints.markFinished(log.id, outcome.startedAt);
    } else if (outcome.kind === 'removed') {
      if (!outcome.opened && !this.gone.has(log.id)) this.missed.emit({}, { container: log.name, id: log.id });
      this.gone.add(log.id);
      this.forget(log.id);
    }
  }

  private onRemoved(state: ContainerState): void {
    const id = state.meta.id;
    if (this.active.has(id)) return; // the follower finds out itself and forgets it
    if (!this.gone.has(id) && !this.logs.has(id) && !this.checkpoints.get(id) && state.startedAt > 0 && this.wanted(state)) {
      this.missed.emit({}, { container: state.meta.name, id });
    }
    // Never seen started: if it ran after all, the inventory says so with `vanished`, and that counts it.
    if (state.startedAt > 0) this.gone.add(id);
    this.forget(id);
  }

  /** A container the inventory heard of (an event) but found gone before it could look at it. */
  private onVanished(container: VanishedContainer): void {
    const id = container.meta.id;
    if (this.gone.has(id) || this.logs.has(id) || this.active.has(id)) return;
    this.gone.add(id);
    if (!this.filter.rejects(container)) this.missed.emit({}, { container: container.meta.name, id });
  }

  /** Whether a container would be read: not filtered out, and running or in the history asked for. */
  private wanted(state: ContainerState): boolean {
    return !this.filter.rejects(state) && (RUNNING_STATES.has(state.state) || this.wantsExited(state));
  }

  private forget(id: string): void {
    const log = this.logs.get(id)?.log;
    this.ctx.logger.debug({ id, known: log !== undefined }, 'container gone: forgetting its log position');
    if (log) {
      log.markRemoved();
      this.logs.delete(id);
      this.metrics.forget(log.name);
    }
    this.counters.removed++;
    this.checkpoints.remove(id);
    this.skippedReported.delete(id);
  }

  /** Checkpoints of containers removed while the agent was not running. */
  private async forgetRemovedWhileDown(): Promise<void> {
    const { ctx } = this;
    await this.daemon.waitUntilUp(ctx.signal);
    for (const id of this.checkpoints.ids()) {
      if (ctx.signal.aborted) return;
      if (ctx.inventory.get(id) || this.logs.has(id)) continue;
      try {
        if (!(await this.daemon.inspect(id)) && !this.logs.has(id)) this.checkpoints.remove(id);
      } catch {
        // the daemon is in trouble: the checkpoint stays until a later start finds the container gone
      }
    }
  }

  /** Set in place at each scrape (a reset and 100 fresh series a scrape was garbage in front of every scrape). */
  private collectLag(gauge: Gauge<'container'>): void {
    const now = nowNanos();
    const shown = new Set<string>();
    for (const { log } of this.logs.values()) {
      const acked = log.tracker.lastAckedTime;
      if (log.tracker.pending === 0) gauge.set({ container: log.name }, 0);
      else if (acked !== undefined) gauge.set({ container: log.name }, Math.max(0, Number(now - acked) / 1e9));
      else continue;
      shown.add(log.name);
    }
    for (const name of this.lagShown) if (!shown.has(name)) gauge.remove({ container: name });
    this.lagShown = shown;
  }
}

/**
 * What the inventory says of a container it heard of (an event) but found gone at its first look:
 * the event's name, image and labels. Containers removed before anyone could read them.
 */
export type VanishedContainer = Selectable;

/** A set of the most recent ids, bounded: ids never come back, so old ones can be forgotten. */
class RecentIds {
  private readonly ids = new Set<string>();
  constructor(private readonly max: number) {}

  has(id: string): boolean {
    return this.ids.has(id);
  }

  add(id: string): void {
    this.ids.add(id);
    if (this.ids.size > this.max) this.ids.delete(this.ids.values().next().value!);
  }
}

export const logsCollectorFactory = defineCollector({
  type: 'logs',
  configSchema: logsConfigSchema,
  produces: ['log'],
  create: (config) => new LogsCollector(config),
});
