/**
 * The few things the log follower asks of the Docker daemon, as a narrow port: tests drive the
 * follower with a stand-in of their own, and the real one is a thin adapter over the connection.
 */
import type { Readable } from 'node:stream';
import type { ByteSink, ByteStream } from '../../src/docker/byte-stream.js';
import type { DockerConnection } from '../../src/docker/connection.js';
import { toEpochSeconds } from '../../src/docker/inventory.js';
import { formatSince } from './timestamp.js';

/** One look at a container: which run it is in and whether that run still goes on. */
export interface RunInfo {
  /** The process runs, is paused, or is about to run again (restarting): its log may grow. */
  readonly running: boolean;
  readonly tty: boolean;
  /** State.StartedAt as epoch seconds (the inventory's conversion): tells one run from the next. */
  readonly startedAt: number;
  /**
   * State.FinishedAt as epoch seconds, 0 if it never finished: while a later run goes on, the end of
   * the one before (the daemon's clock, ms precision).
   */
  readonly finishedAt?: number;
}

/**
 * A log answer's body as it comes off the socket: multiplexed frames, or a TTY container's raw bytes,
 * handed on as ranges of the socket's own buffers (no copy, no stream event per frame).
 */
export type LogStream = ByteStream;

export interface LogDaemon {
  /** Resolves once the daemon answers (or when `signal` aborts). */
  waitUntilUp(signal: AbortSignal): Promise<void>;
  /** The container's run, or undefined when it is gone (404). Throws for daemon trouble. */
  inspect(id: string): Promise<RunInfo | undefined>;
  /**
   * The log from `since` (inclusive, ns): followed while the container runs (`follow`), or what is
   * written now, with `until` (ns, inclusive) only the lines stamped up to then. Undefined when the
   * container is gone or being removed (404, 409). Throws for daemon trouble.
   */
  openLogs(id: string, since: bigint, signal: AbortSignal, follow: boolean, until?: bigint): Promise<LogStream | undefined>;
  /** Whether the daemon answers. */
  ping(): Promise<boolean>;
  /** A request failed at the connection level: everyone waits for the daemon until it is back. */
  reportFailure(error: unknown): void;
}

export function statusCode(error: unknown): number | undefined {
  const code = (error as { statusCode?: unknown } | undefined)?.statusCode;
  return typeof code === 'number' ? code : undefined;
}

/** The port over the agent's one Docker connection. */
export function connectionLogDaemon(connection: DockerConnection): LogDaemon {
  return {
    waitUntilUp: (signal) => connection.waitUntilUp(signal),
    inspect: async (id) => {
      try {
        const info = await connection.docker.inspectContainer(id);
        const state = info.State;
        return {
          running: state.Running || state.Restarting || state.Paused,
          tty: info.Config?.Tty ?? false,
          startedAt: toEpochSeconds(state.StartedAt),
          finishedAt: toEpochSeconds(state.FinishedAt),
        };
      } catch (error) {
        if (statusCode(error) === 404) return undefined;
        throw error;
      }
    },
    openLogs: async (id, since, signal, follow, until) => {
      const query = { follow, stdout: true, stderr: true, timestamps: true, since: formatSince(since), ...(until === undefined ? {} : { until: formatSince(until) }) };
      try {
        return await connection.docker.logs(id, query, signal);
      } catch (error) {
        const status = statusCode(error);
        // 409: "can not get logs from container which is dead or marked for removal".
        if (status === 404 || status === 409) return undefined;
        throw error;
      }
    },
    ping: async () => {
      try {
        await connection.docker.ping();
        return true;
      } catch {
        return false;
      }
    },
    reportFailure: (error) => connection.reportFailure(error),
  };
}

/** The same stream over a node Readable (a stand-in daemon's, in tests): one range per chunk. */
export function logStreamOf(readable: Readable): LogStream {
  let ended = false;
  return {
    read(sink: ByteSink) {
      const end = (error: unknown) => {
        if (ended) return;
        ended = true;
        sink.end(error);
      };
      readable.on('data', (chunk: Buffer) => {
        try {
          sink.bytes(chunk, 0, chunk.length);
        } catch (error) {
          readable.destroy();
          end(error);
        }
      });
      readable.once('end', () => end(undefined));
      readable.once('error', (error) => end(error));
      readable.once('close', () => end(readable.readableEnded ? undefined : new Error('log stream closed before its end')));
    },
    pause: () => readable.pause(),
    resume: () => readable.resume(),
    get isPaused() {
      return readable.isPaused();
    },
    destroy: () => {
      ended = true;
      readable.destroy();
    },
    get destroyed() {
      return readable.destroyed;
    },
  };
}
