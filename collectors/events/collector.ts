/**
 * The events collector: follows `GET /events` and turns each daemon event into one EventRecord,
 * never one twice. The inventory is kept current by the agent's inventory service (its own stream);
 * this collector only reads it for the container's name, image and labels.
 *
 * Each connection: open the stream (with `since` = last position, or the daemon's own "now" on
 * the very first one), then read. On an error or an end, report the daemon as failing, wait until
 * it answers, and do it all again from the position. Replay comes from the daemon's in-memory ring
 * of the last 256 events: an outage with more events than that loses the oldest ones as records.
 */
import type { Readable } from 'node:stream';
import type { Collector, CollectorContext } from '../../src/component.js';
import type { ContainerMeta, EventRecord } from '../../src/records.js';
import { Inventory } from '../../src/docker/inventory.js';
import { errorMessage } from '../../src/errors.js';
import { parseRfc3339Nano, nowNanos } from '../../src/records.js';
import { followWhileRunning } from '../../src/docker/follow-loop.js';
import { globMatcher } from '../../src/util/glob.js';
import { EventCursor, formatSince, type EventPosition } from './cursor.js';
import { PositionStore } from './position-store.js';
import { DAEMON_ATTRIBUTES, JsonObjectSplitter, actionVerb, parseEvent, shippedAttributes, toEventRecord, type ParsedEvent } from './parse.js';

export interface EventsCollectorOptions {
  /** Persist the position on acknowledgement and resume from it after a restart. */
  readonly persistPosition: boolean;
  /** Globs on the action verb of events that update the inventory but are not emitted. */
  readonly excludeActions?: readonly string[];
}

export class EventsCollector implements Collector {
  readonly id = 'events';
  private readonly cursor = new EventCursor();
  private positions: PositionStore | undefined;
  private counters = { received: 0, emitted: 0, duplicates: 0, ignored: 0, excluded: 0, malformed: 0, reconnects: 0 };
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
    let first = true;
    try {
      await followWhileRunning(ctx.docker, signal, async () => {
        if (first) {
          await this.choosePosition(ctx, saved);
          first = false;
        }
        await this.follow(ctx, (type) => received.inc({ type }));
      }, (error) => {
        this.connected = false;
        this.lastError = errorMessage(error);
        this.counters.reconnects++;
        ctx.metrics.reconnects.inc({ component: this.id });
        ctx.metrics.errors.inc({ component: this.id, kind: 'stream' });
        logger.warn({ err: this.lastError, since: this.cursor.position?.time.toString() }, 'events stream lost; will resume from the last position');
      });
    } finally {
      this.connected = false;
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
      stream = await docker.events(since !== undefined ? { since: formatSince(since) } : {}, abort.signal);
      this.connected = true;
      this.lastError = undefined;
      ctx.logger.info({ since: since?.toString() }, 'following docker events');
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
      const record = this.toRecord(ctx, event);
      if (!record) this.counters.ignored++;
      else if (this.excluded(actionVerb(event.action))) this.counters.excluded++;
      else records.push(record);
    }
    if (records.length === 0) return;
    const position = this.cursor.position!;
    const ack = this.positions?.track(position);
    const batch = ack ? records.map((r) => ({ ...r, ack })) : records;
    await ctx.emit(batch);
    // Our own hold: once every exporter has released its share, the position may be saved.
    ack?.release();
    this.counters.emitted += batch.length;
  }

  /**
   * The event's record; undefined for an ignored container. Container details come from the
   * inventory, or from the event's own attributes when the inventory has not (or no longer) got it:
   * both name the container, its image and its allow-listed labels the same way.
   */
  private toRecord(ctx: CollectorContext, event: ParsedEvent): EventRecord | undefined {
    const attributes = shippedAttributes(event.attributes, ctx.inventory.labelAllowed);
    if (event.type !== 'container') return toEventRecord(event, attributes, undefined);
    if (Inventory.isIgnored(event.attributes)) return undefined;
    const meta = ctx.inventory.get(event.actorId)?.meta ?? this.metaFromAttributes(ctx, event.actorId, event.attributes);
    return toEventRecord(event, attributes, meta);
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
}
