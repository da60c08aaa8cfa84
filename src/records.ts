/**
 * The record model: everything a collector emits and an exporter receives.
 * Records are readonly once emitted; times are nanoseconds since the Unix epoch.
 */
import type { Ack } from './pipeline/ack.js';

export type EpochNanos = bigint;
export type RecordKind = 'log' | 'event' | 'metric' | 'engine';

/** Who a record is about. Comes from the inventory, never fetched per record. */
export interface ContainerMeta {
  readonly id: string;
  readonly name: string;
  readonly image: string;
  /** Only allow-listed labels; never the container's environment. */
  readonly labels: Readonly<Record<string, string>>;
  /** The Docker host's name (daemon `Name` from /info). */
  readonly host: string;
}

export interface LogRecord {
  readonly kind: 'log';
  /** Deterministic: container id, stream, timestamp and position at that timestamp. */
  readonly id: string;
  readonly time: EpochNanos;
  readonly stream: 'stdout' | 'stderr';
  readonly message: string;
  readonly container: ContainerMeta;
  readonly truncated?: boolean;
  /** Parsed body when the line is a JSON object and JSON parsing is enabled. */
  readonly json?: Readonly<Record<string, unknown>>;
  /** Resolved once every exporter that accepts this record has stored it. */
  readonly ack?: Ack;
}

export interface EventRecord {
  readonly kind: 'event';
  /** Deterministic: derived from the event's timeNano, type, action and actor id. */
  readonly id: string;
  readonly time: EpochNanos;
  readonly type: string; // container | image | network | volume | daemon | plugin | service | node | secret | config
  readonly action: string;
  readonly actor: { readonly id: string; readonly attributes: Readonly<Record<string, string>> };
  readonly scope?: string;
  readonly container?: ContainerMeta;
  readonly ack?: Ack;
}

export interface CpuSample {
  readonly usageSeconds: number;
  readonly userSeconds: number;
  readonly systemSeconds: number;
  readonly throttledSeconds: number;
  readonly throttledPeriods: number;
  readonly periods: number;
  /** CFS quota in microseconds per period; undefined when unlimited. */
  readonly quotaMicros?: number;
  readonly periodMicros?: number;
}

export interface MemorySample {
  readonly usageBytes: number;
  readonly workingSetBytes: number;
  readonly rssBytes: number;
  readonly cacheBytes: number;
  readonly failcnt: number;
  /** undefined when unlimited. */
  readonly limitBytes?: number;
}

export interface NetworkSample {
  readonly interface: string;
  readonly rxBytes: number;
  readonly rxPackets: number;
  readonly rxErrors: number;
  readonly rxDropped: number;
  readonly txBytes: number;
  readonly txPackets: number;
  readonly txErrors: number;
  readonly txDropped: number;
}

export interface BlkioSample {
  readonly readBytes: number;
  readonly writeBytes: number;
  readonly reads: number;
  readonly writes: number;
}

export interface MetricRecord {
  readonly kind: 'metric';
  readonly time: EpochNanos;
  readonly container: ContainerMeta;
  readonly source: 'cgroup' | 'api';
  /** The container's cgroup path as cAdvisor names it (`/docker/<id>`, `/system.slice/docker-<id>.scope`). */
  readonly cgroupPath?: string;
  readonly cpu: CpuSample;
  readonly memory: MemorySample;
  readonly network: readonly NetworkSample[];
  readonly blkio: BlkioSample;
  readonly pids: number;
  readonly ack?: Ack;
}

/** What `docker system df` reports for one kind of object. */
export interface EngineDiskUsage {
  readonly type: 'images' | 'containers' | 'volumes' | 'build_cache';
  readonly count: number;
  /** Objects in use (images used by a container, running containers, volumes mounted, build cache in use). */
  readonly active: number;
  readonly sizeBytes: number;
  readonly reclaimableBytes: number;
}

/** Engine-level figures of one Docker daemon, sampled on a schedule (not per container). */
export interface EngineRecord {
  readonly kind: 'engine';
  readonly time: EpochNanos;
  readonly host: string;
  readonly info: {
    readonly version: string;
    readonly apiVersion: string;
    readonly os: string;
    readonly kernel: string;
    readonly storageDriver: string;
    readonly cgroupDriver: string;
    readonly cgroupVersion: string;
  };
  readonly containers: { readonly total: number; readonly running: number; readonly paused: number; readonly stopped: number };
  readonly images: number;
  readonly volumes: number;
  readonly networks: number;
  /** Absent when `GET /system/df` failed this round. */
  readonly disk?: readonly EngineDiskUsage[];
  readonly ack?: Ack;
}

export type AgentRecord = LogRecord | EventRecord | MetricRecord | EngineRecord;

export function nowNanos(): EpochNanos {
  return BigInt(Date.now()) * 1_000_000n;
}

/** Formats nanoseconds since the epoch as RFC 3339 with nine fractional digits, UTC. */
export function formatRfc3339Nano(ns: EpochNanos): string {
  return formatRfc3339NanoDigits(ns.toString());
}

// Records come in runs from the same second: the date part is formatted once per second.
let lastSecondDigits = '';
let lastSecondPrefix = '';

/**
 * The same from the decimal digits of the nanoseconds, for callers that need those anyway
 * (one bigint-to-string conversion per record instead of several bigint operations).
 */
export function formatRfc3339NanoDigits(digits: string): string {
  if (digits.length < 10 || digits.charCodeAt(0) === 45 /* - */) return formatSlowly(BigInt(digits));
  const split = digits.length - 9;
  const secondDigits = digits.slice(0, split);
  if (secondDigits !== lastSecondDigits) {
    lastSecondDigits = secondDigits;
    lastSecondPrefix = `${new Date(Number(secondDigits) * 1000).toISOString().slice(0, 19)}.`;
  }
  return `${lastSecondPrefix}${digits.slice(split)}Z`;
}

function formatSlowly(ns: EpochNanos): string {
  let second = ns / 1_000_000_000n;
  let frac = ns - second * 1_000_000_000n;
  if (frac < 0n) {
    frac += 1_000_000_000n;
    second -= 1n;
  }
  return `${new Date(Number(second) * 1000).toISOString().slice(0, 19)}.${frac.toString().padStart(9, '0')}Z`;
}

/**
 * Parses an RFC 3339 timestamp with up to nine fractional digits (as the daemon writes them) into
 * nanoseconds since the epoch. Returns undefined for anything else.
 */
export function parseRfc3339Nano(text: string): EpochNanos | undefined {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(text);
  if (!m) return undefined;
  const seconds = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(seconds)) return undefined;
  const frac = BigInt((m[2] ?? '').padEnd(9, '0'));
  return BigInt(seconds) * 1_000_000n + frac;
}
