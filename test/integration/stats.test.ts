/**
 * Container resource metrics on the real daemon, end to end: ten labelled test containers (a CPU
 * burner, a 60 MB allocator, a network sender and receiver, a disk writer, five idle ones), the
 * built agent sampling them every second from the cgroup files, and a real Prometheus scraping it.
 * Then the two sources side by side on the same containers over the same interval, the agent on
 * the API source alone, removal, `promtool check metrics`, engine metrics and `docker top`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import Docker from 'dockerode';
import type { IncomingMessage } from 'node:http';
import { TestContainers, docker } from '../helpers/containers.js';
import { AgentProcess } from '../helpers/agent-process.js';
import { PrometheusServer, promtoolCheckMetrics, type PromSample } from '../helpers/prometheus.js';
import { waitFor } from '../helpers/wait.js';
import { JsonLines, sampleFromApiStats, specFromInspect, type ApiStatsBody } from '../../collectors/stats/api-stats.js';
import { detectCgroupLayout, resolveContainerCgroup, type CgroupLayout } from '../../collectors/stats/cgroup-paths.js';
import { readCgroupV1 } from '../../collectors/stats/cgroup-v1.js';
import { readCgroupV2 } from '../../collectors/stats/cgroup-v2.js';
import { containerTop, TopError } from '../../collectors/stats/index.js';
import { DockerConnection } from '../../src/docker/connection.js';
import { resolveEndpoint } from '../../src/docker/endpoint.js';
import { parseRfc3339Nano } from '../../src/records.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { SelfMetrics } from '../../src/telemetry/metrics.js';

const INTERVAL_MS = 1000;
const valueOf = (result: PromSample[]) => (result.length === 1 ? Number(result[0]!.value[1]) : NaN);

/** Lines of promtool's output about the families this work owns. */
const OWN_FAMILY = /^(container_(cpu|memory|network|fs|spec|processes)|docker_(engine|system_df))/;

/**
 * On cgroup v1 with recent kernels, blkio only accounts I/O on devices that carry a throttle rule
 * (observed here: kernel 6.x, blkio.throttle.* stays at 0 without one). A rule far above any real
 * rate makes the writer's bytes count without slowing it. The whole disk under Docker's root is used.
 */
function dockerDiskDevice(root: string): string | undefined {
  const dev = statSync(root).dev;
  const major = Math.floor(dev / 256) & 0xfff;
  const minor = (dev & 0xff) | ((Math.floor(dev / 4096) & 0xfff00));
  let sys = `/sys/dev/block/${major}:${minor}`;
  if (!existsSync(sys)) return undefined;
  if (existsSync(path.join(sys, 'partition'))) sys = path.join(sys, '..');
  const name = /DEVNAME=(\S+)/.exec(readFileSync(path.join(sys, 'uevent'), 'utf8'))?.[1];
  return name && existsSync(`/dev/${name}`) ? `/dev/${name}` : undefined;
}

describe('stats: ten containers, the agent, a real Prometheus', () => {
  const containers = new TestContainers();
  const names = {
    burner: containers.name('burner'),
    allocator: containers.name('alloc'),
    receiver: containers.name('recv'),
    sender: containers.name('send'),
    writer: containers.name('disk'),
    idle: [1, 2, 3, 4, 5].map((i) => containers.name(`idle${i}`)),
  };
  const ids: Record<string, string> = {};
  let agent: AgentProcess;
  let prometheus: PrometheusServer;

  before(async () => {
    const dockerRoot = (await docker('info', '--format', '{{.DockerRootDir}}')) || '/var/lib/docker';
    const disk = dockerDiskDevice(dockerRoot);
    ids.burner = await containers.start(['sh', '-c', 'while :; do :; done'], { name: names.burner });
    // 60 MB in tmpfs is shmem: charged to the container and never inactive_file, so all of it is working set.
    ids.allocator = await containers.start(['sh', '-c', 'head -c 60m /dev/zero > /dev/shm/fill && sleep 3600'], { name: names.allocator, flags: ['--shm-size', '128m'] });
    ids.receiver = await containers.start(['sh', '-c', 'while :; do nc -l -p 5000 > /dev/null; done'], { name: names.receiver });
    const receiverIp = await docker('inspect', '-f', '{{.NetworkSettings.IPAddress}}', ids.receiver);
    ids.sender = await containers.start(['sh', '-c', `while :; do head -c 1m /dev/zero | nc -w 1 ${receiverIp} 5000; sleep 0.2; done`], { name: names.sender });
    ids.writer = await containers.start(['sh', '-c', 'while :; do dd if=/dev/zero of=/tmp/f bs=1M count=16 oflag=direct 2>/dev/null; sleep 0.3; done'], {
      name: names.writer,
      flags: disk ? ['--device-write-bps', `${disk}:100gb`, '--device-read-bps', `${disk}:100gb`] : [],
    });
    for (const name of names.idle) ids[name] = await containers.start(['sleep', '3600'], { name, flags: ['--memory', '64m', '--cpus', '0.5'] });

    agent = await AgentProcess.start({
      config: {
        labels: { allow: [containers.runLabel] },
        collectors: { stats: { interval_ms: INTERVAL_MS }, engine: { schedule: '*/2 * * * * *' } },
      },
    });
    await agent.waitReady();
    prometheus = await PrometheusServer.start({ targets: [new URL(agent.url).host] });
  });

  after(async () => {
    await prometheus?.stop();
    await agent?.dispose();
    await containers.removeAll();
  });

  test('Prometheus sees the burner above half a CPU', async () => {
    const expr = `rate(container_cpu_usage_seconds_total{name="${names.burner}"}[5s])`;
    // A full CPU is there for the taking only when the machine is not saturated by other test files: allow time for a calm stretch.
    const result = await prometheus.waitForQuery(expr, (r) => valueOf(r) > 0.5, 180_000);
    assert.ok(valueOf(result) > 0.5, `${expr} = ${valueOf(result)}`);
    assert.equal(result[0]!.metric.cpu, 'total');
    assert.equal(result[0]!.metric.id, `/docker/${ids.burner}`);
    assert.equal(result[0]!.metric.image, 'dockhand-test/busybox:latest');
    assert.equal(result[0]!.metric[`container_label_${containers.runLabel.replace(/\./g, '_')}`], containers.run);
  });

  test('Prometheus sees the allocator\'s working set above 50 MB', async () => {
    const expr = `container_memory_working_set_bytes{name="${names.allocator}"}`;
    const result = await prometheus.waitForQuery(expr, (r) => valueOf(r) > 50e6, 60_000);
    assert.ok(valueOf(result) > 50e6);
    const usage = valueOf(await prometheus.query(`container_memory_usage_bytes{name="${names.allocator}"}`));
    assert.ok(usage >= valueOf(result), 'usage includes the working set');
  });

  test('network counters rise for the sender (transmit) and the receiver (receive)', async () => {
    for (const [name, metric] of [[names.sender, 'container_network_transmit_bytes_total'], [names.receiver, 'container_network_receive_bytes_total']] as const) {
      const expr = `rate(${metric}{name="${name}",interface="eth0"}[5s])`;
      const result = await prometheus.waitForQuery(expr, (r) => valueOf(r) > 10_000, 60_000);
      assert.ok(valueOf(result) > 10_000, `${expr} = ${valueOf(result)}`);
    }
    const packets = await prometheus.waitForQuery(`rate(container_network_transmit_packets_total{name="${names.sender}"}[5s])`, (r) => valueOf(r) > 0, 30_000);
    assert.ok(valueOf(packets) > 0);
  });

  test('block I/O counters rise for the disk writer', async () => {
    // Per device since cAdvisor parity: summed, whatever devices the writer touched.
    const expr = `sum(rate(container_fs_writes_bytes_total{name="${names.writer}"}[5s]))`;
    const result = await prometheus.waitForQuery(expr, (r) => valueOf(r) > 1e6, 60_000);
    assert.ok(valueOf(result) > 1e6, `${expr} = ${valueOf(result)}`);
    const writes = await prometheus.waitForQuery(`sum(rate(container_fs_writes_total{name="${names.writer}"}[5s]))`, (r) => valueOf(r) > 0, 30_000);
    const devices = await prometheus.query(`container_fs_writes_bytes_total{name="${names.writer}"}`);
    assert.ok(devices.length >= 1 && devices.every((s) => /^\/dev\/\w+$/.test(s.metric.device ?? '')), `device labels: ${devices.map((s) => s.metric.device).join(', ')}`);
    assert.ok(valueOf(writes) > 0);
  });

  test('limits and quotas of the idle containers are exposed; all ten containers are sampled from the cgroup files', async () => {
    const limit = await prometheus.waitForQuery(`container_spec_memory_limit_bytes{name="${names.idle[0]}"}`, (r) => r.length === 1, 30_000);
    assert.equal(valueOf(limit), 64 * 1024 * 1024);
    assert.equal(valueOf(await prometheus.query(`container_spec_cpu_quota{name="${names.idle[0]}"}`)), 50_000);
    assert.equal(valueOf(await prometheus.query(`container_spec_cpu_period{name="${names.idle[0]}"}`)), 100_000);
    assert.ok(valueOf(await prometheus.query(`container_processes{name="${names.idle[0]}"}`)) >= 1);
    const sampled = await prometheus.waitForQuery(`count(container_memory_usage_bytes{container_label_${containers.runLabel.replace(/\./g, '_')}="${containers.run}"})`, (r) => valueOf(r) === 10, 30_000);
    assert.equal(valueOf(sampled), 10);
    const status = (await agent.get('/status')).json() as { collectors: { stats: { containers: Record<string, string> } } };
    for (const name of [names.burner, names.allocator, names.sender, names.receiver, names.writer, ...names.idle]) {
      assert.equal(status.collectors.stats.containers[name], 'cgroup', name);
    }
  });

  test('promtool check metrics finds nothing wrong with the container and engine families', async () => {
    await waitFor(async () => (await agent.metrics()).includes('docker_engine_info{'), { timeoutMs: 30_000, what: 'engine metrics on /metrics' });
    const exposition = await agent.metrics();
    const result = await promtoolCheckMetrics(exposition);
    const ours = result.output.split('\n').filter((l) => OWN_FAMILY.test(l));
    assert.deepEqual(ours, [], result.output);
    assert.notEqual(result.code, 1, `promtool could not parse /metrics: ${result.output}`);
  });

  test('engine metrics: docker_engine_info with the daemon\'s identity, system df sizes, object counts', async () => {
    const info = await prometheus.waitForQuery('docker_engine_info', (r) => r.length === 1, 30_000);
    const version = await docker('version', '--format', '{{.Server.Version}}|{{.Server.APIVersion}}');
    assert.equal(`${info[0]!.metric.version}|${info[0]!.metric.api_version}`, version);
    for (const label of ['os', 'kernel', 'storage_driver', 'cgroup_version']) assert.ok(info[0]!.metric[label], label);
    assert.equal(info[0]!.metric.cgroup_version, await docker('info', '--format', '{{.CgroupVersion}}'));
    const images = await prometheus.waitForQuery('docker_system_df_size_bytes{type="images"}', (r) => valueOf(r) > 0, 30_000);
    assert.ok(valueOf(images) > 0);
    assert.ok(valueOf(await prometheus.query('docker_engine_images')) >= 1);
    assert.ok(valueOf(await prometheus.query('docker_engine_networks')) >= 3, 'bridge, host, none at least');
    assert.ok(valueOf(await prometheus.query('docker_engine_containers{state="running"}')) >= 10);
    assert.ok(valueOf(await prometheus.query('docker_system_df_objects{type="containers"}')) >= 10);
  });

  test('a removed container\'s series are gone from /metrics within one interval', async () => {
    const victim = names.idle[4]!;
    await waitFor(async () => (await agent.metrics()).includes(`name="${victim}"`), { timeoutMs: 30_000, what: 'victim on /metrics' });
    await docker('rm', '-f', ids[victim]!);
    // Counted from the removal's end (when `docker rm` returns): on a loaded machine the CLI alone takes hundreds of ms.
    const removedAt = Date.now();
    await waitFor(async () => !(await agent.metrics()).split('\n').some((l) => l.startsWith('container_memory_usage_bytes{') && l.includes(`name="${victim}"`)), {
      timeoutMs: INTERVAL_MS, intervalMs: 20, what: `${victim}'s series gone within ${INTERVAL_MS} ms`,
    });
    const elapsed = Date.now() - removedAt;
    const text = await agent.metrics();
    assert.ok(!text.split('\n').some((l) => /^container_(cpu|memory|network|fs|spec|processes)/.test(l) && l.includes(`name="${victim}"`)), 'no resource series left');
    assert.ok(elapsed <= INTERVAL_MS, `gone after ${elapsed} ms`);
  });
});

describe('stats: cgroup and API sources agree on the same container over the same interval', () => {
  const containers = new TestContainers();
  const client = new Docker({ socketPath: '/var/run/docker.sock' });
  let layout: CgroupLayout;

  before(async () => {
    const detected = await detectCgroupLayout('/sys/fs/cgroup');
    assert.ok(detected, 'this test needs the host cgroup tree');
    layout = detected;
  });
  after(async () => containers.removeAll());

  /**
   * Streams API samples for `seconds` while reading the cgroup files every 20 ms. Each API sample
   * carries the time the daemon read it (`read`); the cgroup value at that instant is interpolated
   * between the two file reads around it, so both sources are compared at the same moments.
   */
  async function sideBySide(id: string, seconds: number) {
    const inspect = await client.getContainer(id).inspect();
    const spec = specFromInspect(inspect.HostConfig);
    const cgroupPath = await resolveContainerCgroup(layout, id, inspect.State.Pid, '/proc');
    assert.ok(cgroupPath, 'cgroup visible');
    const read = () => (layout.version === 1 ? readCgroupV1(layout, cgroupPath) : readCgroupV2(layout, cgroupPath));
    const files: { t: number; cpu: number; memory: number }[] = [];
    const api: { t: number; cpu: number; memory: number }[] = [];
    const response = (await (client.getContainer(id) as unknown as { stats(o: object): Promise<IncomingMessage> }).stats({ stream: true }));
    const lines = new JsonLines();
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => lines.push(chunk, (doc) => {
      const body = doc as ApiStatsBody;
      const sample = sampleFromApiStats(body, spec);
      api.push({ t: Number(parseRfc3339Nano(body.read!)! / 1000n) / 1e6, cpu: sample.cpu.usageSeconds, memory: sample.memory.usageBytes });
    }));
    const until = Date.now() + seconds * 1000;
    while (Date.now() < until) {
      const s = read();
      files.push({ t: Date.now() / 1000, cpu: s.cpu.usageSeconds, memory: s.memory.usageBytes });
      await new Promise((r) => setTimeout(r, 20));
    }
    response.destroy();
    const at = (t: number) => {
      const i = files.findIndex((f) => f.t >= t);
      if (i <= 0) return undefined;
      const a = files[i - 1]!;
      const b = files[i]!;
      const k = (t - a.t) / (b.t - a.t || 1);
      return { cpu: a.cpu + k * (b.cpu - a.cpu), memory: k < 0.5 ? a.memory : b.memory };
    };
    const paired = api.map((s) => ({ api: s, files: at(s.t) })).filter((p) => p.files !== undefined) as { api: typeof api[number]; files: { cpu: number; memory: number } }[];
    assert.ok(paired.length >= 3, `need API samples inside the window, got ${paired.length}`);
    return paired;
  }

  test('CPU seconds used over the interval and memory usage within 5%', async (t) => {
    const burner = await containers.start(['sh', '-c', 'while :; do :; done'], { name: containers.name('agree-cpu') });
    const allocator = await containers.start(['sh', '-c', 'head -c 60m /dev/zero > /dev/shm/fill && sleep 3600'], { name: containers.name('agree-mem'), flags: ['--shm-size', '128m'] });
    await waitFor(async () => Number(await docker('inspect', '-f', '{{.State.Pid}}', allocator)) > 0, { timeoutMs: 10_000 });

    const cpu = await sideBySide(burner, 6);
    const first = cpu[0]!;
    const last = cpu[cpu.length - 1]!;
    const apiDelta = last.api.cpu - first.api.cpu;
    const filesDelta = last.files.cpu - first.files.cpu;
    assert.ok(apiDelta > 1, `the burner used ${apiDelta} s of CPU`);
    assert.ok(Math.abs(apiDelta - filesDelta) / filesDelta < 0.05, `CPU over the same interval: API ${apiDelta.toFixed(3)} s, cgroup ${filesDelta.toFixed(3)} s`);
    t.diagnostic(`CPU over ${(last.api.t - first.api.t).toFixed(2)} s: API ${apiDelta.toFixed(4)} s, cgroup ${filesDelta.toFixed(4)} s (${((100 * (apiDelta - filesDelta)) / filesDelta).toFixed(2)}%)`);

    // The fill takes a moment; wait until it is all there, then compare.
    const allocatorPath = (await resolveContainerCgroup(layout, allocator, Number(await docker('inspect', '-f', '{{.State.Pid}}', allocator)), '/proc'))!;
    await waitFor(() => (layout.version === 1 ? readCgroupV1(layout, allocatorPath) : readCgroupV2(layout, allocatorPath)).memory.usageBytes > 60e6, { timeoutMs: 20_000, what: 'allocator filled' });
    const memory = await sideBySide(allocator, 5);
    for (const { api, files } of memory) {
      assert.ok(Math.abs(api.memory - files.memory) / files.memory < 0.05, `memory usage: API ${api.memory}, cgroup ${files.memory}`);
    }
    const worst = Math.max(...memory.map(({ api, files }) => Math.abs(api.memory - files.memory) / files.memory));
    t.diagnostic(`memory usage over ${memory.length} samples: largest difference ${(100 * worst).toFixed(3)}%`);
  });
});

describe('stats: the agent on the API source alone', () => {
  const containers = new TestContainers();
  let agent: AgentProcess;

  after(async () => {
    await agent?.dispose();
    await containers.removeAll();
  });

  for (const mode of ['stream', 'oneshot'] as const) {
    test(`api.mode ${mode}: CPU counter rises, limits from inspect, status says api`, async () => {
      const name = containers.name(`api-${mode}`);
      const id = await containers.start(['sh', '-c', 'while :; do :; done'], { name, flags: ['--memory', '96m', '--cpus', '1.5'] });
      await agent?.dispose();
      agent = await AgentProcess.start({ config: { collectors: { stats: { interval_ms: INTERVAL_MS, source: 'api', api: { mode } }, engine: { enabled: false } } } });
      await agent.waitReady();
      const valueIn = (text: string, metric: string) => {
        const line = text.split('\n').find((l) => l.startsWith(`${metric}{`) && l.includes(`name="${name}"`));
        return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : undefined;
      };
      const first = await waitFor(async () => valueIn(await agent.metrics(), 'container_cpu_usage_seconds_total'), { timeoutMs: 30_000, what: 'first API sample' });
      const later = await waitFor(async () => {
        const v = valueIn(await agent.metrics(), 'container_cpu_usage_seconds_total');
        return v !== undefined && v > first + 0.5 ? v : undefined;
      }, { timeoutMs: 30_000, what: 'CPU counter rising' });
      assert.ok(later > first);
      const text = await agent.metrics();
      assert.equal(valueIn(text, 'container_spec_memory_limit_bytes'), 96 * 1024 * 1024);
      assert.equal(valueIn(text, 'container_spec_cpu_quota'), 150_000);
      assert.ok(text.includes(`id="/docker/${id}"`), 'id from the daemon\'s cgroup driver');
      const status = (await agent.get('/status')).json() as { collectors: { stats: { containers: Record<string, string>; api: { mode: string } } } };
      assert.equal(status.collectors.stats.containers[name], 'api');
      assert.equal(status.collectors.stats.api.mode, mode);
    });
  }
});

describe('docker top on demand', () => {
  const containers = new TestContainers();
  const connection = new DockerConnection(resolveEndpoint({}), { reconnectInitialMs: 100, reconnectMaxMs: 1000, requestTimeoutMs: 10_000 }, silentLogger(), new SelfMetrics({ defaultMetrics: false }));

  before(async () => {
    connection.start();
    await connection.waitUntilUp();
  });
  after(async () => {
    await connection.stop();
    await containers.removeAll();
  });

  test('lists the processes of a running container; refuses stopped, unknown and malformed ids', async () => {
    const id = await containers.start(['sleep', '3600'], { name: containers.name('top') });
    const top = await containers.start(['sh', '-c', 'sleep 3601 & sleep 3602'], { name: containers.name('top2') });
    const result = await containerTop(connection, id);
    assert.ok(result.titles.includes('PID') && result.titles.includes('CMD'), result.titles.join(','));
    assert.ok(result.processes.some((p) => p.join(' ').includes('sleep 3600')));
    const two = await waitFor(async () => {
      const r = await containerTop(connection, top, { psArgs: '-o pid,comm,args' });
      return r.processes.length >= 2 ? r : undefined;
    }, { timeoutMs: 10_000 });
    assert.deepEqual(two.titles, ['PID', 'COMMAND', 'COMMAND']);

    const stopped = await containers.create(['true'], { name: containers.name('top-stopped') });
    await assert.rejects(containerTop(connection, stopped), (e: TopError) => e.statusCode === 409);
    await assert.rejects(containerTop(connection, 'no-such-container-' + containers.run), (e: TopError) => e.statusCode === 404);
    await assert.rejects(containerTop(connection, '../../info'), (e: TopError) => e.statusCode === 400);
    await assert.rejects(containerTop(connection, id, { psArgs: '; rm -rf /' }), (e: TopError) => e.statusCode === 400);
  });
});
