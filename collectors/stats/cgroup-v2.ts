/**
 * cgroup v2: one directory per container with every controller's files. Same arithmetic as runc's
 * fs2 and cAdvisor: rss = anon, cache = file, working set = memory.current − inactive_file,
 * failcnt = the `max` count of memory.events, block I/O from io.stat summed over devices.
 */
import path from 'node:path';
import type { BlkioDeviceSample, BlkioSample, CpuSample, MemorySample } from '../../src/records.js';
import type { CgroupLayout } from './cgroup-paths.js';
import { readOptional, readRequired } from './cgroup-files.js';
import { UNLIMITED_BYTES, memoryFaults, parseFlatKeyed, parseSingleNumber, specBytes, workingSet, type DeviceNames, type ResourceSample } from './sample.js';

/** `missing` (per container, kept by the caller) remembers optional files this cgroup does not have. */
export function readCgroupV2(layout: Extract<CgroupLayout, { version: 2 }>, cgroupPath: string, missing?: Set<string>, deviceNames?: DeviceNames): Omit<ResourceSample, 'network'> {
  const dir = path.join(layout.root, cgroupPath);
  const optional = (file: string) => readOptional(dir, file, missing);
  return {
    memory: parseMemoryV2(
      readRequired(dir, 'memory.current'),
      readRequired(dir, 'memory.stat'),
      optional('memory.max'),
      optional('memory.events'),
      {
        swapCurrent: optional('memory.swap.current'),
        peak: optional('memory.peak'),
        low: optional('memory.low'),
        swapMax: optional('memory.swap.max'),
      },
    ),
    cpu: parseCpuV2(readRequired(dir, 'cpu.stat'), optional('cpu.max'), optional('cpu.weight')),
    blkio: parseIoStatV2(optional('io.stat'), deviceNames),
    pids: parseSingleNumber(optional('pids.current')) ?? 0,
  };
}

/** The v2 files beyond current, stat, max and events; each '' when absent (memory.peak before Linux 5.19, swap files without swap). */
export interface MemoryV2Extras {
  readonly swapCurrent?: string;
  readonly peak?: string;
  readonly low?: string;
  readonly swapMax?: string;
}

export function parseMemoryV2(currentText: string, statText: string, maxText: string, eventsText: string, extras: MemoryV2Extras = {}): MemorySample {
  const usage = parseSingleNumber(currentText) ?? 0;
  const stat = parseFlatKeyed(statText);
  const limit = parseSingleNumber(maxText); // "max" → undefined
  const peak = parseSingleNumber(extras.peak ?? '');
  // Docker's --memory-reservation sets memory.low on v2 (cAdvisor reads memory.min, which Docker leaves at 0).
  const reservation = specBytes(extras.low ?? '');
  const swapLimit = specBytes(extras.swapMax ?? '');
  return {
    usageBytes: usage,
    workingSetBytes: workingSet(usage, stat.get('inactive_file') ?? 0),
    rssBytes: stat.get('anon') ?? 0,
    cacheBytes: stat.get('file') ?? 0,
    failcnt: parseFlatKeyed(eventsText).get('max') ?? 0,
    ...(limit !== undefined && limit < UNLIMITED_BYTES ? { limitBytes: limit } : {}),
    swapBytes: parseSingleNumber(extras.swapCurrent ?? '') ?? 0,
    ...(peak !== undefined ? { maxUsageBytes: peak } : {}),
    pageFaults: memoryFaults(stat, ''),
    ...(reservation !== undefined ? { reservationBytes: reservation } : {}),
    ...(swapLimit !== undefined ? { swapLimitBytes: swapLimit } : {}),
  };
}

/** cAdvisor's convertCPUWeightToCPULimit (integer arithmetic): the inverse of runc's shares → weight mapping. */
export function sharesFromWeight(weight: number): number {
  return 2 + Math.floor(((weight - 1) * 262_142) / 9_999);
}

export function parseCpuV2(statText: string, maxText: string, weightText = ''): CpuSample {
  const stat = parseFlatKeyed(statText);
  const weight = parseSingleNumber(weightText);
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
    ...(weight !== undefined && weight >= 1 ? { shares: sharesFromWeight(weight) } : {}),
  };
}

/** `8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0` per device: the sums, and each device apart. */
export function parseIoStatV2(text: string, deviceNames?: DeviceNames): BlkioSample {
  const sample = { readBytes: 0, writeBytes: 0, reads: 0, writes: 0 };
  const devices: BlkioDeviceSample[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (!fields[0]?.includes(':')) continue;
    const device = { readBytes: 0, writeBytes: 0, reads: 0, writes: 0 };
    for (const field of fields.slice(1)) {
      const eq = field.indexOf('=');
      const value = Number(field.slice(eq + 1));
      if (eq < 0 || Number.isNaN(value)) continue;
      switch (field.slice(0, eq)) {
        case 'rbytes': device.readBytes += value; break;
        case 'wbytes': device.writeBytes += value; break;
        case 'rios': device.reads += value; break;
        case 'wios': device.writes += value; break;
      }
    }
    sample.readBytes += device.readBytes;
    sample.writeBytes += device.writeBytes;
    sample.reads += device.reads;
    sample.writes += device.writes;
    const [major, minor] = fields[0].split(':').map(Number) as [number, number];
    devices.push({ major, minor, device: deviceNames?.name(major, minor) ?? fields[0], ...device });
  }
  return devices.length > 0 ? { ...sample, devices } : sample;
}
