/**
 * What the live page shows that the agent does not keep anyway: the containers' recent history,
 * the last daemon events, and the pages following a tail or the events. The agent hands it every
 * batch a collector emits (observe); per batch it does a count and, for logs, one map lookup
 * when a page follows some tail — never an await, never a Docker call.
 */
import type { AgentRecord, EventRecord, LogRecord, MetricRecord, RecordKind } from '../records.js';
import type { ContainerState } from '../docker/inventory.js';
import { ContainerHistory, historyPoints } from './container-history.js';
import { LiveTail } from './tail.js';
import { Ring } from './ring.js';
import type { SseClient } from './sse.js';

export interface EventLine {
  readonly t: number;
  readonly type: string;
  readonly action: string;
  readonly id: string;
  readonly name: string;
}

export interface LivePageSettings {
  readonly statsIntervalMs: number;
  /** Daemon events kept for a page that opens later. */
  readonly eventsKept: number;
}

export const LIVE_PAGE_DEFAULTS: LivePageSettings = { statsIntervalMs: 10_000, eventsKept: 200 };

export class LivePage {
  readonly history: ContainerHistory;
  readonly tail = new LiveTail();
  readonly historyPoints: number;
  private readonly events: Ring<EventLine>;
  private readonly eventClients = new Set<SseClient>();
  /** Tells this agent's point numbers from an earlier run's (a page open across a restart). */
  readonly epoch = Date.now();
  /** Records emitted by kind, since start (each kind has one collector). */
  private readonly emitted = new Map<RecordKind, number>();

  constructor(settings: LivePageSettings = LIVE_PAGE_DEFAULTS) {
    this.historyPoints = historyPoints(settings.statsIntervalMs);
    this.history = new ContainerHistory(this.historyPoints);
    this.events = new Ring(settings.eventsKept);
  }

  /**
   * A batch on its way into the pipeline (collectors emit batches of one kind). Never throws: the
   * page must not be able to stop a collector; a failure is handed to `onError` (the agent logs it).
   */
  observe(records: readonly AgentRecord[], onError?: (error: unknown) => void): void {
    try {
      this.look(records);
    } catch (error) {
      onError?.(error);
    }
  }

  private look(records: readonly AgentRecord[]): void {
    const first = records[0];
    if (!first) return;
    this.emitted.set(first.kind, (this.emitted.get(first.kind) ?? 0) + records.length);
    if (first.kind === 'log') {
      this.history.countLines(first.container.id, records.length);
      this.tail.observe(records as readonly LogRecord[]);
    } else if (first.kind === 'metric') {
      this.history.observe(records.filter((r): r is MetricRecord => r.kind === 'metric'));
    } else if (first.kind === 'event') {
      for (const record of records) if (record.kind === 'event') this.addEvent(record);
    }
  }

  emittedOf(kinds: readonly RecordKind[]): number {
    return kinds.reduce((sum, kind) => sum + (this.emitted.get(kind) ?? 0), 0);
  }

  recentEvents(): EventLine[] {
    return this.events.toArray();
  }

  followEvents(client: SseClient): void {
    this.eventClients.add(client);
    client.onClose(() => this.eventClients.delete(client));
    client.send('events', this.recentEvents());
  }

  /**
   * The containers table: the inventory's state with the history's points — those numbered above
   * `since` (what a polling page lacks), or all of them (`full`) when `since` is 0 or from another
   * run of the agent (`epoch`).
   */
  containers(inventory: readonly ContainerState[], since = 0, epoch = this.epoch, nowMs = Date.now()): { time: number; epoch: number; seq: number; full: boolean; history_points: number; containers: unknown[] } {
    const seq = this.history.latest;
    const full = since <= 0 || since > seq || epoch !== this.epoch;
    const after = full ? 0 : since;
    const containers = inventory.map((c) => {
      const history = this.history.get(c.meta.id, after);
      const last = history?.last;
      return {
        id: c.meta.id,
        name: c.meta.name,
        image: c.meta.image,
        state: c.state,
        health: c.health,
        uptime_seconds: c.state === 'running' && c.startedAt > 0 ? Math.max(0, Math.round(nowMs / 1000 - c.startedAt)) : null,
        restarts: c.restartCount,
        oom_kills: c.oomEvents,
        oom_killed: c.oomKilled,
        cpu_percent: last?.cpu ?? null,
        memory_bytes: last?.mem ?? null,
        memory_limit_bytes: history?.memLimit ?? null,
        log_lines: history?.logLines ?? 0,
        log_lines_per_second: last?.lines ?? null,
        history: history?.points ?? [],
      };
    });
    return { time: nowMs, epoch: this.epoch, seq, full, history_points: this.historyPoints, containers };
  }

  close(): void {
    this.tail.closeAll();
    for (const client of this.eventClients) client.close();
  }

  private addEvent(record: EventRecord): void {
    const line: EventLine = {
      t: Number(record.time / 1_000_000n),
      type: record.type,
      action: record.action,
      id: record.actor.id,
      name: record.actor.attributes.name ?? record.container?.name ?? '',
    };
    this.events.push(line);
    for (const client of this.eventClients) client.send('events', [line]);
  }
}
