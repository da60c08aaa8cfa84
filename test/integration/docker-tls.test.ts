/**
 * TLS and contexts as the docker CLI does them, against a second, TLS-only dockerd this file
 * starts (test/helpers/tls-daemon.ts): DOCKER_HOST + DOCKER_TLS_VERIFY + DOCKER_CERT_PATH, a
 * context made by the docker CLI itself (selected by DOCKER_CONTEXT and by currentContext), a
 * wrong CA, an untrusted client cert, plain HTTP to the TLS port, SkipTLSVerify, and the agent
 * process end to end.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, readFile, writeFile, rm, readdir } from 'node:fs/promises';
import { Writable } from 'node:stream';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { DockerConnection, type ConnectionSettings, type RetryEvent } from '../../src/docker/connection.js';
import { resolveEndpoint, type DockerEndpoint, type EndpointSettings } from '../../src/docker/endpoint.js';
import { loadConfig } from '../../config/loader.js';
import { ReadOnlyViolation } from '../../src/errors.js';
import { SelfMetrics } from '../../src/telemetry/metrics.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { startTlsDaemon, DOCKER_CLI, type TlsDaemon } from '../helpers/tls-daemon.js';
import { AgentProcess, runCli } from '../helpers/agent-process.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);
const SETTINGS: ConnectionSettings = { reconnectInitialMs: 50, reconnectMaxMs: 400, requestTimeoutMs: 5000, healthCheckIntervalMs: 500 };

let daemon: TlsDaemon;
let scratch: string;
/** What the TLS daemon says about itself through the docker CLI: proves a connection reached it and not the shared daemon. */
let daemonRootDir: string;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

before(async () => {
  process.on('unhandledRejection', onUnhandled);
  daemon = await startTlsDaemon();
  scratch = await mkdtemp(path.join(os.tmpdir(), 'dockhand-tls-test-'));
  daemonRootDir = (await daemon.docker(['info', '--format', '{{.DockerRootDir}}'])).stdout.trim();
});

after(async () => {
  process.off('unhandledRejection', onUnhandled);
  await daemon?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
  assert.deepEqual(unhandled, [], 'no unhandled rejections');
});

interface Watched {
  readonly connection: DockerConnection;
  readonly logs: Record<string, unknown>[];
  readonly retries: RetryEvent[];
}

function watch(endpoint: DockerEndpoint): Watched {
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n')) if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  const connection = new DockerConnection(endpoint, SETTINGS, createLogger({ level: 'info', format: 'json' }, sink), new SelfMetrics({ defaultMetrics: false }));
  const retries: RetryEvent[] = [];
  connection.on('retry', (event: RetryEvent) => retries.push(event));
  return { connection, logs, retries };
}

/** Connects, checks it is the TLS daemon that answered, and stops. */
async function assertConnects(settings: EndpointSettings): Promise<DockerConnection> {
  const endpoint = resolveEndpoint(settings);
  const { connection } = watch(endpoint);
  connection.start();
  try {
    await waitFor(() => connection.isUp, { timeoutMs: 15_000, what: `connection up (${connection.health().reason})` });
    assert.deepEqual(connection.health(), { healthy: true });
    assert.equal(connection.info?.apiVersion, '1.41');
    assert.equal(connection.info?.dockerRootDir, daemonRootDir, 'it is the TLS daemon that answered');
    assert.equal(connection.description, `https://127.0.0.1:${daemon.port}`);
    const version = (await connection.docker.version()) as unknown as { ApiVersion: string };
    assert.equal(version.ApiVersion, '1.41');
    return connection;
  } finally {
    await connection.stop();
  }
}

/** Starts a connection that must stay down; returns its health reason and logs after a few retries. */
async function assertStaysDown(endpoint: DockerEndpoint): Promise<{ reason: string; logs: Record<string, unknown>[] }> {
  const { connection, logs, retries } = watch(endpoint);
  connection.start();
  try {
    await waitFor(() => retries.length >= 3, { timeoutMs: 15_000, what: 'three failed attempts' });
    assert.equal(connection.isUp, false);
    const health = connection.health();
    assert.equal(health.healthy, false);
    return { reason: health.reason!, logs };
  } finally {
    await connection.stop();
  }
}

describe('the TLS daemon itself', () => {
  test('the docker CLI (Debian 20.10 and the newer one) reaches it with the client cert, and not without TLS', async () => {
    let working = 0;
    for (const cli of DOCKER_CLI) {
      const exists = await run(cli, ['--version']).then(() => true, () => false);
      if (!exists) continue;
      const env = { PATH: process.env.PATH ?? '', DOCKER_CONFIG: path.join(scratch, 'cli-empty'), ...daemon.env() };
      const { stdout } = await run(cli, ['version', '--format', '{{.Server.APIVersion}}'], { env });
      assert.equal(stdout.trim(), '1.41', cli);
      working++;
    }
    assert.ok(working >= 1, 'at least one docker CLI works against the TLS daemon');
    await assert.rejects(run(DOCKER_CLI[0]!, ['version'], { env: { PATH: process.env.PATH ?? '', DOCKER_HOST: daemon.host, DOCKER_CONFIG: path.join(scratch, 'cli-empty') } }),
      /HTTP request to an HTTPS server/);
  });
});

describe('DOCKER_HOST + DOCKER_TLS_VERIFY + DOCKER_CERT_PATH', () => {
  test('a DockerConnection comes up: healthy, API negotiated, the TLS daemon answering', async () => {
    await assertConnects({ host: daemon.host, tlsVerify: true, certPath: daemon.clientCertDir });
  });

  test('through the config loader from the environment, as the agent resolves it', async () => {
    const config = loadConfig({}, daemon.env());
    assert.equal(config.docker.host, daemon.host);
    assert.equal(config.docker.tls_verify, true);
    const { docker } = config;
    await assertConnects({ host: docker.host, tlsVerify: docker.tls_verify, certPath: docker.cert_path, context: docker.context, configDir: docker.config_dir });
  });

  test('ca.pem with a bundle of CAs (a Buffer holding two certificates) works', async () => {
    const dir = path.join(scratch, 'bundle');
    await mkdir(dir, { recursive: true });
    const rogue = await readFile(path.join(daemon.wrongCaCertDir, 'ca.pem'));
    await writeFile(path.join(dir, 'ca.pem'), Buffer.concat([rogue, await readFile(path.join(daemon.clientCertDir, 'ca.pem'))]));
    for (const file of ['cert.pem', 'key.pem']) await writeFile(path.join(dir, file), await readFile(path.join(daemon.clientCertDir, file)));
    const endpoint = resolveEndpoint({ host: daemon.host, tlsVerify: true, certPath: dir });
    assert.ok(endpoint.kind === 'tcp' && Buffer.isBuffer(endpoint.tls?.ca), 'the CA reaches the client as a Buffer');
    await assertConnects({ host: daemon.host, tlsVerify: true, certPath: dir });
  });

  test('the read-only guard holds over TLS: nothing is created on the daemon', async () => {
    const count = async () => (await daemon.docker(['ps', '-aq'])).stdout.trim().split('\n').filter(Boolean).length;
    const networks = async () => (await daemon.docker(['network', 'ls', '-q'])).stdout.trim().split('\n').filter(Boolean).length;
    const before = { containers: await count(), networks: await networks() };
    const { connection } = watch(resolveEndpoint({ host: daemon.host, tlsVerify: true, certPath: daemon.clientCertDir }));
    connection.start();
    try {
      await connection.waitUntilUp();
      await assert.rejects(connection.docker.request('POST', '/containers/create'), ReadOnlyViolation);
      await assert.rejects(connection.docker.request('POST', '/networks/create'), ReadOnlyViolation);
      await assert.rejects(connection.docker.request('POST', '/networks/prune'), ReadOnlyViolation);
    } finally {
      await connection.stop();
    }
    assert.deepEqual({ containers: await count(), networks: await networks() }, before);
  });

  test('a wrong CA: stays down, a clear TLS reason naming the CA file, logged once, no crash', async () => {
    const { reason, logs } = await assertStaysDown(resolveEndpoint({ host: daemon.host, tlsVerify: true, certPath: daemon.wrongCaCertDir }));
    assert.match(reason, new RegExp(`^docker daemon https://127\\.0\\.0\\.1:${daemon.port} not connected yet: TLS: the daemon's certificate is not signed by the configured CA \\(${daemon.wrongCaCertDir}/ca\\.pem\\)`));
    const warnings = logs.filter((l) => l.msg === 'docker daemon not reachable; retrying');
    assert.equal(warnings.length, 1, 'one warning, not one per attempt');
    assert.match(String(warnings[0]!.err), /TLS: the daemon's certificate is not signed by the configured CA/);
    assert.equal(warnings[0]!.level, 40);
  });

  test('a client certificate the daemon does not trust: a clear TLS reason naming cert.pem and key.pem', async () => {
    const { reason } = await assertStaysDown(resolveEndpoint({ host: daemon.host, tlsVerify: true, certPath: daemon.untrustedClientCertDir }));
    assert.match(reason, /TLS: the daemon rejected the client certificate \(.*client-untrusted\/cert\.pem and key\.pem\)/);
  });

  test('plain HTTP to the TLS port (DOCKER_TLS_VERIFY forgotten): the reason says to set it', async () => {
    const { reason } = await assertStaysDown(resolveEndpoint({ host: daemon.host, certPath: daemon.clientCertDir }));
    assert.match(reason, /the daemon speaks TLS on this port but the client does not: set docker\.tls_verify \(DOCKER_TLS_VERIFY=1\)/);
  });

  test('a host name the certificate does not name (localhost; its SAN is IP:127.0.0.1): the reason says so', async () => {
    const { reason } = await assertStaysDown(resolveEndpoint({ host: `tcp://localhost:${daemon.port}`, tlsVerify: true, certPath: daemon.clientCertDir }));
    assert.match(reason, /TLS: the daemon's certificate does not name this host/);
  });
});

describe('Docker contexts made by the docker CLI', () => {
  let configDir: string;
  const contextName = 'dockhand-tls';

  before(async () => {
    configDir = path.join(scratch, 'docker-config');
    await mkdir(configDir, { recursive: true });
    const cert = (f: string) => path.join(daemon.clientCertDir, f);
    const cliEnv = { PATH: process.env.PATH ?? '', DOCKER_CONFIG: configDir };
    await run(DOCKER_CLI[0]!, ['context', 'create', contextName, '--docker', `host=${daemon.host},ca=${cert('ca.pem')},cert=${cert('cert.pem')},key=${cert('key.pem')}`], { env: cliEnv });
    const wrong = (f: string) => path.join(daemon.wrongCaCertDir, f);
    await run(DOCKER_CLI[0]!, ['context', 'create', 'dockhand-wrong-ca', '--docker', `host=${daemon.host},ca=${wrong('ca.pem')},cert=${wrong('cert.pem')},key=${wrong('key.pem')}`], { env: cliEnv });
    await run(DOCKER_CLI[0]!, ['context', 'create', 'dockhand-skip-verify', '--docker', `host=${daemon.host},ca=${wrong('ca.pem')},cert=${wrong('cert.pem')},key=${wrong('key.pem')},skip-tls-verify=true`], { env: cliEnv });
  });

  test('the CLI stored it under contexts/meta/<sha256(name)>/meta.json and contexts/tls/<hash>/docker/', async () => {
    const hash = createHash('sha256').update(contextName).digest('hex');
    const meta = JSON.parse(await readFile(path.join(configDir, 'contexts', 'meta', hash, 'meta.json'), 'utf8')) as { Name: string; Endpoints: { docker: { Host: string } } };
    assert.equal(meta.Name, contextName);
    assert.equal(meta.Endpoints.docker.Host, daemon.host);
    assert.deepEqual((await readdir(path.join(configDir, 'contexts', 'tls', hash, 'docker'))).sort(), ['ca.pem', 'cert.pem', 'key.pem']);
    // And the CLI itself uses it.
    const { stdout } = await run(DOCKER_CLI[0]!, ['--context', contextName, 'info', '--format', '{{.DockerRootDir}}'], { env: { PATH: process.env.PATH ?? '', DOCKER_CONFIG: configDir } });
    assert.equal(stdout.trim(), daemonRootDir);
  });

  test('selected by DOCKER_CONTEXT', async () => {
    const endpoint = resolveEndpoint({ context: contextName, configDir });
    assert.equal(endpoint.source, `context ${contextName}`);
    await assertConnects({ context: contextName, configDir });
  });

  test('selected by currentContext in config.json (set with `docker context use`)', async () => {
    await run(DOCKER_CLI[0]!, ['context', 'use', contextName], { env: { PATH: process.env.PATH ?? '', DOCKER_CONFIG: configDir } });
    const config = JSON.parse(await readFile(path.join(configDir, 'config.json'), 'utf8')) as { currentContext?: string };
    assert.equal(config.currentContext, contextName);
    assert.equal(resolveEndpoint({ configDir }).source, `context ${contextName}`);
    await assertConnects({ configDir });
  });

  test('through the config loader: DOCKER_CONFIG + DOCKER_CONTEXT from the environment', async () => {
    const config = loadConfig({}, { DOCKER_CONFIG: configDir, DOCKER_CONTEXT: contextName });
    const { docker } = config;
    await assertConnects({ host: docker.host, tlsVerify: docker.tls_verify, certPath: docker.cert_path, context: docker.context, configDir: docker.config_dir });
  });

  test('a context with the wrong CA stays down with the TLS reason naming the stored ca.pem', async () => {
    const hash = createHash('sha256').update('dockhand-wrong-ca').digest('hex');
    const { reason } = await assertStaysDown(resolveEndpoint({ context: 'dockhand-wrong-ca', configDir }));
    assert.ok(reason.includes(`TLS: the daemon's certificate is not signed by the configured CA (${path.join(configDir, 'contexts', 'tls', hash, 'docker', 'ca.pem')})`), reason);
  });

  test('SkipTLSVerify: the same wrong CA is not checked, and the connection comes up', async () => {
    const endpoint = resolveEndpoint({ context: 'dockhand-skip-verify', configDir });
    assert.ok(endpoint.kind === 'tcp' && endpoint.tls?.verify === false);
    await assertConnects({ context: 'dockhand-skip-verify', configDir });
  });
});

describe('the agent process', () => {
  test('through DOCKER_HOST + TLS: /readyz 200 and /status shows the https endpoint and API version', async () => {
    const agent = await AgentProcess.start({ env: daemon.env() });
    try {
      await agent.waitReady();
      const status = (await agent.get('/status')).json();
      assert.equal(status.docker.endpoint, `https://127.0.0.1:${daemon.port}`);
      assert.equal(status.docker.api_version, '1.41');
      assert.equal(status.docker.state, 'up');
    } finally {
      await agent.dispose();
    }
  });

  test('through a context (DOCKER_CONFIG + DOCKER_CONTEXT): /readyz 200', async () => {
    const configDir = path.join(scratch, 'docker-config');
    const agent = await AgentProcess.start({ env: { DOCKER_CONFIG: configDir, DOCKER_CONTEXT: 'dockhand-tls' } });
    try {
      await agent.waitReady();
      assert.equal((await agent.get('/status')).json().docker.source, 'context dockhand-tls');
    } finally {
      await agent.dispose();
    }
  });

  test('a wrong CA: /readyz 503 with the TLS reason, the same in the log, the process keeps running and stops cleanly', async () => {
    const agent = await AgentProcess.start({ env: daemon.env(daemon.wrongCaCertDir) });
    try {
      await agent.waitListening();
      const readyz = await waitFor(async () => {
        const response = await agent.get('/readyz');
        return response.status === 503 && /TLS/.test(response.body) ? response : undefined;
      }, { timeoutMs: 15_000, what: '/readyz 503 naming TLS' });
      assert.match(readyz.body, /TLS: the daemon's certificate is not signed by the configured CA/);
      assert.ok(readyz.body.includes(`${daemon.wrongCaCertDir}/ca.pem`), readyz.body);
      await waitFor(() => agent.logs.some((l) => /TLS: the daemon's certificate is not signed by the configured CA/.test(String(l.err))), { timeoutMs: 5000, what: 'the TLS error in the log' });
      assert.equal((await agent.get('/healthz')).status, 200, 'alive');
      assert.equal(agent.child.exitCode, null, 'not crashed');
      const { code } = await agent.stop();
      assert.equal(code, 0);
    } finally {
      await agent.dispose();
    }
  });

  test('--check-config resolves the context and prints the https endpoint; a missing context exits 2 naming docker.context', async () => {
    const configDir = path.join(scratch, 'docker-config');
    const ok = await runCli(['--check-config'], { DOCKER_CONFIG: configDir, DOCKER_CONTEXT: 'dockhand-tls' });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, new RegExp(`^# docker endpoint: https://127\\.0\\.0\\.1:${daemon.port}$`, 'm'));
    const missing = await runCli(['--check-config'], { DOCKER_CONFIG: configDir, DOCKER_CONTEXT: 'no-such-context' });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /docker\.context: no context named "no-such-context"/);
  });
});
