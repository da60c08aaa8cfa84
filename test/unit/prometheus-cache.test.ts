/**
 * /metrics serves a family's last text again while what it is computed from is unchanged: these tests
 * hold it to never serving a stale value. Each scrape's text is compared with the text prom-client
 * computes afresh from the same registry (Registry.merge formats every family from get(), no cache).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { ComputedMetric, type SeriesSource } from '../../exporters/prometheus/computed-metric.js';
import { PrometheusExporter } from '../../exporters/prometheus/index.js';
import { Inventory, type InventorySource } from '../../src/docker/inventory.js';
import type { EngineRecord, MetricRecord } from '../../src/records.js';
import { buildHttpApp } from '../../src/server/index.js';
import { silentLogger } from '../../src/telemetry/logger.js';

const ID = 'c0ffee'.padEnd(64, '0');

test('a family from a source formats once while its items are the same objects, again when one is replaced', () => {
  let items: readonly { readonly value: number }[] = [Object.freeze({ value: 1 }), Object.freeze({ value: 2 })];
  let formatted = 0;
  const source: SeriesSource<{ readonly value: number }> = {
    items: () => [...items],
    series: (list, write) => {
      formatted++;
      list.forEach((item, i) => write(Object.freeze({ n: String(i) }), item.value));
    },
  };
  const family = new ComputedMetric('dockhand_test_items', 'items', 'gauge', source);
  const first = family.bytes();
  assert.equal(first.toString(), '# HELP dockhand_test_items items\n# TYPE dockhand_test_items gauge\ndockhand_test_items{n="0"} 1\ndockhand_test_items{n="1"} 2');
  assert.equal(family.bytes(), first, 'the same bytes, not formatted again');
  assert.equal(formatted, 1);

  items = [items[0]!, Object.freeze({ value: 3 })];
  assert.match(family.bytes().toString(), /\{n="1"\} 3$/);
  assert.equal(formatted, 2);
  items = [items[0]!];
  assert.doesNotMatch(family.bytes().toString(), /n="1"/, 'a series whose item left is gone');
  assert.equal(first.toString().endsWith('} 2'), true, 'bytes handed out earlier are never written over');
});

test('a family from a plain collect function is formatted on every call', () => {
  let value = 1;
  const family = new ComputedMetric('dockhand_test_clock', 'clock', 'gauge', (write) => write(Object.freeze({}), value));
  assert.match(family.bytes().toString(), / 1$/);
  value = 2;
  assert.match(family.bytes().toString(), / 2$/);
});

/** A daemon whose one container's inspect body the test changes between refreshes. */
function daemon(body: { status: string }): InventorySource {
  return {
    listContainers: async () => [],
    inspectContainer: async () => ({
      Id: ID, Name: '/web', Image: 'sha256:img', Created: '2026-01-01T00:00:00Z', RestartCount: 0,
      Config: { Image: 'busybox', Labels: {}, Tty: false },
      State: { Status: body.status, Pid: 1, ExitCode: 0, OOMKilled: false, StartedAt: '2026-01-01T00:00:01Z', FinishedAt: '0001-01-01T00:00:00Z' },
    }),
  } as unknown as InventorySource;
}

function sample(inventory: Inventory, usageSeconds: number, time: bigint): MetricRecord {
  return {
    kind: 'metric', time, container: inventory.get(ID)!.meta, source: 'cgroup',
    cpu: { usageSeconds, userSeconds: 1, systemSeconds: 0.5, throttledSeconds: 0, throttledPeriods: 0, periods: 0, periodMicros: 100_000 },
    memory: { usageBytes: 10, workingSetBytes: 8, rssBytes: 5, cacheBytes: 2, failcnt: 0 },
    network: [{ interface: 'eth0', rxBytes: Number(time), rxPackets: 1, rxErrors: 0, rxDropped: 0, txBytes: 1, txPackets: 1, txErrors: 0, txDropped: 0 }],
    blkio: { readBytes: 0, writeBytes: 0, reads: 0, writes: 0 }, pids: 1,
  };
}

function engine(images: number, time: bigint): EngineRecord {
  return {
    kind: 'engine', time, host: 'h',
    info: { version: '20.10', apiVersion: '1.41', os: 'linux', kernel: '6', storageDriver: 'overlay2', cgroupDriver: 'cgroupfs', cgroupVersion: '1' },
    containers: { total: 1, running: 1, paused: 0, stopped: 0 }, images, volumes: 0, networks: 3,
  };
}

test('a value set before a scrape shows in that scrape: samples, inventory changes, engine figures, events', async () => {
  const inventory = new Inventory([], silentLogger());
  const body = { status: 'running' };
  const docker = daemon(body);
  await inventory.refresh(docker, ID);
  const exporter = new PrometheusExporter({ enabled: true }, { inventory });
  const app = buildHttpApp({ readiness: () => ({ ready: true, checks: {} }), status: () => ({}), registries: () => [exporter.registry], top: async () => ({}) });
  const scrape = async () => {
    const text = (await app.inject('/metrics')).body;
    assert.equal(text, await Registry.merge([exporter.registry]).metrics(), 'the served text is what formatting everything afresh gives');
    return text;
  };
  const value = (text: string, series: string) => text.split('\n').find((l) => l.startsWith(series))?.split(' ').at(-1);
  const cpu = `container_cpu_usage_seconds_total{cpu="total",id="/docker/${ID}"`;
  const state = (s: string) => `container_state{id="/docker/${ID}",name="web",image="busybox",state="${s}"}`;

  await exporter.export([sample(inventory, 1.5, 1n)]);
  assert.equal(value(await scrape(), cpu), '1.5');
  assert.equal(value(await scrape(), cpu), '1.5', 'served again from the cache');

  await exporter.export([sample(inventory, 2.5, 2n)]);
  let text = await scrape();
  assert.equal(value(text, cpu), '2.5');
  assert.equal(value(text, 'container_network_receive_bytes_total{'), '2');

  inventory.setHealth(ID, 'unhealthy');
  assert.equal(value(await scrape(), `container_health_status{id="/docker/${ID}",name="web",image="busybox",status="unhealthy"}`), '1');
  inventory.countOom(ID);
  assert.equal(value(await scrape(), 'container_oom_events_total{'), '1');

  body.status = 'paused';
  await inventory.refresh(docker, ID);
  text = await scrape();
  assert.equal(value(text, state('paused')), '1');
  assert.equal(value(text, state('running')), '0');
  assert.equal(value(text, cpu), '2.5', 'a paused container keeps its resource series');

  body.status = 'exited';
  await inventory.refresh(docker, ID);
  text = await scrape();
  assert.equal(value(text, state('exited')), '1');
  assert.equal(value(text, cpu), undefined, 'a stopped container loses its resource series on the next scrape');

  await exporter.export([engine(7, 1n)]);
  assert.equal(value(await scrape(), 'docker_engine_images'), '7');
  await exporter.export([engine(8, 2n)]);
  assert.equal(value(await scrape(), 'docker_engine_images'), '8');

  await exporter.export([{ kind: 'event', id: 'e1', time: 3n, type: 'container', action: 'die', actor: { id: ID, attributes: {} } }]);
  assert.equal(value(await scrape(), 'docker_events_total{type="container",action="die"}'), '1');
  inventory.remove(ID);
  assert.doesNotMatch(await scrape(), /container_state\{/, 'a removed container has no series');
});
