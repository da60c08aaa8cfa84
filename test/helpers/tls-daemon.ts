/**
 * A second, TLS-only dockerd for tests, started as DESIGN.md describes: certificates made here
 * with openssl, its own data-root/exec-root/pidfile under a temp dir, its own bridge (never
 * `--bridge none`, which deletes docker0 under the shared daemon), no iptables, a free loopback
 * port. `stop()` kills it, removes the bridge and the temp dir; a failed start cleans up too.
 */
import { spawn, execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile, copyFile, readFile } from 'node:fs/promises';
import { openSync, closeSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from './wait.js';
import { createTestBridge, type TestBridge } from './bridge.js';

const run = promisify(execFile);

/** Debian's 20.10 client first: it is the same generation as the daemon these machines run. */
export const DOCKER_CLI = ['/usr/bin/docker', '/usr/local/bin/docker'];

export interface TlsDaemon {
  readonly port: number;
  /** tcp://127.0.0.1:PORT */
  readonly host: string;
  /** The daemon's own temp dir (data-root, exec-root, logs, certificates). */
  readonly dir: string;
  /** ca.pem (the daemon's CA), cert.pem and key.pem (a client cert it accepts): a DOCKER_CERT_PATH. */
  readonly clientCertDir: string;
  /** Same client cert and key, but ca.pem from a CA that did not sign the daemon's certificate. */
  readonly wrongCaCertDir: string;
  /** The daemon's CA, but a client cert signed by a CA the daemon does not trust. */
  readonly untrustedClientCertDir: string;
  /** Environment for the docker CLI (and the agent) to reach this daemon. */
  env(certDir?: string): Record<string, string>;
  /** Runs the docker CLI against this daemon. */
  docker(args: readonly string[], certDir?: string): Promise<{ stdout: string; stderr: string }>;
  stop(): Promise<void>;
}

export interface TlsDaemonOptions {
  /** How long to wait for the daemon to answer; dockerd is ready in ~3 s here. */
  readonly startTimeoutMs?: number;
}

async function openssl(cwd: string, args: readonly string[]): Promise<void> {
  await run('openssl', args, { cwd });
}

async function makeCa(dir: string, name: string): Promise<void> {
  await openssl(dir, ['req', '-x509', '-new', '-nodes', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-sha256', '-days', '2',
    '-subj', `/CN=${name}`, '-keyout', `${name}-key.pem`, '-out', `${name}.pem`]);
}

/** Issues `<name>-cert.pem`/`<name>-key.pem` signed by CA `ca` with the given x509v3 extensions. */
async function issue(dir: string, ca: string, name: string, cn: string, extensions: string): Promise<void> {
  await writeFile(path.join(dir, `${name}.ext`), extensions);
  await openssl(dir, ['req', '-new', '-nodes', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-sha256',
    '-subj', `/CN=${cn}`, '-keyout', `${name}-key.pem`, '-out', `${name}.csr`]);
  await openssl(dir, ['x509', '-req', '-sha256', '-days', '2', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}-key.pem`,
    '-set_serial', `0x${Math.floor(Math.random() * 2 ** 48).toString(16)}`, '-extfile', `${name}.ext`, '-out', `${name}-cert.pem`]);
}

async function certDir(dir: string, name: string, files: { ca: string; cert: string; key: string }): Promise<string> {
  const target = path.join(dir, name);
  await mkdir(target, { recursive: true });
  await copyFile(files.ca, path.join(target, 'ca.pem'));
  await copyFile(files.cert, path.join(target, 'cert.pem'));
  await copyFile(files.key, path.join(target, 'key.pem'));
  return target;
}

export interface TestPki {
  /** ca.pem/ca-key.pem, server-cert.pem/server-key.pem (SAN IP:127.0.0.1), client-*, rogue-ca*, rogue-client-*. */
  readonly dir: string;
  /** DOCKER_CERT_PATH layout (ca.pem cert.pem key.pem) of a client the daemon accepts. */
  readonly clientCertDir: string;
  /** The accepted client cert and key, but ca.pem of a CA that did not sign the server. */
  readonly wrongCaCertDir: string;
  /** The right ca.pem, but a client cert from a CA the server does not trust. */
  readonly untrustedClientCertDir: string;
}

/** Makes a CA, a server cert for 127.0.0.1, a client cert, and a rogue CA with its own client, under `parent`. */
export async function makeTestPki(parent: string): Promise<TestPki> {
  const dir = path.join(parent, 'pki');
  await mkdir(dir, { recursive: true });
  await makeCa(dir, 'ca');
  await makeCa(dir, 'rogue-ca');
  await issue(dir, 'ca', 'server', '127.0.0.1', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  await issue(dir, 'ca', 'client', 'dockhand-test-client', 'extendedKeyUsage=clientAuth\n');
  await issue(dir, 'rogue-ca', 'rogue-client', 'dockhand-rogue-client', 'extendedKeyUsage=clientAuth\n');
  const p = (f: string) => path.join(dir, f);
  return {
    dir,
    clientCertDir: await certDir(parent, 'client', { ca: p('ca.pem'), cert: p('client-cert.pem'), key: p('client-key.pem') }),
    wrongCaCertDir: await certDir(parent, 'client-wrong-ca', { ca: p('rogue-ca.pem'), cert: p('client-cert.pem'), key: p('client-key.pem') }),
    untrustedClientCertDir: await certDir(parent, 'client-untrusted', { ca: p('ca.pem'), cert: p('rogue-client-cert.pem'), key: p('rogue-client-key.pem') }),
  };
}

export async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}


async function findDockerCli(): Promise<string> {
  for (const candidate of DOCKER_CLI) {
    try {
      await run(candidate, ['--version']);
      return candidate;
    } catch {
      // try the next one
    }
  }
  throw new Error(`no working docker CLI among ${DOCKER_CLI.join(', ')}`);
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
  });
}

export async function startTlsDaemon(options: TlsDaemonOptions = {}): Promise<TlsDaemon> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dockhand-tlsd-'));
  let bridge: TestBridge | undefined;
  let child: ChildProcess | undefined;

  const cleanup = async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const done = exited(child);
      child.kill('SIGTERM');
      const timer = setTimeout(() => child?.kill('SIGKILL'), 10_000);
      await done;
      clearTimeout(timer);
    }
    await bridge?.remove();
    await rm(dir, { recursive: true, force: true, maxRetries: 3 }).catch(() => undefined);
  };

  try {
    const cli = await findDockerCli();
    const pki = await makeTestPki(dir);
    const { clientCertDir, wrongCaCertDir, untrustedClientCertDir } = pki;
    const p = (f: string) => path.join(pki.dir, f);

    bridge = await createTestBridge('dh-tls', 250);
    const port = await freeLoopbackPort();
    const host = `tcp://127.0.0.1:${port}`;
    const logFile = path.join(dir, 'dockerd.log');
    const logFd = openSync(logFile, 'a');
    const namespace = `dockhand-tls${bridge.index}`;
    child = spawn('dockerd', [
      '--data-root', path.join(dir, 'root'), '--exec-root', path.join(dir, 'exec'), '--pidfile', path.join(dir, 'dockerd.pid'),
      '--bridge', bridge.name, '--iptables=false', '--ip-masq=false',
      // Should a system containerd be found, keep this daemon's objects apart from the shared daemon's.
      '--containerd-namespace', namespace, '--containerd-plugins-namespace', `${namespace}-plugins`,
      '-H', host, '--tlsverify', '--tlscacert', p('ca.pem'), '--tlscert', p('server-cert.pem'), '--tlskey', p('server-key.pem'),
    ], { stdio: ['ignore', logFd, logFd] });
    closeSync(logFd);
    const started = child;
    child.on('error', () => undefined);
    // A test process that dies without running its after() hooks still takes its daemon and bridge along.
    const bridgeName = bridge.name;
    const onExit = () => {
      if (started.exitCode === null && started.signalCode === null) started.kill('SIGTERM');
      try { execFileSync('ip', ['link', 'del', bridgeName], { stdio: 'ignore' }); } catch { /* already gone */ }
    };
    process.once('exit', onExit);
    started.once('exit', () => process.removeListener('exit', onExit));

    const env = (dirOf: string = clientCertDir): Record<string, string> => ({ DOCKER_HOST: host, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: dirOf });
    const docker = async (args: readonly string[], dirOf?: string) => {
      const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DOCKER_'))) as Record<string, string>;
      return run(cli, [...args], { env: { ...cleanEnv, DOCKER_CONFIG: path.join(dir, 'cli-config'), ...env(dirOf) }, timeout: 15_000 });
    };

    const early = exited(started).then(async () => {
      throw new Error(`dockerd exited early (${started.exitCode ?? started.signalCode})`);
    });
    early.catch(() => undefined);
    try {
      await Promise.race([
        early,
        waitFor(async () => (await docker(['version', '--format', '{{.Server.APIVersion}}'])).stdout.trim(),
          { timeoutMs: options.startTimeoutMs ?? 30_000, intervalMs: 200, what: `TLS dockerd on ${host}` }),
      ]);
    } catch (error) {
      const log = await readFile(logFile, 'utf8').catch(() => '');
      throw new Error(`${(error as Error).message}\n--- dockerd log (tail) ---\n${log.slice(-2000)}`);
    }

    return {
      port, host, dir, clientCertDir, wrongCaCertDir, untrustedClientCertDir, env, docker,
      stop: cleanup,
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
