/**
 * cgroup v2: one directory per container with every controller's files. Same arithmetic as runc's
 * fs2 and cAdvisor: rss = anon, cache = file, working set = memory.current − inactive_file,
 * failcnt = the `max` count of memory.events, block I/O from io.stat summed over devices.
 */
import path from 'node:path';
import type { BlkioSample, CpuSample, MemorySample } from '../../src/records.js';
import type { CgroupLayout } from './cgroup-paths.js';
import { readOptional, readRequired } from './cgroup-files.js';
import { UNLIMITED_BYTES, parseFlatKeyed, parseSingleNumber, workingSet, type ResourceSample } from './sample.js';

/** `missing` (per container, kept by the caller) remembers optional files this cgroup does not have. */
export function readCgroupV2(layout: Extract<CgroupLayout, { version: 2 }>, cgroupPath: string, missing?: Set<string>): Omit<ResourceSample, 'network'> {
  const dir = path.join(layout.root, cgroupPath);
  const optional = (file: string) => readOptional(dir, file, missing);
  return {
    memory: parseMemoryV2(
      readRequired(dir, 'memory.current'),
      readRequired(dir, 'memory.stat'),
      optional('memory.max'),
      optional('memory.events'),
    ),
    cpu: parseCpuV2(readRequired(dir, 'cpu.stat'), optional('cpu.max')),
    blkio: parseIoStatV2(optional('io.stat')),
    pids: parseSingleNumber(optional('pids.current')) ?? 0,
  };
}

export function parseMemoryV2(currentText: string, statText: string, maxText: string, eventsText: string): MemorySample {
  const usage = parseSingleNumber(currentText) ?? 0;
  const stat = parseFlatKeyed(statText);
  const limit = parseSingleNumber(maxText); // "max" → undefined
  return {
    usageBytes: usage,
    workingSetBytes: workingSet(usage, stat.get('inactive_file') ?? 0),
    rssBytes: stat.get('anon') ?? 0,
    cacheBytes: stat.get('file') ?? 0,
    failcnt: parseFlatKeyed(eventsText).get('max') ?? 0,
    ...(limit !== undefined && limit < UNLIMITED_BYTES ? { limitBytes: limit } : {}),
  };
}

export function parseCpuV2(statText: string, maxText: string): CpuSample {
  const stat = parseFlatKeyed(statText);
  const [quotaField, periodField] = maxText.trim().split(/\s+/);
  const quota = quotaField && quotaField !== 'max' ? Number(quotaField) : undefined;
  const period = periodField ? Number(periodField) : undefined;
  return {
    usageSeconds: (stat.get('usage_usec') ?? 0) / 1e6,
    userSeconds: (stat.get('user_usec') ?? 0) / 1e6,
    systemSeconds: (stat.get('system_usec') ?? 0) / 1e6,
    throttledSeconds: (stat.get('throttled_usec') ?? 0) / 1e6,
    throttledPeriods: stat.get('nr_throttled') ?? 0,
    periods: stat.get('nr_periods') ?? 0,
    ...(quota !== undefined && quota > 0 && !Number.isNaN(quota) ? { quotaMicros: quota } : {}),
    ...(period !== undefined && period > 0 && !Number.isNaN(period) ? { periodMicros: period } : {}),
  };
}

/** `8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0` per device. */
export function parseIoStatV2(text: string): BlkioSample {
  const sample = { readBytes: 0, writeBytes: 0, reads: 0, writes: 0 };
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (!fields[0]?.includes(':')) continue;
    for (const field of fields.slice(1)) {
      const eq = field.indexOf('=');
      const value = Number(field.slice(eq + 1));
      if (eq < 0 || Number.isNaN(value)) continue;
      switch (field.slice(0, eq)) {
        case 'rbytes': sample.readBytes += value; break;
        case 'wbytes': sample.writeBytes += value; break;
        case 'rios': sample.reads += value; break;
        case 'wios': sample.writes += value; break;
      }
    }
  }
  return sample;
}
