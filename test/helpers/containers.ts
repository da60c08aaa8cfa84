/**
 * Test containers on the real daemon, through the docker CLI (tests may change the daemon; the
 * agent may not). Every container carries `dockhand.test=1` plus the caller's run label, and
 * `removeAll` removes exactly those.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export const TEST_IMAGE = process.env.DOCKHAND_TEST_IMAGE ?? 'dockhand-test/busybox:latest';
export const TEST_LABEL = 'dockhand.test';

export async function docker(...args: string[]): Promise<string> {
  const { stdout } = await exec('docker', args, { maxBuffer: 512 * 1024 * 1024 });
  return stdout.trim();
}

export interface RunOptions {
  readonly name?: string;
  readonly labels?: Record<string, string>;
  /** Extra `docker run` flags, e.g. ['--tty'] or ['--health-cmd', 'false']. */
  readonly flags?: readonly string[];
  readonly detach?: boolean;
}

/** A group of containers one test file owns, told apart from everyone else's by a run label. */
export class TestContainers {
  readonly run = `${process.pid}-${randomBytes(3).toString('hex')}`;
  readonly runLabel = 'dockhand.test.run';

  name(base: string): string {
    return `dh-${base}-${this.run}`;
  }

  /** `docker run -d` the test image with `command`; returns the container id. */
  async start(command: readonly string[], options: RunOptions = {}): Promise<string> {
    return docker(...this.createArgs('run', options), '-d', ...(options.flags ?? []), TEST_IMAGE, ...command);
  }

  /** `docker create` without starting; returns the container id. */
  async create(command: readonly string[], options: RunOptions = {}): Promise<string> {
    return docker(...this.createArgs('create', options), ...(options.flags ?? []), TEST_IMAGE, ...command);
  }

  private createArgs(verb: string, options: RunOptions): string[] {
    const labels = { [TEST_LABEL]: '1', [this.runLabel]: this.run, ...options.labels };
    return [verb, ...(options.name ? ['--name', options.name] : []), ...Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`])];
  }

  async ids(): Promise<string[]> {
    const out = await docker('ps', '-aq', '--no-trunc', '--filter', `label=${this.runLabel}=${this.run}`);
    return out ? out.split('\n') : [];
  }

  /** Removes every container of this group (force). */
  async removeAll(): Promise<void> {
    const ids = await this.ids();
    if (ids.length > 0) await docker('rm', '-f', '-v', ...ids).catch(() => undefined);
  }
}

/** Waits for a container to exit and returns its exit code. */
export async function waitExit(id: string): Promise<number> {
  return Number(await docker('wait', id));
}
