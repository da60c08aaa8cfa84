/**
 * The live tail: log records as the collector hands them to the pipeline, sent to the pages
 * following their container. Called with every log batch; with nobody following it returns at
 * the first check, and it never waits for a client (SseClient drops one that falls behind).
 */
import type { LogRecord } from '../records.js';
import type { SseClient } from './sse.js';

/** One line as the page gets it: the text is data, the page sets it as textContent. */
export interface TailLine {
  readonly t: string;
  readonly stream: 'stdout' | 'stderr';
  readonly message: string;
}

export class LiveTail {
  private readonly followers = new Map<string, Set<SseClient>>();

  get following(): number {
    return this.followers.size;
  }

  follow(containerId: string, client: SseClient): void {
    let clients = this.followers.get(containerId);
    if (!clients) this.followers.set(containerId, clients = new Set());
    clients.add(client);
    client.onClose(() => {
      clients.delete(client);
      if (clients.size === 0 && this.followers.get(containerId) === clients) this.followers.delete(containerId);
    });
  }

  /** A batch from the logs collector: one container's records (the batcher seals them per container). */
  observe(records: readonly LogRecord[]): void {
    if (this.followers.size === 0) return;
    const clients = this.followers.get(records[0]!.container.id);
    if (!clients) return;
    // Each record is checked: a batch of mixed containers (not made today) would still go to the right page.
    const lines: TailLine[] = [];
    const id = records[0]!.container.id;
    for (const record of records) {
      if (record.container.id === id) lines.push({ t: (record.time / 1_000_000n).toString(), stream: record.stream, message: record.message });
    }
    for (const client of clients) client.send('lines', lines);
  }

  closeAll(): void {
    for (const clients of this.followers.values()) for (const client of clients) client.close();
  }
}
