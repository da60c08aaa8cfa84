import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ProcPartitions, parsePartitions } from '../../collectors/stats/block-devices.js';
import { FsUsage, bindFromDockerRoot, deviceHolding, parseMountinfo, type ContainerLister } from '../../collectors/stats/fs-usage.js';
import { cpuCoresFromCpuinfo, memoryBytesFromMeminfo, readMachine } from '../../collectors/stats/machine.js';
import { sharesFromWeight } from '../../collectors/stats/cgroup-v2.js';
import { specBytes } from '../../collectors/stats/sample.js';

test('specBytes: cAdvisor\'s specMemoryValue — "max" and anything above 2^62 are 0, an absent file undefined', () => {
  assert.equal(specBytes('9223372036854771712\n'), 0);
  assert.equal(specBytes('max\n'), 0);
  assert.equal(specBytes('50331648\n'), 50_331_648);
  assert.equal(specBytes('0\n'), 0);
  assert.equal(specBytes(''), undefined);
});

test('sharesFromWeight: cAdvisor\'s integer conversion of cpu.weight', () => {
  assert.equal(sharesFromWeight(1), 2);
  assert.equal(sharesFromWeight(100), 2597);
  assert.equal(sharesFromWeight(10_000), 262_144);
});

test('/proc/partitions: /dev/<name> by major:minor; a device missing from the table is looked up again after a minute', () => {
  const text = 'major minor  #blocks  name\n\n 254        0  268435456 vda\n 254        1  268433391 vda1\n   8       16    1048576 sdb\n';
  assert.deepEqual([...parsePartitions(text)], [['254:0', '/dev/vda'], ['254:1', '/dev/vda1'], ['8:16', '/dev/sdb']]);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dh-partitions-'));
  try {
    const file = path.join(dir, 'partitions');
    writeFileSync(file, text);
    let now = 0;
    const names = new ProcPartitions(file, () => now);
    assert.equal(names.name(254, 1), '/dev/vda1');
    writeFileSync(file, `${text}   8       32    1048576 sdc\n`);
    assert.equal(names.name(8, 32), undefined, 'not reloaded within the minute');
    now = 60_000;
    assert.equal(names.name(8, 32), '/dev/sdc');
    assert.equal(new ProcPartitions(path.join(dir, 'nope')).name(8, 0), undefined, 'no file: no names, no throw');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const HOST_MOUNTINFO = [
  '22 27 0:21 / /proc rw,relatime - proc proc rw',
  '27 1 254:1 / / rw,relatime - ext4 /dev/vda1 rw',
  '30 27 8:17 / /var/lib/docker rw,relatime shared:9 - xfs /dev/sdb1 rw',
  '31 30 0:50 / /var/lib/docker/containers/abc/mounts/shm rw - tmpfs shm rw',
  '32 27 8:33 / /var/lib/dockerish rw - ext4 /dev/sdc1 rw',
].join('\n');

test('mountinfo: the device holding the Docker root is the longest mount point above it, not a sibling with the same prefix', () => {
  const mounts = parseMountinfo(HOST_MOUNTINFO);
  assert.equal(deviceHolding(mounts, '/var/lib/docker'), '/dev/sdb1');
  assert.equal(deviceHolding(mounts, '/var/lib/docker-data'), '/dev/vda1');
  assert.equal(deviceHolding(parseMountinfo('27 1 254:1 / / rw - ext4 /dev/vda1 rw'), '/var/lib/docker'), '/dev/vda1');
  assert.equal(parseMountinfo('40 27 254:1 / /mnt/with\\040space rw - ext4 /dev/vda1 rw')[0]!.mountPoint, '/mnt/with space');
});

test('in a container: the agent\'s /etc/hostname bind mount comes from <docker root>/containers/ and names the device', () => {
  const own = parseMountinfo([
    '600 500 0:60 / / ro,relatime - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/X',
    '610 600 254:1 /var/lib/docker/containers/0123/hostname /etc/hostname rw,relatime - ext4 /dev/vda1 rw',
  ].join('\n'));
  assert.deepEqual(bindFromDockerRoot(own, '/var/lib/docker'), { root: '/var/lib/docker/containers/0123/hostname', mountPoint: '/etc/hostname', source: '/dev/vda1' });
  assert.equal(bindFromDockerRoot(own, '/srv/docker'), undefined);
});

test('FsUsage: one filtered size=1 listing per interval, never two at once; SizeRw per container; a failure keeps the last figures', async () => {
  const calls: Record<string, unknown>[] = [];
  let answer: () => Promise<unknown[]> = async () => [{ Id: 'a', SizeRw: 4096 }, { Id: 'b' }, { Id: 'c', SizeRw: -1 }];
  const docker = { listContainers: async (query: Record<string, unknown>) => { calls.push(query); return answer(); } } as unknown as ContainerLister;
  let now = 0;
  const usage = new FsUsage({ intervalMs: 60_000, timeoutMs: 1000, procRoot: '/proc' }, () => now);
  const signal = new AbortController().signal;
  const first = usage.startIfDue(docker, '/', signal);
  assert.ok(first);
  assert.equal(usage.startIfDue(docker, '/', signal), undefined, 'one at a time');
  assert.equal((await first).kind, 'measured');
  assert.deepEqual(calls, [{ size: true, filters: '{"status":["running","paused"]}' }]);
  const a = usage.get('a');
  assert.equal(a?.[0]?.usageBytes, 4096);
  assert.ok((a?.[0]?.limitBytes ?? 0) > 0, 'capacity of the filesystem holding "/"');
  assert.equal(usage.get('b')?.[0]?.usageBytes, 0, 'SizeRw left out (omitempty): an empty layer');
  assert.equal(usage.get('c'), undefined, 'a negative size is no size');
  now = 30_000;
  assert.equal(usage.startIfDue(docker, '/', signal), undefined, 'not due yet');
  now = 60_000;
  answer = async () => { throw new Error('daemon busy'); };
  assert.equal((await usage.startIfDue(docker, '/', signal))?.kind, 'failed');
  assert.equal(usage.get('a')?.[0]?.usageBytes, 4096, 'the last figures stay');
  assert.equal(usage.status().failures, 1);
  assert.equal(new FsUsage({ intervalMs: 0, timeoutMs: 1000, procRoot: '/proc' }).startIfDue(docker, '/', signal), undefined, 'interval 0: never');
});

test('machine: logical CPUs from cpuinfo, MemTotal in bytes; readMachine on this host matches os', () => {
  assert.equal(cpuCoresFromCpuinfo('processor\t: 0\nmodel name\t: x\n\nprocessor\t: 1\nmodel name\t: x\n'), 2);
  assert.equal(memoryBytesFromMeminfo('MemTotal:       16384 kB\nMemFree: 1 kB\n'), 16_777_216);
  assert.equal(memoryBytesFromMeminfo(''), undefined);
  const machine = readMachine('/proc');
  assert.equal(machine.cpuCores, os.cpus().length);
  assert.equal(machine.memoryBytes, os.totalmem());
  assert.match(machine.bootId, /^[0-9a-f-]{36}$/);
  const elsewhere = readMachine('/nonexistent/proc');
  assert.equal(elsewhere.cpuCores, os.cpus().length, 'no /proc there: the agent\'s own view');
  assert.equal(elsewhere.bootId, '');
});
