/**
 * A private dockerd on its own unix socket, data-root, exec-root and bridge, for tests that kill
 * and restart a daemon without disturbing the shared one (and the tests running beside them).
 * The busybox test image is imported into it. `stop()` removes everything it made.
 */
import { spawn, execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, readFile } from 'node:fs/promises';
import { openSync, closeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from './wait.js';
import { TEST_IMAGE } from './containers.js';
import { createTestBridge } from './bridge.js';

const run = promisify(execFile);

export interface PrivateDaemon {
  readonly socket: string;
  /** unix://<socket> */
  readonly host: string;
  readonly dir: string;
  /** Runs the docker CLI against this daemon. */
  docker(...args: string[]): Promise<string>;
  /** Kills the daemon (SIGKILL, as a crash) or stops it (SIGTERM), and waits until it is gone. */
  kill(signal?: 'SIGKILL' | 'SIGTERM'): Promise<void>;
  /** Starts it again on the same socket and state; resolves once it answers. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}


function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
  });
}

export async function startPrivateDaemon(): Promise<PrivateDaemon> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dockhand-privd-'));
  const socket = path.join(dir, 'docker.sock');
  const host = `unix://${socket}`;
  const logFile = path.join(dir, 'dockerd.log');
  const bridge = await createTestBridge('dh-priv', 230);
  let child: ChildProcess | undefined;

  const docker = async (...args: string[]) => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DOCKER_'))) as Record<string, string>;
    const { stdout } = await run('docker', args, { env: { ...env, DOCKER_HOST: host, DOCKER_CONFIG: path.join(dir, 'cli') }, timeout: 60_000, maxBuffer: 256 * 1024 * 1024 });
    return stdout.trim();
  };

  const onExit = () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    try { execFileSync('ip', ['link', 'del', bridge.name], { stdio: 'ignore' }); } catch { /* gone */ }
  };
  process.once('exit', onExit);

  const launch = async () => {
    const fd = openSync(logFile, 'a');
    child = spawn('dockerd', [
      '-H', host, '--data-root', path.join(dir, 'root'), '--exec-root', path.join(dir, 'exec'), '--pidfile', path.join(dir, 'dockerd.pid'),
      '--bridge', bridge.name, '--iptables=false', '--ip-masq=false',
    ], { stdio: ['ignore', fd, fd], detached: true });
    closeSync(fd);
    child.on('error', () => undefined);
    try {
      await waitFor(async () => (await docker('version', '--format', '{{.Server.APIVersion}}')).length > 0, { timeoutMs: 60_000, intervalMs: 200, what: `private dockerd on ${socket}` });
    } catch (error) {
      const log = await readFile(logFile, 'utf8').catch(() => '');
      throw new Error(`${(error as Error).message}\n--- dockerd log (tail) ---\n${log.slice(-2000)}`);
    }
  };

  const kill = async (signal: 'SIGKILL' | 'SIGTERM' = 'SIGKILL') => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const done = exited(child);
    child.kill(signal);
    const timer = setTimeout(() => child?.kill('SIGKILL'), 15_000);
    await done;
    clearTimeout(timer);
    // A killed dockerd leaves its managed containerd running, which a new dockerd cannot take over:
    // end it too, as a crash of the whole docker service would, and the pidfile it leaves.
    const containerd = path.join(dir, 'exec', 'containerd');
    await run('pkill', ['-KILL', '-f', containerd]).catch(() => undefined);
    await waitFor(async () => {
      try {
        await run('pgrep', ['-f', containerd]);
        return false;
      } catch {
        return true;
      }
    }, { timeoutMs: 15_000, what: 'private containerd gone' });
    // Its pid may linger as an unreaped zombie (PID 1 here does not reap), which dockerd takes for alive.
    await rm(path.join(containerd, 'containerd.pid'), { force: true });
    await rm(path.join(dir, 'dockerd.pid'), { force: true });
  };

  const stop = async () => {
    await kill('SIGTERM');
    // containerd (started by dockerd) may outlive a killed daemon: end what lives under our exec-root.
    await run('pkill', ['-f', dir]).catch(() => undefined);
    process.removeListener('exit', onExit);
    await bridge.remove();
    await run('umount', ['-R', path.join(dir, 'root')]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true, maxRetries: 3 }).catch(() => undefined);
  };

  try {
    await launch();
    const image = await run('docker', ['save', TEST_IMAGE], { encoding: 'buffer', maxBuffer: 256 * 1024 * 1024 });
    const load = spawn('docker', ['load'], { env: { ...process.env, DOCKER_HOST: host }, stdio: ['pipe', 'ignore', 'inherit'] });
    load.stdin.end(image.stdout);
    await new Promise<void>((resolve, reject) => load.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`docker load exited ${code}`)))));
  } catch (error) {
    await stop();
    throw error;
  }

  return { socket, host, dir, docker, kill, restart: launch, stop };
}
