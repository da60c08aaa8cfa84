/** Counting sinks: what a reader delivered, in lines and bytes, without keeping it. */
import { Writable } from 'node:stream';
import { open, stat } from 'node:fs/promises';

const NEWLINE = 0x0a;

function countNewlines(chunk: Buffer): number {
  let n = 0;
  let at = chunk.indexOf(NEWLINE);
  while (at !== -1) {
    n++;
    at = chunk.indexOf(NEWLINE, at + 1);
  }
  return n;
}

/** A Writable that counts bytes and newlines (a pipe target for `docker logs`). */
export class CountingSink extends Writable {
  lines = 0;
  bytes = 0;

  constructor() {
    super({ highWaterMark: 1024 * 1024 });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.bytes += chunk.length;
    this.lines += countNewlines(chunk);
    callback();
  }
}

/** Counts the complete lines of a file another process appends to, reading only what is new each time. */
export class FileLineCounter {
  lines = 0;
  bytes = 0;

  constructor(readonly file: string) {}

  async poll(): Promise<number> {
    const size = await stat(this.file).then((s) => s.size, () => 0);
    if (size <= this.bytes) return this.lines;
    const handle = await open(this.file, 'r');
    try {
      const buffer = Buffer.allocUnsafe(4 * 1024 * 1024);
      while (this.bytes < size) {
        const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, size - this.bytes), this.bytes);
        if (bytesRead === 0) break;
        this.lines += countNewlines(buffer.subarray(0, bytesRead));
        this.bytes += bytesRead;
      }
    } finally {
      await handle.close();
    }
    return this.lines;
  }
}
