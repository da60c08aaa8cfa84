/**
 * Containers that ran and were removed before the agent could inspect them (`docker run --rm` of a
 * short job, on a slow daemon) are counted as missed — once each — instead of vanishing unnoticed.
 * The agent reads through a proxy that holds these containers' inspects back for 2 s once they exist,
 * so the inventory knows them only as created when they run, exit and are removed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { TestContainers, docker } from '../helpers/containers.js';
import type { AgentProcess } from '../helpers/agent-process.js';
import { startDockerProxy, type DockerProxy } from '../helpers/docker-proxy.js';
import { waitFor } from '../helpers/wait.js';
import { metricValue, startAgent } from './logs-sink.js';

const containers = new TestContainers();
let proxy: DockerProxy;
let agent: AgentProcess;

before(async () => {
  proxy = await startDockerProxy();
  agent = await startAgent(containers, { config: { docker: { host: proxy.host } } });
  await agent.waitReady(60_000);
});

after(async () => {
  await agent?.dispose();
  await containers.removeAll();
  await proxy?.close();
});

test('containers removed before an inspect saw them running are counted as missed, each once', async () => {
  const missed = async () => metricValue(await agent.metrics(), 'dockhand_logs_containers_missed_total');
  const before = await missed();
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) ids.push(await containers.create(['sh', '-c', 'echo gone before anyone looked'], { flags: ['--rm'] }));
  // Only these containers' inspects are slow: other tests' containers on the shared daemon go on as usual.
  proxy.delay = (request) => (request.method === 'GET' && ids.some((id) => request.url.includes(`/containers/${id}/json`)) ? 2000 : 0);
  await docker('start', ...ids);
  await waitFor(async () => (await docker('ps', '-aq', '--no-trunc', ...ids.flatMap((id) => ['--filter', `id=${id}`]))) === '', { timeoutMs: 30_000, what: 'the three containers removed' });
  await waitFor(async () => (await missed()) - before >= ids.length, { timeoutMs: 30_000, what: `${ids.length} containers counted as missed` });
  proxy.delay = () => 0;
  // The counter moves in the agent at once; its log line comes through the agent's stdout pipe, a little later.
  const loggedIds = () => agent.logs.filter((l) => l.msg === 'container removed before its logs could be read').map((l) => String(l.id));
  await waitFor(async () => ids.every((id) => loggedIds().includes(id)), { timeoutMs: 10_000, what: 'each missed container logged' });
  const logged = loggedIds();
  for (const id of ids) assert.equal(logged.filter((x) => x === id).length, 1, `${id.slice(0, 12)} logged as missed once (logged: ${logged.map((x) => x.slice(0, 12)).join(', ')})`);
  assert.equal((await missed()) - before, ids.length, 'each counted once');
});
