/**
 * The events collector: follows `GET /events`, keeps the inventory current from what it sees,
 * and emits one EventRecord per daemon event, never one twice.
 *
 * Each connection: open the stream (with `since` = last position, or the daemon's own "now" on
 * the very first one), re-sync the inventory while the stream buffers, then read. On an error or
 * an end, report the daemon as failing, wait until it answers, and do it all again from the
 * position. Replay comes from the daemon's in-memory ring of the last 256 events: an outage with
 * more events than that loses the oldest ones as records (the inventory re-sync still heals state).
 */
import type { Readable } from 'node:stream';
import cron, { type ScheduledTask } from 'node-cron';
import type { Collector, CollectorContext } from '../../src/component.js';
import type { ContainerMeta, EventRecord } from '../../src/records.js';
import { Inventory } from '../../src/docker/inventory.js';
import { errorMessage } from '../../src/errors.js';
import { parseRfc3339Nano, nowNanos } from '../../src/records.js';
import { Backoff, sleep } from '../../src/util/backoff.js';
import { globMatcher } from '../../src/util/glob.js';
import { EventCursor, formatSince, type EventPosition } from './cursor.js';
import { PositionStore } from './position-store.js';
import { DAEMON_ATTRIBUTES, JsonObjectSplitter, actionVerb, healthFromAction, parseEvent, shippedAttributes, toEventRecord, type ParsedEvent } from './parse.js';

/** Container actions after which the inventory inspects the container again. */
const REFRESH_ACTIONS: ReadonlySet<string> = new Set([
  'create', 'start', 'restart', 'die', 'stop', 'oom', 'health_status', 'rename', 'update', 'pause', 'unpause',
]);

export interface EventsCollectorOptions {
  /** node-cron expression of the periodic full inventory re-sync (already validated). */
  readonly resyncSchedule: string;
  /** Persist the position on acknowledgement and resume from it after a restart. */
  readonly persistPosition: boolean;
  /** Globs on the action verb of events that update the inventory but are not emitted. */
  readonly excludeActions?: readonly string[];
}

/** Runs callbacks one at a time: a re-sync and event handling never interleave their inspects. */
class Exclusive {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn, fn);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

export class EventsCollector implements Collector {
  readonly id = 'events';
  private readonly cursor = new EventCursor();
  private readonly exclusive = new Exclusive();
  private positions: PositionStore | undefined;
  private resyncTask: ScheduledTask | undefined;
  private counters = { received: 0, emitted: 0, duplicates: 0, ignored: 0, excluded: 0, malformed: 0, reconnects: 0, resyncs: 0, resyncFailures: 0 };
  private connected = false;
  private lastError: string | undefined;

  private readonly excluded: (verb: string) => boolean;

  constructor(private readonly options: EventsCollectorOptions) {
    this.excluded = globMatcher(options.excludeActions ?? []);
  }

  status(): Record<string, unknown> {
    const position = this.cursor.position;
    return {
      connected: this.connected,
      ...this.counters,
      ...(position ? { position: position.time.toString() } : {}),
      ...(this.positions?.savedPosition ? { saved_position: this.positions.savedPosition.time.toString() } : {}),
      ...(this.lastError ? { last_error: this.lastError } : {}),
    };
  }

  async run(ctx: CollectorContext): Promise<void> {
    const { signal, logger } = ctx;
    const received = ctx.metrics.counter('dockhand_events_received_total', 'Docker events read from the daemon, by type.', ['type']);
    this.positions = this.options.persistPosition ? new PositionStore(ctx.state, logger) : undefined;
    const saved = await this.positions?.load();
    this.resyncTask = cron.schedule(this.options.resyncSchedule, () => this.resync(ctx), {
      name: 'dockhand-inventory-resync',
      noOverlap: true,
      // node-cron writes to the console by default; the agent's log is JSON on stderr.
      logger: {
        info: (message) => logger.debug({ task: 'inventory-resync' }, message),
        debug: (message) => logger.debug({ task: 'inventory-resync' }, String(message)),
        warn: (message) => logger.warn({ task: 'inventory-resync' }, message),
        error: (message, err) => logger.error({ task: 'inventory-resync', err: err ? errorMessage(err) : undefined }, String(message)),
      },
    });
    const backoff = new Backoff({ initialMs: 250, maxMs: 10_000 });
    let first = true;
    try {
      while (!signal.aborted) {
        await ctx.docker.waitUntilUp(signal);
        if (signal.aborted) break;
        const startedAt = Date.now();
        try {
          if (first) {
            await this.choosePosition(ctx, saved);
            first = false;
          }
          await this.follow(ctx, (type) => received.inc({ type }));
          if (signal.aborted) break;
          throw new Error('events stream ended');
        } catch (error) {
          this.connected = false;
          ctx.inventory.setLive(false);
          if (signal.aborted) break;
          this.lastError = errorMessage(error);
          this.counters.reconnects++;
          ctx.metrics.reconnects.inc({ component: this.id });
          ctx.metrics.errors.inc({ component: this.id, kind: 'stream' });
          logger.warn({ err: this.lastError, since: this.cursor.position?.time.toString() }, 'events stream lost; will resume from the last position');
          ctx.docker.reportFailure(error);
          if (Date.now() - startedAt > 30_000) backoff.reset();
          await sleep(backoff.nextDelayMs(), signal);
        }
      }
    } finally {
      this.connected = false;
      await this.resyncTask.destroy();
      this.resyncTask = undefined;
      await this.positions?.flush();
    }
  }

  /**
   * The first `since`: the saved position when it belongs to this daemon and is not in its
   * future, else the daemon's own clock (never ours: a remote daemon's clock may differ).
   */
  private async choosePosition(ctx: CollectorContext, saved: { daemonId: string; position: EventPosition } | undefined): Promise<void> {
    const info = (await ctx.docker.docker.info()) as { ID?: string; SystemTime?: string };
    const daemonId = info.ID ?? '';
    const daemonNow = (info.SystemTime && parseRfc3339Nano(info.SystemTime)) || nowNanos();
    if (this.positions) this.positions.daemonId = daemonId;
    if (saved && saved.daemonId === daemonId && saved.position.time <= daemonNow) {
      this.cursor.reset(saved.position);
      ctx.logger.info({ since: saved.position.time.toString() }, 'resuming events from the saved position (the daemon replays at most its last 256 events)');
    } else {
      if (saved) ctx.logger.warn({ saved_daemon: saved.daemonId, daemon: daemonId }, 'saved events position belongs to another daemon or lies ahead of its clock; starting from now');
      this.cursor.reset({ time: daemonNow, ids: [] });
    }
  }

  private async follow(ctx: CollectorContext, countReceived: (type: string) => void): Promise<void> {
    const docker = ctx.docker.docker;
    const since = this.cursor.position?.time;
    const abort = new AbortController();
    const onAbort = () => abort.abort();
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    let stream: Readable | undefined;
    try {
      stream = (await docker.getEvents({ ...(since !== undefined ? { since: formatSince(since) } : {}), abortSignal: abort.signal } as object)) as Readable;
      // Events that arrive during the re-sync wait in the stream and are applied after it.
      await this.exclusive.run(() => ctx.inventory.sync(docker));
      this.connected = true;
      ctx.inventory.setLive(true);
      this.lastError = undefined;
      ctx.logger.info({ since: since?.toString(), containers: ctx.inventory.size }, 'following docker events');
      const splitter = new JsonObjectSplitter();
      for await (const chunk of stream) {
        const texts = splitter.push(chunk as Buffer);
        if (texts.length > 0) await this.handle(ctx, texts, countReceived);
        if (ctx.signal.aborted) return;
      }
    } finally {
      ctx.signal.removeEventListener('abort', onAbort);
      stream?.destroy();
    }
  }

  private async handle(ctx: CollectorContext, texts: readonly string[], countReceived: (type: string) => void): Promise<void> {
    const records: EventRecord[] = [];
    await this.exclusive.run(async () => {
      for (const text of texts) {
        const event = parseEvent(text);
        if (!event) {
          this.counters.malformed++;
          ctx.logger.debug({ text: text.slice(0, 200) }, 'ignoring a malformed event');
          continue;
        }
        this.counters.received++;
        countReceived(event.type);
        if (this.cursor.seen(event)) {
          this.counters.duplicates++;
          continue;
        }
        this.cursor.advance(event);
        const record = await this.apply(ctx, event);
        if (!record) this.counters.ignored++;
        else if (this.excluded(actionVerb(event.action))) this.counters.excluded++;
        else records.push(record);
      }
    });
    if (records.length === 0) return;
    const position = this.cursor.position!;
    const ack = this.positions?.track(position);
    const batch = ack ? records.map((r) => ({ ...r, ack })) : records;
    await ctx.emit(batch);
    // Our own hold: once every exporter has released its share, the position may be saved.
    ack?.release();
    this.counters.emitted += batch.length;
  }

  /** Updates the inventory from one event and builds its record; undefined for an ignored container. */
  private async apply(ctx: CollectorContext, event: ParsedEvent): Promise<EventRecord | undefined> {
    const inventory = ctx.inventory;
    const attributes = shippedAttributes(event.attributes, inventory.labelAllowed);
    if (event.type !== 'container') return toEventRecord(event, attributes, undefined);
    if (Inventory.isIgnored(event.attributes)) {
      inventory.remove(event.actorId);
      return undefined;
    }
    const id = event.actorId;
    const verb = actionVerb(event.action);
    let meta: ContainerMeta | undefined = inventory.get(id)?.meta;
    try {
      if (verb === 'destroy') {
        inventory.remove(id);
      } else if (REFRESH_ACTIONS.has(verb)) {
        const state = await inventory.refresh(ctx.docker.docker, id);
        if (state) meta = state.meta;
        if (verb === 'oom') inventory.countOom(id);
        const health = healthFromAction(event.action);
        if (health) inventory.setHealth(id, health);
      }
    } catch (error) {
      // The record still goes out; the next event or re-sync corrects the inventory.
      ctx.metrics.errors.inc({ component: this.id, kind: 'inspect' });
      ctx.logger.debug({ container: id, err: errorMessage(error) }, 'inspect after event failed');
    }
    return toEventRecord(event, attributes, meta ?? this.metaFromAttributes(ctx, id, event.attributes));
  }

  /** For a container the inventory never saw (gone before it could be inspected). */
  private metaFromAttributes(ctx: CollectorContext, id: string, attributes: Readonly<Record<string, string>>): ContainerMeta {
    const labels: Record<string, string> = {};
    for (const [key, value] of Object.entries(attributes)) if (!DAEMON_ATTRIBUTES.has(key)) labels[key] = value;
    return {
      id,
      name: attributes.name ?? id.slice(0, 12),
      image: attributes.image ?? '',
      labels: ctx.inventory.allowedLabels(labels),
      host: ctx.inventory.hostName,
    };
  }

  private async resync(ctx: CollectorContext): Promise<void> {
    if (!ctx.docker.isUp || ctx.signal.aborted) return;
    try {
      await this.exclusive.run(() => ctx.inventory.sync(ctx.docker.docker));
      this.counters.resyncs++;
    } catch (error) {
      this.counters.resyncFailures++;
      ctx.metrics.errors.inc({ component: this.id, kind: 'resync' });
      ctx.logger.warn({ err: errorMessage(error) }, 'scheduled inventory re-sync failed');
    }
  }
}

