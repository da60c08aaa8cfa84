import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { DockerClient } from '../../src/docker/client.js';
import { DockerConnection } from '../../src/docker/connection.js';
import { ReadOnlyViolation } from '../../src/errors.js';
import { SelfMetrics } from '../../src/telemetry/metrics.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { startApiRecorder, type ApiRecorder } from '../helpers/api-recorder.js';

let recorder: ApiRecorder;
before(async () => {
  recorder = await startApiRecorder();
});
after(async () => {
  await recorder.close();
});
beforeEach(() => {
  recorder.requests.length = 0;
});

/** What reached the recorder, as "METHOD url". */
function sent(): string[] {
  return recorder.requests.map((r) => `${r.method} ${r.url}`);
}

/** Requests that would change the daemon, as a client would send them. */
const MUTATIONS: [string, string][] = [
  ['POST', '/containers/create'],
  ['DELETE', '/containers/abc123'],
  ['POST', '/containers/prune'],
  ['POST', '/containers/abc123/start'],
  ['POST', '/containers/abc123/stop'],
  ['POST', '/containers/abc123/kill'],
  ['POST', '/containers/abc123/exec'],
  ['POST', '/containers/abc123/attach'],
  ['PUT', '/containers/abc123/archive'],
  ['DELETE', '/images/busybox'],
  ['POST', '/images/create'],
  ['POST', '/networks/create'],
  ['POST', '/volumes/create'],
  ['post', '/build'],
  ['PATCH', '/containers/abc123'],
  ['OPTIONS', '/_ping'],
  ['CONNECT', '/containers/abc123/attach'],
];

async function assertAllRefused(client: DockerClient): Promise<void> {
  for (const [method, path] of MUTATIONS) {
    await assert.rejects(client.request(method, path), (error: unknown) => {
      assert.ok(error instanceof ReadOnlyViolation, `${method} ${path}: expected ReadOnlyViolation, got ${String(error)}`);
      assert.equal(error.message, `dockhand is read-only on the Docker daemon: refused ${method.toUpperCase()} ${path}`);
      return true;
    });
  }
}

/** Every public method of the client but the generic ones, with arguments: each must send a GET. */
function reads(client: DockerClient): Record<string, () => Promise<unknown>> {
  const signal = AbortSignal.timeout(5000);
  const settle = async (stream: Promise<{ destroy(): void }>) => (await stream.catch(() => undefined))?.destroy();
  return {
    ping: () => client.ping(),
    version: () => client.version(),
    info: () => client.info(),
    listContainers: () => client.listContainers({ all: true }),
    inspectContainer: () => client.inspectContainer('abc123').catch(() => undefined),
    containerStats: () => client.containerStats('abc123', { oneShot: true }).catch(() => undefined),
    containerStatsStream: () => settle(client.containerStatsStream('abc123', signal)),
    containerTop: () => client.containerTop('abc123', 'aux').catch(() => undefined),
    systemDf: () => client.systemDf().catch(() => undefined),
    listVolumes: () => client.listVolumes().catch(() => undefined),
    listNetworks: () => client.listNetworks().catch(() => undefined),
    events: () => settle(client.events({}, signal)),
    logs: () => settle(client.logs('abc123', { follow: true }, signal)),
  };
}

describe('read-only guard (against a unix socket that records what reaches it)', () => {
  test('every mutating request is refused with ReadOnlyViolation before a connection is even opened', async () => {
    const client = new DockerClient({ kind: 'unix', socketPath: recorder.socketPath, source: 'test' });
    const connectionsBefore = recorder.connections();
    await assertAllRefused(client);
    assert.deepEqual(sent(), [], 'no request was sent');
    assert.equal(recorder.connections(), connectionsBefore, 'not even a connection was opened');

    // The channel works: reads do reach the recorder, so the silence above is the guard's doing.
    assert.deepEqual(await client.listContainers({ all: true }), []);
    assert.equal(await client.ping(), 'OK');
    assert.deepEqual(sent(), ['GET /containers/json?all=true', 'GET /_ping']);
  });

  test('every method the client has sends a GET (the log stream too, which skips node:http)', async () => {
    const client = new DockerClient({ kind: 'unix', socketPath: recorder.socketPath, source: 'test' });
    const calls = reads(client);
    // A method added later must be listed here (and so proved to read only).
    const generic = new Set(['constructor', 'request', 'get', 'getWhole', 'stream', 'withOptions', 'target', 'timeoutError', 'endpoint', 'apiVersion']);
    const methods = Object.getOwnPropertyNames(DockerClient.prototype).filter((name) => !generic.has(name));
    assert.deepEqual(methods.sort(), Object.keys(calls).sort());
    for (const call of Object.values(calls)) await call();
    assert.equal(recorder.requests.length, methods.length, `one request each: ${sent().join(', ')}`);
    assert.deepEqual([...new Set(recorder.requests.map((r) => r.method))], ['GET']);
  });

  test('HEAD goes through unchanged', async () => {
    const client = new DockerClient({ kind: 'unix', socketPath: recorder.socketPath, source: 'test' });
    const response = await client.request('HEAD', '/_ping');
    response.resume();
    assert.deepEqual(recorder.requests.map((r) => r.method), ['HEAD']);
  });

  test('the negotiated client of a DockerConnection is guarded as well', async () => {
    const connection = new DockerConnection({ kind: 'unix', socketPath: recorder.socketPath, source: 'test' },
      { reconnectInitialMs: 50, reconnectMaxMs: 200, requestTimeoutMs: 2000 }, silentLogger(), new SelfMetrics({ defaultMetrics: false }));
    connection.start();
    try {
      await connection.waitUntilUp();
      assert.equal(connection.info?.apiVersion, '1.41');
      recorder.requests.length = 0;
      await assertAllRefused(connection.docker);
      assert.deepEqual(sent(), []);
      await connection.docker.listContainers();
      assert.deepEqual(sent(), ['GET /v1.41/containers/json']);
    } finally {
      await connection.stop();
    }
  });

  test('DOCKER_HOST in the environment does not redirect a resolved unix endpoint', async () => {
    const saved = { host: process.env.DOCKER_HOST, certPath: process.env.DOCKER_CERT_PATH };
    process.env.DOCKER_HOST = 'tcp://127.0.0.1:1';
    process.env.DOCKER_CERT_PATH = '/nonexistent-dockhand-cert-path';
    try {
      // A client that read the environment would throw ENOENT here (reading the cert path) or dial 127.0.0.1:1.
      const docker = new DockerClient({ kind: 'unix', socketPath: recorder.socketPath, source: 'test' }, { timeoutMs: 2000 });
      assert.equal(await docker.ping(), 'OK');
      assert.deepEqual(recorder.requests.map((r) => r.url), ['/_ping']);
      assert.equal(process.env.DOCKER_HOST, 'tcp://127.0.0.1:1', 'the environment is restored');
    } finally {
      if (saved.host === undefined) delete process.env.DOCKER_HOST;
      else process.env.DOCKER_HOST = saved.host;
      if (saved.certPath === undefined) delete process.env.DOCKER_CERT_PATH;
      else process.env.DOCKER_CERT_PATH = saved.certPath;
    }
  });
});
