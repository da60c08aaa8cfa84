/**
 * Builds the log collector's parts for unit tests through their own narrow interfaces (LogOutput,
 * LogDaemon), with no Docker mock and no casts: a ContainerLog whose output collects the batches
 * (optionally holding them, as an exporter that has not stored them yet), a test clock, and a
 * LogFollower over a stand-in daemon.
 */
import type { Readable } from 'node:stream';
import { START, type ResumePoint } from '../../collectors/logs/checkpoints.js';
import { ContainerLog } from '../../collectors/logs/container-log.js';
import { logStreamOf, type LogDaemon, type RunInfo } from '../../collectors/logs/daemon.js';
import type { Processing } from '../../collectors/logs/filters.js';
import { LogFollower } from '../../collectors/logs/follower.js';
import { LogsMetrics } from '../../collectors/logs/metrics.js';
import type { ContainerMeta, LogRecord } from '../../src/records.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { SelfMetrics } from '../../src/telemetry/metrics.js';

export const MS = 1_000_000n;

export interface LogHarnessOptions {
  readonly id?: string;
  readonly start?: ResumePoint;
  readonly processing?: Processing;
  readonly reorderWindowNs?: bigint;
  readonly maxLineBytes?: number;
  /** Batches stay unstored until the test releases them (held[i][0].ack.release()). */
  readonly hold?: boolean;
  readonly emit?: (records: readonly LogRecord[]) => Promise<void>;
}

export interface LogHarness {
  readonly log: ContainerLog;
  readonly batches: LogRecord[][];
  /** Batches the "exporter" has not stored yet (hold: true). */
  readonly held: LogRecord[][];
  readonly metrics: SelfMetrics;
  /** The test clock (ms) the ContainerLog reads. */
  readonly clock: { now: number };
  readonly commits: ResumePoint[];
}

export function logHarness(options: LogHarnessOptions = {}): LogHarness {
  const id = options.id ?? 'f'.repeat(64);
  const batches: LogRecord[][] = [];
  const held: LogRecord[][] = [];
  const commits: ResumePoint[] = [];
  const metrics = new SelfMetrics({ defaultMetrics: false });
  const clock = { now: 1_000_000 };
  const meta: ContainerMeta = { id, name: id.slice(0, 12), image: 'test', labels: {}, host: 'test' };
  const log = new ContainerLog(id, options.start ?? START, {
    emit: options.emit ?? (async (records) => {
      if (options.hold) {
        records[0]!.ack!.retain(); // the exporter's share, released when the test says it is stored
        held.push([...records]);
      }
      batches.push([...records]);
    }),
    meta: () => meta,
    logger: silentLogger(),
    metrics: new LogsMetrics(metrics, () => undefined, () => 0),
    onCommit: (point) => commits.push(point),
    now: () => clock.now,
  }, { maxLineBytes: options.maxLineBytes ?? 1 << 20, reorderWindowNs: options.reorderWindowNs ?? 50n * MS }, options.processing ?? { multiline: undefined, json: false });
  return { log, batches, held, metrics, clock, commits };
}

export interface StandInDaemon extends LogDaemon {
  /** Logs requests made so far. */
  readonly opened: { since: bigint; follow: boolean; until: bigint | undefined; at: number }[];
}

/** A stand-in daemon: `run()` says what inspect answers (undefined: gone), `logs()` what each logs request gets (undefined: gone). */
export function standInDaemon(run: () => RunInfo | undefined, logs: (since: bigint, follow: boolean, until: bigint | undefined) => Promise<Readable | undefined>): StandInDaemon {
  const opened: { since: bigint; follow: boolean; until: bigint | undefined; at: number }[] = [];
  return {
    opened,
    waitUntilUp: async () => undefined,
    inspect: async () => run(),
    openLogs: async (_id, since, _signal, follow, until) => {
      opened.push({ since, follow, until, at: Date.now() });
      const readable = await logs(since, follow, until);
      return readable && logStreamOf(readable);
    },
    ping: async () => true,
    reportFailure: () => undefined,
  };
}

export function follower(log: ContainerLog, daemon: LogDaemon, signal = new AbortController().signal, endUnread: () => void = () => undefined): LogFollower {
  const metrics = new SelfMetrics({ defaultMetrics: false });
  return new LogFollower(log, { daemon, signal, logger: silentLogger(), metrics: new LogsMetrics(metrics, () => undefined, () => 0), countRequestError: () => undefined, endUnread });
}

export const STOPPED: RunInfo = { running: false, tty: false, startedAt: 1_795_825_900 };
export const RUNNING: RunInfo = { ...STOPPED, running: true };
