/**
 * DockerConnection against the real, shared dockerd: negotiation, the read-only guard (nothing
 * created, removed or stopped: checked with the docker CLI), and an unreachable daemon (missing
 * socket, closed port) that is retried with growing delays, never throws, and comes up by itself
 * once the daemon is there. Only containers labelled with this file's run label are touched.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import { DockerConnection, type ConnectionSettings, type RetryEvent } from '../../src/docker/connection.js';
import { resolveEndpoint, DEFAULT_SOCKET, type DockerEndpoint } from '../../src/docker/endpoint.js';
import { ReadOnlyViolation } from '../../src/errors.js';
import { SelfMetrics } from '../../src/telemetry/metrics.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { TestContainers, docker } from '../helpers/containers.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';

const SETTINGS: ConnectionSettings = { reconnectInitialMs: 100, reconnectMaxMs: 800, requestTimeoutMs: 5000, healthCheckIntervalMs: 500 };
const containers = new TestContainers();
let scratch: string;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

before(async () => {
  process.on('unhandledRejection', onUnhandled);
  scratch = await mkdtemp(path.join(os.tmpdir(), 'dockhand-conn-test-'));
});
after(async () => {
  process.off('unhandledRejection', onUnhandled);
  await containers.removeAll();
  await rm(scratch, { recursive: true, force: true });
  assert.deepEqual(unhandled, [], 'no unhandled rejections');
});

function connectionTo(endpoint: DockerEndpoint, settings: ConnectionSettings = SETTINGS): { connection: DockerConnection; retries: (RetryEvent & { at: number })[] } {
  const connection = new DockerConnection(endpoint, settings, silentLogger(), new SelfMetrics({ defaultMetrics: false }));
  const retries: (RetryEvent & { at: number })[] = [];
  connection.on('retry', (event: RetryEvent) => retries.push({ ...event, at: Date.now() }));
  return { connection, retries };
}

async function withLocalDaemon(body: (connection: DockerConnection) => Promise<void>): Promise<void> {
  const { connection } = connectionTo(resolveEndpoint({ configDir: scratch }));
  connection.start();
  try {
    await waitFor(() => connection.isUp, { timeoutMs: 15_000, what: `shared daemon (${connection.health().reason})` });
    await body(connection);
  } finally {
    await connection.stop();
  }
}

describe('the shared daemon', () => {
  test('the default socket: negotiated to the daemon\'s own API version, daemon facts from /info', () => withLocalDaemon(async (connection) => {
    assert.equal(connection.description, `unix://${DEFAULT_SOCKET}`);
    assert.equal(connection.info?.apiVersion, await docker('version', '--format', '{{.Server.APIVersion}}'));
    assert.equal(connection.info?.version, await docker('version', '--format', '{{.Server.Version}}'));
    assert.equal(connection.info?.hostName, await docker('info', '--format', '{{.Name}}'));
    assert.equal(connection.info?.cgroupVersion, await docker('info', '--format', '{{.CgroupVersion}}'));
    assert.equal(connection.info?.dockerRootDir, await docker('info', '--format', '{{.DockerRootDir}}'));
    assert.deepEqual(connection.health(), { healthy: true });
    assert.equal(connection.status().state, 'up');
  }));
});

describe('read-only guard on the real daemon', () => {
  const mine = () => containers.ids();

  test('createContainer is refused and no container is created', () => withLocalDaemon(async (connection) => {
    const before = await mine();
    await assert.rejects(connection.docker.request('POST', '/containers/create'), (error: unknown) => error instanceof ReadOnlyViolation && /refused POST \/containers\/create$/.test(error.message));
    assert.deepEqual(await mine(), before);
  }));

  test('remove, stop, kill and prune are refused: the container is still there and still running', () => withLocalDaemon(async (connection) => {
    const running = await containers.start(['sleep', '300']);
    const stopped = await containers.create(['true']);
    const client = connection.docker;
    await assert.rejects(client.request('DELETE', `/containers/${running}`, { force: true }), ReadOnlyViolation);
    await assert.rejects(client.request('POST', `/containers/${running}/stop`, { t: 0 }), ReadOnlyViolation);
    await assert.rejects(client.request('POST', `/containers/${running}/kill`), ReadOnlyViolation);
    await assert.rejects(client.request('POST', `/containers/${running}/exec`), ReadOnlyViolation);
    await assert.rejects(client.request('delete', `/containers/${stopped}`), ReadOnlyViolation);
    await assert.rejects(client.request('POST', '/containers/prune', { filters: { label: [`${containers.runLabel}=${containers.run}`] } }), ReadOnlyViolation);
    assert.equal(await docker('inspect', '--format', '{{.State.Running}}', running), 'true');
    assert.equal(await docker('inspect', '--format', '{{.State.Status}}', stopped), 'created');
    assert.deepEqual((await mine()).sort(), [running, stopped].sort());
    // Reads still work through the same client.
    const inspected = await client.inspectContainer(running);
    assert.equal(inspected.Id, running);
  }));
});

describe('an unreachable daemon', () => {
  test('a socket path that does not exist: retried with growing delays, never throws, health says why', async () => {
    const socketPath = path.join(scratch, 'no-such-docker.sock');
    const { connection, retries } = connectionTo({ kind: 'unix', socketPath, source: 'test' });
    assert.doesNotThrow(() => connection.start());
    try {
      await waitFor(() => retries.length >= 6, { timeoutMs: 15_000, what: 'six retries' });
      const health = connection.health();
      assert.equal(health.healthy, false);
      assert.match(health.reason!, new RegExp(`^docker daemon unix://${socketPath} not connected yet: no Docker socket there \\(connect ENOENT`));
    } finally {
      await connection.stop();
    }
    const gaps = retries.slice(0, 6).map((r, i, all) => (i === 0 ? 0 : r.at - all[i - 1]!.at)).slice(1);
    const delays = retries.slice(0, 5).map((r) => r.delayMs);
    gaps.forEach((gap, i) => {
      // Each attempt waits the announced delay (timer slack aside) and then fails at once.
      assert.ok(gap >= delays[i]! - 5 && gap <= delays[i]! + 250, `gap ${i}: ${gap} ms for a ${delays[i]} ms delay`);
      const cap = Math.min(SETTINGS.reconnectMaxMs, SETTINGS.reconnectInitialMs * 2 ** i);
      assert.ok(delays[i]! >= cap / 2 && delays[i]! <= cap, `delay ${i}: ${delays[i]} ms outside [${cap / 2}, ${cap}]`);
    });
    assert.ok(gaps[3]! > gaps[0]!, `delays grow: ${gaps.join(', ')} ms`);
  });

  test('a closed TCP port: connection refused, retried, never throws', async () => {
    const port = await freePort();
    const { connection, retries } = connectionTo(resolveEndpoint({ host: `tcp://127.0.0.1:${port}` }));
    connection.start();
    try {
      await waitFor(() => retries.length >= 3, { timeoutMs: 10_000, what: 'three retries' });
      assert.match(connection.health().reason!, new RegExp(`^docker daemon http://127\\.0\\.0\\.1:${port} not connected yet: connection refused`));
      assert.equal(connection.isUp, false);
    } finally {
      await connection.stop();
    }
  });

  test('once the daemon is there, the connection comes up by itself (socket path appearing later)', async () => {
    const socketPath = path.join(scratch, 'late-docker.sock');
    const { connection, retries } = connectionTo({ kind: 'unix', socketPath, source: 'test' });
    connection.start();
    try {
      await waitFor(() => retries.length >= 2, { timeoutMs: 10_000, what: 'two retries' });
      const up = once(connection, 'up');
      const waiting = connection.waitUntilUp();
      await symlink(DEFAULT_SOCKET, socketPath);
      await up;
      await waiting;
      assert.deepEqual(connection.health(), { healthy: true });
      assert.equal(connection.status().last_error, undefined);
      assert.ok(connection.info?.apiVersion);
      assert.ok(Array.isArray(await connection.docker.listContainers({ limit: 1 })));
    } finally {
      await connection.stop();
    }
  });
});
