import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry, type Metric } from 'prom-client';
import type { ContainerState, InventoryView } from '../../src/docker/inventory.js';
import type { EngineRecord, MachineSample, MetricRecord } from '../../src/records.js';
import { CONTAINER_METRIC_NAMES, ContainerMetrics, ResourceMetrics } from '../../exporters/prometheus/container-metrics.js';
import { ExpositionRegistry } from '../../exporters/prometheus/computed-metric.js';
import { ENGINE_METRIC_NAMES } from '../../exporters/prometheus/engine-metrics.js';
import { PrometheusExporter } from '../../exporters/prometheus/index.js';

class FakeInventory implements InventoryView {
  readonly states = new Map<string, ContainerState>();
  list() { return [...this.states.values()]; }
  get(id: string) { return this.states.get(id); }
  currentAsOf() { return 0; }
  put(id: string, name: string, state: ContainerState['state'] = 'running', labels: Record<string, string> = {}, cgroupPath = `/docker/${id}`) {
    this.states.set(id, {
      meta: { id, name, image: 'busybox:latest', labels, host: 'h' }, imageId: 'sha256:x', state, health: 'none', restartCount: 0, exitCode: 0,
      oomKilled: false, oomEvents: 0, startedAt: 1000, finishedAt: 0, createdAt: 900, tty: false, pid: 42, lastSeen: 1000, allLabels: labels, cgroupPath,
    });
  }
}

const MACHINE: MachineSample = Object.freeze({ cpuCores: 8, memoryBytes: 16_777_216_000, machineId: 'm1', systemUuid: 'u1', bootId: 'b1' });

function record(id: string, name: string, overrides: { time?: bigint; quota?: number; usage?: number; labels?: Record<string, string>; cgroupPath?: string } = {}): MetricRecord {
  return {
    kind: 'metric',
    time: overrides.time ?? 1_000_000_000_000n,
    container: { id, name, image: 'busybox:latest', labels: overrides.labels ?? {}, host: 'h' },
    source: 'cgroup',
    ...(overrides.cgroupPath ? { cgroupPath: overrides.cgroupPath } : {}),
    cpu: { usageSeconds: overrides.usage ?? 12.5, userSeconds: 10, systemSeconds: 2.5, throttledSeconds: 0.75, throttledPeriods: 30, periods: 400, periodMicros: 100_000, shares: 512, ...(overrides.quota ? { quotaMicros: overrides.quota } : {}) },
    memory: {
      usageBytes: 73_728_000, workingSetBytes: 56_950_784, rssBytes: 52_428_800, cacheBytes: 20_971_520, failcnt: 3, limitBytes: 268_435_456,
      swapBytes: 1_048_576, maxUsageBytes: 90_000_000, reservationBytes: 134_217_728, swapLimitBytes: 536_870_912,
      pageFaults: { pgfault: 1001, pgmajfault: 7, hierarchyPgfault: 1002, hierarchyPgmajfault: 8 },
    },
    network: [
      { interface: 'eth0', rxBytes: 1000, rxPackets: 10, rxErrors: 1, rxDropped: 2, txBytes: 2000, txPackets: 20, txErrors: 3, txDropped: 4 },
      { interface: 'eth1', rxBytes: 5, rxPackets: 1, rxErrors: 0, rxDropped: 0, txBytes: 6, txPackets: 1, txErrors: 0, txDropped: 0 },
    ],
    blkio: {
      readBytes: 4096, writeBytes: 8_388_608 + 512, reads: 1, writes: 9,
      devices: [
        { major: 8, minor: 0, device: '/dev/sda', readBytes: 4096, writeBytes: 8_388_608, reads: 1, writes: 8 },
        { major: 254, minor: 0, device: '/dev/vda', readBytes: 0, writeBytes: 512, reads: 0, writes: 1 },
      ],
    },
    pids: 4,
    filesystem: [{ device: '/dev/sda1', usageBytes: 36_864, limitBytes: 105_089_261_568 }],
    machine: MACHINE,
  };
}

/**
 * The text our own writer serves (ExpositionRegistry), after checking that prom-client's formatting
 * of the same families (what Registry.merge and a plain Registry use) is the same text.
 */
async function render(registry: Registry): Promise<string> {
  const served = new ExpositionRegistry();
  for (const metric of registry.getMetricsAsArray()) served.registerMetric(metric as unknown as Metric);
  const text = await served.metrics();
  assert.equal(text, await Registry.merge([registry]).metrics(), 'our writer and prom-client write the same text');
  return text;
}

function line(text: string, name: string, labelFragment = ''): string | undefined {
  return text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labelFragment));
}

test('every cAdvisor family is there with its type; counters are counters from absolute values', async () => {
  const inventory = new FakeInventory();
  inventory.put('a'.repeat(64), 'web', 'running', { 'com.docker.compose.service': 'web' });
  const registry = new Registry();
  const metrics = new ContainerMetrics(inventory);
  metrics.register(registry);
  metrics.update(record('a'.repeat(64), 'web', { quota: 50_000, labels: { 'com.docker.compose.service': 'web' } }));
  const text = await render(registry);
  for (const name of CONTAINER_METRIC_NAMES) {
    const type = /_total$/.test(name) ? 'counter' : name === 'container_memory_failcnt' ? 'untyped' : 'gauge';
    assert.ok(text.includes(`# TYPE ${name} ${type}\n`), `${name} ${type}`);
    assert.ok(line(text, name), `${name} has a sample`);
  }
  const id = `/docker/${'a'.repeat(64)}`;
  assert.equal(line(text, 'container_cpu_usage_seconds_total'), `container_cpu_usage_seconds_total{cpu="total",container_label_com_docker_compose_service="web",id="${id}",name="web",image="busybox:latest"} 12.5`);
  assert.match(line(text, 'container_memory_working_set_bytes')!, / 56950784$/);
  assert.match(line(text, 'container_spec_memory_limit_bytes')!, / 268435456$/);
  assert.match(line(text, 'container_spec_cpu_quota')!, / 50000$/);
  assert.match(line(text, 'container_cpu_cfs_throttled_seconds_total')!, / 0.75$/);
  assert.match(line(text, 'container_network_receive_bytes_total', 'interface="eth0"')!, / 1000$/);
  assert.match(line(text, 'container_network_transmit_packets_dropped_total', 'interface="eth0"')!, / 4$/);
  assert.match(line(text, 'container_network_receive_bytes_total', 'interface="eth1"')!, / 5$/);
  assert.match(line(text, 'container_fs_writes_bytes_total', 'device="/dev/sda"')!, / 8388608$/);
  assert.match(line(text, 'container_processes')!, / 4$/);
});

test('the families cAdvisor has and dockhand lacked: names, HELP, labels and values as cAdvisor writes them', async () => {
  const inventory = new FakeInventory();
  const id = 'd'.repeat(64);
  inventory.put(id, 'web');
  const registry = new Registry();
  const metrics = new ContainerMetrics(inventory);
  metrics.register(registry);
  metrics.update(record(id, 'web'));
  const text = await render(registry);
  const labels = `id="/docker/${id}",name="web",image="busybox:latest"`;
  const expected = [
    '# HELP container_memory_swap Container swap usage in bytes.', `container_memory_swap{${labels}} 1048576`,
    '# HELP container_memory_max_usage_bytes Maximum memory usage recorded in bytes', `container_memory_max_usage_bytes{${labels}} 90000000`,
    '# HELP container_memory_failures_total Cumulative count of memory allocation failures.',
    `container_memory_failures_total{failure_type="pgfault",scope="container",${labels}} 1001`,
    `container_memory_failures_total{failure_type="pgmajfault",scope="container",${labels}} 7`,
    `container_memory_failures_total{failure_type="pgfault",scope="hierarchy",${labels}} 1002`,
    `container_memory_failures_total{failure_type="pgmajfault",scope="hierarchy",${labels}} 8`,
    '# HELP container_spec_cpu_shares CPU share of the container.', `container_spec_cpu_shares{${labels}} 512`,
    '# HELP container_spec_memory_reservation_limit_bytes Memory reservation limit for the container.', `container_spec_memory_reservation_limit_bytes{${labels}} 134217728`,
    '# HELP container_spec_memory_swap_limit_bytes Memory swap limit for the container.', `container_spec_memory_swap_limit_bytes{${labels}} 536870912`,
    '# HELP container_fs_usage_bytes Number of bytes that are consumed by the container on this filesystem.', `container_fs_usage_bytes{device="/dev/sda1",${labels}} 36864`,
    '# HELP container_fs_limit_bytes Number of bytes that can be consumed by the container on this filesystem.', `container_fs_limit_bytes{device="/dev/sda1",${labels}} 105089261568`,
    `container_fs_reads_bytes_total{device="/dev/sda",${labels}} 4096`,
    `container_fs_writes_total{device="/dev/vda",${labels}} 1`,
  ];
  const lines = new Set(text.split('\n'));
  for (const want of expected) assert.ok(lines.has(want), want);
});

test('records without the newer fields: no new series, and block I/O as one series without device (as before)', async () => {
  const inventory = new FakeInventory();
  const id = 'e'.repeat(64);
  inventory.put(id, 'old');
  const registry = new Registry();
  const metrics = new ContainerMetrics(inventory);
  metrics.register(registry);
  const r = record(id, 'old');
  const { shares: _shares, ...cpu } = r.cpu;
  const { swapBytes: _s, maxUsageBytes: _m, reservationBytes: _r, swapLimitBytes: _l, pageFaults: _p, ...memory } = r.memory;
  const { devices: _d, ...blkio } = r.blkio;
  const { filesystem: _f, machine: _machine, ...rest } = r;
  metrics.update({ ...rest, cpu, memory, blkio });
  const text = await render(registry);
  for (const name of ['container_memory_swap', 'container_memory_max_usage_bytes', 'container_memory_failures_total', 'container_spec_cpu_shares',
    'container_spec_memory_reservation_limit_bytes', 'container_spec_memory_swap_limit_bytes', 'container_fs_usage_bytes', 'container_fs_limit_bytes']) {
    assert.equal(line(text, name), undefined, name);
  }
  assert.equal(line(text, 'container_fs_writes_bytes_total'), `container_fs_writes_bytes_total{id="/docker/${id}",name="old",image="busybox:latest"} ${8_388_608 + 512}`);
});

test('machine_cpu_cores and machine_memory_bytes with cAdvisor\'s labels, from the host of the live samples; none without one', async () => {
  const inventory = new FakeInventory();
  const registry = new Registry();
  const resources = new ResourceMetrics(registry, inventory);
  assert.ok(!(await render(registry)).includes('machine_cpu_cores{'), 'no sample, no machine series');
  inventory.put('f'.repeat(64), 'web');
  resources.accept(record('f'.repeat(64), 'web'));
  const text = await render(registry);
  assert.ok(text.includes('# HELP machine_cpu_cores Number of logical CPU cores.\n# TYPE machine_cpu_cores gauge\nmachine_cpu_cores{boot_id="b1",machine_id="m1",system_uuid="u1"} 8\n'));
  assert.ok(text.includes('# HELP machine_memory_bytes Amount of memory installed on the machine.\n# TYPE machine_memory_bytes gauge\nmachine_memory_bytes{boot_id="b1",machine_id="m1",system_uuid="u1"} 16777216000\n'));
});

test('a container without CPU quota has no CFS series and no quota, as in cAdvisor; unlimited memory is limit 0', async () => {
  const inventory = new FakeInventory();
  inventory.put('b'.repeat(64), 'free');
  const registry = new Registry();
  const metrics = new ContainerMetrics(inventory);
  metrics.register(registry);
  const r = record('b'.repeat(64), 'free');
  metrics.update({ ...r, memory: { ...r.memory, limitBytes: undefined } });
  const text = await render(registry);
  assert.equal(line(text, 'container_cpu_cfs_periods_total'), undefined);
  assert.equal(line(text, 'container_cpu_cfs_throttled_seconds_total'), undefined);
  assert.equal(line(text, 'container_spec_cpu_quota'), undefined);
  assert.match(line(text, 'container_spec_memory_limit_bytes')!, / 0$/);
  assert.ok(line(text, 'container_cpu_usage_seconds_total'));
});

test('the id label is the inventory\'s cgroup path (systemd driver), the one the state series carry', async () => {
  const inventory = new FakeInventory();
  inventory.put('c'.repeat(64), 'sd', 'running', {}, `/system.slice/docker-${'c'.repeat(64)}.scope`);
  const registry = new Registry();
  const metrics = new ContainerMetrics(inventory);
  metrics.register(registry);
  metrics.update(record('c'.repeat(64), 'sd', { cgroupPath: `/docker/${'c'.repeat(64)}` }));
  assert.ok(line(await render(registry), 'container_memory_usage_bytes', `id="/system.slice/docker-${'c'.repeat(64)}.scope"`));
});

test('series of a removed or stopped container are gone at the next scrape; paused ones stay', async () => {
  const inventory = new FakeInventory();
  const registry = new Registry();
  const metrics = new ContainerMetrics(inventory);
  metrics.register(registry);
  for (const [id, name] of [['1', 'keep'], ['2', 'removed'], ['3', 'stopped'], ['4', 'paused']] as const) {
    inventory.put(id.repeat(64), name);
    metrics.update(record(id.repeat(64), name));
  }
  let text = await render(registry);
  for (const name of ['keep', 'removed', 'stopped', 'paused']) assert.ok(text.includes(`name="${name}"`), name);
  inventory.states.delete('2'.repeat(64));
  inventory.put('3'.repeat(64), 'stopped', 'exited');
  inventory.put('4'.repeat(64), 'paused', 'paused');
  text = await render(registry);
  assert.ok(text.includes('name="keep"'));
  assert.ok(text.includes('name="paused"'));
  assert.ok(!text.includes('name="removed"'));
  assert.ok(!text.includes('name="stopped"'));
  assert.equal(metrics.size, 2, 'pruned from the map, not just hidden');
});

test('a renamed container is rendered under its new name (formatted labels are cached per identity, never stale)', async () => {
  const inventory = new FakeInventory();
  inventory.put('8'.repeat(64), 'before');
  const registry = new Registry();
  const metrics = new ContainerMetrics(inventory);
  metrics.register(registry);
  metrics.update(record('8'.repeat(64), 'before', { time: 1n, usage: 1 }));
  assert.ok(line(await render(registry), 'container_memory_usage_bytes', 'name="before"'));
  metrics.update(record('8'.repeat(64), 'before', { time: 2n, usage: 2 }));
  assert.match(line(await render(registry), 'container_cpu_usage_seconds_total', 'name="before"')!, / 2$/);
  metrics.update(record('8'.repeat(64), 'after', { time: 3n, usage: 3 }));
  const text = await render(registry);
  assert.ok(!text.includes('name="before"'));
  assert.match(line(text, 'container_cpu_usage_seconds_total', 'name="after"')!, / 3$/);
});

test('a sample older than staleAfterMs is not rendered', async () => {
  const inventory = new FakeInventory();
  inventory.put('5'.repeat(64), 'stale');
  const registry = new Registry();
  const metrics = new ContainerMetrics(inventory, { staleAfterMs: 0 });
  metrics.register(registry);
  metrics.update(record('5'.repeat(64), 'stale'));
  await new Promise((resolve) => setTimeout(resolve, 5));
  assert.ok(!(await render(registry)).includes('name="stale"'));
});

test('a late record (older sample time) never rolls a counter back', async () => {
  const inventory = new FakeInventory();
  inventory.put('6'.repeat(64), 'late');
  const registry = new Registry();
  const metrics = new ContainerMetrics(inventory);
  metrics.register(registry);
  metrics.update(record('6'.repeat(64), 'late', { time: 2_000n, usage: 20 }));
  metrics.update(record('6'.repeat(64), 'late', { time: 1_000n, usage: 10 }));
  assert.match(line(await render(registry), 'container_cpu_usage_seconds_total')!, / 20$/);
});

test('engine metrics: info, counts and the four system df rows from the latest EngineRecord', async () => {
  const inventory = new FakeInventory();
  const registry = new Registry();
  const resources = new ResourceMetrics(registry, inventory);
  assert.ok(!(await render(registry)).includes('docker_engine_info{'), 'nothing before the first sample');
  const engine: EngineRecord = {
    kind: 'engine', time: 1_700_000_000_000_000_000n, host: 'h',
    info: { version: '20.10.24', apiVersion: '1.41', os: 'Debian GNU/Linux 12', kernel: '6.1.0', storageDriver: 'overlay2', cgroupDriver: 'cgroupfs', cgroupVersion: '1' },
    containers: { total: 5, running: 3, paused: 1, stopped: 1 }, images: 7, volumes: 2, networks: 4,
    disk: [
      { type: 'images', count: 7, active: 3, sizeBytes: 1000, reclaimableBytes: 400 },
      { type: 'containers', count: 5, active: 3, sizeBytes: 50, reclaimableBytes: 10 },
      { type: 'volumes', count: 2, active: 1, sizeBytes: 300, reclaimableBytes: 100 },
      { type: 'build_cache', count: 0, active: 0, sizeBytes: 0, reclaimableBytes: 0 },
    ],
  };
  assert.equal(resources.accept(engine), true);
  const text = await render(registry);
  for (const name of ENGINE_METRIC_NAMES) assert.ok(text.includes(`# TYPE ${name} gauge`), name);
  assert.ok(text.includes('docker_engine_info{version="20.10.24",api_version="1.41",os="Debian GNU/Linux 12",kernel="6.1.0",storage_driver="overlay2",cgroup_version="1"} 1'));
  assert.ok(text.includes('docker_engine_containers{state="running"} 3'));
  assert.ok(text.includes('docker_engine_images 7'));
  assert.ok(text.includes('docker_engine_networks 4'));
  assert.ok(text.includes('docker_system_df_reclaimable_bytes{type="images"} 400'));
  assert.ok(text.includes('docker_system_df_size_bytes{type="volumes"} 300'));
  assert.ok(text.includes('docker_engine_sample_timestamp_seconds 1700000000'));
});

test('the Prometheus exporter accepts metric and engine records and serves them from its registry', async () => {
  const inventory = new FakeInventory();
  inventory.put('7'.repeat(64), 'via-exporter');
  const exporter = new PrometheusExporter({ enabled: true } as never, { inventory });
  assert.ok(exporter.accepts.has('metric'));
  assert.ok(exporter.accepts.has('engine'));
  await exporter.export([record('7'.repeat(64), 'via-exporter')]);
  assert.ok(line(await exporter.registry.metrics(), 'container_memory_usage_bytes', 'name="via-exporter"'));
});
