/**
 * container_fs_usage_bytes / container_fs_limit_bytes: the size of each running container's
 * writable layer and the capacity of the filesystem that holds it, as cAdvisor reports them.
 *
 * cAdvisor walks `<docker root>/overlay2/<layer>/diff` and `containers/<id>` itself once a minute,
 * which needs the Docker root mounted into the agent. dockhand mounts only the socket, the cgroup
 * tree and /proc, so it asks the daemon instead, in one request for all running containers per
 * interval: `GET /containers/json?size=1` filtered to running and paused containers (the daemon
 * sizes only the containers it lists; `GET /system/df` would also size every image, volume and
 * build cache entry). The request runs beside the stats rounds, never inside one, one at a time.
 * The capacity comes from statfs of the Docker root (on the host) or of the agent's own
 * /etc/hostname, a bind mount out of `<docker root>/containers/` (in a container); the device name
 * from the host's mount table.
 */
import { statfs } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { DockerClient } from '../../src/docker/client.js';
import type { FilesystemSample } from '../../src/records.js';

/** What the request needs of the Docker client. */
export type ContainerLister = Pick<DockerClient, 'listContainers'>;

/** How a measurement ended: the daemon's time to answer when it did. */
export type FsUsageOutcome = { readonly kind: 'measured'; readonly seconds: number } | { readonly kind: 'failed' | 'aborted' };

export interface FsUsageOptions {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly procRoot: string;
}

/** One mountinfo line's mount point, root within its filesystem and source device. */
export interface MountEntry {
  readonly root: string;
  readonly mountPoint: string;
  readonly source: string;
}

const unescapeMount = (field: string) => field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));

export function parseMountinfo(text: string): MountEntry[] {
  const mounts: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    const dash = fields.indexOf('-');
    if (dash < 6 || fields.length < dash + 3) continue;
    mounts.push({ root: unescapeMount(fields[3]!), mountPoint: unescapeMount(fields[4]!), source: fields[dash + 2]! });
  }
  return mounts;
}

/** The source of the mount holding `dir`: the longest mount point that is `dir` or one of its parents (the last mounted wins on a tie). */
export function deviceHolding(mounts: readonly MountEntry[], dir: string): string | undefined {
  let best: MountEntry | undefined;
  for (const mount of mounts) {
    const prefix = mount.mountPoint === '/' ? '/' : `${mount.mountPoint}/`;
    if (dir !== mount.mountPoint && !dir.startsWith(prefix)) continue;
    if (!best || mount.mountPoint.length >= best.mountPoint.length) best = mount;
  }
  return best?.source;
}

/** In a container: the agent's bind mount that comes from `<docker root>/containers/<id>/` (its /etc/hostname and friends). */
export function bindFromDockerRoot(mounts: readonly MountEntry[], dockerRootDir: string): MountEntry | undefined {
  const containers = `${dockerRootDir.replace(/\/$/, '')}/containers/`;
  return mounts.find((m) => m.root.startsWith(containers));
}

function readMounts(file: string): MountEntry[] {
  try {
    return parseMountinfo(readFileSync(file, 'utf8'));
  } catch {
    return [];
  }
}

async function capacity(dir: string): Promise<number | undefined> {
  try {
    const stats = await statfs(dir);
    return stats.bsize * stats.blocks;
  } catch {
    return undefined;
  }
}

export type FsUsageState = 'idle' | 'measuring' | 'failed';

export class FsUsage {
  private usage = new Map<string, readonly FilesystemSample[]>();
  private lastStartedAt = -Infinity;
  private state: FsUsageState = 'idle';
  private counters = { measurements: 0, failures: 0 };
  private lastDurationMs: number | undefined;
  private lastError: string | undefined;
  private device: string | undefined;

  constructor(private readonly options: FsUsageOptions, private readonly now: () => number = Date.now) {}

  /** The latest figures of a container; undefined until its first measurement. */
  get(id: string): readonly FilesystemSample[] | undefined {
    return this.usage.get(id);
  }

  status(): Record<string, unknown> {
    return {
      interval_ms: this.options.intervalMs,
      state: this.state,
      ...this.counters,
      ...(this.device !== undefined ? { device: this.device } : {}),
      ...(this.lastDurationMs !== undefined ? { last_duration_ms: Math.round(this.lastDurationMs) } : {}),
      ...(this.lastError ? { last_error: this.lastError } : {}),
    };
  }

  /** Starts a measurement when one is due and none runs; returns it (it never rejects), else undefined. */
  startIfDue(docker: ContainerLister, dockerRootDir: string, signal: AbortSignal): Promise<FsUsageOutcome> | undefined {
    if (this.options.intervalMs <= 0 || this.state === 'measuring' || signal.aborted) return undefined;
    if (this.now() - this.lastStartedAt < this.options.intervalMs) return undefined;
    this.lastStartedAt = this.now();
    this.state = 'measuring';
    return this.measure(docker, dockerRootDir, signal);
  }

  private async measure(docker: ContainerLister, dockerRootDir: string, signal: AbortSignal): Promise<FsUsageOutcome> {
    const started = performance.now();
    try {
      const [containers, filesystem] = await Promise.all([
        docker.listContainers(
          { size: true, filters: JSON.stringify({ status: ['running', 'paused'] }) },
          { signal, timeoutMs: this.options.timeoutMs },
        ),
        this.filesystem(dockerRootDir),
      ]);
      const usage = new Map<string, readonly FilesystemSample[]>();
      for (const c of containers as readonly { Id?: string; SizeRw?: number }[]) {
        // The daemon leaves SizeRw out when it is 0 (omitempty): an empty writable layer, not an unknown one.
        const size = c.SizeRw ?? 0;
        if (!c.Id || size < 0) continue;
        usage.set(c.Id, Object.freeze([Object.freeze({ device: filesystem.device, usageBytes: size, ...(filesystem.limitBytes !== undefined ? { limitBytes: filesystem.limitBytes } : {}) })]));
      }
      this.usage = usage;
      this.counters.measurements++;
      this.lastDurationMs = performance.now() - started;
      this.state = 'idle';
      return { kind: 'measured', seconds: this.lastDurationMs / 1000 };
    } catch (error) {
      this.state = 'failed';
      if (signal.aborted) return { kind: 'aborted' };
      this.counters.failures++;
      this.lastError = error instanceof Error ? error.message : String(error);
      return { kind: 'failed' };
    }
  }

  /** Device and capacity of the filesystem under the Docker root; looked up on every measurement (cheap: a statfs and a small file). */
  private async filesystem(dockerRootDir: string): Promise<{ device: string; limitBytes?: number }> {
    const own = readMounts('/proc/self/mountinfo');
    const bind = bindFromDockerRoot(own, dockerRootDir);
    // In a container the bind mount names the device exactly; the host's table (procRoot/1) serves an agent on the host.
    const device = bind?.source ?? deviceHolding(readMounts(path.join(this.options.procRoot, '1', 'mountinfo')), dockerRootDir) ?? '';
    const limitBytes = (await capacity(dockerRootDir)) ?? (bind ? await capacity(bind.mountPoint) : undefined);
    this.device = device;
    return limitBytes !== undefined ? { device, limitBytes } : { device };
  }
}
