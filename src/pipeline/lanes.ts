/**
 * The lanes of one exporter: a bounded queue per record kind, each with its own workers, so logs
 * never hold up events or metrics. What a lane does when full is its kind's policy:
 *
 * - logs (`block`): emit waits for room — backpressure to the Docker log streams, nothing lost
 *   (or `drop_newest`, counted, when configured);
 * - events (`spill`): never wait — beyond a small memory queue they are appended (fsync'd) to
 *   segment files under the data directory and read back in order once the exporter takes them
 *   again, after a restart too; their acknowledgements are released once durable on disk. A batch
 *   from memory whose export fails goes to disk too (with the rest of memory), so events waiting
 *   for a down exporter never pin the events position (the daemon replays only its last 256);
 * - metrics and engine samples (`drop_oldest`): a newer sample supersedes an older one; the oldest
 *   are dropped, counted.
 */
import { plainRecord, type AgentRecord, type EventRecord, type RecordKind } from '../records.js';
import { BoundedQueue } from './queue.js';
import { recordBytes } from './record-bytes.js';
import { SpillLog } from './spill.js';

export type LanePolicy = 'block' | 'drop_newest' | 'spill' | 'drop_oldest';

/** What a lane tells its runner: records it let go of without the exporter (their acks are the runner's). */
export interface LaneHooks {
  dropped(records: readonly AgentRecord[], reason: 'queue_full' | 'oldest_sample' | 'spill_full' | 'spill_failed', detail?: string): void;
  spilled(records: readonly AgentRecord[]): void;
  /** Queue depth and spill size changed (for the gauges). */
  changed(lane: Lane): void;
}

/** A batch to deliver; `delivered` is called once every record of it is stored or dead-lettered. */
export interface LaneBatch {
  readonly records: readonly AgentRecord[];
  delivered(): Promise<void>;
  /**
   * Offered once, when an attempt left `pending` unstored: the lane may take them back (durably,
   * with their acks released) to deliver them later itself; true if it did, and the runner lets go.
   */
  takeBack?(pending: readonly AgentRecord[]): Promise<boolean>;
}

export interface Lane {
  readonly kind: RecordKind;
  readonly policy: LanePolicy;
  /** Records held in memory before the policy applies. */
  readonly capacity: number;
  /** Batches delivered at once (one keeps the lane's order). */
  readonly workers: number;
  open(): Promise<void>;
  /** Queues records (their acks already retained once for this exporter). */
  enqueue(records: readonly AgentRecord[]): Promise<void>;
  /** The next batch in order, of at most `max` records and `maxBytes` (at least one record); undefined once closed and empty, or when `signal` aborts. */
  next(max: number, lingerMs: number, signal: AbortSignal, maxBytes?: number): Promise<LaneBatch | undefined>;
  close(): Promise<void>;
  /** Records waiting in memory. */
  readonly size: number;
  /** The oldest record waiting in memory (spilled records are not looked at: they are on disk). */
  oldestWaiting(): AgentRecord | undefined;
  status(): Record<string, unknown>;
}

const NOTHING_TO_COMMIT = () => Promise.resolve();

/** In memory: waits for room (block), or drops what does not fit (drop_newest) or the oldest (drop_oldest). */
export class MemoryLane implements Lane {
  private readonly queue: BoundedQueue<AgentRecord>;
  private dropped = 0;

  /** `capacityBytes`: record bytes held at most (record-bytes.ts), besides `capacity` records. */
  constructor(readonly kind: RecordKind, readonly policy: 'block' | 'drop_newest' | 'drop_oldest', readonly capacity: number, readonly workers: number, private readonly hooks: LaneHooks, readonly capacityBytes = Number.POSITIVE_INFINITY) {
    this.queue = new BoundedQueue(capacity, capacityBytes, Number.isFinite(capacityBytes) ? recordBytes : undefined);
  }

  get size(): number {
    return this.queue.size;
  }

  get bytes(): number {
    return this.queue.bytes;
  }

  oldestWaiting(): AgentRecord | undefined {
    return this.queue.peek();
  }

  async open(): Promise<void> {}

  async enqueue(records: readonly AgentRecord[]): Promise<void> {
    if (this.policy === 'block') await this.queue.push(records);
    else if (this.policy === 'drop_newest') this.drop(this.queue.offer(records), 'queue_full');
    else this.drop(this.queue.offerDroppingOldest(records), 'oldest_sample');
    this.hooks.changed(this);
  }

  async next(max: number, lingerMs: number, signal: AbortSignal, maxBytes?: number): Promise<LaneBatch | undefined> {
    const records = await this.queue.take(max, lingerMs, signal, maxBytes);
    this.hooks.changed(this);
    return records.length === 0 ? undefined : { records, delivered: NOTHING_TO_COMMIT };
  }

  async close(): Promise<void> {
    this.queue.close();
  }

  status(): Record<string, unknown> {
    return {
      policy: this.policy, queued: this.queue.size, capacity: this.capacity,
      ...(Number.isFinite(this.capacityBytes) ? { queued_bytes: this.queue.bytes, capacity_bytes: this.capacityBytes } : {}),
      dropped: this.dropped,
    };
  }

  private drop(records: readonly AgentRecord[], reason: 'queue_full' | 'oldest_sample'): void {
    if (records.length === 0) return;
    this.dropped += records.length;
    this.hooks.dropped(records, reason);
  }
}

/** Runs callbacks one at a time (the spill's decisions and file operations must not interleave). */
class Exclusive {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn, fn);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

/**
 * Memory first, then the spill. Order holds because a record goes to memory only while the spill
 * has nothing uncommitted: whatever is in memory is older than whatever is in the spill, and the
 * worker empties memory first.
 */
export class SpillingLane implements Lane {
  readonly policy = 'spill';
  readonly workers = 1;
  private readonly memory: BoundedQueue<AgentRecord>;
  private readonly exclusive = new Exclusive();
  private readonly counts = { spilled: 0, dropped: 0, recovered_bytes: 0, read_back: 0 };

  constructor(readonly kind: RecordKind, readonly capacity: number, private readonly spill: SpillLog<AgentRecord>, private readonly hooks: LaneHooks) {
    this.memory = new BoundedQueue(capacity);
  }

  get size(): number {
    return this.memory.size;
  }

  oldestWaiting(): AgentRecord | undefined {
    return this.memory.peek();
  }

  get spillBytes(): number {
    return this.spill.bytes;
  }

  async open(): Promise<void> {
    await this.spill.open();
    this.counts.recovered_bytes = this.spill.bytes;
    this.hooks.changed(this);
  }

  enqueue(records: readonly AgentRecord[]): Promise<void> {
    return this.exclusive.run(async () => {
      let rest = records;
      if (this.spill.isEmpty) {
        const overflow = this.memory.offer(records);
        rest = overflow;
      }
      if (rest.length > 0) await this.spillOut(rest);
      this.hooks.changed(this);
    });
  }

  async next(max: number, lingerMs: number, signal: AbortSignal): Promise<LaneBatch | undefined> {
    for (;;) {
      if (signal.aborted) return undefined;
      const front = this.spill.frontRecords;
      if (front.length > 0) {
        this.counts.read_back += front.length;
        return { records: front, delivered: () => this.exclusive.run(() => this.spill.clearFront()) };
      }
      if (this.memory.size > 0) {
        const records = await this.memory.take(Math.min(max, this.capacity), lingerMs, signal);
        this.hooks.changed(this);
        if (records.length > 0) return { records, delivered: NOTHING_TO_COMMIT, takeBack: (pending) => this.takeBack(pending) };
        continue;
      }
      const fromSpill = await this.exclusive.run(async () => {
        if (this.memory.size > 0 || this.spill.allRead) return undefined;
        return this.spill.read(max);
      });
      if (fromSpill && fromSpill.records.length > 0) {
        this.counts.read_back += fromSpill.records.length;
        return {
          records: fromSpill.records,
          delivered: () => this.exclusive.run(async () => {
            await this.spill.commit(fromSpill.end);
            this.hooks.changed(this);
          }),
        };
      }
      if (this.memory.isClosed && this.memory.size === 0) return undefined;
      await this.memory.waitForAny(signal);
    }
  }

  async close(): Promise<void> {
    this.memory.close();
    await this.exclusive.run(() => this.spill.close());
  }

  status(): Record<string, unknown> {
    return {
      policy: this.policy,
      queued: this.memory.size,
      capacity: this.capacity,
      spill_bytes: this.spill.bytes,
      spill_dir: this.spill.dir,
      ...this.counts,
    };
  }

  /**
   * A batch from memory failed: it and the rest of memory (both older than anything in the segments)
   * become the spill's front, durably; their acks are released. From here on new events go to disk
   * until everything is delivered. False (nothing changed) if the write fails: the runner keeps it.
   */
  private takeBack(pending: readonly AgentRecord[]): Promise<boolean> {
    return this.exclusive.run(async () => {
      const queued = this.memory.drainAll();
      const records = [...pending, ...queued];
      try {
        await this.spill.setFront(records.map(withoutAck));
      } catch (error) {
        this.memory.unshift(queued);
        return false;
      }
      this.counts.spilled += records.length;
      this.hooks.spilled(records);
      this.hooks.changed(this);
      return true;
    });
  }

  /** Appends durably, then lets the records go (their acks may be released: they are on disk). */
  private async spillOut(records: readonly AgentRecord[]): Promise<void> {
    let written = 0;
    try {
      written = await this.spill.append(records);
    } catch (error) {
      this.counts.dropped += records.length;
      this.hooks.dropped(records, 'spill_failed', (error as Error).message);
      return;
    }
    if (written > 0) {
      this.counts.spilled += written;
      this.hooks.spilled(records.slice(0, written));
      this.memory.notify();
    }
    if (written < records.length) {
      this.counts.dropped += records.length - written;
      this.hooks.dropped(records.slice(written), 'spill_full');
    }
  }
}

function withoutAck(record: AgentRecord): AgentRecord {
  if (!record.ack) return record;
  const { ack: _ack, ...rest } = plainRecord(record);
  return rest as AgentRecord;
}

/** Events on disk: every field but the ack, the nanosecond time as a decimal string. */
export const eventSpillCodec = {
  encode(record: AgentRecord): string {
    return JSON.stringify(record, (key, value: unknown) => (key === 'ack' ? undefined : typeof value === 'bigint' ? value.toString() : value));
  },
  decode(line: string): AgentRecord {
    const parsed = JSON.parse(line) as Omit<EventRecord, 'time'> & { time: string };
    return { ...parsed, time: BigInt(parsed.time) } as EventRecord;
  },
};
