/**
 * Persists the events position under the state directory (name `events-position`), advancing it
 * only once every exporter has stored the events up to there: a restarted agent resumes from the
 * last stored event, so it neither replays what was stored nor loses what was only queued.
 * Batches can settle out of order (several exporters, concurrency); the saved position moves over
 * the contiguous prefix of settled batches only.
 */
import { Ack } from '../../src/pipeline/ack.js';
import type { StateStore } from '../../src/state/store.js';
import type { Logger } from '../../src/telemetry/logger.js';
import { errorMessage } from '../../src/errors.js';
import type { EventPosition } from './cursor.js';

export const POSITION_STATE_NAME = 'events-position';

/** What is written to disk; times as decimal strings because JSON numbers cannot hold them. */
export interface SavedPosition {
  readonly version: 1;
  /** The daemon's ID from /info: a position means nothing to another daemon. */
  readonly daemon_id: string;
  readonly time: string;
  readonly ids: readonly string[];
}

interface Pending {
  readonly position: EventPosition;
  done: boolean;
}

export class PositionStore {
  private readonly pending: Pending[] = [];
  private latest: EventPosition | undefined;
  private saved: EventPosition | undefined;
  private writing: Promise<void> | undefined;
  private dirty = false;
  daemonId = '';

  constructor(private readonly state: StateStore, private readonly logger: Logger) {}

  async load(): Promise<{ daemonId: string; position: EventPosition } | undefined> {
    try {
      const saved = await this.state.read<SavedPosition>(POSITION_STATE_NAME);
      if (!saved || saved.version !== 1 || !/^\d+$/.test(saved.time) || !Array.isArray(saved.ids)) return undefined;
      const position = { time: BigInt(saved.time), ids: saved.ids.filter((id) => typeof id === 'string') };
      this.saved = position;
      return { daemonId: saved.daemon_id, position };
    } catch (error) {
      this.logger.warn({ err: errorMessage(error) }, 'events position unreadable; starting from now');
      return undefined;
    }
  }

  /** An Ack for a batch that ends at `position`; the caller attaches it to the batch's records. */
  track(position: EventPosition): Ack {
    const entry: Pending = { position, done: false };
    this.pending.push(entry);
    return new Ack(() => {
      entry.done = true;
      this.advance();
    });
  }

  /** Waits for the last write to finish (at shutdown). */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }

  get savedPosition(): EventPosition | undefined {
    return this.saved;
  }

  private advance(): void {
    let moved = false;
    while (this.pending.length > 0 && this.pending[0]!.done) {
      this.latest = this.pending.shift()!.position;
      moved = true;
    }
    if (!moved) return;
    if (this.writing) {
      this.dirty = true;
      return;
    }
    this.writing = this.writeLoop();
  }

  private async writeLoop(): Promise<void> {
    try {
      do {
        this.dirty = false;
        const position = this.latest;
        if (!position) break;
        const doc: SavedPosition = { version: 1, daemon_id: this.daemonId, time: position.time.toString(), ids: position.ids };
        try {
          await this.state.write(POSITION_STATE_NAME, doc);
          this.saved = position;
        } catch (error) {
          this.logger.warn({ err: errorMessage(error) }, 'could not save the events position');
        }
      } while (this.dirty);
    } finally {
      this.writing = undefined;
    }
  }
}
