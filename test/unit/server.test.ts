import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { Registry, Gauge } from 'prom-client';
import { ComputedMetric, ExpositionRegistry } from '../../exporters/prometheus/computed-metric.js';
import { buildHttpApp, type AgentView } from '../../src/server/index.js';

function agentView(checks: AgentView['readiness'] extends () => infer R ? R : never): AgentView {
  const own = new Registry();
  new Gauge({ name: 'dockhand_test_gauge', help: 'own', registers: [own] }).set(1);
  const exporter = new Registry();
  new Gauge({ name: 'container_test_gauge', help: 'exporter', registers: [exporter] }).set(2);
  return {
    readiness: () => checks,
    status: () => ({ version: 'x', containers_tracked: 3 }),
    registries: () => [own, exporter],
    top: async (ref) => {
      if (ref !== 'web') throw Object.assign(new Error(`no tracked container "${ref}"`), { statusCode: 404 });
      return { titles: ['PID', 'CMD'], processes: [['1', 'sleep']] };
    },
  };
}

test('/healthz answers while the process lives', async () => {
  const app = buildHttpApp(agentView({ ready: false, checks: {} }));
  const response = await app.inject({ method: 'GET', url: '/healthz' });
  assert.equal(response.statusCode, 200);
});

test('/readyz is 200 when every check is healthy', async () => {
  const app = buildHttpApp(agentView({ ready: true, checks: { docker: { healthy: true } } }));
  const response = await app.inject({ method: 'GET', url: '/readyz' });
  assert.equal(response.statusCode, 200);
  assert.deepEqual(response.json(), { status: 'ready' });
});

test('/readyz is 503 and says which part is not ready and why', async () => {
  const app = buildHttpApp(agentView({ ready: false, checks: { docker: { healthy: false, reason: 'connection refused' }, 'exporter:file': { healthy: true } } }));
  const response = await app.inject({ method: 'GET', url: '/readyz' });
  assert.equal(response.statusCode, 503);
  assert.deepEqual(response.json(), { status: 'not ready', not_ready: { docker: 'connection refused' } });
});

test('/metrics serves the agent registry and the exporter registries together', async () => {
  const app = buildHttpApp(agentView({ ready: true, checks: {} }));
  const response = await app.inject({ method: 'GET', url: '/metrics' });
  assert.equal(response.statusCode, 200);
  assert.match(response.headers['content-type'] as string, /text\/plain/);
  assert.match(response.body, /^dockhand_test_gauge 1$/m);
  assert.match(response.body, /^container_test_gauge 2$/m);
});

test('/status is JSON from the agent', async () => {
  const app = buildHttpApp(agentView({ ready: true, checks: {} }));
  const response = await app.inject({ method: 'GET', url: '/status' });
  assert.deepEqual(response.json(), { version: 'x', containers_tracked: 3 });
});

test('/status?top=<container> is refused by default (403, with the key that enables it), and docker top is never run', async () => {
  let topCalls = 0;
  const app = buildHttpApp({ ...agentView({ ready: true, checks: {} }), top: async () => { topCalls++; return {}; } });
  const refused = await app.inject({ method: 'GET', url: '/status?top=web' });
  assert.equal(refused.statusCode, 403);
  assert.match(refused.json().error, /server\.status_top/);
  assert.equal(topCalls, 0);
  const status = await app.inject({ method: 'GET', url: '/status' });
  assert.equal(status.statusCode, 200, 'plain /status stays served');
});

test('/status?top=<container>, enabled, answers the process list, or the error with its status code', async () => {
  const app = buildHttpApp(agentView({ ready: true, checks: {} }), { statusTop: true });
  const ok = await app.inject({ method: 'GET', url: '/status?top=web' });
  assert.equal(ok.statusCode, 200);
  assert.deepEqual(ok.json(), { top: { titles: ['PID', 'CMD'], processes: [['1', 'sleep']] } });
  const missing = await app.inject({ method: 'GET', url: '/status?top=nope' });
  assert.equal(missing.statusCode, 404);
  assert.match(missing.json().error, /no tracked container/);
});

test('/metrics over a real connection: the pieces of every registry as one body of the announced length; HEAD has no body', async () => {
  const exporter = new ExpositionRegistry();
  new ComputedMetric('container_test_family', 'exporter family', 'gauge', (write) => write(Object.freeze({ name: 'wé☕' }), 2)).register(exporter);
  const own = new Registry();
  new Gauge({ name: 'dockhand_test_gauge', help: 'own', registers: [own] }).set(1);
  const app = buildHttpApp({ ...agentView({ ready: true, checks: {} }), registries: () => [own, exporter] });
  await app.listen({ host: '127.0.0.1', port: 0 });
  try {
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/metrics`;
    const response = await fetch(url);
    const body = Buffer.from(await response.arrayBuffer());
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type')!, /^text\/plain; version=0\.0\.4/);
    assert.equal(Number(response.headers.get('content-length')), body.length);
    assert.equal(body.toString('utf8'), `${await own.metrics()}${await exporter.metrics()}`);
    assert.match(body.toString('utf8'), /^container_test_family\{name="wé☕"\} 2$/m);
    const head = await fetch(url, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), '');
  } finally {
    await app.close();
  }
});

test('the server loads no schema compiler (ajv, fast-json-stringify): its routes have no schemas; errors are still JSON', async () => {
  const app = buildHttpApp(agentView({ ready: true, checks: {} }));
  await app.ready();
  const missing = await app.inject({ method: 'GET', url: '/nope' });
  assert.equal(missing.statusCode, 404);
  assert.equal(missing.json().statusCode, 404);
  // fast-json-stringify/lib/serializer.js is the runtime of fastify's prebuilt error serializer, not the compiler.
  const loaded = Object.keys(createRequire(import.meta.url).cache).filter((file) => /[\\/]node_modules[\\/](ajv[\\/]|fast-json-stringify[\\/]index\.js|@fastify[\\/]ajv-compiler)/.test(file));
  assert.deepEqual(loaded, []);
});
