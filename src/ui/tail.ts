/**
 * The live tail: log records as the collector hands them to the pipeline, sent to the pages
 * following their container. Called with every log batch; with nobody following it returns at
 * the first check, and it never waits for a client (SseClient drops one that falls behind).
 */
import type { LogRecord } from '../records.js';
import { sseFrame, type SseClient } from './sse.js';

/**
 * One batch of a container's lines as the page gets them: the first line's time (epoch ms), the
 * lines' text, and which of them came on stderr. Compact because a tail may carry tens of thousands
 * of lines a second: one JSON string per line, no object per line. The page sets each as textContent.
 */
export interface TailBatch {
  readonly t: number;
  readonly m: readonly string[];
  /** Indexes into `m` of the stderr lines. */
  readonly e: readonly number[];
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
    const frame = sseFrame('lines', tailBatch(records));
    for (const client of clients) client.sendFrame(frame);
  }

  closeAll(): void {
    for (const clients of this.followers.values()) for (const client of clients) client.close();
  }
}

/** The records of one batch (one container's, as the batcher seals them) as the page gets them. */
export function tailBatch(records: readonly LogRecord[]): TailBatch {
  const m: string[] = new Array<string>(records.length);
  const e: number[] = [];
  for (let i = 0; i < records.length; i++) {
    const record = records[i]!;
    m[i] = record.message;
    if (record.stream === 'stderr') e.push(i);
  }
  return { t: Number(records[0]!.time / 1_000_000n), m, e };
}
