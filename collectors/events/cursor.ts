/**
 * Where the events collector is in the daemon's event stream, and how it avoids taking an event
 * twice. The API's `since` is inclusive (verified on 20.10: since=T replays the event stamped T),
 * so after a reconnect the events at the boundary nanosecond come again; the cursor remembers
 * the ids it took at that nanosecond and skips exactly those.
 */
import type { EpochNanos } from '../../src/records.js';

export interface EventPosition {
  /** The newest event time taken, in daemon nanoseconds. */
  readonly time: EpochNanos;
  /** Ids of the events taken at exactly `time`. */
  readonly ids: readonly string[];
}

export class EventCursor {
  private time: EpochNanos | undefined;
  private ids = new Set<string>();

  constructor(start?: EventPosition) {
    if (start) this.reset(start);
  }

  reset(position: EventPosition): void {
    this.time = position.time;
    this.ids = new Set(position.ids);
  }

  /** True for an event already taken: only ever one at the boundary nanosecond of a replay. */
  seen(event: { readonly time: EpochNanos; readonly id: string }): boolean {
    return this.time !== undefined && event.time === this.time && this.ids.has(event.id);
  }

  /**
   * Records an event as taken. The daemon may publish two events slightly out of time order;
   * the position stays at the newest time, so a replay from it can only repeat boundary events.
   */
  advance(event: { readonly time: EpochNanos; readonly id: string }): void {
    if (this.time === undefined || event.time > this.time) {
      this.time = event.time;
      this.ids = new Set([event.id]);
    } else if (event.time === this.time) {
      this.ids.add(event.id);
    }
  }

  get position(): EventPosition | undefined {
    return this.time === undefined ? undefined : { time: this.time, ids: [...this.ids] };
  }
}

/** The `since` query value for a position: `seconds.nanoseconds`, which the daemon parses exactly. */
export function formatSince(time: EpochNanos): string {
  const seconds = time / 1_000_000_000n;
  const nanos = time % 1_000_000_000n;
  return `${seconds}.${nanos.toString().padStart(9, '0')}`;
}
