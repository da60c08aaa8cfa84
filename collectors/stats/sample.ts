/** What one look at a container's resources gives, whichever source it came from. */
import type { BlkioSample, CpuSample, MemorySample, NetworkSample } from '../../src/records.js';

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
