import type { DockerConnection } from './connection.js';
import { Backoff, sleep } from '../util/backoff.js';

/**
 * Follows a daemon stream for as long as `signal` allows: waits until the daemon answers, runs
 * `follow` (which returns or throws when the stream ends), reports the loss through `lost` and the
 * connection, backs off, and starts again. A stream that lasted 30 s resets the backoff.
 */
export async function followWhileRunning(docker: DockerConnection, signal: AbortSignal, follow: () => Promise<void>, lost: (error: unknown) => void): Promise<void> {
  const backoff = new Backoff({ initialMs: 250, maxMs: 10_000 });
  while (!signal.aborted) {
    await docker.waitUntilUp(signal);
    if (signal.aborted) return;
    const startedAt = Date.now();
    try {
      await follow();
      if (signal.aborted) return;
      throw new Error('events stream ended');
    } catch (error) {
      if (signal.aborted) return;
      lost(error);
      docker.reportFailure(error);
      if (Date.now() - startedAt > 30_000) backoff.reset();
      await sleep(backoff.nextDelayMs(), signal);
    }
  }
}
