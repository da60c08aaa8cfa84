import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type { CollectorContext } from '../../src/component.js';
import type { DockerConnection } from '../../src/docker/connection.js';
import { Inventory, type InventorySource } from '../../src/docker/inventory.js';
import type { AgentRecord, MetricRecord } from '../../src/records.js';
import { StateStore } from '../../src/state/store.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { SelfMetrics } from '../../src/telemetry/metrics.js';
import { StatsCollector, statsConfigSchema } from '../../collectors/stats/index.js';
import { diskUsageFromDf } from '../../collectors/engine/df.js';
import { engineConfigSchema } from '../../collectors/engine/index.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/cgroup/', import.meta.url));
const ID = '3f2a9c1e5b7d4f60a8e2c4b6d8f0a1c3e5b7d9f1a3c5e7b9d1f3a5c7e9b1d3f5';

/** An inventory filled the way the agent fills it (inspect results), from canned inspect bodies. */
async function inventoryOf(containers: { id: string; name: string; pid: number; status?: string }[]): Promise<Inventory> {
  const inventory = new Inventory([], silentLogger());
  const docker = {
    listContainers: async () => [],
    inspectContainer: async (id: string) => {
      const c = containers.find((x) => x.id === id)!;
      return { Id: c.id, Name: `/${c.name}`, Image: 'sha256:img', Created: '2026-01-01T00:00:00Z', RestartCount: 0,
        Config: { Image: 'busybox', Labels: {}, Tty: false },
        State: { Status: c.status ?? 'running', Pid: c.pid, ExitCode: 0, OOMKilled: false, StartedAt: '2026-01-01T00:00:01Z', FinishedAt: '0001-01-01T00:00:00Z' } };
    },
  } as unknown as InventorySource;
  for (const c of containers) await inventory.refresh(docker, c.id);
  return inventory;
}

/** Runs the collector until it has emitted once (or `rounds` rounds passed), then stops it. */
async function runUntilEmit(collector: StatsCollector, inventory: Inventory, rounds = 1): Promise<MetricRecord[]> {
  const abort = new AbortController();
  const emitted: AgentRecord[] = [];
  const metrics = new SelfMetrics({ defaultMetrics: false });
  const ctx: CollectorContext = {
    signal: abort.signal,
    emit: async (records) => {
      emitted.push(...records);
      abort.abort();
    },
    docker: { isUp: false, info: undefined } as unknown as DockerConnection,
    inventory,
    logger: silentLogger(),
    metrics,
    state: new StateStore('/nonexistent'),
  };
  const run = collector.run(ctx);
  const deadline = Date.now() + 5000;
  while (!abort.signal.aborted && Date.now() < deadline && (collector.status().rounds as number) < rounds) await new Promise((r) => setTimeout(r, 10));
  abort.abort();
  await run;
  return emitted as MetricRecord[];
}

const config = (tree: string, overrides: Record<string, unknown> = {}) => statsConfigSchema.parse({
  interval_ms: 100,
  cgroup_root: path.join(FIXTURES, tree, 'sys/fs/cgroup'),
  proc_root: path.join(FIXTURES, tree, 'proc'),
  ...overrides,
});

test('auto on a v2 systemd host: one cgroup-sourced MetricRecord per running container, with its scope path and network', async () => {
  const inventory = await inventoryOf([{ id: ID, name: 'app', pid: 4242 }, { id: 'e'.repeat(64), name: 'stopped', pid: 0, status: 'exited' }]);
  const collector = new StatsCollector(config('v2-systemd'));
  const records = await runUntilEmit(collector, inventory);
  assert.equal(records.length, 1);
  const [r] = records;
  assert.equal(r!.kind, 'metric');
  assert.equal(r!.source, 'cgroup');
  assert.equal(r!.container.name, 'app');
  assert.equal(r!.cgroupPath, `/system.slice/docker-${ID}.scope`);
  assert.equal(r!.cpu.usageSeconds, 8.423117);
  assert.equal(r!.memory.workingSetBytes, 73_728_000 - 16_777_216);
  assert.deepEqual(r!.network.map((n) => n.interface), ['eth0', 'eth1']);
  assert.equal(r!.network[0]!.rxBytes, 9_873_412);
  assert.equal(r!.pids, 4);
  const status = collector.status();
  assert.deepEqual(status.containers, { app: 'cgroup' });
  assert.equal(status.cgroup_layout, `v2 at ${path.join(FIXTURES, 'v2-systemd/sys/fs/cgroup')}`);
});

test('auto falls back to the API for a container whose /proc is not visible, and says so on status()', async () => {
  // pid 999 has no net/dev in the fixture: the cgroup files alone would lose the network counters.
  const inventory = await inventoryOf([{ id: ID, name: 'noproc', pid: 999 }]);
  const collector = new StatsCollector(config('v2-cgroupfs'));
  const records = await runUntilEmit(collector, inventory, 2);
  assert.equal(records.length, 0, 'the daemon is down in this test: no API sample');
  assert.deepEqual(collector.status().containers, { noproc: 'api' });
});

test('source: cgroup reads the files even without /proc (no network) and marks invisible containers unavailable', async () => {
  const inventory = await inventoryOf([{ id: ID, name: 'files-only', pid: 999 }, { id: 'd'.repeat(64), name: 'elsewhere', pid: 0 }]);
  const collector = new StatsCollector(config('v2-cgroupfs', { source: 'cgroup' }));
  const records = await runUntilEmit(collector, inventory);
  assert.equal(records.length, 1);
  assert.equal(records[0]!.container.name, 'files-only');
  assert.deepEqual(records[0]!.network, []);
  assert.deepEqual(collector.status().containers, { 'files-only': 'cgroup', elsewhere: 'unavailable' });
});

test('source: api never looks at the cgroup tree', async () => {
  const inventory = await inventoryOf([{ id: ID, name: 'app', pid: 4242 }]);
  const collector = new StatsCollector(config('v2-systemd', { source: 'api' }));
  await runUntilEmit(collector, inventory, 2);
  assert.equal(collector.status().cgroup_layout, 'not probed');
  assert.deepEqual(collector.status().containers, { app: 'api' });
});

test('stats config: defaults as documented, unknown keys and bad values rejected', () => {
  const defaults = statsConfigSchema.parse({});
  assert.equal(defaults.interval_ms, 10_000);
  assert.equal(defaults.source, 'auto');
  assert.equal(defaults.cgroup_root, '/sys/fs/cgroup');
  assert.equal(defaults.proc_root, '/proc');
  assert.equal(defaults.api.mode, 'stream');
  assert.ok(!statsConfigSchema.safeParse({ source: 'files' }).success);
  assert.ok(!statsConfigSchema.safeParse({ interval: 5 }).success);
  assert.equal(engineConfigSchema.parse({}).schedule, '*/5 * * * *');
  assert.ok(!engineConfigSchema.safeParse({ schedule: 'every five minutes' }).success);
});

test('system df rows with the docker CLI arithmetic', () => {
  const rows = diskUsageFromDf({
    LayersSize: 1000,
    Images: [{ Size: 600, SharedSize: 100, Containers: 2 }, { Size: 300, SharedSize: 100, Containers: 0 }, { Size: -1, SharedSize: -1, Containers: 1 }],
    Containers: [{ SizeRw: 10, State: 'running' }, { SizeRw: 20, State: 'exited' }, { SizeRw: 5, State: 'created' }],
    Volumes: [{ UsageData: { Size: 100, RefCount: 1 } }, { UsageData: { Size: 50, RefCount: 0 } }, { UsageData: { Size: -1, RefCount: 0 } }],
    BuildCache: [{ Size: 7, InUse: true, Shared: false }, { Size: 9, InUse: false, Shared: false }, { Size: 100, InUse: false, Shared: true }],
  });
  assert.deepEqual(rows, [
    { type: 'images', count: 3, active: 2, sizeBytes: 1000, reclaimableBytes: 500 },
    { type: 'containers', count: 3, active: 1, sizeBytes: 35, reclaimableBytes: 25 },
    { type: 'volumes', count: 3, active: 1, sizeBytes: 150, reclaimableBytes: 50 },
    { type: 'build_cache', count: 3, active: 1, sizeBytes: 16, reclaimableBytes: 9 },
  ]);
  assert.deepEqual(diskUsageFromDf({}).map((r) => r.count), [0, 0, 0, 0]);
});
