/**
 * Finds the container the agent itself runs in, so its own log lines are not shipped back to it
 * (a feedback loop). cgroup v1 paths name the container (`/docker/<id>`, `docker-<id>.scope`);
 * under cgroup v2 namespaces they do not, but the bind mounts of /etc/hostname and friends come
 * from `/var/lib/docker/containers/<id>/`. HOSTNAME (the short id by default) is the last resort.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { OwnContainer } from './filters.js';

const CGROUP_ID = /(?:docker[-/]|\/containers\/|cri-containerd-)([0-9a-f]{64})/;
const MOUNT_ID = /\/containers\/([0-9a-f]{64})\/(?:hostname|hosts|resolv\.conf)/;

export function ownContainerFrom(cgroup: string, mountinfo: string, hostname: string | undefined, inContainer: boolean): OwnContainer {
  const fromCgroup = CGROUP_ID.exec(cgroup)?.[1];
  if (fromCgroup) return { id: fromCgroup };
  const fromMounts = MOUNT_ID.exec(mountinfo)?.[1];
  if (fromMounts) return { id: fromMounts };
  if (inContainer && hostname && /^[0-9a-f]{12}$/.test(hostname)) return { shortId: hostname };
  return {};
}

export async function detectOwnContainer(): Promise<OwnContainer> {
  const read = (file: string) => readFile(file, 'utf8').catch(() => '');
  const [cgroup, mountinfo] = await Promise.all([read('/proc/self/cgroup'), read('/proc/self/mountinfo')]);
  return ownContainerFrom(cgroup, mountinfo, process.env.HOSTNAME, existsSync('/.dockerenv'));
}
