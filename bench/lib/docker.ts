/**
 * Bench containers on the shared daemon, through the docker CLI. Every one carries `dockhand.bench=1`
 * and the run's own label, and `removeAll` removes exactly those of this run.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export const BENCH_IMAGE = process.env.DOCKHAND_TEST_IMAGE ?? 'dockhand-test/busybox:latest';
export const BENCH_LABEL = 'dockhand.bench';
export const RUN_LABEL = 'dockhand.bench.run';

export async function docker(...args: string[]): Promise<string> {
  const { stdout } = await exec('docker', args, { maxBuffer: 64 * 1024 * 1024 });
  return stdout.trim();
}

export class BenchContainers {
  readonly run = `${process.pid}-${randomBytes(3).toString('hex')}`;

  /** `docker create` (not started) with the bench labels plus `labels`; returns the full id. */
  async create(name: string, command: readonly string[], labels: Record<string, string> = {}): Promise<string> {
    const all = { [BENCH_LABEL]: '1', [RUN_LABEL]: this.run, ...labels };
    return docker('create', '--name', `dh-bench-${name}-${this.run}`, '--log-driver', 'json-file',
      ...Object.entries(all).flatMap(([k, v]) => ['--label', `${k}=${v}`]), BENCH_IMAGE, ...command);
  }

  async startAll(ids: readonly string[]): Promise<void> {
    if (ids.length > 0) await docker('start', ...ids);
  }

  /** Waits for every container to exit; returns their exit codes. */
  async waitAll(ids: readonly string[]): Promise<number[]> {
    if (ids.length === 0) return [];
    return (await docker('wait', ...ids)).split('\n').map(Number);
  }

  async ids(): Promise<string[]> {
    const out = await docker('ps', '-aq', '--no-trunc', '--filter', `label=${RUN_LABEL}=${this.run}`);
    return out ? out.split('\n') : [];
  }

  async remove(ids: readonly string[]): Promise<void> {
    if (ids.length > 0) await docker('rm', '-f', '-v', ...ids).catch(() => undefined);
  }

  async removeAll(): Promise<void> {
    await this.remove(await this.ids());
  }
}

/** The json-file log of a container (where the daemon keeps what `docker logs` reads). */
export async function logPath(id: string): Promise<string> {
  return docker('inspect', '--format', '{{.LogPath}}', id);
}
