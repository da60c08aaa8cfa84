import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import Docker from 'dockerode';
import { createDockerode, guardReadOnly, DockerConnection } from '../../src/docker/connection.js';
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

/** Every call that would change the daemon, as dockerode spells them, with the request it would send. */
function mutations(docker: Docker): [string, RegExp, () => Promise<unknown>][] {
  const container = docker.getContainer('abc123');
  return [
    ['createContainer', /^POST \/containers\/create$/, () => docker.createContainer({ Image: 'dockhand-test/busybox:latest' })],
    ['container.remove', /^DELETE \/(v[\d.]+\/)?containers\/abc123/, () => container.remove({ force: true })],
    ['pruneContainers', /^POST \/(v[\d.]+\/)?containers\/prune/, () => docker.pruneContainers()],
    ['container.start', /^POST .*\/containers\/abc123\/start/, () => container.start()],
    ['container.stop', /^POST .*\/containers\/abc123\/stop/, () => container.stop()],
    ['container.kill', /^POST .*\/containers\/abc123\/kill/, () => container.kill()],
    ['container.restart', /^POST .*\/containers\/abc123\/restart/, () => container.restart()],
    ['container.exec', /^POST .*\/containers\/abc123\/exec/, () => container.exec({ Cmd: ['sh'] })],
    ['container.update', /^POST .*\/containers\/abc123\/update/, () => container.update({ Memory: 1 })],
    ['container.attach (hijacked)', /^POST .*\/containers\/abc123\/attach/, () => container.attach({ stream: true, stdout: true })],
    ['container.putArchive', /^PUT .*\/containers\/abc123\/archive/, () => container.putArchive(Readable.from([Buffer.alloc(0)]), { path: '/tmp' })],
    ['image.remove', /^DELETE .*\/images\/busybox/, () => docker.getImage('busybox').remove()],
    ['pull', /^POST .*\/images\/create/, () => docker.pull('busybox:latest')],
    ['createNetwork', /^POST .*\/networks\/create/, () => docker.createNetwork({ Name: 'dockhand-guard-net' })],
    ['createVolume', /^POST .*\/volumes\/create/, () => docker.createVolume({ Name: 'dockhand-guard-vol' })],
    ['pruneImages', /^POST .*\/images\/prune/, () => docker.pruneImages()],
    ['pruneVolumes', /^POST .*\/volumes\/prune/, () => docker.pruneVolumes()],
  ];
}

async function assertRefused(name: string, expected: RegExp, call: () => Promise<unknown>): Promise<void> {
  await assert.rejects(call(), (error: unknown) => {
    assert.ok(error instanceof ReadOnlyViolation, `${name}: expected ReadOnlyViolation, got ${String(error)}`);
    assert.match(error.message, /^dockhand is read-only on the Docker daemon: refused /, name);
    assert.match(error.message.replace(/^.*refused /, ''), expected, name);
    return true;
  });
}

describe('read-only guard (against a unix socket that records what reaches it)', () => {
  test('every mutating dockerode call is refused with ReadOnlyViolation, and nothing reaches the socket', async () => {
    const docker = createDockerode({ kind: 'unix', socketPath: recorder.socketPath, source: 'test' });
    const connectionsBefore = recorder.connections();
    for (const [name, expected, call] of mutations(docker)) await assertRefused(name, expected, call);
    assert.deepEqual(sent(), [], 'no request was sent');
    assert.equal(recorder.connections(), connectionsBefore, 'not even a connection was opened');

    // The channel works: reads do reach the recorder, so the silence above is the guard's doing.
    assert.deepEqual(await docker.listContainers({ all: true }), []);
    assert.equal(String(await docker.ping()), 'OK');
    assert.deepEqual(sent(), ['GET /containers/json?all=true', 'GET /_ping']);
  });

  test('callback style is refused the same way', async () => {
    const docker = createDockerode({ kind: 'unix', socketPath: recorder.socketPath, source: 'test' });
    const error = await new Promise<unknown>((resolve) => {
      docker.createContainer({ Image: 'x' }, (err) => resolve(err));
    });
    assert.ok(error instanceof ReadOnlyViolation);
    assert.deepEqual(sent(), []);
  });

  test('a request built on the modem directly (bypassing dial) is refused too', async () => {
    const docker = createDockerode({ kind: 'unix', socketPath: recorder.socketPath, source: 'test' });
    const modem = docker.modem as unknown as { buildRequest(o: object, c: object, d: unknown, cb: (err: unknown) => void): void };
    const error = await new Promise<unknown>((resolve) => {
      modem.buildRequest({ method: 'post', path: '/containers/create', socketPath: recorder.socketPath, headers: {} }, { statusCodes: { 201: true } }, undefined, resolve);
    });
    assert.ok(error instanceof ReadOnlyViolation);
    assert.match((error as Error).message, /refused POST \/containers\/create/);
    assert.deepEqual(sent(), []);
  });

  test('guardReadOnly lets GET and HEAD through unchanged', async () => {
    const docker = guardReadOnly(new Docker({ socketPath: recorder.socketPath }));
    await docker.version();
    await docker.getContainer('abc123').infoArchive({ path: '/etc' }).catch(() => undefined);
    assert.deepEqual(recorder.requests.map((r) => r.method), ['GET', 'HEAD']);
  });

  test('the negotiated client of a DockerConnection is guarded as well', async () => {
    const connection = new DockerConnection({ kind: 'unix', socketPath: recorder.socketPath, source: 'test' },
      { reconnectInitialMs: 50, reconnectMaxMs: 200, requestTimeoutMs: 2000 }, silentLogger(), new SelfMetrics({ defaultMetrics: false }));
    connection.start();
    try {
      await connection.waitUntilUp();
      assert.equal(connection.info?.apiVersion, '1.41');
      recorder.requests.length = 0;
      for (const [name, expected, call] of mutations(connection.docker)) await assertRefused(name, expected, call);
      assert.deepEqual(sent(), []);
      await connection.docker.listContainers();
      assert.deepEqual(sent(), ['GET /v1.41/containers/json']);
    } finally {
      await connection.stop();
    }
  });

  test('DOCKER_HOST in the environment does not redirect a resolved unix endpoint (docker-modem reads it)', async () => {
    const saved = { host: process.env.DOCKER_HOST, certPath: process.env.DOCKER_CERT_PATH };
    process.env.DOCKER_HOST = 'tcp://127.0.0.1:1';
    process.env.DOCKER_CERT_PATH = '/nonexistent-dockhand-cert-path';
    try {
      // Unprotected, docker-modem would throw ENOENT here (reading the cert path) or dial 127.0.0.1:1.
      const docker = createDockerode({ kind: 'unix', socketPath: recorder.socketPath, source: 'test' }, 2000);
      assert.equal(String(await docker.ping()), 'OK');
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
