/**
 * Reads cgroup files. cgroupfs and /proc are in-memory: a read never waits on a disk, so reads are
 * synchronous (a dozen files per container take microseconds, far less than a thread-pool hop each)
 * and the caller yields to the event loop between containers.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

/** The container's cgroup vanished while we read it (it stopped): no sample this round. */
export class CgroupGoneError extends Error {
  override readonly name = 'CgroupGoneError';
}

export function readRequired(dir: string, file: string): string {
  try {
    return readFileSync(path.join(dir, file), 'utf8');
  } catch (error) {
    if (isMissing(error)) throw new CgroupGoneError(`${path.join(dir, file)} is gone`);
    throw error;
  }
}

/** A file some kernels or configurations lack (cpu.stat without CFS, blkio without a throttle file): '' then. */
export function readOptional(dir: string, file: string): string {
  if (!dir) return '';
  try {
    return readFileSync(path.join(dir, file), 'utf8');
  } catch (error) {
    if (isMissing(error)) return '';
    throw error;
  }
}

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'ENODEV' || code === 'ESRCH';
}
