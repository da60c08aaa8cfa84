/**
 * Reads cgroup files. cgroupfs and /proc are in-memory: a read never waits on a disk, so reads are
 * synchronous (a dozen files per container take microseconds, far less than a thread-pool hop each)
 * and the caller yields to the event loop between containers.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import path from 'node:path';

/** One buffer for every read: these files are a few KiB at most and reads are synchronous. */
const buffer = Buffer.allocUnsafe(64 * 1024);

/**
 * open + read + close into the shared buffer: three syscalls where readFileSync makes five
 * (it also fstats and reads again to find the end). A file larger than the buffer is read in full.
 */
export function readSmallFile(file: string): string {
  const fd = openSync(file, 'r');
  try {
    let length = readSync(fd, buffer, 0, buffer.length, null);
    if (length < buffer.length) return buffer.toString('utf8', 0, length);
    const chunks = [Buffer.from(buffer.subarray(0, length))];
    while ((length = readSync(fd, buffer, 0, buffer.length, null)) > 0) chunks.push(Buffer.from(buffer.subarray(0, length)));
    return Buffer.concat(chunks).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** The container's cgroup vanished while we read it (it stopped): no sample this round. */
export class CgroupGoneError extends Error {
  override readonly name = 'CgroupGoneError';
}

export function readRequired(dir: string, file: string): string {
  try {
    return readSmallFile(path.join(dir, file));
  } catch (error) {
    if (isMissing(error)) throw new CgroupGoneError(`${path.join(dir, file)} is gone`);
    throw error;
  }
}

/**
 * A file some kernels or configurations lack (the CFQ blkio files on blk-mq kernels, cpu.max at a
 * v2 root): '' then. With `missing`, a file found absent once is not tried again: a cgroup directory
 * never grows interface files, and a failed open costs an exception each time.
 */
export function readOptional(dir: string, file: string, missing?: Set<string>): string {
  if (!dir) return '';
  const full = path.join(dir, file);
  if (missing?.has(full)) return '';
  try {
    return readSmallFile(full);
  } catch (error) {
    if (isMissing(error)) {
      missing?.add(full);
      return '';
    }
    throw error;
  }
}

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'ENODEV' || code === 'ESRCH';
}
