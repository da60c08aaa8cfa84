/**
 * The cgroup fast path: finds each container's cgroup once per start (cached), then reads its
 * files and its init process's net/dev on every round. No Docker API call.
 */
import { readlinkSync } from 'node:fs';
import path from 'node:path';
import type { ContainerState } from '../../src/docker/inventory.js';
import { resolveContainerCgroup, type CgroupLayout } from './cgroup-paths.js';
import { readCgroupV1 } from './cgroup-v1.js';
import { readCgroupV2 } from './cgroup-v2.js';
import { readProcNetDev } from './proc-net.js';
import type { DeviceNames, ResourceSample } from './sample.js';

export interface Resolved {
  readonly startedAt: number;
  readonly pid: number;
  readonly cgroupPath: string;
  /** `--network host`: net/dev would show the host's interfaces, which the API and cAdvisor leave out. */
  readonly hostNetwork: boolean;
  /** Whether the init process's net/dev is readable under procRoot (decided once per start). */
  readonly networkVisible: boolean;
  /** Optional files this cgroup lacks, so they are not tried every round. */
  readonly missing: Set<string>;
}

export class CgroupSource {
  private readonly resolved = new Map<string, Resolved>();

  constructor(readonly layout: CgroupLayout, readonly procRoot: string, private readonly deviceNames?: DeviceNames) {}

  /** Where the container's files are, or undefined when they are not visible here. Cached per start. */
  async resolve(container: ContainerState): Promise<Resolved | undefined> {
    const id = container.meta.id;
    const cached = this.resolved.get(id);
    if (cached && cached.startedAt === container.startedAt && cached.pid === container.pid) return cached;
    const cgroupPath = await resolveContainerCgroup(this.layout, id, container.pid, this.procRoot);
    if (!cgroupPath) {
      this.resolved.delete(id);
      return undefined;
    }
    const resolved: Resolved = {
      startedAt: container.startedAt,
      pid: container.pid,
      cgroupPath,
      hostNetwork: this.sharesHostNetwork(container.pid),
      networkVisible: readProcNetDev(this.procRoot, container.pid) !== undefined,
      missing: new Set(),
    };
    this.resolved.set(id, resolved);
    return resolved;
  }

  /** Reads one sample; throws CgroupGoneError when the container stopped meanwhile. Call resolve() first. */
  read(container: ContainerState): ResourceSample & { cgroupPath: string } {
    const resolved = this.resolved.get(container.meta.id);
    if (!resolved) throw new Error(`cgroup of ${container.meta.id} not resolved`);
    const base = this.layout.version === 1
      ? readCgroupV1(this.layout, resolved.cgroupPath, resolved.missing, this.deviceNames)
      : readCgroupV2(this.layout, resolved.cgroupPath, resolved.missing, this.deviceNames);
    const network = resolved.hostNetwork ? [] : readProcNetDev(this.procRoot, container.pid);
    return { ...base, network, cgroupPath: resolved.cgroupPath };
  }

  /** Drops cached paths of containers not in `ids`. */
  retain(ids: ReadonlySet<string>): void {
    for (const id of this.resolved.keys()) if (!ids.has(id)) this.resolved.delete(id);
  }

  private sharesHostNetwork(pid: number): boolean {
    try {
      return readlinkSync(path.join(this.procRoot, String(pid), 'ns', 'net')) === readlinkSync(path.join(this.procRoot, '1', 'ns', 'net'));
    } catch {
      return false; // namespaces not readable (no CAP_SYS_PTRACE): count what net/dev shows
    }
  }
}
