/**
 * Cooperative time slicing: synchronous work done in pieces, yielding to the event loop whenever a
 * piece has run for `sliceMs`. The stats collector reads a hundred containers' cgroup files in one
 * round (synchronous reads, ~0.1 ms a container on an idle machine, far more on a busy one); in
 * slices, a /metrics scrape or a log chunk waits at most one slice behind it, not the whole round.
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';

export class TimeSlicer {
  private sliceStart: number;

  constructor(private readonly sliceMs: number, private readonly now: () => number = () => performance.now()) {
    this.sliceStart = now();
  }

  /** Yields to the event loop (after whatever I/O is due) if this slice has run its time; resolves at once otherwise. */
  async pause(): Promise<boolean> {
    if (this.now() - this.sliceStart < this.sliceMs) return false;
    await yieldToEventLoop();
    this.sliceStart = this.now();
    return true;
  }
}
