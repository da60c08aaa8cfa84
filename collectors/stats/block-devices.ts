/**
 * Block device names by major:minor, from the host's /proc/partitions (the same on the host and
 * in a sidecar: the file is not namespaced), so per-device series carry cAdvisor's `device="/dev/sda"`.
 */
import path from 'node:path';
import { readSmallFile } from './cgroup-files.js';
import type { DeviceNames } from './sample.js';

/** A device not in the table is looked up again at most this often (a disk hot-plugged meanwhile). */
const RELOAD_AFTER_MS = 60_000;

/** `major minor #blocks name` lines after a header; names become `/dev/<name>`. */
export function parsePartitions(text: string): Map<string, string> {
  const names = new Map<string, string>();
  for (const line of text.split('\n')) {
    const [major, minor, blocks, name] = line.trim().split(/\s+/);
    if (!name || !/^\d+$/.test(major ?? '') || !/^\d+$/.test(minor ?? '') || !/^\d+$/.test(blocks ?? '')) continue;
    names.set(`${major}:${minor}`, `/dev/${name}`);
  }
  return names;
}

export class ProcPartitions implements DeviceNames {
  private names = new Map<string, string>();
  private loadedAt = -Infinity;

  constructor(private readonly file: string, private readonly now: () => number = Date.now) {}

  static under(procRoot: string): ProcPartitions {
    return new ProcPartitions(path.join(procRoot, 'partitions'));
  }

  name(major: number, minor: number): string | undefined {
    const key = `${major}:${minor}`;
    const known = this.names.get(key);
    if (known !== undefined || this.now() - this.loadedAt < RELOAD_AFTER_MS) return known;
    this.load();
    return this.names.get(key);
  }

  private load(): void {
    this.loadedAt = this.now();
    try {
      this.names = parsePartitions(readSmallFile(this.file));
    } catch {
      // no /proc here: series keep the major:minor as their device
    }
  }
}
