/**
 * Keeps the inventory current, as a service of the agent (not of any collector): lists and inspects
 * every container once the daemon answers and after every reconnect, follows the daemon's container
 * events itself (inspecting again after those that change state), and re-syncs on a schedule to heal
 * anything missed. While its stream is open the inventory is `live`. Turning event *records* off
 * never empties it, and a slow exporter never stalls it: nothing here waits for the pipeline.
 */
import type { Readable } from 'node:stream';
import cron, { type ScheduledTask } from 'node-cron';
import type { DockerConnection } from './connection.js';
import { Inventory, type HealthStatus } from './inventory.js';
import type { Logger } from '../telemetry/logger.js';
import type { SelfMetrics } from '../telemetry/metrics.js';
import { errorMessage } from '../errors.js';
import { followWhileRunning } from './follow-loop.js';
import { JsonObjectSplitter } from './json-stream.js';

/** Container actions after which the inventory inspects the container again. */
export const REFRESH_ACTIONS: ReadonlySet<string> = new Set([
  'create', 'start', 'restart', 'die', 'stop', 'oom', 'health_status', 'rename', 'update', 'pause', 'unpause',
]);

export interface InventoryServiceSettings {
  /** node-cron expression of the periodic full re-sync (validated by the config schema). */
  readonly resyncSchedule: string;
}

/** The fields of a daemon event message the inventory needs. */
interface ContainerEventMessage {
  readonly Type?: string;
  readonly Action?: string;
  readonly status?: string;
  readonly id?: string;
  readonly Actor?: { readonly ID?: string; readonly Attributes?: Record<string, string> };
}

/** Runs callbacks one at a time: a re-sync and event handling never interleave their inspects. */
export class Exclusive {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn, fn);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

/** `health_status: unhealthy` → `unhealthy`; undefined for other actions. */
export function healthFromAction(action: string): HealthStatus | undefined {
  if (!action.startsWith('health_status')) return undefined;
  const status = action.slice(action.indexOf(':') + 1).trim();
  return status === 'healthy' || status === 'unhealthy' || status === 'starting' ? status : undefined;
}

/** The verb of an action: `exec_start: sh -c …` → `exec_start`. */
export function actionVerb(action: string): string {
  const colon = action.indexOf(':');
  return colon < 0 ? action : action.slice(0, colon);
}

export class InventoryService {
  private readonly exclusive = new Exclusive();
  private readonly counters = { events: 0, syncs: 0, resyncs: 0, resync_failures: 0, reconnects: 0, inspect_failures: 0 };
  private connected = false;
  private lastError: string | undefined;
  private running: Promise<void> | undefined;
  private readonly stop = new AbortController();

  constructor(
    readonly inventory: Inventory,
    private readonly docker: DockerConnection,
    private readonly settings: InventoryServiceSettings,
    private readonly logger: Logger,
    private readonly metrics: SelfMetrics,
  ) {}

  start(): void {
    this.running ??= this.run(this.stop.signal);
  }

  async close(): Promise<void> {
    this.stop.abort();
    await this.running;
  }

  status(): Record<string, unknown> {
    return { live: this.connected, containers: this.inventory.size, ...this.counters, ...(this.lastError ? { last_error: this.lastError } : {}) };
  }

  private async run(signal: AbortSignal): Promise<void> {
    const task = cron.schedule(this.settings.resyncSchedule, () => this.resync(signal), {
      name: 'dockhand-inventory-resync',
      noOverlap: true,
      // node-cron writes to the console by default; the agent's log is JSON on stderr.
      logger: {
        info: (message) => this.logger.debug({ task: 'inventory-resync' }, message),
        debug: (message) => this.logger.debug({ task: 'inventory-resync' }, String(message)),
        warn: (message) => this.logger.warn({ task: 'inventory-resync' }, message),
        error: (message, err) => this.logger.error({ task: 'inventory-resync', err: err ? errorMessage(err) : undefined }, String(message)),
      },
    });
    try {
      await followWhileRunning(this.docker, signal, () => this.follow(signal), (error) => {
        this.setLive(false);
        this.lastError = errorMessage(error);
        this.counters.reconnects++;
        this.metrics.reconnects.inc({ component: 'inventory' });
        this.logger.warn({ err: this.lastError }, 'inventory lost the events stream; will re-sync after reconnecting');
      });
    } finally {
      this.setLive(false);
      await task.destroy();
    }
  }

  private setLive(live: boolean): void {
    this.connected = live;
    this.inventory.setLive(live);
  }

  /** Opens the stream first, then syncs: events during the sync wait in the stream and apply after it. */
  private async follow(signal: AbortSignal): Promise<void> {
    const abort = new AbortController();
    const onAbort = () => abort.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    let stream: Readable | undefined;
    try {
      stream = await this.docker.docker.events({ filters: { type: ['container'] } }, abort.signal);
      await this.exclusive.run(() => this.inventory.sync(this.docker.docker));
      this.counters.syncs++;
      this.setLive(true);
      this.lastError = undefined;
      this.logger.info({ containers: this.inventory.size }, 'inventory synced; following container events');
      const splitter = new JsonObjectSplitter();
      for await (const chunk of stream) {
        const messages: ContainerEventMessage[] = [];
        for (const text of splitter.push(chunk as Buffer)) {
          try {
            messages.push(JSON.parse(text) as ContainerEventMessage);
          } catch {
            this.logger.debug({ text: text.slice(0, 200) }, 'ignoring a malformed event');
          }
        }
        if (messages.length > 0) await this.exclusive.run(() => this.applyAll(messages));
        if (signal.aborted) return;
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      stream?.destroy();
    }
  }

  private async applyAll(messages: readonly ContainerEventMessage[]): Promise<void> {
    for (const message of messages) await this.apply(message);
  }

  private async apply(message: ContainerEventMessage): Promise<void> {
    const type = message.Type ?? (message.status ? 'container' : undefined);
    const action = message.Action ?? message.status;
    const id = message.Actor?.ID ?? message.id;
    if (type !== 'container' || !action || !id) return;
    this.counters.events++;
    if (Inventory.isIgnored(message.Actor?.Attributes)) {
      this.inventory.remove(id);
      return;
    }
    const verb = actionVerb(action);
    try {
      if (verb === 'destroy') {
        this.inventory.remove(id);
      } else if (REFRESH_ACTIONS.has(verb)) {
        const seenRunning = (this.inventory.get(id)?.startedAt ?? 0) > 0;
        const state = await this.inventory.refresh(this.docker.docker, id);
        // Ran and was removed before it was ever seen running: whoever wanted its logs must hear of it.
        if (!state && !seenRunning && verb !== 'create') this.inventory.vanished(id, message.Actor?.Attributes ?? {});
        if (verb === 'oom') this.inventory.countOom(id);
        const health = healthFromAction(action);
        if (health) this.inventory.setHealth(id, health);
      }
    } catch (error) {
      // The next event or re-sync corrects the inventory.
      this.counters.inspect_failures++;
      this.metrics.errors.inc({ component: 'inventory', kind: 'inspect' });
      this.logger.debug({ container: id, err: errorMessage(error) }, 'inspect after event failed');
    }
  }

  private async resync(signal: AbortSignal): Promise<void> {
    if (!this.docker.isUp || signal.aborted) return;
    try {
      await this.exclusive.run(() => this.inventory.sync(this.docker.docker));
      this.counters.resyncs++;
    } catch (error) {
      this.counters.resync_failures++;
      this.metrics.errors.inc({ component: 'inventory', kind: 'resync' });
      this.logger.warn({ err: errorMessage(error) }, 'scheduled inventory re-sync failed');
    }
  }
}
