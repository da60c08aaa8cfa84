/** Monotonic time in seconds, and a deadline-bounded poll that also gives up when progress stalls. */
export function now(): number {
  return Number(process.hrtime.bigint()) / 1e9;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface ProgressOptions {
  readonly target: number;
  readonly intervalMs?: number;
  /** Give up this long after the start. */
  readonly timeoutMs: number;
  /** Give up when the count has not moved for this long (after it first moved). */
  readonly stallMs: number;
  /** Called at each poll with the count (e.g. to note when the first item arrived). */
  readonly onCount?: (count: number, at: number) => void;
}

/**
 * Polls `count` until it reaches `target`; returns the count and the time it was reached (or last
 * moved, when it stalls or times out) so that a contender that falls short is still measured.
 */
export async function pollProgress(count: () => Promise<number>, options: ProgressOptions): Promise<{ count: number; at: number; complete: boolean; reason?: string }> {
  const start = now();
  let last = -1;
  let lastMoved = start;
  for (;;) {
    let n: number;
    try {
      n = await count();
    } catch {
      n = last < 0 ? 0 : last;
    }
    const t = now();
    options.onCount?.(n, t);
    if (n !== last) {
      last = n;
      lastMoved = t;
    }
    if (n >= options.target) return { count: n, at: t, complete: true };
    if (t - start > options.timeoutMs / 1000) return { count: n, at: lastMoved, complete: false, reason: `timed out after ${Math.round(options.timeoutMs / 1000)} s` };
    if (n > 0 && t - lastMoved > options.stallMs / 1000) return { count: n, at: lastMoved, complete: false, reason: `no progress for ${Math.round(options.stallMs / 1000)} s` };
    await sleep(options.intervalMs ?? 100);
  }
}
