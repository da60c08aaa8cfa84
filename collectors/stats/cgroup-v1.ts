/**
 * cgroup v1: one directory per controller. The figures and their arithmetic are the ones runc's
 * libcontainer (and so dockerd's stats API and cAdvisor) uses, so both sources agree:
 * user/system from cpuacct.stat in USER_HZ ticks, working set = usage − total_inactive_file,
 * block I/O from the first blkio file group that has device lines (bfq, then throttle).
 */
import path from 'node:path';
import type { BlkioDeviceSample, BlkioSample, CpuSample, MemorySample } from '../../src/records.js';
import type { CgroupLayout } from './cgroup-paths.js';
import { readOptional, readRequired } from './cgroup-files.js';
import { UNLIMITED_BYTES, memoryFaults, parseFlatKeyed, parseSingleNumber, specBytes, workingSet, type DeviceNames, type ResourceSample } from './sample.js';

/** cpuacct.stat counts in USER_HZ, which Linux fixes at 100 for user space whatever CONFIG_HZ is. */
const USER_HZ = 100;

/** `missing` (per container, kept by the caller) remembers optional files this cgroup does not have. */
export function readCgroupV1(layout: Extract<CgroupLayout, { version: 1 }>, cgroupPath: string, missing?: Set<string>, deviceNames?: DeviceNames): Omit<ResourceSample, 'network'> {
  const dir = (controller: keyof typeof layout.controllers) => (layout.controllers[controller] ? path.join(layout.controllers[controller], cgroupPath) : '');
  const memoryDir = dir('memory');
  const cpuacctDir = dir('cpuacct');
  const cpuDir = dir('cpu');
  const blkioDir = dir('blkio');
  const optional = (d: string, file: string) => readOptional(d, file, missing);
  return {
    memory: parseMemoryV1(
      readRequired(memoryDir, 'memory.usage_in_bytes'),
      readRequired(memoryDir, 'memory.stat'),
      optional(memoryDir, 'memory.limit_in_bytes'),
      optional(memoryDir, 'memory.failcnt'),
      {
        maxUsage: optional(memoryDir, 'memory.max_usage_in_bytes'),
        softLimit: optional(memoryDir, 'memory.soft_limit_in_bytes'),
        memswLimit: optional(memoryDir, 'memory.memsw.limit_in_bytes'),
      },
    ),
    cpu: parseCpuV1(
      readRequired(cpuacctDir, 'cpuacct.usage'),
      optional(cpuacctDir, 'cpuacct.stat'),
      optional(cpuDir, 'cpu.stat'),
      optional(cpuDir, 'cpu.cfs_quota_us'),
      optional(cpuDir, 'cpu.cfs_period_us'),
      optional(cpuDir, 'cpu.shares'),
    ),
    blkio: readBlkioV1(blkioDir, optional, deviceNames),
    pids: parseSingleNumber(optional(dir('pids'), 'pids.current')) ?? 0,
  };
}

/** The v1 files beyond usage, stat, limit and failcnt; each '' when the kernel lacks it (memsw without swap accounting). */
export interface MemoryV1Extras {
  readonly maxUsage?: string;
  readonly softLimit?: string;
  readonly memswLimit?: string;
}

export function parseMemoryV1(usageText: string, statText: string, limitText: string, failcntText: string, extras: MemoryV1Extras = {}): MemorySample {
  const usage = parseSingleNumber(usageText) ?? 0;
  const stat = parseFlatKeyed(statText);
  const limit = parseSingleNumber(limitText);
  const maxUsage = parseSingleNumber(extras.maxUsage ?? '');
  const reservation = specBytes(extras.softLimit ?? '');
  const swapLimit = specBytes(extras.memswLimit ?? '');
  return {
    usageBytes: usage,
    workingSetBytes: workingSet(usage, stat.get('total_inactive_file') ?? 0),
    rssBytes: stat.get('total_rss') ?? 0,
    cacheBytes: stat.get('total_cache') ?? 0,
    failcnt: parseSingleNumber(failcntText) ?? 0,
    ...(limit !== undefined && limit < UNLIMITED_BYTES ? { limitBytes: limit } : {}),
    // cAdvisor: total_swap under use_hierarchy (always on for Docker's cgroups), 0 without swap accounting.
    swapBytes: stat.get('total_swap') ?? stat.get('swap') ?? 0,
    ...(maxUsage !== undefined ? { maxUsageBytes: maxUsage } : {}),
    pageFaults: memoryFaults(stat, 'total_'),
    ...(reservation !== undefined ? { reservationBytes: reservation } : {}),
    ...(swapLimit !== undefined ? { swapLimitBytes: swapLimit } : {}),
  };
}

export function parseCpuV1(usageText: string, cpuacctStatText: string, cpuStatText: string, quotaText: string, periodText: string, sharesText = ''): CpuSample {
  const ticks = parseFlatKeyed(cpuacctStatText);
  const cfs = parseFlatKeyed(cpuStatText);
  const quota = parseSingleNumber(quotaText);
  const period = parseSingleNumber(periodText);
  const shares = parseSingleNumber(sharesText);
  return {
    usageSeconds: (parseSingleNumber(usageText) ?? 0) / 1e9,
    userSeconds: (ticks.get('user') ?? 0) / USER_HZ,
    systemSeconds: (ticks.get('system') ?? 0) / USER_HZ,
    throttledSeconds: (cfs.get('throttled_time') ?? 0) / 1e9,
    throttledPeriods: cfs.get('nr_throttled') ?? 0,
    periods: cfs.get('nr_periods') ?? 0,
    ...(quota !== undefined && quota > 0 ? { quotaMicros: quota } : {}),
    ...(period !== undefined && period > 0 ? { periodMicros: period } : {}),
    ...(shares !== undefined ? { shares } : {}),
  };
}

/**
 * runc's order: the first group whose bytes file has device lines wins (bfq on bfq devices, else
 * blk-throttle). A container's cgroup is a leaf, where the recursive and plain throttle files hold
 * the same lines, so the plain ones are read only on kernels without the recursive files.
 */
const BLKIO_FILE_GROUPS: readonly (readonly [bytes: string, ops: string])[] = [
  ['blkio.bfq.io_service_bytes_recursive', 'blkio.bfq.io_serviced_recursive'],
  ['blkio.io_service_bytes_recursive', 'blkio.io_serviced_recursive'],
  ['blkio.throttle.io_service_bytes_recursive', 'blkio.throttle.io_serviced_recursive'],
  ['blkio.throttle.io_service_bytes', 'blkio.throttle.io_serviced'],
];
const LAST_RESORT = 'blkio.throttle.io_service_bytes';

function readBlkioV1(dir: string, optional: (dir: string, file: string) => string, deviceNames?: DeviceNames): BlkioSample {
  let throttleSeen = false;
  for (const [bytesFile, opsFile] of BLKIO_FILE_GROUPS) {
    if (bytesFile === LAST_RESORT && throttleSeen) break;
    const text = optional(dir, bytesFile);
    if (text && bytesFile.startsWith('blkio.throttle.')) throttleSeen = true;
    const bytes = parseBlkioV1(text);
    if (bytes.devices > 0) {
      const opsText = optional(dir, opsFile);
      const ops = parseBlkioV1(opsText);
      const devices = blkioDevicesV1(text, opsText, deviceNames);
      return { readBytes: bytes.read, writeBytes: bytes.write, reads: ops.read, writes: ops.write, ...(devices.length > 0 ? { devices } : {}) };
    }
  }
  return { readBytes: 0, writeBytes: 0, reads: 0, writes: 0 };
}

/** Sums `major:minor Read|Write value` lines over devices; the closing `Total n` line has no device and is skipped. */
export function parseBlkioV1(text: string): { read: number; write: number; devices: number } {
  let read = 0;
  let write = 0;
  const devices = new Set<string>();
  for (const line of text.split('\n')) {
    const [device, op, value] = line.trim().split(/\s+/);
    if (!device || !op || value === undefined || !device.includes(':')) continue;
    devices.add(device);
    const n = Number(value);
    if (Number.isNaN(n)) continue;
    if (op === 'Read') read += n;
    else if (op === 'Write') write += n;
  }
  return { read, write, devices: devices.size };
}

/** The bytes and ops files per `major:minor`, in the order the devices first appear. */
export function blkioDevicesV1(bytesText: string, opsText: string, deviceNames?: DeviceNames): BlkioDeviceSample[] {
  const byDevice = new Map<string, { readBytes: number; writeBytes: number; reads: number; writes: number }>();
  const add = (text: string, read: 'readBytes' | 'reads', write: 'writeBytes' | 'writes') => {
    for (const line of text.split('\n')) {
      const [device, op, value] = line.trim().split(/\s+/);
      if (!device || !op || value === undefined || !device.includes(':')) continue;
      const n = Number(value);
      if (Number.isNaN(n)) continue;
      let entry = byDevice.get(device);
      if (!entry) byDevice.set(device, (entry = { readBytes: 0, writeBytes: 0, reads: 0, writes: 0 }));
      if (op === 'Read') entry[read] += n;
      else if (op === 'Write') entry[write] += n;
    }
  };
  add(bytesText, 'readBytes', 'writeBytes');
  add(opsText, 'reads', 'writes');
  return [...byDevice].map(([id, figures]) => {
    const [major, minor] = id.split(':').map(Number) as [number, number];
    return { major, minor, device: deviceNames?.name(major, minor) ?? id, ...figures };
  });
}
