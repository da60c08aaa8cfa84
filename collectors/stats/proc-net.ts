/**
 * Network counters of a container: `/proc/<pid>/net/dev` of its init process shows the interfaces
 * of the container's network namespace. `lo` is left out, as the Docker API and cAdvisor do.
 */
import path from 'node:path';
import type { NetworkSample } from '../../src/records.js';
import { readSmallFile } from './cgroup-files.js';

/**
 * Parses net/dev: two header lines, then `iface: rx bytes packets errs drop fifo frame compressed
 * multicast tx bytes packets errs drop fifo colls carrier compressed`. Old kernels glue a wide byte
 * count to the colon (`eth0:1234567`), so the name is split at the colon, not at whitespace.
 */
export function parseNetDev(text: string): NetworkSample[] {
  const out: NetworkSample[] = [];
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    if (!name || name.includes('|') || name === 'lo') continue;
    const f = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    if (f.length < 16 || f.some((n) => Number.isNaN(n))) continue;
    out.push({
      interface: name,
      rxBytes: f[0]!, rxPackets: f[1]!, rxErrors: f[2]!, rxDropped: f[3]!,
      txBytes: f[8]!, txPackets: f[9]!, txErrors: f[10]!, txDropped: f[11]!,
    });
  }
  return out;
}

/** The container's interfaces, or undefined when its init process is not visible under procRoot. */
export function readProcNetDev(procRoot: string, pid: number): NetworkSample[] | undefined {
  if (pid <= 0) return undefined;
  try {
    return parseNetDev(readSmallFile(path.join(procRoot, String(pid), 'net', 'dev')));
  } catch {
    return undefined;
  }
}
