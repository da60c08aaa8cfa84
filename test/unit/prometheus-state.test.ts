import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ContainerState, InventoryView } from '../../src/docker/inventory.js';
import type { EventRecord } from '../../src/records.js';
import { PrometheusExporter, prometheusExporterFactory } from '../../exporters/prometheus/index.js';
import { registerStateMetrics } from '../../exporters/prometheus/state-metrics.js';

function container(id: string, overrides: Partial<ContainerState> = {}): ContainerState {
  return {
    meta: { id, name: `name-${id}`, image: 'img:1', labels: { 'com.docker.compose.service': 'svc' }, host: 'h' },
    imageId: 'sha256:1', state: 'running', health: 'none', restartCount: 0, exitCode: 0, oomKilled: false, oomEvents: 0,
    startedAt: 1_700_000_000.5, finishedAt: 0, createdAt: 1_699_999_999, tty: false, pid: 42, lastSeen: 1_700_000_100.25, cgroupPath: id,
    allLabels: { 'com.docker.compose.service': 'svc', secret: 'no' },
    ...overrides,
  };
}

class FakeInventory implements InventoryView {
  readonly items = new Map<string, ContainerState>();
  list() { return [...this.items.values()]; }
  get(id: string) { return this.items.get(id); }
  asOf = 0;
  currentAsOf() { return this.asOf; }
}

/** Samples of one metric family from the exposition text, as {labels, value}. */
function samples(text: string, name: string): { labels: Record<string, string>; value: number }[] {
  const out = [];
  for (const line of text.split('\n')) {
    const m = new RegExp(`^${name}(?:\\{(.*)\\})? (\\S+)$`).exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[1] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ labels, value: Number(m[2]) });
  }
  return out;
}

const value = (text: string, name: string, match: Record<string, string>) =>
  samples(text, name).filter((s) => Object.entries(match).every(([k, v]) => s.labels[k] === v)).map((s) => s.value);

test('state metrics are computed from the inventory at scrape time', async () => {
  const inventory = new FakeInventory();
  inventory.items.set('a', container('a', { health: 'unhealthy', restartCount: 3, oomEvents: 2, exitCode: 137 }));
  inventory.items.set('b', container('b', { state: 'exited', startedAt: 0, exitCode: 1 }));
  const exporter = new PrometheusExporter({ enabled: true }, { inventory });
  const text = await exporter.registry.metrics();

  assert.deepEqual(value(text, 'container_state', { id: 'a', state: 'running' }), [1]);
  assert.deepEqual(value(text, 'container_state', { id: 'a', state: 'exited' }), [0]);
  assert.deepEqual(value(text, 'container_state', { id: 'b', state: 'exited' }), [1]);
  assert.equal(samples(text, 'container_state').length, 14, 'one series per state per container');
  assert.deepEqual(value(text, 'container_health_status', { id: 'a', status: 'unhealthy' }), [1]);
  assert.deepEqual(value(text, 'container_health_status', { id: 'a', status: 'healthy' }), [0]);
  assert.deepEqual(value(text, 'container_health_status', { id: 'b', status: 'none' }), [1]);
  assert.deepEqual(value(text, 'container_restarts_total', { id: 'a' }), [3]);
  assert.deepEqual(value(text, 'container_oom_events_total', { id: 'a' }), [2]);
  assert.deepEqual(value(text, 'container_last_exit_code', { id: 'a' }), [137]);
  assert.deepEqual(value(text, 'container_last_exit_code', { id: 'b' }), [1]);
  assert.deepEqual(value(text, 'container_start_time_seconds', { id: 'a' }), [1_700_000_000.5]);
  assert.deepEqual(value(text, 'container_start_time_seconds', { id: 'b' }), [], 'never started: no start time series');
  assert.deepEqual(value(text, 'container_last_seen', { id: 'a' }), [1_700_000_100.25]);
  inventory.asOf = 1_700_000_500;
  const live = await exporter.registry.metrics();
  assert.deepEqual(value(live, 'container_last_seen', { id: 'a' }), [1_700_000_500], 'while events are followed live, last_seen is the time of the scrape');
  assert.match(text, /# TYPE container_restarts_total counter/);
  assert.match(text, /# TYPE container_state gauge/);

  const labels = samples(text, 'container_restarts_total').find((s) => s.labels.id === 'a')!.labels;
  assert.deepEqual(labels, { container_label_com_docker_compose_service: 'svc', id: 'a', name: 'name-a', image: 'img:1' });
  assert.doesNotMatch(text, /secret/, 'only allow-listed labels (meta.labels) appear');
});

test('series of a removed container disappear on the next scrape; changes show at once', async () => {
  const inventory = new FakeInventory();
  inventory.items.set('a', container('a'));
  inventory.items.set('b', container('b'));
  const exporter = new PrometheusExporter({ enabled: true }, { inventory });
  assert.equal(value(await exporter.registry.metrics(), 'container_state', { id: 'b', state: 'running' }).length, 1);
  inventory.items.delete('b');
  inventory.items.set('a', container('a', { restartCount: 5, state: 'restarting' }));
  const text = await exporter.registry.metrics();
  assert.doesNotMatch(text, /id="b"/);
  assert.deepEqual(value(text, 'container_restarts_total', { id: 'a' }), [5]);
  assert.deepEqual(value(text, 'container_state', { id: 'a', state: 'restarting' }), [1]);
});

test('docker_events_total counts event records by type and bounded action', async () => {
  const exporter = new PrometheusExporter({ enabled: true }, { inventory: new FakeInventory() });
  const event = (type: string, action: string): EventRecord => ({ kind: 'event', id: `${type}${action}`, time: 1n, type, action, actor: { id: 'x', attributes: {} } });
  await exporter.export([event('container', 'start'), event('container', 'start'), event('container', 'exec_start: sh -c date'), event('network', 'connect'), event('container', 'health_status: healthy')]);
  const text = await exporter.registry.metrics();
  assert.deepEqual(value(text, 'docker_events_total', { type: 'container', action: 'start' }), [2]);
  assert.deepEqual(value(text, 'docker_events_total', { type: 'container', action: 'exec_start' }), [1]);
  assert.deepEqual(value(text, 'docker_events_total', { type: 'network', action: 'connect' }), [1]);
  assert.deepEqual(value(text, 'docker_events_total', { type: 'container', action: 'health_status: healthy' }), [1]);
  assert.deepEqual(exporter.status(), { events_counted: 5 });
  assert.deepEqual(exporter.health(), { healthy: true });
  assert.ok(exporter.accepts.has('event'));
});

test('factory: enabled by default, disabled by config, unknown keys rejected; registry merges with others', async () => {
  const { Registry, Counter } = await import('prom-client');
  assert.equal(prometheusExporterFactory.isEnabled(prometheusExporterFactory.configSchema.parse({}), {}), true);
  assert.equal(prometheusExporterFactory.isEnabled(prometheusExporterFactory.configSchema.parse({ enabled: false }), {}), false);
  assert.equal(prometheusExporterFactory.configSchema.safeParse({ port: 1 }).success, false);
  const inventory = new FakeInventory();
  inventory.items.set('a', container('a'));
  const exporter = new PrometheusExporter({ enabled: true }, { inventory });
  const own = new Registry();
  new Counter({ name: 'dockhand_x_total', help: 'x', registers: [own] }).inc();
  const merged = Registry.merge([own, exporter.registry]);
  const text = await merged.metrics();
  assert.match(text, /^dockhand_x_total 1$/m);
  assert.match(text, /^container_state\{.*state="running"\} 1$/m);
  const json = await merged.getMetricsAsJSON();
  assert.ok(json.some((m) => m.name === 'container_last_seen'));
});

test('the id label is the container\'s cgroup path, as on the resource series', async () => {
  const { Registry } = await import('prom-client');
  const inventory = new FakeInventory();
  inventory.items.set('abc', container('abc', { cgroupPath: '/system.slice/docker-abc.scope' }));
  const registry = new Registry();
  registerStateMetrics(registry, inventory);
  const text = await registry.metrics();
  assert.deepEqual(value(text, 'container_state', { id: '/system.slice/docker-abc.scope', state: 'running' }), [1]);
  assert.doesNotMatch(text, /id="abc"/);
});

test('container cgroup paths are named as dockerd names them', async () => {
  const { containerCgroupPath } = await import('../../src/docker/inventory.js');
  assert.equal(containerCgroupPath('abc', 'cgroupfs'), '/docker/abc');
  assert.equal(containerCgroupPath('abc', 'cgroupfs', '/custom/'), '/custom/abc');
  assert.equal(containerCgroupPath('abc', 'systemd'), '/system.slice/docker-abc.scope');
  assert.equal(containerCgroupPath('abc', 'systemd', 'a-b.slice'), '/a.slice/a-b.slice/docker-abc.scope');
});
