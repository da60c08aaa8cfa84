/**
 * Resume after an Elasticsearch outage: the agent ships a steady writer's lines into the count-only
 * test server; once lines arrive, the server refuses connections (listener and every connection
 * closed) for `downSeconds` while the container goes on writing, then listens again on the same port.
 * Measured from "server back" (listening again): the first bulk request to arrive, the first document
 * stored, and the whole backlog stored; then every line written is checked to be there once.
 */
import os from 'node:os';
import type { BenchContainers } from '../lib/docker.js';
import { sleep } from '../lib/time.js';
import { AgentUnderTest } from '../logs/dockhand.js';
import { pacedWriterCommand } from '../logs/workload.js';

export interface OutageResult {
  readonly downSeconds: number;
  readonly written: number;
  /** Lines stored when the server went down. */
  readonly storedBeforeOutage: number;
  /** Lines stored when it came back (0 new lines got through while it was down). */
  readonly storedWhenBack: number;
  readonly firstBulkSeconds?: number;
  readonly firstStoredSeconds?: number;
  /** Until every line written was stored. */
  readonly backlogSeconds?: number;
  readonly delivered: number;
  readonly missing: number;
  readonly duplicates: number;
  /** 409s answered: resends the server's dedup by `_id` caught. */
  readonly resendsCaught: number;
  readonly loadAverage: number;
  readonly note?: string;
}

export interface OutageOptions {
  readonly downSeconds: number;
  readonly log: (message: string) => void;
}

/** Polls until `condition` holds; false when `timeoutMs` passed first. */
async function waitFor(condition: () => Promise<boolean>, timeoutMs: number, intervalMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) return false;
    await sleep(intervalMs);
  }
  return true;
}

export async function measureOutage(containers: BenchContainers, options: OutageOptions): Promise<OutageResult> {
  // ~4,000 lines/s for ~8 s: with the default 10 s outage, most lines are written while the server is down.
  const written = 30_000;
  const writer = await containers.create('outage-writer', pacedWriterCommand(written, 500, 0.1), { LOGS_ENABLED: 'true' });
  const under = await AgentUnderTest.start({ sink: 'elasticsearch', run: containers.run });
  try {
    await under.waitReady();
    await containers.startAll([writer]);
    if (!await waitFor(async () => (await under.held()) >= 1_000, 60_000)) throw new Error('no line reached Elasticsearch within 60 s of the writer\'s start');
    await under.esControlPost('/refuse');
    const storedBeforeOutage = await under.held();
    options.log(`server down (refusing connections) with ${storedBeforeOutage} of ${written} lines stored; back in ${options.downSeconds} s`);
    await sleep(options.downSeconds * 1000);
    const storedWhenBack = await under.held();
    const { acceptedAt } = await under.esControlPost<{ acceptedAt: number }>('/accept');
    const complete = await waitFor(async () => (await under.held()) >= written, 180_000);
    const backlogAt = Date.now();
    const stats = await under.esStats();
    const delivered = await under.held();
    await under.stop();
    const since = (t: number | undefined) => (t === undefined ? undefined : Math.max(0, (t - acceptedAt) / 1000));
    const result: OutageResult = {
      downSeconds: options.downSeconds,
      written,
      storedBeforeOutage,
      storedWhenBack,
      ...(stats.firstBulkAfterAcceptAt !== undefined ? { firstBulkSeconds: since(stats.firstBulkAfterAcceptAt)! } : {}),
      ...(stats.firstCreatedAfterAcceptAt !== undefined ? { firstStoredSeconds: since(stats.firstCreatedAfterAcceptAt)! } : {}),
      ...(complete ? { backlogSeconds: since(backlogAt)! } : {}),
      delivered,
      missing: Math.max(0, written - delivered),
      duplicates: Math.max(0, delivered - written),
      resendsCaught: stats.duplicates,
      loadAverage: os.loadavg()[0]!,
      ...(complete ? {} : { note: `only ${delivered} of ${written} lines stored 180 s after the server came back` }),
    };
    options.log(`back: first bulk after ${result.firstBulkSeconds?.toFixed(2) ?? '–'} s, first stored after ${result.firstStoredSeconds?.toFixed(2) ?? '–'} s, backlog after ${result.backlogSeconds?.toFixed(2) ?? '–'} s`);
    return result;
  } finally {
    await under.dispose();
    await containers.remove([writer]);
  }
}
