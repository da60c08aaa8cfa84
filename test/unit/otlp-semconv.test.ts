/**
 * The names dockhand sends over OTLP against the published semantic conventions, as the
 * @opentelemetry/semantic-conventions package (1.45.0) spells them; the units against the
 * conventions' tables for container metrics (the package carries names only).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as stable from '@opentelemetry/semantic-conventions';
import * as incubating from '@opentelemetry/semantic-conventions/incubating';
import { containerResource } from '../../exporters/otlp/attributes.js';
import { METRIC_SPECS } from '../../exporters/otlp/metrics-encoding.js';
import { container } from '../helpers/es-records.js';

const conventions = { ...incubating, ...stable } as Record<string, unknown>;
const published = new Set(Object.entries(conventions).filter(([key, value]) => /^(ATTR|METRIC)_/.test(key) && typeof value === 'string').map(([, value]) => value as string));

/** Units of the container metrics in the conventions' tables (semconv docs, system/container-metrics). */
const PUBLISHED_UNITS: Readonly<Record<string, string>> = {
  'container.cpu.time': 's', 'container.cpu.usage': '{cpu}', 'container.memory.usage': 'By',
  'container.network.io': 'By', 'container.disk.io': 'By', 'container.uptime': 's',
};

test('every metric name is a published container metric, with the published unit; cpu.time and the io metrics are sums', () => {
  for (const spec of METRIC_SPECS) {
    assert.ok(published.has(spec.name), `${spec.name} is a published metric name`);
    assert.equal(spec.unit, PUBLISHED_UNITS[spec.name], `${spec.name} unit`);
  }
  assert.equal(incubating.METRIC_CONTAINER_CPU_TIME, 'container.cpu.time');
  const kinds = Object.fromEntries(METRIC_SPECS.map((s) => [s.name, s.kind.type === 'sum' ? `sum${s.kind.monotonic ? ', monotonic' : ''}` : 'gauge']));
  assert.deepEqual(kinds, {
    'container.cpu.time': 'sum, monotonic', 'container.cpu.usage': 'gauge', 'container.memory.usage': 'sum',
    'container.network.io': 'sum, monotonic', 'container.disk.io': 'sum, monotonic', 'container.uptime': 'gauge',
  });
});

test('every resource and data point attribute key is a published attribute (labels as container.label.<key>)', () => {
  const keys = containerResource(container).map(([key]) => key);
  for (const key of keys) {
    if (key.startsWith('container.label.')) {
      assert.equal(key, incubating.ATTR_CONTAINER_LABEL(key.slice('container.label.'.length)));
      continue;
    }
    assert.ok(published.has(key), `${key} is a published attribute`);
  }
  for (const key of ['cpu.mode', 'network.interface.name', 'network.io.direction', 'disk.io.direction', 'system.device', 'log.iostream', 'log.record.uid', 'event.name']) {
    assert.ok(published.has(key), `${key} is a published attribute`);
  }
  assert.equal(incubating.ATTR_CONTAINER_RUNTIME_NAME, 'container.runtime.name');
  assert.equal(stable.ATTR_CONTAINER_IMAGE_TAGS, 'container.image.tags');
  assert.deepEqual([incubating.LOG_IOSTREAM_VALUE_STDOUT, incubating.LOG_IOSTREAM_VALUE_STDERR], ['stdout', 'stderr']);
  assert.deepEqual([incubating.NETWORK_IO_DIRECTION_VALUE_RECEIVE, incubating.NETWORK_IO_DIRECTION_VALUE_TRANSMIT], ['receive', 'transmit']);
  assert.deepEqual([incubating.DISK_IO_DIRECTION_VALUE_READ, incubating.DISK_IO_DIRECTION_VALUE_WRITE], ['read', 'write']);
  assert.deepEqual([incubating.CPU_MODE_VALUE_USER, incubating.CPU_MODE_VALUE_KERNEL], ['user', 'kernel']);
});
