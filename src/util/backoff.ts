export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
  /** Multiplier per attempt. */
  readonly factor?: number;
}

/** Capped exponential backoff with full jitter: attempt 0 waits up to initialMs. */
export class Backoff {
  private attempt = 0;
  constructor(private readonly options: BackoffOptions) {}

  nextDelayMs(): number {
    const factor = this.options.factor ?? 2;
    const cap = Math.min(this.options.maxMs, this.options.initialMs * factor ** this.attempt);
    this.attempt++;
    // Half fixed, half random: never zero, never a thundering herd.
    return Math.round(cap / 2 + Math.random() * (cap / 2));
  }

  reset(): void {
    this.attempt = 0;
  }

  get attempts(): number {
    return this.attempt;
  }
}

/** Resolves after `ms`, or at once (without throwing) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Whether `promise` settled before `deadline` (ms since the epoch); resolves false at the deadline otherwise. */
export async function withDeadline(promise: Promise<unknown>, deadline: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now())); });
  const result = await Promise.race([promise.then(() => true as const), timeout]);
  clearTimeout(timer);
  return result;
}
