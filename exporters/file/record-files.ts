/**
 * The folder of NDJSON files: `records-000001.ndjson`, `records-000002.ndjson`, … The highest
 * number is the current file; rotation starts the next number (no renames, so a crash at any point
 * leaves a consistent folder) and deletes the oldest beyond `maxFiles`.
 */
import { mkdir, open, readdir, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';

const NAME = /^records-(\d{6,})\.ndjson$/;

export function recordFileName(sequence: number): string {
  return `records-${String(sequence).padStart(6, '0')}.ndjson`;
}

/** Files of the folder, oldest first. */
export async function listRecordFiles(dir: string): Promise<{ sequence: number; file: string }[]> {
  const names = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [] as string[];
    throw error;
  });
  return names
    .map((name) => ({ name, match: NAME.exec(name) }))
    .filter((entry): entry is { name: string; match: RegExpExecArray } => entry.match !== null)
    .map((entry) => ({ sequence: Number(entry.match[1]), file: path.join(dir, entry.name) }))
    .sort((a, b) => a.sequence - b.sequence);
}

export class RecordFiles {
  private handle: FileHandle | undefined;
  private sequence = 0;
  private size = 0;

  constructor(readonly dir: string, private readonly maxBytes: number, private readonly maxFiles: number) {}

  get currentFile(): string {
    return path.join(this.dir, recordFileName(this.sequence));
  }

  get currentSize(): number {
    return this.size;
  }

  /** Opens the newest file for appending, cutting a torn last line a crash may have left. */
  async open(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const files = await listRecordFiles(this.dir);
    const newest = files.at(-1);
    this.sequence = newest?.sequence ?? 1;
    this.handle = await open(this.currentFile, 'a+', 0o600);
    this.size = (await this.handle.stat()).size;
    if (this.size > 0) await this.repairTornLine();
    if (!newest) await syncDir(this.dir);
  }

  /** Appends `data` whole or not at all (a failed write is cut back off), then syncs when asked. */
  async append(data: Buffer, sync: boolean): Promise<void> {
    if (!this.handle) throw new Error('record file is not open');
    if (this.size > 0 && this.size + data.length > this.maxBytes) await this.rotate();
    const handle = this.handle!;
    const before = this.size;
    try {
      let offset = 0;
      while (offset < data.length) {
        const { bytesWritten } = await handle.write(data, offset, data.length - offset);
        offset += bytesWritten;
      }
      if (sync) await handle.datasync();
      this.size = before + data.length;
    } catch (error) {
      await handle.truncate(before).catch(() => undefined);
      throw error;
    }
  }

  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    if (handle) {
      await handle.datasync().catch(() => undefined);
      await handle.close();
    }
  }

  private async rotate(): Promise<void> {
    await this.close();
    this.sequence++;
    this.handle = await open(this.currentFile, 'a+', 0o600);
    this.size = 0;
    await syncDir(this.dir);
    const files = await listRecordFiles(this.dir);
    for (const old of files.slice(0, Math.max(0, files.length - this.maxFiles))) await rm(old.file, { force: true });
  }

  /** A crash mid-write can leave half a line at the end; that batch was never acknowledged, so it comes again. */
  private async repairTornLine(): Promise<void> {
    const handle = this.handle!;
    const tail = Buffer.alloc(Math.min(this.size, 64 * 1024));
    let end = this.size;
    for (;;) {
      const start = Math.max(0, end - tail.length);
      const { bytesRead } = await handle.read(tail, 0, end - start, start);
      const index = tail.lastIndexOf(10, bytesRead - 1);
      if (end === this.size && index === bytesRead - 1) return;
      if (index >= 0) {
        await this.truncateTo(start + index + 1);
        return;
      }
      if (start === 0) {
        await this.truncateTo(0);
        return;
      }
      end = start;
    }
  }

  private async truncateTo(length: number): Promise<void> {
    await this.handle!.truncate(length);
    await this.handle!.datasync();
    this.size = length;
  }
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
