/**
 * Where a container's cgroup files are. Two things vary between hosts: the hierarchy (cgroup v1,
 * one mount per controller or per controller group such as `cpu,cpuacct`; or the v2 unified tree)
 * and the driver dockerd uses to name the container's cgroup (cgroupfs: `/docker/<id>`; systemd:
 * `/system.slice/docker-<id>.scope`). Both are found by looking, never by asking the daemon, so the
 * same code works on the host and in a sidecar with the host's tree mounted at another root.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';

export type CgroupLayout =
  | { readonly version: 1; readonly root: string; readonly controllers: Readonly<Record<V1Controller, string>> }
  | { readonly version: 2; readonly root: string };

export const V1_CONTROLLERS = ['cpu', 'cpuacct', 'memory', 'blkio', 'pids'] as const;
export type V1Controller = (typeof V1_CONTROLLERS)[number];

/**
 * Looks at `root` and says which hierarchy it holds, or undefined when no usable cgroup tree is
 * visible there (no mount, or a v1 tree without the memory and cpuacct controllers).
 * A hybrid host (v1 controllers plus an empty `unified` mount) counts as v1: that is where Docker puts them.
 */
export async function detectCgroupLayout(root: string): Promise<CgroupLayout | undefined> {
  if (await isFile(path.join(root, 'cgroup.controllers'))) return { version: 2, root };
  let entries: string[];
  try {
    entries = await readdir(root);
  } catch {
    return undefined;
  }
  const found: Partial<Record<V1Controller, string>> = {};
  // Exact names first: on hosts with `cpu,cpuacct` plus `cpu` and `cpuacct` symlinks, either works.
  for (const entry of [...entries].sort((a, b) => a.split(',').length - b.split(',').length)) {
    for (const controller of entry.split(',')) {
      if ((V1_CONTROLLERS as readonly string[]).includes(controller) && !found[controller as V1Controller]) {
        found[controller as V1Controller] = path.join(root, entry);
      }
    }
  }
  if (!found.memory || !found.cpuacct) return undefined;
  // cpu (CFS) and blkio/pids are optional on odd kernels; a missing one reads as zeros.
  const controllers = Object.fromEntries(V1_CONTROLLERS.map((c) => [c, found[c] ?? ''])) as Record<V1Controller, string>;
  return { version: 1, root, controllers };
}

/** The cgroup paths dockerd gives a container under each driver, in the order they are tried. */
export function driverCgroupPaths(containerId: string): string[] {
  return [`/docker/${containerId}`, `/system.slice/docker-${containerId}.scope`];
}

/** The cgroup path cAdvisor would report for a container whose files we cannot see (API source). */
export function expectedCgroupPath(containerId: string, cgroupDriver: string | undefined): string {
  return cgroupDriver === 'systemd' ? `/system.slice/docker-${containerId}.scope` : `/docker/${containerId}`;
}

/**
 * Parses `/proc/<pid>/cgroup` and returns the path of the memory controller (v1) or the unified
 * path (v2). Paths starting with `/..` are relative to the reader's cgroup namespace and useless to us.
 */
export function cgroupPathFromProc(text: string, version: 1 | 2): string | undefined {
  for (const line of text.split('\n')) {
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first < 0 || second < 0) continue;
    const controllers = line.slice(first + 1, second);
    const cgroupPath = line.slice(second + 1).trim();
    const wanted = version === 2 ? controllers === '' : controllers.split(',').includes('memory');
    if (wanted && cgroupPath.startsWith('/') && !cgroupPath.startsWith('/..') && cgroupPath !== '/') return cgroupPath;
  }
  return undefined;
}

/** The directory whose existence proves the container's cgroup is visible under this layout. */
export function probeDirectory(layout: CgroupLayout, cgroupPath: string): string {
  return layout.version === 2 ? path.join(layout.root, cgroupPath) : path.join(layout.controllers.memory, cgroupPath);
}

/**
 * Finds the container's cgroup path: the driver conventions first (cheap, namespace-proof), then
 * `<procRoot>/<pid>/cgroup` for a custom `--cgroup-parent`. Undefined when none is visible.
 */
export async function resolveContainerCgroup(layout: CgroupLayout, containerId: string, pid: number, procRoot: string): Promise<string | undefined> {
  for (const candidate of driverCgroupPaths(containerId)) {
    if (await isDirectory(probeDirectory(layout, candidate))) return candidate;
  }
  if (pid > 0) {
    try {
      const fromProc = cgroupPathFromProc(await readFile(path.join(procRoot, String(pid), 'cgroup'), 'utf8'), layout.version);
      if (fromProc && (await isDirectory(probeDirectory(layout, fromProc)))) return fromProc;
    } catch {
      // process gone or /proc not visible: the driver candidates were all we had
    }
  }
  return undefined;
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}

async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}
