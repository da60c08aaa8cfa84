/**
 * A lingering take that holds a tenth of its batch or more, or that follows a full take, also ends
 * once no item has arrived for this long (checked every QUIET_MS, so seen within twice that): a
 * burst is over, and what it left waits for nothing (into Elasticsearch its last ~700 lines waited
 * the whole 200 ms linger; the last few dozen did while only a tenth ended the wait). Longer than
 * the collectors' seal delay (5 ms) and most event-loop stalls, so a live stream keeps filling the
 * batch; a trickle (a few lines now and then, never a full batch) still waits out the linger, in
 * few requests.
 */
export const QUIET_MS = 25;
/** The share of a batch a lingering take must hold before quiet ends it. */
const QUIET_MIN_SHARE = 0.1;

/**
 * A bounded FIFO between the router and one exporter, bounded in items and, when given a `weigh`,
 * in bytes (whichever is reached first). `push` waits while the queue is full (backpressure reaches
 * the collectors, and through them the Docker streams); `take` waits for items or a deadline. One
 * batch may overshoot the bounds so a batch larger than the whole queue still moves.
 */
export class BoundedQueue<T> {
  private items: T[] = [];
  private head = 0;
  private spaceWaiters: (() => void)[] = [];
  private itemWaiters: (() => void)[] = [];
  private closed = false;
  private weight = 0;
  /**
   * Takers lingering for a full batch: woken once theirs is there (or their time is up), not on
   * every push — a live stream pushes small batches, and a timer and an abort listener per push
   * cost more than the records.
   */
  private enoughWaiters: EnoughWaiter[] = [];
  /** The last take was a full batch (max items or maxBytes): a burst is on, and quiet ends the next take whatever it holds. */
  private lastTakeFull = false;
  /** Pushes so far: a lingering take that sees none for QUIET_MS stops waiting. */
  private arrivals = 0;

  /** `capacityBytes` bounds the sum of `weigh(item)` (an estimate of the memory an item holds). */
  constructor(readonly capacity: number, readonly capacityBytes = Number.POSITIVE_INFINITY, private readonly weigh?: (item: T) => number) {
    if (capacity < 1) throw new Error('queue capacity must be at least 1');
    if (!(capacityBytes > 0)) throw new Error('queue byte capacity must be positive');
  }

  get size(): number {
    return this.items.length - this.head;
  }

  /** The summed weight of the items queued (0 without `weigh`). */
  get bytes(): number {
    return this.weight;
  }

  /** The item `take` would hand out first, left in place. */
  peek(): T | undefined {
    return this.size > 0 ? this.items[this.head] : undefined;
  }

  get isFull(): boolean {
    return this.size >= this.capacity || this.weight >= this.capacityBytes;
  }

  /** Appends all of `batch` once there is room; resolves at once when the queue is closed. */
  async push(batch: readonly T[]): Promise<void> {
    while (this.isFull && !this.closed) {
      await new Promise<void>((resolve) => this.spaceWaiters.push(resolve));
    }
    for (const item of batch) this.items.push(item);
    this.weight += this.weightOf(batch, 0, batch.length);
    this.arrived();
  }

  /** Appends what fits now and returns what did not fit (for drop-when-full). */
  offer(batch: readonly T[]): T[] {
    let room = Math.max(0, Math.min(batch.length, this.capacity - this.size));
    if (this.weigh && room > 0) {
      let bytes = this.weight;
      for (let i = 0; i < room; i++) {
        if (bytes >= this.capacityBytes) {
          room = i;
          break;
        }
        bytes += this.weigh(batch[i]!);
      }
    }
    const accepted = batch.slice(0, room);
    for (const item of accepted) this.items.push(item);
    this.weight += this.weightOf(accepted, 0, accepted.length);
    if (accepted.length > 0) this.arrived();
    return batch.slice(room);
  }

  /** Appends all of `batch` now, dropping the oldest items to make room; returns what was dropped. */
  offerDroppingOldest(batch: readonly T[]): T[] {
    const kept = batch.length > this.capacity ? batch.slice(batch.length - this.capacity) : batch;
    const dropped = batch.length > this.capacity ? batch.slice(0, batch.length - this.capacity) : [];
    const excess = Math.max(0, this.size + kept.length - this.capacity);
    if (excess > 0) {
      dropped.unshift(...this.items.slice(this.head, this.head + excess));
      this.weight -= this.weightOf(this.items, this.head, this.head + excess);
      this.head += excess;
      this.compact();
    }
    for (const item of kept) this.items.push(item);
    this.weight += this.weightOf(kept, 0, kept.length);
    if (kept.length > 0) this.arrived();
    return dropped;
  }

  /** Takes everything queued now, without waiting. */
  drainAll(): T[] {
    const out = this.items.slice(this.head);
    this.items = [];
    this.head = 0;
    this.weight = 0;
    if (out.length > 0) this.wake(this.spaceWaiters);
    return out;
  }

  /** Puts `items` back at the head (they were taken and could not be kept elsewhere). */
  unshift(items: readonly T[]): void {
    if (items.length === 0) return;
    this.items = [...items, ...this.items.slice(this.head)];
    this.head = 0;
    this.weight += this.weightOf(items, 0, items.length);
    this.arrived();
  }

  /** Resolves once an item is there (or the queue closes, or `signal` aborts); takes nothing. */
  async waitForAny(signal?: AbortSignal): Promise<void> {
    while (this.size === 0 && !this.closed && !signal?.aborted) await this.waitForItems(signal);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Takes up to `max` items weighing up to `maxBytes` together (at least one item, however heavy).
   * Waits until that much is there, `lingerMs` has passed since the first item was available, or
   * (holding a tenth of `max` or more, or right after a full take) no item has arrived for
   * QUIET_MS, whichever comes first.
   * Returns an empty array only when the queue is closed and empty, or when `signal` aborts while
   * empty.
   */
  async take(max: number, lingerMs: number, signal?: AbortSignal, maxBytes = Number.POSITIVE_INFINITY): Promise<T[]> {
    for (;;) {
      while (this.size === 0 && !this.closed && !signal?.aborted) {
        await this.waitForItems(signal);
      }
      if (lingerMs > 0 && !this.closed && !signal?.aborted && !this.holds(max, maxBytes)) await this.waitForEnough(max, maxBytes, lingerMs, signal);
      // Another taker (workers > 1) may have emptied the queue meanwhile: empty means closed or aborted only.
      if (this.size > 0 || this.closed || signal?.aborted) break;
    }
    let count = Math.min(max, this.size);
    let taken = 0;
    if (this.weigh) {
      for (let i = 0; i < count; i++) {
        const bytes = this.weigh(this.items[this.head + i]!);
        if (i > 0 && taken + bytes > maxBytes) {
          count = i;
          break;
        }
        taken += bytes;
      }
    }
    this.lastTakeFull = count === max || count < Math.min(max, this.size);
    const out = this.items.slice(this.head, this.head + count);
    this.head += count;
    this.weight -= taken;
    if (this.size === 0) this.weight = 0; // no drift from rounding
    this.compact();
    if (count > 0) this.wake(this.spaceWaiters);
    return out;
  }

  /** Wakes every waiter; later pushes no longer wait. */
  close(): void {
    this.closed = true;
    this.wake(this.spaceWaiters);
    this.wake(this.itemWaiters);
    for (const waiter of this.enoughWaiters.slice()) waiter.done();
  }

  /** Whether `max` items or `maxBytes` of them are queued. */
  private holds(max: number, maxBytes: number): boolean {
    return this.size >= max || this.weight >= maxBytes;
  }

  /** Resolves once `max` items or `maxBytes` are queued, `ms` have passed, none arrived for QUIET_MS, the queue closes or `signal` aborts. */
  private waitForEnough(max: number, maxBytes: number, ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      let seen = this.arrivals;
      const afterFullTake = this.lastTakeFull;
      const quiet = () => {
        if (this.arrivals === seen && (afterFullTake || this.size >= max * QUIET_MIN_SHARE)) return waiter.done();
        seen = this.arrivals;
        quietTimer = setTimeout(quiet, QUIET_MS);
      };
      let quietTimer = ms > QUIET_MS ? setTimeout(quiet, QUIET_MS) : undefined;
      const waiter: EnoughWaiter = {
        max,
        maxBytes,
        done: () => {
          clearTimeout(timer);
          clearTimeout(quietTimer);
          signal?.removeEventListener('abort', waiter.done);
          const at = this.enoughWaiters.indexOf(waiter);
          if (at >= 0) this.enoughWaiters.splice(at, 1);
          resolve();
        },
      };
      const timer = setTimeout(waiter.done, ms);
      this.enoughWaiters.push(waiter);
      signal?.addEventListener('abort', waiter.done, { once: true });
    });
  }

  /** Items arrived: wakes the takers whose batch is now there. */
  private arrived(): void {
    this.arrivals++;
    this.wake(this.itemWaiters);
    if (this.enoughWaiters.length === 0) return;
    for (const waiter of this.enoughWaiters.slice()) if (this.holds(waiter.max, waiter.maxBytes)) waiter.done();
  }

  private weightOf(items: readonly T[], from: number, to: number): number {
    if (!this.weigh) return 0;
    let bytes = 0;
    for (let i = from; i < to; i++) bytes += this.weigh(items[i]!);
    return bytes;
  }

  private compact(): void {
    if (this.head > 4096 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }

  /** Wakes waiters of take()/waitForAny() without adding anything (another source of items has some). */
  notify(): void {
    this.wake(this.itemWaiters);
  }

  private waitForItems(signal?: AbortSignal, timeoutMs?: number): Promise<void> {
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      this.itemWaiters.push(done);
      if (timeoutMs !== undefined) timer = setTimeout(done, timeoutMs);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  private wake(waiters: (() => void)[]): void {
    const all = waiters.splice(0);
    for (const resolve of all) resolve();
  }
}

interface EnoughWaiter {
  readonly max: number;
  readonly maxBytes: number;
  readonly done: () => void;
}
