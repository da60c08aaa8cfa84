/**
 * The last minutes of each container for the page's sparklines: one point per stats sample, in a
 * ring of fixed size per container. Filled from the metric records the stats collector emits (and
 * log batch sizes), so it costs one point per container per stats interval and nothing per line.
 */
import type { MetricRecord } from '../records.js';
import { Ring } from './ring.js';

export interface HistoryPoint {
  /** Agent-wide sequence number of the point: a page asks for the points after the last it has. */
  readonly n: number;
  /** Epoch milliseconds of the sample. */
  readonly t: number;
  /** CPU in percent of one core over the interval before (null for a container's first sample). */
  readonly cpu: number | null;
  /** Working set bytes (as `docker stats` shows memory). */
  readonly mem: number;
  /** Log lines read per second over the interval before (null for the first sample). */
  readonly lines: number | null;
}

export interface ContainerLatest {
  readonly memLimit: number | undefined;
  readonly logLines: number;
  readonly last: HistoryPoint | undefined;
  readonly points: readonly HistoryPoint[];
}

interface Track {
  readonly ring: Ring<HistoryPoint>;
  lastUsageSeconds: number | undefined;
  lastTimeMs: number | undefined;
  lastLines: number;
  logLines: number;
  memLimit: number | undefined;
}

/** 15 minutes of points at the stats interval, at least 2 and at most 900 per container. */
export function historyPoints(statsIntervalMs: number, windowMs = 15 * 60_000): number {
  return Math.min(900, Math.max(2, Math.ceil(windowMs / statsIntervalMs)));
}

export class ContainerHistory {
  private readonly tracks = new Map<string, Track>();
  private sequence = 0;

  constructor(private readonly points: number) {}

  /** Log lines a batch carried for one container (one addition per batch). */
  countLines(containerId: string, lines: number): void {
    this.track(containerId).logLines += lines;
  }

  observe(records: readonly MetricRecord[]): void {
    for (const record of records) this.sample(record);
  }

  /** Drops the history of every container not in `known` (a removed container's last lines may come after its removal). */
  keepOnly(known: (containerId: string) => boolean): void {
    for (const id of this.tracks.keys()) if (!known(id)) this.tracks.delete(id);
  }

  /** The sequence number of the newest point (0 before any). */
  get latest(): number {
    return this.sequence;
  }

  /** A container's figures and its points numbered above `after` (all of them by default). */
  get(containerId: string, after = 0): ContainerLatest | undefined {
    const track = this.tracks.get(containerId);
    if (!track) return undefined;
    const points = track.ring.toArray();
    return { memLimit: track.memLimit, logLines: track.logLines, last: points.at(-1), points: after > 0 ? points.filter((p) => p.n > after) : points };
  }

  private sample(record: MetricRecord): void {
    const track = this.track(record.container.id);
    const timeMs = Number(record.time / 1_000_000n);
    const seconds = track.lastTimeMs === undefined ? 0 : (timeMs - track.lastTimeMs) / 1000;
    const usage = record.cpu.usageSeconds;
    const cpu = seconds > 0 && track.lastUsageSeconds !== undefined ? Math.max(0, ((usage - track.lastUsageSeconds) / seconds) * 100) : null;
    const lines = seconds > 0 ? (track.logLines - track.lastLines) / seconds : null;
    track.ring.push({ n: ++this.sequence, t: timeMs, cpu: cpu === null ? null : round(cpu), mem: record.memory.workingSetBytes, lines: lines === null ? null : round(lines) });
    track.lastUsageSeconds = usage;
    track.lastTimeMs = timeMs;
    track.lastLines = track.logLines;
    track.memLimit = record.memory.limitBytes ?? record.machine?.memoryBytes;
  }

  private track(containerId: string): Track {
    let track = this.tracks.get(containerId);
    if (!track) {
      track = { ring: new Ring(this.points), lastUsageSeconds: undefined, lastTimeMs: undefined, lastLines: 0, logLines: 0, memLimit: undefined };
      this.tracks.set(containerId, track);
    }
    return track;
  }
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
