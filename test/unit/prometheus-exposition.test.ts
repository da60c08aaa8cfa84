import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Registry, type OpenMetricsContentType } from 'prom-client';
import { ComputedMetric, ExpositionRegistry } from '../../exporters/prometheus/computed-metric.js';
import { escapeHelp, escapeLabelValue, formatValue, labelText } from '../../exporters/prometheus/exposition.js';
import { containerLabelSet } from '../../exporters/prometheus/labels.js';
import { PrometheusExporter } from '../../exporters/prometheus/index.js';
import type { ContainerState, InventoryView } from '../../src/docker/inventory.js';
import type { ContainerMeta, MetricRecord } from '../../src/records.js';
import { promtoolCheckMetrics } from '../helpers/prometheus.js';

const awkward: ContainerMeta = {
  id: 'f'.repeat(64),
  name: 'we"ird\\name\nsecond line',
  image: 'registry:5000/café/☕:1',
  labels: { 'com.example.note': 'say "hi"\\n', 'com.example.empty': '' },
  host: 'h',
};

test('label values are escaped as the text format says: backslash, double quote, newline; nothing else', () => {
  assert.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
  assert.equal(escapeLabelValue('plain /docker/abc é☕\t'), 'plain /docker/abc é☕\t');
  assert.equal(escapeHelp('a\\b\nc "quoted"'), 'a\\\\b\\nc "quoted"');
  assert.equal(labelText(Object.freeze({ b: '2', a: 'x"y' })), 'b="2",a="x\\"y"', 'in key order');
});

test('values are written as prom-client writes them, NaN as the format spells it', () => {
  assert.equal(formatValue(12.5), '12.5');
  assert.equal(formatValue(0.1 + 0.2), '0.30000000000000004');
  assert.equal(formatValue(1e21), '1e+21');
  assert.equal(formatValue(-3), '-3');
  assert.equal(formatValue(Infinity), '+Inf');
  assert.equal(formatValue(-Infinity), '-Inf');
  assert.equal(formatValue(NaN), 'NaN');
});

test('a computed family is written exactly as prom-client would write it, awkward labels and values included', async () => {
  const labels = containerLabelSet(awkward, `/docker/${awkward.id}`);
  const family = (registry: Registry) => new ComputedMetric('dockhand_test_family', 'Help with a \\ backslash\nand a newline.', 'gauge', (write) => {
    write(labels, 0.1 + 0.2);
    write(Object.freeze({ state: 'running' }), -1e-7, labels);
    write(labels, 1e21, Object.freeze({ interface: 'eth"0' }));
    write(Object.freeze({}), Infinity);
    write(labels, -Infinity);
  }).register(registry);
  const ours = new ExpositionRegistry();
  const theirs = new Registry();
  family(ours);
  family(theirs);
  const text = await ours.metrics();
  assert.equal(text, await theirs.metrics());
  assert.ok(text.includes('name="we\\"ird\\\\name\\nsecond line"'), text);
  assert.ok(text.includes('\ndockhand_test_family +Inf\n'), text);
  const check = await promtoolCheckMetrics(text);
  assert.equal(check.code, 0, check.output);
});

test('a container\'s label set is built once per ContainerMeta and cgroup path, and replaced with them', () => {
  const first = containerLabelSet(awkward, '/docker/x');
  assert.equal(containerLabelSet(awkward, '/docker/x'), first, 'same object: its text is formatted once');
  assert.ok(Object.isFrozen(first));
  assert.deepEqual(first, {
    container_label_com_example_empty: '',
    container_label_com_example_note: 'say "hi"\\n',
    id: '/docker/x',
    name: awkward.name,
    image: awkward.image,
  });
  const moved = containerLabelSet(awkward, '/system.slice/docker-x.scope');
  assert.notEqual(moved, first);
  assert.equal(moved.id, '/system.slice/docker-x.scope');
  const renamed = containerLabelSet({ ...awkward, name: 'renamed' }, '/system.slice/docker-x.scope');
  assert.equal(renamed.name, 'renamed');
});

test('the registry leaves prom-client metrics to prom-client, in registration order, each family once', async () => {
  const registry = new ExpositionRegistry();
  const counter = new Counter({ name: 'dockhand_test_events_total', help: 'events', labelNames: ['type'], registers: [registry] });
  counter.inc({ type: 'container' }, 2);
  new ComputedMetric('dockhand_test_state', 'state', 'gauge', (write) => write(Object.freeze({ id: 'a' }), 1)).register(registry);
  const text = await registry.metrics();
  assert.equal(text, [
    '# HELP dockhand_test_events_total events', '# TYPE dockhand_test_events_total counter', 'dockhand_test_events_total{type="container"} 2', '',
    '# HELP dockhand_test_state state', '# TYPE dockhand_test_state gauge', 'dockhand_test_state{id="a"} 1', '',
  ].join('\n'));
});

test('default labels and OpenMetrics are left to prom-client whole', async () => {
  const family = () => new ComputedMetric('dockhand_test_hits_total', 'hits', 'counter', (write) => write(Object.freeze({ id: 'a' }), 3));
  const labelled = new ExpositionRegistry();
  family().register(labelled);
  labelled.setDefaultLabels({ host: 'h1' });
  assert.match(await labelled.metrics(), /^dockhand_test_hits_total\{id="a",host="h1"\} 3$/m);
  const open = new ExpositionRegistry();
  (open as unknown as Registry<OpenMetricsContentType>).setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  family().register(open);
  const text = await open.metrics();
  assert.match(text, /^# TYPE dockhand_test_hits counter$/m);
  assert.match(text, /# EOF\n$/);
});

test('the exporter\'s whole exposition: every family once, counters typed counter, promtool finds nothing wrong', async () => {
  const state: ContainerState = {
    meta: awkward, imageId: 'sha256:x', state: 'running', health: 'healthy', restartCount: 2, exitCode: 0, oomKilled: false, oomEvents: 1,
    startedAt: 1000, finishedAt: 0, createdAt: 900, tty: false, pid: 42, lastSeen: 1000, allLabels: {}, cgroupPath: `/docker/${awkward.id}`,
  };
  const inventory: InventoryView = { list: () => [state], get: (id) => (id === awkward.id ? state : undefined), currentAsOf: () => 0 };
  const exporter = new PrometheusExporter({ enabled: true }, { inventory });
  const record: MetricRecord = {
    kind: 'metric', time: 1n, container: awkward, source: 'cgroup',
    cpu: { usageSeconds: 1.5, userSeconds: 1, systemSeconds: 0.5, throttledSeconds: 0, throttledPeriods: 0, periods: 10, quotaMicros: 50_000, periodMicros: 100_000 },
    memory: { usageBytes: 10, workingSetBytes: 8, rssBytes: 5, cacheBytes: 2, failcnt: 0, limitBytes: 100 },
    network: [{ interface: 'eth0', rxBytes: 1, rxPackets: 1, rxErrors: 0, rxDropped: 0, txBytes: 1, txPackets: 1, txErrors: 0, txDropped: 0 }],
    blkio: { readBytes: 0, writeBytes: 0, reads: 0, writes: 0 }, pids: 1,
  };
  await exporter.export([record, { kind: 'event', id: 'e', time: 1n, type: 'container', action: 'start', actor: { id: awkward.id, attributes: {} } }]);
  const text = await exporter.registry.metrics();
  const types = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!] as const);
  const names = types.map(([name]) => name);
  assert.equal(new Set(names).size, names.length, 'no family twice');
  for (const [name, type] of types) if (name.endsWith('_total')) assert.equal(type, 'counter', name);
  assert.ok(names.includes('container_cpu_usage_seconds_total') && names.includes('container_state') && names.includes('docker_events_total'));
  assert.equal(text, await Registry.merge([exporter.registry]).metrics(), 'same text as prom-client would write');
  const check = await promtoolCheckMetrics(text);
  assert.equal(check.code, 0, check.output);
  assert.equal(check.output.trim(), '');
});
