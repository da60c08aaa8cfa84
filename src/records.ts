/**
 * The record model: everything a collector emits and an exporter receives.
 * Records are readonly once emitted; times are nanoseconds since the Unix epoch.
 */
import type { Ack } from './pipeline/ack.js';
import { PLAIN_ASCII, writeDigits9, writeLatin1 } from './util/byte-writer.js';

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

/**
 * A log record as the logs collector makes one per line. Its id is made from its parts only when
 * asked for: `<container id>:<stream>:<time ns>:<position>` built for every line (a bigint printed,
 * then joined) cost ~13 % of the agent's CPU per line into a file, counting the GC of those strings
 * while queued. The exporters that write an id per line (file, Elasticsearch) write it straight from
 * the parts (writeLineId); the others read `id`.
 */
export class LineRecord implements LogRecord {
  readonly kind = 'log';
  declare truncated?: boolean;
  declare json?: Readonly<Record<string, unknown>>;

  constructor(
    /** `<container id>:<stream>:`, the same string for all of a stream's records. */
    readonly idHead: string,
    readonly time: EpochNanos,
    /** Its index among the stream's lines with the same time. */
    readonly position: number,
    readonly stream: 'stdout' | 'stderr',
    readonly message: string,
    readonly container: ContainerMeta,
    readonly ack: Ack | undefined,
  ) {}

  get id(): string {
    return `${this.idHead}${this.time}:${this.position}`;
  }

  /** The plain record, id included, for JSON.stringify (dead letters) and for copies made by spreading it. */
  toJSON(): LogRecord {
    const { kind, id, time, stream, message, container, ack } = this;
    return {
      kind, id, time, stream, message, container,
      ...(this.truncated ? { truncated: true } : {}),
      ...(this.json ? { json: this.json } : {}),
      ...(ack ? { ack } : {}),
    };
  }
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
  /** CPU shares as cAdvisor reports them (v1 cpu.shares; v2 converted back from cpu.weight); undefined when unknown. */
  readonly shares?: number;
}

export interface MemorySample {
  readonly usageBytes: number;
  readonly workingSetBytes: number;
  readonly rssBytes: number;
  readonly cacheBytes: number;
  readonly failcnt: number;
  /** undefined when unlimited. */
  readonly limitBytes?: number;
  /** Swap in use (v1 memory.stat total_swap, v2 memory.swap.current); undefined when the source does not say. */
  readonly swapBytes?: number;
  /** Highest usage recorded (v1 memory.max_usage_in_bytes, v2 memory.peak); undefined when the kernel keeps none. */
  readonly maxUsageBytes?: number;
  /** memory.stat pgfault / pgmajfault of the container itself and of its hierarchy (v1 total_*; v2 the same). */
  readonly pageFaults?: MemoryFaults;
  /** Soft limit (v1 memory.soft_limit_in_bytes, v2 memory.low); 0 when unlimited, undefined when unknown. */
  readonly reservationBytes?: number;
  /** v1 memory.memsw.limit_in_bytes (memory + swap), v2 memory.swap.max (swap only); 0 when unlimited, undefined when unknown. */
  readonly swapLimitBytes?: number;
}

export interface MemoryFaults {
  readonly pgfault: number;
  readonly pgmajfault: number;
  readonly hierarchyPgfault: number;
  readonly hierarchyPgmajfault: number;
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
  /** The same figures per block device (the totals above are their sums); absent from older sources. */
  readonly devices?: readonly BlkioDeviceSample[];
}

export interface BlkioDeviceSample {
  readonly major: number;
  readonly minor: number;
  /** `/dev/<name>` as cAdvisor labels it, or `<major>:<minor>` when the name is unknown. */
  readonly device: string;
  readonly readBytes: number;
  readonly writeBytes: number;
  readonly reads: number;
  readonly writes: number;
}

/** Disk space of the container's writable layer on the filesystem that holds it (cAdvisor's container_fs_usage_bytes). */
export interface FilesystemSample {
  /** The filesystem's device as the host's mount table names it (e.g. /dev/sda1). */
  readonly device: string;
  readonly usageBytes: number;
  /** Capacity of that filesystem (Docker sets no per-container disk limit; cAdvisor reports capacity too). */
  readonly limitBytes?: number;
}

/** The host's size, read from its /proc (cAdvisor's machine_* families). */
export interface MachineSample {
  readonly cpuCores: number;
  readonly memoryBytes: number;
  readonly machineId: string;
  readonly systemUuid: string;
  readonly bootId: string;
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
  /** The writable layer's usage, refreshed on its own slower schedule; absent until first measured. */
  readonly filesystem?: readonly FilesystemSample[];
  /** The host this sample was taken on; the same object on every record of a collector. */
  readonly machine?: MachineSample;
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
    // The prefix first: a time past what a Date holds throws here, and must not leave its second
    // cached with the previous second's prefix.
    lastSecondPrefix = `${new Date(Number(secondDigits) * 1000).toISOString().slice(0, 19)}.`;
    lastSecondDigits = secondDigits;
  }
  return `${lastSecondPrefix}${digits.slice(split)}Z`;
}

const NS_PER_SECOND = 1_000_000_000n;

/**
 * What byte writers make of a timestamp's second, made once a second (records come in time order):
 * `make` gets its `YYYY-MM-DDTHH:MM:SS.` (as formatRfc3339Nano writes it) and its seconds since the
 * epoch in digits; the nine digits of the nanoseconds are the writer's (nanosInto). The digits as
 * bytes (what writeLineId takes) are kept here for every writer.
 */
export class SecondCache<T> {
  private current: { readonly start: bigint; readonly end: bigint; readonly parts: T; readonly digits: Buffer } | undefined;

  constructor(private readonly make: (datePrefix: string, secondDigits: string) => T) {}

  /** The parts of `ns`'s second; undefined before 1970-01-01T00:00:01Z (rare: format those as text). */
  partsOf(ns: EpochNanos): T | undefined {
    let current = this.current;
    if (current === undefined || ns < current.start || ns >= current.end) {
      if (ns < NS_PER_SECOND) return undefined;
      const start = (ns / NS_PER_SECOND) * NS_PER_SECOND;
      const digits = start.toString();
      const secondDigits = digits.slice(0, -9);
      current = this.current = {
        start, end: start + NS_PER_SECOND,
        parts: this.make(formatRfc3339NanoDigits(digits).slice(0, -10), secondDigits),
        digits: Buffer.from(secondDigits, 'latin1'),
      };
    }
    return current.parts;
  }

  /** The seconds since the epoch of the second partsOf last answered, as digits' bytes (writeLineId's `seconds`). */
  get digits(): Buffer {
    return this.current!.digits;
  }

  /** The nanoseconds of `ns` into its second, once partsOf(ns) answered. */
  nanosInto(ns: EpochNanos): number {
    return Number(ns - this.current!.start);
  }
}

/**
 * `record` as a plain object with every field its own, `id` included: what a copy made by spreading
 * or rest-destructuring needs (a LineRecord's id is a getter, which neither copies).
 */
export function plainRecord(record: AgentRecord): AgentRecord {
  return record instanceof LineRecord ? record.toJSON() : record;
}

/**
 * Bytes writeLineId may write for `record`: its head, up to 22 digits of time (the latest a Date
 * holds, year 275760: the writers take any time they can format), `:`, up to 16 of position (any
 * safe integer).
 */
export function lineIdRoom(record: LineRecord): number {
  return record.idHead.length + 39;
}

const plainHeads = new Set<string>();

/**
 * `record` when it is a LineRecord whose id is plain ASCII with nothing to escape in JSON (a
 * container id is hex: always, in practice; asked once per head), so that writeLineId can write it;
 * else undefined (write `record.id`).
 */
export function plainIdLine(record: LogRecord): LineRecord | undefined {
  if (!(record instanceof LineRecord)) return undefined;
  const head = record.idHead;
  if (plainHeads.has(head)) return record;
  if (!PLAIN_ASCII.test(head)) return undefined;
  if (plainHeads.size >= 4096) plainHeads.clear();
  plainHeads.add(head);
  return record;
}

/**
 * `record.id` written into `buffer` at `at` (room checked by the caller: lineIdRoom) from its parts:
 * `seconds` are the digits of its time's second and `nanos` its nanoseconds into it (a SecondCache's).
 * The offset after it.
 */
export function writeLineId(buffer: Buffer, at: number, record: LineRecord, seconds: Buffer, nanos: number): number {
  at += writeLatin1(buffer, record.idHead, at);
  buffer.set(seconds, at);
  at = writeDigits9(buffer, at + seconds.length, nanos);
  buffer[at++] = 58; // :
  const position = record.position;
  if (position < 10) {
    buffer[at++] = 48 + position;
    return at;
  }
  return at + writeLatin1(buffer, String(position), at);
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
