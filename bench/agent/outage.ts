/**
 * Resume after an Elasticsearch outage: the agent ships into the count-only test server. Each cycle
 * starts a writer container (30,000 lines at ~4,000 lines/s); once 1,000 of its lines are stored, the
 * server refuses connections (listener and every connection closed) for `downSeconds` while the
 * container goes on writing, then listens again on the same port. Measured from "server back"
 * (listening again): the first bulk request to arrive, the first document stored, and the backlog
 * (everything written so far) stored. Where the outage ends within the agent's retry backoff is
 * chance, so there are several cycles and the goal is judged on the slowest. At the end every line
 * written is checked to be there once.
 */
import os from 'node:os';
import type { BenchContainers } from '../lib/docker.js';
import { sleep } from '../lib/time.js';
import { AgentUnderTest } from '../logs/dockhand.js';
import { pacedWriterCommand } from '../logs/workload.js';

export interface OutageCycle {
  /** Lines stored when the server went down. */
  readonly storedBeforeOutage: number;
  readonly firstBulkSeconds?: number;
  readonly firstStoredSeconds?: number;
  /** Until every line written so far was stored. */
  readonly backlogSeconds?: number;
  readonly loadAverage: number;
}

export interface OutageResult {
  readonly downSeconds: number;
  readonly cycles: readonly OutageCycle[];
  readonly written: number;
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
  readonly cycles: number;
  readonly log: (message: string) => void;
}

const LINES_PER_CYCLE = 30_000;

/** Polls until `condition` holds; false when `timeoutMs` passed first. */
async function waitFor(condition: () => Promise<boolean>, timeoutMs: number, intervalMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) return false;
    await sleep(intervalMs);
  }
  return true;
}

/** The slowest resume of the cycles (a cycle with no request after "back" counts as never). */
export function slowestCycle(result: OutageResult): OutageCycle | undefined {
  return [...result.cycles].sort((a, b) => (b.firstBulkSeconds ?? Number.POSITIVE_INFINITY) - (a.firstBulkSeconds ?? Number.POSITIVE_INFINITY))[0];
}

async function cycle(under: AgentUnderTest, containers: BenchContainers, index: number, writtenBefore: number, options: OutageOptions): Promise<{ cycle: OutageCycle; complete: boolean; writer: string }> {
  // ~4,000 lines/s for ~8 s: with the default 10 s outage, most lines are written while the server is down.
  const writer = await containers.create(`outage-writer-${index}`, pacedWriterCommand(LINES_PER_CYCLE, 500, 0.1), { LOGS_ENABLED: 'true' });
  const target = writtenBefore + LINES_PER_CYCLE;
  await containers.startAll([writer]);
  if (!await waitFor(async () => (await under.held()) >= writtenBefore + 1_000, 60_000)) throw new Error('no line reached Elasticsearch within 60 s of the writer\'s start');
  await under.esControlPost('/refuse');
  const storedBeforeOutage = await under.held();
  options.log(`cycle ${index}: server down (refusing connections) with ${storedBeforeOutage} of ${target} lines stored; back in ${options.downSeconds} s`);
  await sleep(options.downSeconds * 1000);
  const { acceptedAt } = await under.esControlPost<{ acceptedAt: number }>('/accept');
  const complete = await waitFor(async () => (await under.held()) >= target, 180_000);
  const backlogAt = Date.now();
  const stats = await under.esStats();
  const since = (t: number | undefined) => (t === undefined ? undefined : Math.max(0, (t - acceptedAt) / 1000));
  const result: OutageCycle = {
    storedBeforeOutage,
    ...(stats.firstBulkAfterAcceptAt !== undefined ? { firstBulkSeconds: since(stats.firstBulkAfterAcceptAt)! } : {}),
    ...(stats.firstCreatedAfterAcceptAt !== undefined ? { firstStoredSeconds: since(stats.firstCreatedAfterAcceptAt)! } : {}),
    ...(complete ? { backlogSeconds: since(backlogAt)! } : {}),
    loadAverage: os.loadavg()[0]!,
  };
  options.log(`cycle ${index}: back: first bulk after ${result.firstBulkSeconds?.toFixed(2) ?? '–'} s, first stored after ${result.firstStoredSeconds?.toFixed(2) ?? '–'} s, backlog after ${result.backlogSeconds?.toFixed(2) ?? '–'} s`);
  return { cycle: result, complete, writer };
}

export async function measureOutage(containers: BenchContainers, options: OutageOptions): Promise<OutageResult> {
  const under = await AgentUnderTest.start({ sink: 'elasticsearch', run: containers.run });
  const writers: string[] = [];
  try {
    await under.waitReady();
    const cycles: OutageCycle[] = [];
    let written = 0;
    let note: string | undefined;
    for (let i = 1; i <= options.cycles; i++) {
      const done = await cycle(under, containers, i, written, options);
      writers.push(done.writer);
      cycles.push(done.cycle);
      written += LINES_PER_CYCLE;
      if (!done.complete) {
        note = `cycle ${i}: not every line stored 180 s after the server came back`;
        break;
      }
    }
    const stats = await under.esStats();
    const delivered = await under.held();
    await under.stop();
    return {
      downSeconds: options.downSeconds,
      cycles,
      written,
      delivered,
      missing: Math.max(0, written - delivered),
      duplicates: Math.max(0, delivered - written),
      resendsCaught: stats.duplicates,
      loadAverage: os.loadavg()[0]!,
      ...(note ? { note } : {}),
    };
  } finally {
    await under.dispose();
    await containers.remove(writers);
  }
}
