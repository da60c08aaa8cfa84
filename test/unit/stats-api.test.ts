import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { JsonLines, forEachLimited, sampleFromApiStats, specFigures, specFromInspect, type ApiStatsBody } from '../../collectors/stats/api-stats.js';
import { detectCgroupLayout } from '../../collectors/stats/cgroup-paths.js';
import { readCgroupV1 } from '../../collectors/stats/cgroup-v1.js';
import { readProcNetDev } from '../../collectors/stats/proc-net.js';

const V1 = fileURLToPath(new URL('../../../test/fixtures/cgroup/v1-cgroupfs/', import.meta.url));
const V1_ID = 'ad21b5acea1f04bce478270e211518bc989f6eaf38098c760cc33f2f1472a2f7';

test('the API body and the cgroup files of the same (idle) container give the same sample', async () => {
  const body = JSON.parse(readFileSync(path.join(V1, 'api-stats.json'), 'utf8')) as ApiStatsBody;
  const inspect = JSON.parse(readFileSync(path.join(V1, 'inspect.json'), 'utf8')) as { Pid: number; HostConfig: Record<string, number> };
  const fromApi = sampleFromApiStats(body, specFromInspect(inspect.HostConfig));
  const layout = await detectCgroupLayout(path.join(V1, 'sys/fs/cgroup'));
  assert.ok(layout?.version === 1);
  const fromFiles = { ...readCgroupV1(layout, `/docker/${V1_ID}`), network: readProcNetDev(path.join(V1, 'proc'), inspect.Pid) };
  assert.deepEqual(fromApi.memory, fromFiles.memory);
  assert.deepEqual(fromApi.blkio, fromFiles.blkio);
  assert.deepEqual(fromApi.network, fromFiles.network);
  assert.equal(fromApi.pids, fromFiles.pids);
  assert.equal(fromApi.cpu.quotaMicros, fromFiles.cpu.quotaMicros);
  assert.equal(fromApi.cpu.periodMicros, fromFiles.cpu.periodMicros);
  assert.equal(fromApi.cpu.userSeconds, fromFiles.cpu.userSeconds);
  assert.equal(fromApi.cpu.systemSeconds, fromFiles.cpu.systemSeconds);
  // Read a moment apart from an idle container: the same to the millisecond.
  assert.ok(Math.abs(fromApi.cpu.usageSeconds - fromFiles.cpu.usageSeconds) < 0.001);
});

test('a cgroup v2 daemon body: anon/file/inactive_file, lowercase blkio ops, no failcnt', () => {
  const body: ApiStatsBody = {
    read: '2026-01-02T03:04:05.123456789Z',
    pids_stats: { current: 3 },
    cpu_stats: { cpu_usage: { total_usage: 2_500_000_000, usage_in_usermode: 2_000_000_000, usage_in_kernelmode: 500_000_000 }, throttling_data: { periods: 10, throttled_periods: 2, throttled_time: 300_000_000 } },
    memory_stats: { usage: 50_000_000, limit: 8_000_000_000, stats: { anon: 30_000_000, file: 15_000_000, inactive_file: 10_000_000, active_file: 5_000_000 } },
    blkio_stats: {
      io_service_bytes_recursive: [{ op: 'read', value: 100 }, { op: 'write', value: 200 }, { op: 'read', value: 1 }],
      io_serviced_recursive: [{ op: 'read', value: 3 }, { op: 'write', value: 4 }],
    },
    networks: {
      eth1: { rx_bytes: 1, rx_packets: 2, rx_errors: 3, rx_dropped: 4, tx_bytes: 5, tx_packets: 6, tx_errors: 7, tx_dropped: 8 },
      eth0: { rx_bytes: 10, rx_packets: 20, rx_errors: 0, rx_dropped: 0, tx_bytes: 30, tx_packets: 40, tx_errors: 0, tx_dropped: 0 },
    },
  };
  const sample = sampleFromApiStats(body, specFromInspect({ Memory: 0, NanoCpus: 0, CpuQuota: 0, CpuPeriod: 0 }));
  assert.equal(sample.memory.limitBytes, undefined, 'an unlimited container shows the host memory as limit: not a limit');
  assert.deepEqual(sample.memory, {
    usageBytes: 50_000_000, workingSetBytes: 40_000_000, rssBytes: 30_000_000, cacheBytes: 15_000_000, failcnt: 0,
    pageFaults: { pgfault: 0, pgmajfault: 0, hierarchyPgfault: 0, hierarchyPgmajfault: 0 }, reservationBytes: 0, swapLimitBytes: 0,
  });
  // v2: the default cpu.weight 100 read back as cAdvisor does.
  assert.deepEqual(sample.cpu, { usageSeconds: 2.5, userSeconds: 2, systemSeconds: 0.5, throttledSeconds: 0.3, throttledPeriods: 2, periods: 10, periodMicros: 100_000, shares: 2597 });
  assert.deepEqual(sample.blkio, { readBytes: 101, writeBytes: 200, reads: 3, writes: 4 });
  assert.deepEqual(sample.network?.map((n) => n.interface), ['eth0', 'eth1']);
  assert.equal(sample.pids, 3);
});

test('specFromInspect: --cpus gives quota = NanoCpus × period; --cpu-quota/--cpu-period pass through; --memory is the limit', () => {
  const unset = { cpuShares: 0, memoryReservationBytes: 0, memorySwap: 0 };
  assert.deepEqual(specFromInspect({ NanoCpus: 1_500_000_000 }), { cpuQuotaMicros: 150_000, cpuPeriodMicros: 100_000, ...unset });
  assert.deepEqual(specFromInspect({ CpuQuota: 20_000, CpuPeriod: 50_000 }), { cpuQuotaMicros: 20_000, cpuPeriodMicros: 50_000, ...unset });
  assert.deepEqual(specFromInspect({ Memory: 64 * 1024 * 1024 }), { memoryLimitBytes: 64 * 1024 * 1024, cpuPeriodMicros: 100_000, ...unset });
  assert.deepEqual(specFromInspect(undefined), { cpuPeriodMicros: 100_000, ...unset });
});

test('specFigures: the spec as the cgroup files show it; v1 memsw = memory + swap, v2 swap.max = swap alone; 0 = unlimited', () => {
  const spec = specFromInspect({ Memory: 96 * 1024 * 1024, MemorySwap: 192 * 1024 * 1024, MemoryReservation: 48 * 1024 * 1024, CpuShares: 512 });
  assert.deepEqual(specFigures(spec, true), { shares: 512, reservationBytes: 48 * 1024 * 1024, swapLimitBytes: 192 * 1024 * 1024 });
  // runc: weight = 1 + (512 − 2) × 9999 / 262142 = 20; cAdvisor: 2 + (20 − 1) × 262142 / 9999 = 500.
  assert.deepEqual(specFigures(spec, false), { shares: 500, reservationBytes: 48 * 1024 * 1024, swapLimitBytes: 96 * 1024 * 1024 });
  const memoryOnly = specFromInspect({ Memory: 64 * 1024 * 1024 });
  assert.equal(specFigures(memoryOnly, true).swapLimitBytes, 128 * 1024 * 1024, 'MemorySwap unset: Docker allows as much swap as memory');
  assert.equal(specFigures(memoryOnly, false).swapLimitBytes, 64 * 1024 * 1024);
  assert.deepEqual(specFigures(specFromInspect({ Memory: 64 * 1024 * 1024, MemorySwap: -1 }), true), { shares: 1024, reservationBytes: 0, swapLimitBytes: 0 });
  assert.deepEqual(specFigures(specFromInspect({}), false), { shares: 2597, reservationBytes: 0, swapLimitBytes: 0 });
});

test('a v1 body: swap, max_usage, page faults (own and total_) and block I/O per device', () => {
  const body = JSON.parse(readFileSync(path.join(V1, 'api-stats.json'), 'utf8')) as ApiStatsBody;
  const names = { name: (major: number, minor: number) => (major === 254 && minor === 0 ? '/dev/vda' : undefined) };
  const sample = sampleFromApiStats(body, undefined, names);
  assert.equal(sample.memory.maxUsageBytes, 21_954_560);
  assert.equal(sample.memory.swapBytes, 0);
  assert.deepEqual(sample.memory.pageFaults, { pgfault: 1583, pgmajfault: 0, hierarchyPgfault: 1583, hierarchyPgmajfault: 0 });
  assert.deepEqual(sample.blkio.devices, [{ major: 254, minor: 0, device: '/dev/vda', readBytes: 0, writeBytes: 8_388_608, reads: 0, writes: 8 }]);
  assert.equal(sample.memory.reservationBytes, undefined, 'no inspect, no spec');
});

test('JsonLines splits a stream of newline-separated documents across arbitrary chunk boundaries', () => {
  const docs: unknown[] = [];
  const lines = new JsonLines();
  lines.push('{"a":1}\n{"b', (d) => docs.push(d));
  assert.deepEqual([...docs], [{ a: 1 }]);
  lines.push('":2}\n\n{"c"', (d) => docs.push(d));
  lines.push(':3}\n', (d) => docs.push(d));
  assert.deepEqual(docs, [{ a: 1 }, { b: 2 }, { c: 3 }]);
});

test('forEachLimited never runs more than the limit at once and visits every item', async () => {
  let running = 0;
  let peak = 0;
  const seen: number[] = [];
  await forEachLimited([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
    running++;
    peak = Math.max(peak, running);
    await new Promise((resolve) => setTimeout(resolve, 5));
    seen.push(n);
    running--;
  });
  assert.equal(peak, 3);
  assert.deepEqual(seen.sort(), [1, 2, 3, 4, 5, 6, 7]);
});
