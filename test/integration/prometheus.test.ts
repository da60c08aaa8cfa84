/**
 * The Prometheus exporter on the real daemon, scraped by a real Prometheus: container health,
 * restarts, exit codes and states from the inventory, docker_events_total from events, removed
 * containers' series gone, and `promtool check metrics` clean. First through the events collector
 * and the exporter alone (its registry served by a tiny HTTP server), then through the agent.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { configSchema } from '../../config/schema.js';
import { eventsCollectorFactory } from '../../collectors/events/index.js';
import { PrometheusExporter } from '../../exporters/prometheus/index.js';
import { TEST_IMAGE, TestContainers, docker } from '../helpers/containers.js';
import { CollectorHarness } from '../helpers/events-harness.js';
import { PrometheusServer, promtoolCheckMetrics, type PromSample } from '../helpers/prometheus.js';
import { AgentProcess } from '../helpers/agent-process.js';
import { waitFor } from '../helpers/wait.js';

const valueOf = (result: PromSample[]) => (result.length === 1 ? Number(result[0]!.value[1]) : NaN);

/** Lines of `promtool check metrics` output about the metric families this exporter owns. */
const OWN_FAMILY = /^(docker_events_total|container_(state|health_status|restarts_total|oom_events_total|last_exit_code|start_time_seconds|last_seen))\b/;

describe('exporter with the events collector, scraped by Prometheus', () => {
  const containers = new TestContainers();
  let harness: CollectorHarness;
  let exporter: PrometheusExporter;
  let server: http.Server;
  let prometheus: PrometheusServer;
  const collector = eventsCollectorFactory.create(eventsCollectorFactory.configSchema.parse({}), { dataDir: '/unused', agentVersion: 'test' });

  before(async () => {
    harness = await CollectorHarness.create({ labelAllow: [containers.runLabel], sink: (records) => exporter.export(records) });
    exporter = new PrometheusExporter({ enabled: true }, { inventory: harness.inventory });
    server = http.createServer((_req, res) => {
      exporter.registry.metrics().then((text) => {
        res.writeHead(200, { 'content-type': exporter.registry.contentType });
        res.end(text);
      }, (error: Error) => { res.writeHead(500); res.end(error.message); });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    harness.start(collector);
    await harness.waitConnected(collector);
    prometheus = await PrometheusServer.start({ targets: [`127.0.0.1:${(server.address() as AddressInfo).port}`] });
  });

  after(async () => {
    await prometheus?.stop();
    await harness?.close();
    server?.close();
    await containers.removeAll();
  });

  test('health, restarts, exit code, state and events reach Prometheus; removed containers disappear', async () => {
    const sick = containers.name('sick');
    const flappy = containers.name('flappy');
    const doomed = containers.name('doomed');
    await containers.start(['sleep', '120'], { name: sick, flags: ['--health-cmd', 'false', '--health-interval', '1s', '--health-retries', '1'] });
    const flappyId = await containers.start(['sh', '-c', 'sleep 0.3; exit 3'], { name: flappy, flags: ['--restart', 'always'] });
    await containers.start(['sleep', '120'], { name: doomed });

    const up = await prometheus.waitForQuery('up{job="dockhand"}', (r) => valueOf(r) === 1);
    assert.equal(valueOf(up), 1);
    assert.equal(valueOf(await prometheus.waitForQuery(`container_health_status{status="unhealthy",name="${sick}"}`, (r) => valueOf(r) === 1)), 1);
    assert.equal(valueOf(await prometheus.query(`container_health_status{status="healthy",name="${sick}"}`)), 0);
    const restarts = await prometheus.waitForQuery(`container_restarts_total{name="${flappy}"}`, (r) => valueOf(r) >= 2);
    assert.ok(valueOf(restarts) >= 2);
    assert.equal(restarts[0]!.metric.image, TEST_IMAGE);
    assert.equal(restarts[0]!.metric[`container_label_${containers.runLabel.replace(/\./g, '_')}`], containers.run);
    assert.equal(valueOf(await prometheus.waitForQuery(`container_last_exit_code{name="${flappy}"}`, (r) => valueOf(r) === 3)), 3);
    assert.equal(valueOf(await prometheus.waitForQuery(`container_state{state="running",name="${doomed}"}`, (r) => valueOf(r) === 1)), 1);
    const startTime = valueOf(await prometheus.waitForQuery(`container_start_time_seconds{name="${doomed}"}`));
    assert.ok(Math.abs(startTime - Date.now() / 1000) < 120, `start time ${startTime} is recent`);
    const starts = await prometheus.waitForQuery('docker_events_total{type="container",action="start"}', (r) => valueOf(r) >= 4);
    assert.ok(valueOf(starts) >= 4, 'our three starts plus at least one restart');

    // Stopped, the restart count holds still and matches the daemon's own RestartCount exactly.
    await docker('stop', '-t', '0', flappyId);
    const daemonCount = Number(await docker('inspect', '-f', '{{.RestartCount}}', flappyId));
    await prometheus.waitForQuery(`container_restarts_total{name="${flappy}"}`, (r) => valueOf(r) === daemonCount);

    await docker('rm', '-f', doomed);
    await waitFor(async () => !(await exporter.registry.metrics()).includes(`name="${doomed}"`), { timeoutMs: 15_000, what: 'removed container gone from the exposition' });
    // Prometheus marks the series stale at the first scrape without it.
    await prometheus.waitForQuery(`container_state{name="${doomed}"}`, (r) => r.length === 0);
  });

  test('promtool check metrics finds no problem in the exposition', async () => {
    const text = await exporter.registry.metrics();
    assert.match(text, /^container_state\{/m, 'there are series to check');
    const result = await promtoolCheckMetrics(text);
    assert.equal(result.code, 0, result.output);
    assert.equal(result.output.trim(), '');
  });
});

describe('through the agent: /metrics, a real Prometheus, and the file sink', () => {
  const containers = new TestContainers();
  let agent: AgentProcess;
  let prometheus: PrometheusServer;

  before(async () => {
    agent = await AgentProcess.start({ config: { labels: { allow: [containers.runLabel] } } });
    await agent.waitReady();
    prometheus = await PrometheusServer.start({ targets: [agent.url.replace(/^http:\/\//, '')] });
  });

  after(async () => {
    await prometheus?.stop();
    await agent?.dispose();
    await containers.removeAll();
  });

  test('start/stop/die/health events appear in the file sink and in docker_events_total, with name and image', async () => {
    const name = containers.name('e2e');
    const id = await containers.start(['sleep', '120'], { name, flags: ['--health-cmd', 'false', '--health-interval', '1s', '--health-retries', '1'] });
    assert.equal(valueOf(await prometheus.waitForQuery(`container_health_status{status="unhealthy",name="${name}"}`, (r) => valueOf(r) === 1)), 1);
    await docker('stop', '-t', '0', id);
    await prometheus.waitForQuery(`container_state{state="exited",name="${name}"}`, (r) => valueOf(r) === 1);
    for (const action of ['start', 'die', 'stop', 'health_status: unhealthy']) {
      await prometheus.waitForQuery(`docker_events_total{type="container",action="${action}"}`, (r) => valueOf(r) >= 1);
    }

    const recordsDir = path.join(agent.dataDir, 'records');
    const ourEvents = async () => {
      const lines: { id: string; kind: string; action: string; actor: { id: string }; container?: { name: string; image: string } }[] = [];
      for (const file of (await readdir(recordsDir)).filter((f) => f.endsWith('.ndjson')).sort()) {
        for (const line of (await readFile(path.join(recordsDir, file), 'utf8')).split('\n')) {
          if (!line) continue;
          const record = JSON.parse(line);
          if (record.kind === 'event' && record.actor?.id === id) lines.push(record);
        }
      }
      return lines;
    };
    const events = await waitFor(async () => {
      const found = await ourEvents();
      return found.some((e) => e.action === 'stop') ? found : undefined;
    }, { timeoutMs: 15_000, what: 'events in the file sink' });
    const actions = events.map((e) => e.action);
    for (const action of ['create', 'start', 'health_status: unhealthy', 'die', 'stop']) {
      assert.equal(actions.filter((a) => a === action).length, 1, `${action} once in the file: ${actions}`);
    }
    for (const event of events) {
      assert.equal(event.container?.name, name);
      assert.equal(event.container?.image, TEST_IMAGE);
    }
    assert.equal(new Set(events.map((e) => e.id)).size, events.length, 'no duplicate ids');
  });

  test('promtool check metrics finds no problem in the whole agent /metrics', async () => {
    const text = await agent.metrics();
    assert.match(text, /^docker_events_total\{/m);
    assert.match(text, /^container_state\{/m);
    assert.match(text, /^dockhand_events_received_total\{/m);
    const result = await promtoolCheckMetrics(text);
    assert.equal(result.code, 0, `promtool check metrics on /metrics:\n${result.output}`);
    assert.equal(result.output.trim(), '');
  });
});
