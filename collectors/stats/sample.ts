/** What one look at a container's resources gives, whichever source it came from. */
import type { BlkioSample, CpuSample, MemoryFaults, MemorySample, NetworkSample } from '../../src/records.js';

export interface ResourceSample {
  readonly cpu: CpuSample;
  readonly memory: MemorySample;
  readonly blkio: BlkioSample;
  readonly pids: number;
  /** Undefined when the source could not see the container's network (no /proc): distinct from "no interfaces". */
  readonly network: readonly NetworkSample[] | undefined;
}

/** The kernel writes "no limit" as a huge number (v1: 2^63 rounded down to a page); cAdvisor's cut-off. */
export const UNLIMITED_BYTES = 2 ** 62;

/** Parses `key value` lines (cpu.stat, memory.stat, cpuacct.stat) into numbers. */
export function parseFlatKeyed(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const space = line.indexOf(' ');
    if (space <= 0) continue;
    const value = Number(line.slice(space + 1).trim());
    if (!Number.isNaN(value)) out.set(line.slice(0, space), value);
  }
  return out;
}

/** A single number file (memory.usage_in_bytes, pids.current); "max" and garbage read as undefined. */
export function parseSingleNumber(text: string): number | undefined {
  const trimmed = text.trim();
  if (trimmed === '' || trimmed === 'max') return undefined;
  const value = Number(trimmed);
  return Number.isNaN(value) ? undefined : value;
}

export function workingSet(usage: number, inactiveFile: number): number {
  return usage > inactiveFile ? usage - inactiveFile : 0;
}

/**
 * A memory spec file as cAdvisor reports it (specMemoryValue): "max" and anything above 2^62 mean
 * unlimited and read as 0; undefined when the file is absent or unreadable.
 */
export function specBytes(text: string): number | undefined {
  const trimmed = text.trim();
  if (trimmed === 'max') return 0;
  const value = parseSingleNumber(trimmed);
  if (value === undefined) return undefined;
  return value > UNLIMITED_BYTES ? 0 : value;
}

/** memory.stat's fault counters; `hierarchyPrefix` is `total_` on v1 (the hierarchical sums), '' on v2 (already hierarchical). */
export function memoryFaults(stat: ReadonlyMap<string, number>, hierarchyPrefix: string): MemoryFaults {
  const pgfault = stat.get('pgfault') ?? 0;
  const pgmajfault = stat.get('pgmajfault') ?? 0;
  return {
    pgfault,
    pgmajfault,
    hierarchyPgfault: stat.get(`${hierarchyPrefix}pgfault`) ?? pgfault,
    hierarchyPgmajfault: stat.get(`${hierarchyPrefix}pgmajfault`) ?? pgmajfault,
  };
}

/** Names block devices by major:minor (`/dev/sda`), as cAdvisor labels its per-device series. */
export interface DeviceNames {
  name(major: number, minor: number): string | undefined;
}
