/**
 * DockerConnection's own logic (negotiation, supervision, stop) against a recording unix socket
 * that can play daemons this machine cannot run (API 1.99, API 1.12, a hung daemon, not Docker).
 * The real-daemon and TLS behaviour is in test/integration/docker-{connection,tls}.test.ts.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { once } from 'node:events';
import { DockerConnection, MAX_API_VERSION, describeDockerError, compareApiVersions, type ConnectionSettings, type RetryEvent } from '../../src/docker/connection.js';
import { ReadOnlyViolation } from '../../src/errors.js';
import { SelfMetrics } from '../../src/telemetry/metrics.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { startApiRecorder, type ApiRecorder } from '../helpers/api-recorder.js';
import { waitFor } from '../helpers/wait.js';

const FAST: ConnectionSettings = { reconnectInitialMs: 40, reconnectMaxMs: 320, requestTimeoutMs: 2000, healthCheckIntervalMs: 100 };

interface Harness {
  readonly connection: DockerConnection;
  readonly metrics: SelfMetrics;
  readonly logs: Record<string, unknown>[];
  readonly retries: RetryEvent[];
}

function connect(recorder: ApiRecorder, settings: ConnectionSettings = FAST): Harness {
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n')) if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  const metrics = new SelfMetrics({ defaultMetrics: false });
  const connection = new DockerConnection({ kind: 'unix', socketPath: recorder.socketPath, source: 'test' }, settings, createLogger({ level: 'info', format: 'json' }, sink), metrics);
  const retries: RetryEvent[] = [];
  connection.on('retry', (event: RetryEvent) => retries.push(event));
  return { connection, metrics, logs, retries };
}

async function counterValue(metrics: SelfMetrics, name: string, labels: Record<string, string>): Promise<number> {
  const metric = await metrics.registry.getSingleMetric(name)?.get();
  return metric?.values.find((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val))?.value ?? 0;
}

async function withRecorder(apiVersion: string, body: (recorder: ApiRecorder) => Promise<void>): Promise<void> {
  const recorder = await startApiRecorder(apiVersion);
  try {
    await body(recorder);
  } finally {
    await recorder.close();
  }
}

describe('API version negotiation', () => {
  test('a newer daemon is spoken to in MAX_API_VERSION, and every later request carries it', () => withRecorder('1.99', async (recorder) => {
    const { connection } = connect(recorder);
    connection.start();
    try {
      await connection.waitUntilUp();
      assert.equal(connection.info?.apiVersion, MAX_API_VERSION);
      assert.equal(connection.info?.version, '99.0.0-recorder');
      assert.equal(connection.info?.hostName, 'api-recorder');
      assert.equal(connection.info?.cgroupVersion, '2');
      assert.deepEqual(connection.health(), { healthy: true });
      assert.deepEqual(recorder.requests.slice(0, 2).map((r) => r.url), ['/version', `/v${MAX_API_VERSION}/info`]);
      recorder.requests.length = 0;
      await connection.docker.listContainers({ all: true });
      assert.deepEqual(recorder.requests.map((r) => r.url), [`/v${MAX_API_VERSION}/containers/json?all=true`]);
      assert.equal(connection.status().api_version, MAX_API_VERSION);
    } finally {
      await connection.stop();
    }
  }));

  test('an older daemon is spoken to in its own version', () => withRecorder('1.41', async (recorder) => {
    const { connection } = connect(recorder);
    connection.start();
    try {
      await connection.waitUntilUp();
      assert.equal(connection.info?.apiVersion, '1.41');
      assert.ok(recorder.requests.some((r) => r.url === '/v1.41/info'));
    } finally {
      await connection.stop();
    }
  }));

  test('a daemon older than MIN_API_VERSION stays down, says why, and is retried', () => withRecorder('1.12', async (recorder) => {
    const { connection, retries, logs } = connect(recorder);
    connection.start();
    try {
      await waitFor(() => retries.length >= 3, { timeoutMs: 5000, what: 'three retries' });
      assert.equal(connection.isUp, false);
      const health = connection.health();
      assert.equal(health.healthy, false);
      assert.match(health.reason!, /speaks API 1\.12; dockhand needs at least 1\.24/);
      assert.match(health.reason!, /not connected yet/);
      // One warning per distinct problem, not one per attempt.
      assert.equal(logs.filter((l) => l.msg === 'docker daemon not reachable; retrying').length, 1);
    } finally {
      await connection.stop();
    }
  }));

  test('something that is not a Docker daemon: a clear reason, no crash', () => withRecorder('1.41', async (recorder) => {
    recorder.apiVersion = null;
    const { connection, retries } = connect(recorder);
    connection.start();
    try {
      await waitFor(() => retries.length >= 1, { timeoutMs: 5000, what: 'a retry' });
      assert.match(connection.health().reason!, /answered \/version without an API version: not a Docker daemon\?/);
      // Once it starts answering properly, the connection comes up by itself.
      recorder.apiVersion = '1.41';
      await waitFor(() => connection.isUp, { timeoutMs: 5000, what: 'connection up' });
    } finally {
      await connection.stop();
    }
  }));

  test('compareApiVersions orders numerically, not as strings', () => {
    assert.ok(compareApiVersions('1.9', '1.41') < 0);
    assert.ok(compareApiVersions('1.47', '1.41') > 0);
    assert.ok(compareApiVersions('2.0', '1.99') > 0);
    assert.equal(compareApiVersions('1.41', '1.41'), 0);
  });
});

describe('supervision', () => {
  test('retry delays grow exponentially with jitter, up to reconnect_max_ms', () => withRecorder('1.41', async (recorder) => {
    recorder.apiVersion = null;
    const { connection, retries, metrics } = connect(recorder);
    connection.start();
    try {
      await waitFor(() => retries.length >= 7, { timeoutMs: 10_000, what: 'seven retries' });
    } finally {
      await connection.stop();
    }
    const delays = retries.slice(0, 7).map((r) => r.delayMs);
    delays.forEach((delay, i) => {
      const cap = Math.min(FAST.reconnectMaxMs, FAST.reconnectInitialMs * 2 ** i);
      assert.ok(delay >= cap / 2 && delay <= cap, `retry ${i + 1}: ${delay} ms outside [${cap / 2}, ${cap}] (${delays.join(', ')})`);
    });
    assert.ok(delays[3]! > delays[0]!, `delays grow: ${delays.join(', ')}`);
    assert.deepEqual(retries.slice(0, 7).map((r) => r.attempt), [1, 2, 3, 4, 5, 6, 7]);
    assert.ok(await counterValue(metrics, 'dockhand_errors_total', { component: 'docker', kind: 'connect' }) >= 7);
    assert.equal(connection.status().failed_attempts, retries.length);
  }));

  test('a reported failure takes the connection down (event, health, log), then it reconnects by itself and counts it', () => withRecorder('1.41', async (recorder) => {
    const { connection, metrics, logs } = connect(recorder);
    connection.start();
    try {
      await connection.waitUntilUp();
      const down = once(connection, 'down');
      const up = once(connection, 'up');
      connection.reportFailure(Object.assign(new Error('connect ECONNREFUSED /var/run/docker.sock'), { code: 'ECONNREFUSED' }));
      await down;
      const health = connection.health();
      assert.equal(health.healthy, false);
      assert.match(health.reason!, /^docker daemon unix:\/\/.*api\.sock down: connection refused/);
      assert.ok(logs.some((l) => l.msg === 'docker daemon unreachable; reconnecting' && /connection refused/.test(String(l.err))));
      await up;
      assert.deepEqual(connection.health(), { healthy: true });
      assert.equal(await counterValue(metrics, 'dockhand_reconnects_total', { component: 'docker' }), 1);
      assert.ok(logs.some((l) => l.msg === 'docker daemon reachable again'));
    } finally {
      await connection.stop();
    }
  }));

  test('a hung daemon (no answer to /_ping) is noticed by the health check and named as a timeout', () => withRecorder('1.41', async (recorder) => {
    const { connection } = connect(recorder, { ...FAST, requestTimeoutMs: 300 });
    connection.start();
    try {
      await connection.waitUntilUp();
      recorder.delays.set('/_ping', 60_000);
      const started = Date.now();
      await once(connection, 'down');
      assert.ok(Date.now() - started < 3000, 'noticed within the health-check interval plus the request timeout');
      assert.match(connection.health().reason!, /timed out \(no answer to GET \/_ping within 300 ms \(docker\.request_timeout_ms\)\)/);
    } finally {
      await connection.stop();
    }
  }));

  test('stop() during a negotiation leaves the connection stopped, never up', () => withRecorder('1.41', async (recorder) => {
    recorder.delays.set('/version', 300);
    const { connection } = connect(recorder);
    let wentUp = false;
    connection.on('up', () => {
      wentUp = true;
    });
    connection.start();
    await waitFor(() => recorder.requests.some((r) => r.url === '/version'), { timeoutMs: 5000, what: '/version in flight' });
    await connection.stop();
    assert.equal(connection.isUp, false);
    assert.equal(connection.status().state, 'stopped');
    assert.equal(wentUp, false);
    assert.equal(connection.health().healthy, false);
  }));

  test('waitUntilUp resolves on abort and on stop while the daemon is away', async () => {
    const recorder = await startApiRecorder('1.41');
    await recorder.close();
    const { connection } = connect(recorder);
    const firstRetry = once(connection, 'retry');
    connection.start();
    await firstRetry;
    const controller = new AbortController();
    const aborted = connection.waitUntilUp(controller.signal);
    controller.abort();
    await aborted;
    const pending = connection.waitUntilUp();
    await connection.stop();
    await pending;
    assert.equal(connection.isUp, false);
    assert.match(connection.health().reason!, /no Docker socket there/);
  });

  test('start() twice runs one supervisor; stop() before start() is safe', () => withRecorder('1.41', async (recorder) => {
    const idle = connect(recorder).connection;
    await idle.stop();
    const { connection } = connect(recorder);
    connection.start();
    connection.start();
    try {
      await connection.waitUntilUp();
      assert.equal(recorder.requests.filter((r) => r.url === '/version').length, 1);
    } finally {
      await connection.stop();
    }
  }));
});

describe('describeDockerError', () => {
  const err = (code: string, message: string) => Object.assign(new Error(message), { code });
  const tlsEndpoint = { kind: 'tcp', host: '127.0.0.1', port: 2376, source: 'test', tls: { verify: true, dir: '/certs' } } as const;

  test('says what to do for the usual failures', () => {
    assert.match(describeDockerError(err('ENOENT', 'connect ENOENT /x.sock')), /^no Docker socket there/);
    assert.match(describeDockerError(err('EACCES', 'connect EACCES')), /^permission denied on the Docker socket: run as root or in the socket's group/);
    assert.match(describeDockerError(err('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:1')), /^connection refused: is dockerd running/);
    assert.match(describeDockerError(err('UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unable to verify the first certificate'), tlsEndpoint),
      /^TLS: the daemon's certificate is not signed by the configured CA \(\/certs\/ca\.pem\)/);
    assert.match(describeDockerError(err('ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE', 'ssl3_read_bytes:sslv3 alert bad certificate\nmore'), tlsEndpoint),
      /^TLS: the daemon rejected the client certificate \(\/certs\/cert\.pem and key\.pem\)/);
    assert.match(describeDockerError(err('ERR_TLS_CERT_ALTNAME_INVALID', "Host: localhost. is not cert's CN")), /^TLS: the daemon's certificate does not name this host/);
    assert.match(describeDockerError(err('EPROTO', 'routines:ssl3_get_record:wrong version number')), /does not speak TLS on this port; unset docker\.tls_verify/);
    const plainToTls = Object.assign(new Error('(HTTP code 400) unexpected - Client sent an HTTP request to an HTTPS server. '), { statusCode: 400 });
    assert.match(describeDockerError(plainToTls), /speaks TLS on this port but the client does not: set docker\.tls_verify/);
    assert.match(describeDockerError(new ReadOnlyViolation('POST', '/containers/create')), /^dockhand is read-only/);
    assert.equal(describeDockerError('weird'), 'weird');
  });
});
