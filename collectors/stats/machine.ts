/**
 * The host's size for cAdvisor's machine_cpu_cores and machine_memory_bytes, read from the host's
 * /proc (`proc_root`: /host/proc in a sidecar; cpuinfo and meminfo are not namespaced, so a
 * container's own /proc gives the host's figures too), with cAdvisor's identity labels
 * machine_id, system_uuid and boot_id ('' where the file is not visible to the agent).
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { MachineSample } from '../../src/records.js';

/** Logical CPUs as cAdvisor counts them: the `processor` entries of /proc/cpuinfo. */
export function cpuCoresFromCpuinfo(text: string): number {
  let cores = 0;
  for (const line of text.split('\n')) if (/^processor\s*:/.test(line)) cores++;
  return cores;
}

/** MemTotal of /proc/meminfo in bytes (the file says kB, meaning KiB). */
export function memoryBytesFromMeminfo(text: string): number | undefined {
  const match = /^MemTotal:\s+(\d+)\s*kB/m.exec(text);
  return match ? Number(match[1]) * 1024 : undefined;
}

function readTrimmed(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return '';
  }
}

/**
 * `procRoot` is where the host's /proc is; the host's root is taken to be its parent (/host for
 * /host/proc), where /etc/machine-id is looked for; /sys/class/dmi is read from the agent's own /sys.
 */
export function readMachine(procRoot: string): MachineSample {
  const hostRoot = path.dirname(path.resolve(procRoot));
  const cpuCores = cpuCoresFromCpuinfo(readTrimmed(path.join(procRoot, 'cpuinfo'))) || os.cpus().length;
  const memoryBytes = memoryBytesFromMeminfo(readTrimmed(path.join(procRoot, 'meminfo'))) ?? os.totalmem();
  return Object.freeze({
    cpuCores,
    memoryBytes,
    machineId: readTrimmed(path.join(hostRoot, 'etc/machine-id')) || readTrimmed(path.join(hostRoot, 'var/lib/dbus/machine-id')),
    systemUuid: readTrimmed('/sys/class/dmi/id/product_uuid'),
    bootId: readTrimmed(path.join(procRoot, 'sys/kernel/random/boot_id')),
  });
}
