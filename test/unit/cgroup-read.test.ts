import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { detectCgroupLayout } from '../../collectors/stats/cgroup-paths.js';
import { parseBlkioV1, parseMemoryV1, readCgroupV1 } from '../../collectors/stats/cgroup-v1.js';
import { parseCpuV2, parseIoStatV2, parseMemoryV2, readCgroupV2 } from '../../collectors/stats/cgroup-v2.js';
import { CgroupGoneError } from '../../collectors/stats/cgroup-files.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/cgroup/', import.meta.url));
const V1_ID = 'ad21b5acea1f04bce478270e211518bc989f6eaf38098c760cc33f2f1472a2f7';
const ID = '3f2a9c1e5b7d4f60a8e2c4b6d8f0a1c3e5b7d9f1a3c5e7b9d1f3a5c7e9b1d3f5';
const root = (tree: string) => path.join(FIXTURES, tree, 'sys/fs/cgroup');

async function v1(tree: string) {
  const layout = await detectCgroupLayout(root(tree));
  assert.ok(layout?.version === 1);
  return layout;
}
async function v2(tree: string) {
  const layout = await detectCgroupLayout(root(tree));
  assert.ok(layout?.version === 2);
  return layout;
}

test('v1 cgroupfs, recorded from a real container (--memory 128m --cpus 0.5, 8 MiB direct write, 20 MiB in /dev/shm)', async () => {
  const sample = readCgroupV1(await v1('v1-cgroupfs'), `/docker/${V1_ID}`);
  const dir = (c: string, f: string) => readFileSync(path.join(root('v1-cgroupfs'), c, 'docker', V1_ID, f), 'utf8');
  const stat = Object.fromEntries(dir('memory', 'memory.stat').trim().split('\n').map((l) => l.split(' ')).map(([k, v]) => [k, Number(v)]));
  const usage = Number(dir('memory', 'memory.usage_in_bytes'));
  assert.equal(sample.memory.usageBytes, usage);
  assert.equal(sample.memory.workingSetBytes, usage - stat.total_inactive_file);
  assert.equal(sample.memory.rssBytes, stat.total_rss);
  assert.equal(sample.memory.cacheBytes, stat.total_cache);
  assert.ok(sample.memory.cacheBytes >= 20 * 1024 * 1024, 'the /dev/shm file is page cache (shmem)');
  assert.equal(sample.memory.limitBytes, 128 * 1024 * 1024);
  assert.equal(sample.memory.failcnt, 0);
  assert.equal(sample.cpu.usageSeconds, Number(dir('cpuacct', 'cpuacct.usage')) / 1e9);
  const ticks = Object.fromEntries(dir('cpuacct', 'cpuacct.stat').trim().split('\n').map((l) => l.split(' ')).map(([k, v]) => [k, Number(v)]));
  assert.equal(sample.cpu.userSeconds, ticks.user / 100);
  assert.equal(sample.cpu.systemSeconds, ticks.system / 100);
  assert.equal(sample.cpu.quotaMicros, 50_000);
  assert.equal(sample.cpu.periodMicros, 100_000);
  assert.ok(sample.cpu.periods > 0);
  assert.equal(sample.blkio.writeBytes, 8 * 1024 * 1024, 'the 8 MiB dd with oflag=direct');
  assert.equal(sample.blkio.readBytes, 0);
  assert.ok(sample.blkio.writes > 0);
  assert.equal(sample.pids, Number(dir('pids', 'pids.current')));
  // The cAdvisor parity figures: cpu.shares, max usage, soft limit (unset: unlimited → 0), memsw (128m + as much swap), faults.
  assert.equal(sample.cpu.shares, Number(dir('cpu', 'cpu.shares')));
  assert.equal(sample.memory.maxUsageBytes, Number(dir('memory', 'memory.max_usage_in_bytes')));
  assert.equal(sample.memory.reservationBytes, 0);
  assert.equal(sample.memory.swapLimitBytes, 256 * 1024 * 1024);
  assert.equal(sample.memory.swapBytes, stat.total_swap);
  assert.deepEqual(sample.memory.pageFaults, { pgfault: stat.pgfault, pgmajfault: stat.pgmajfault, hierarchyPgfault: stat.total_pgfault, hierarchyPgmajfault: stat.total_pgmajfault });
  assert.deepEqual(sample.blkio.devices?.map((d) => [d.device, d.writeBytes]), [['254:0', 8 * 1024 * 1024]], 'no device names given: major:minor');
});

test('v1 systemd driver: unlimited memory and quota read as undefined; blkio falls through an empty bfq file to throttle', async () => {
  const sample = readCgroupV1(await v1('v1-systemd'), `/system.slice/docker-${ID}.scope`);
  assert.equal(sample.memory.usageBytes, 104_857_600);
  assert.equal(sample.memory.workingSetBytes, 104_857_600 - 33_554_432);
  assert.equal(sample.memory.rssBytes, 62_914_560);
  assert.equal(sample.memory.cacheBytes, 41_943_040);
  assert.equal(sample.memory.limitBytes, undefined);
  assert.equal(sample.cpu.quotaMicros, undefined);
  assert.equal(sample.cpu.periodMicros, 100_000);
  assert.equal(sample.cpu.usageSeconds, 5.123456789);
  assert.equal(sample.cpu.userSeconds, 4);
  assert.equal(sample.cpu.systemSeconds, 1.1);
  assert.deepEqual(sample.blkio, {
    readBytes: 2_097_152 + 4096, writeBytes: 1_048_576, reads: 33, writes: 16,
    devices: [
      { major: 8, minor: 0, device: '8:0', readBytes: 2_097_152, writeBytes: 1_048_576, reads: 32, writes: 16 },
      { major: 8, minor: 16, device: '8:16', readBytes: 4096, writeBytes: 0, reads: 1, writes: 0 },
    ],
  });
  assert.equal(sample.pids, 12);
  assert.equal(sample.cpu.shares, 2048);
  assert.equal(sample.memory.reservationBytes, 0, 'soft limit above 2^62: unlimited, 0 as cAdvisor');
  assert.equal(sample.memory.swapLimitBytes, 0, 'memsw above 2^62: unlimited, 0 as cAdvisor');
  assert.equal(sample.memory.maxUsageBytes, 125_829_120);
  assert.equal(sample.memory.swapBytes, 65_536);
  assert.deepEqual(sample.memory.pageFaults, { pgfault: 2200, pgmajfault: 3, hierarchyPgfault: 2500, hierarchyPgmajfault: 4 });
});

test('v1 block devices are named by the given table (cAdvisor\'s /dev/<name>)', async () => {
  const names = { name: (major: number, minor: number) => (major === 8 ? `/dev/sd${minor === 0 ? 'a' : 'b'}` : undefined) };
  const sample = readCgroupV1(await v1('v1-systemd'), `/system.slice/docker-${ID}.scope`, undefined, names);
  assert.deepEqual(sample.blkio.devices?.map((d) => d.device), ['/dev/sda', '/dev/sdb']);
});

test('v2 systemd driver, kernel-documented file formats', async () => {
  const sample = readCgroupV2(await v2('v2-systemd'), `/system.slice/docker-${ID}.scope`);
  assert.deepEqual(sample.cpu, {
    usageSeconds: 8.423117, userSeconds: 6.120004, systemSeconds: 2.303113,
    throttledSeconds: 2.765432, throttledPeriods: 311, periods: 1520, quotaMicros: 150_000, periodMicros: 100_000,
    shares: 1286, // cpu.weight 50, converted back as cAdvisor does: 2 + (50 − 1) × 262142 / 9999
  });
  assert.deepEqual(sample.memory, {
    usageBytes: 73_728_000, workingSetBytes: 73_728_000 - 16_777_216, rssBytes: 52_428_800, cacheBytes: 20_971_520, failcnt: 7, limitBytes: 268_435_456,
    swapBytes: 8_388_608, maxUsageBytes: 80_000_000, reservationBytes: 134_217_728, swapLimitBytes: 268_435_456,
    pageFaults: { pgfault: 14012, pgmajfault: 0, hierarchyPgfault: 14012, hierarchyPgmajfault: 0 },
  });
  assert.deepEqual(sample.blkio, {
    readBytes: 1_048_576 + 4096, writeBytes: 41_943_040 + 8192, reads: 17, writes: 322,
    devices: [
      { major: 8, minor: 0, device: '8:0', readBytes: 1_048_576, writeBytes: 41_943_040, reads: 16, writes: 320 },
      { major: 253, minor: 1, device: '253:1', readBytes: 4096, writeBytes: 8192, reads: 1, writes: 2 },
    ],
  });
  assert.equal(sample.pids, 4);
});

test('v2 cgroupfs driver: "max" in cpu.max and memory.max means no quota and no limit', async () => {
  const sample = readCgroupV2(await v2('v2-cgroupfs'), `/docker/${ID}`);
  assert.equal(sample.cpu.quotaMicros, undefined);
  assert.equal(sample.cpu.periodMicros, 100_000);
  assert.equal(sample.memory.limitBytes, undefined);
  assert.equal(sample.memory.usageBytes, 73_728_000);
  assert.equal(sample.memory.swapLimitBytes, 0, 'memory.swap.max "max": unlimited, 0 as cAdvisor');
  assert.equal(sample.memory.reservationBytes, 0);
  assert.equal(sample.memory.maxUsageBytes, undefined, 'no memory.peak before Linux 5.19: no series rather than a made-up 0');
  assert.equal(sample.cpu.shares, 2597, 'the default weight 100');
});

test('a cgroup that vanished (container stopped mid-read) is CgroupGoneError, not a crash', async () => {
  assert.throws(() => readCgroupV2({ version: 2, root: root('v2-systemd') }, '/docker/gone'), CgroupGoneError);
  assert.throws(() => readCgroupV1(awaitLayoutSync(), '/docker/gone'), CgroupGoneError);
  function awaitLayoutSync() {
    const r = root('v1-cgroupfs');
    return { version: 1 as const, root: r, controllers: { cpu: `${r}/cpu`, cpuacct: `${r}/cpuacct`, memory: `${r}/memory`, blkio: `${r}/blkio`, pids: `${r}/pids` } };
  }
});

test('working set never goes negative; usage below inactive_file gives 0', () => {
  assert.equal(parseMemoryV1('100\n', 'total_inactive_file 200\n', '', '').workingSetBytes, 0);
  assert.equal(parseMemoryV2('100\n', 'inactive_file 200\n', 'max\n', '').workingSetBytes, 0);
});

test('parsers tolerate missing files (empty text) with zeros', () => {
  assert.deepEqual(parseIoStatV2(''), { readBytes: 0, writeBytes: 0, reads: 0, writes: 0 });
  assert.deepEqual(parseBlkioV1('Total 0\n'), { read: 0, write: 0, devices: 0 });
  const cpu = parseCpuV2('usage_usec 5\n', '');
  assert.equal(cpu.usageSeconds, 0.000005);
  assert.equal(cpu.quotaMicros, undefined);
  assert.equal(cpu.periodMicros, undefined);
});
