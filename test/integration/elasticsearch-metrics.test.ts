/**
 * Metric documents from a real container through the agent process: a busy loop held to half a CPU
 * (`--cpus 0.5`) and a 64 MiB memory limit. Its documents carry the ECS `container.*` and Metricbeat
 * `docker.*` figures with sane values: the CPU fraction near the quota, the normalised one that over
 * the host's CPUs, memory a share of the limit, `metricset.period` the stats interval, nothing
 * between-samples on the container's first document.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import { TestContainers } from '../helpers/containers.js';
import { AgentProcess } from '../helpers/agent-process.js';
import { EsTestServer } from '../helpers/es-server.js';
import { waitFor } from '../helpers/wait.js';

const METRICS_STREAM = 'metrics-docker.metrics-default';
const INTERVAL_MS = 1000;

test('a real container\'s metric documents: ECS container.* and Metricbeat docker.* with sane values', { timeout: 90_000 }, async (t) => {
  const containers = new TestContainers();
  const server = await EsTestServer.start();
  const agent = await AgentProcess.start({
    env: { ELASTICSEARCH_URL: server.url },
    config: {
      collectors: { stats: { interval_ms: INTERVAL_MS }, engine: { enabled: false }, logs: { enabled: false } },
      exporters: { file: { enabled: false }, prometheus: { enabled: false }, elasticsearch: { metrics: { enabled: true }, batch: { linger_ms: 50 } } },
    },
  });
  t.after(async () => {
    await agent.stop();
    await containers.removeAll();
    await server.close();
  });
  await agent.waitReady();
  const id = await containers.start(['sh', '-c', 'while :; do :; done'], { name: containers.name('es-metrics'), flags: ['--cpus', '0.5', '--memory', '64m'] });
  const mine = () => server.documents(METRICS_STREAM).map((d) => d._source as Record<string, any>).filter((s) => s.container?.id === id)
    .sort((a, b) => (a['@timestamp'] < b['@timestamp'] ? -1 : 1));
  const docs = await waitFor(() => (mine().length >= 6 ? mine() : undefined), { timeoutMs: 60_000, intervalMs: 250, what: `6 metric documents of the container (have ${mine().length})` });

  const first = docs[0]!;
  assert.equal(first.docker.cpu.total, undefined, 'no CPU fraction on the first sample');
  assert.equal(first.metricset.period, undefined);
  const later = docs.slice(1);
  const cpus = os.cpus().length;
  for (const doc of later) {
    assert.equal(doc.event.module, 'docker');
    assert.equal(doc.event.dataset, 'docker.metrics');
    assert.ok(doc.metricset.period >= INTERVAL_MS * 0.5 && doc.metricset.period <= INTERVAL_MS * 3, `metricset.period ${doc.metricset.period} ms, the stats interval`);
    const pct = doc.docker.cpu.total.pct as number;
    assert.ok(pct >= 0 && pct <= 0.7, `docker.cpu.total.pct ${pct}: at most the 0.5 CPU quota (plus jitter)`);
    assert.ok(Math.abs(doc.docker.cpu.total.norm.pct - pct / cpus) < 1e-5, 'norm.pct is total.pct over the host\'s CPUs');
    assert.equal(doc.container.cpu.usage, doc.docker.cpu.total.norm.pct, 'ECS container.cpu.usage = norm.pct');
    assert.equal(doc.docker.memory.limit, 64 * 1024 * 1024);
    assert.ok(doc.docker.memory.usage.pct > 0 && doc.docker.memory.usage.pct < 0.5, `docker.memory.usage.pct ${doc.docker.memory.usage.pct}: a small share of the 64 MiB limit`);
    assert.equal(doc.container.memory.usage, doc.docker.memory.usage.pct);
    assert.equal(doc.docker.memory.usage.total, doc.docker.memory.working_set_bytes);
    assert.ok(doc.container.network.ingress.bytes >= 0 && doc.container.network.egress.bytes >= 0, 'ECS network deltas');
    assert.ok(doc.container.disk.read.bytes >= 0 && doc.container.disk.write.bytes >= 0, 'ECS disk deltas');
    assert.equal(doc.docker.network.inbound.bytes, doc.docker.network.rx_bytes, 'cumulative, as dockhand\'s own');
  }
  const pcts = later.map((d) => d.docker.cpu.total.pct as number).sort((a, b) => a - b);
  const median = pcts[Math.floor(pcts.length / 2)]!;
  // A shared two-core machine may starve the loop a little; a busy loop under a 0.5 quota is well above 0.2.
  assert.ok(median > 0.2, `median docker.cpu.total.pct ${median} (${pcts.join(', ')}): the busy loop under its 0.5 CPU quota`);
  t.diagnostic(`docker.cpu.total.pct over ${pcts.length} samples: ${pcts.join(', ')}; host CPUs ${cpus}`);
  const mapping = server.mapping(METRICS_STREAM)!;
  assert.equal((mapping.properties as any).container.properties.cpu.properties.usage.type, 'scaled_float');
  assert.equal((mapping.properties as any).docker.properties.cpu.properties.total.properties.pct.type, 'scaled_float');
});
