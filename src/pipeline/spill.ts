/**
 * An append-only, on-disk FIFO of records for one exporter lane: what cannot wait in memory (events
 * for a down exporter) waits here, survives an agent restart, and is read back once, in order.
 *
 * Segment files `segment-000001.ndjson`, … one record a line, appended and fsync'd before `append`
 * resolves; a new segment starts past `segmentBytes`. `cursor.json` (written atomically) says where
 * reading has got to; it moves only when the records before it were delivered (`commit`), and whole
 * segments behind it are deleted. A line torn by a crash mid-append (no `\n`) is cut off at open.
 * The `front` (written atomically) holds records older than every segment — a batch taken back
 * from memory when its export failed — and is read before them.
 * Bounded by `maxBytes` (unread bytes): `append` refuses what does not fit and the caller decides.
 */
import { mkdir, open, readdir, rm, stat, truncate, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { StateStore } from '../state/store.js';

export interface SpillCodec<T> {
  encode(record: T): string;
  decode(line: string): T;
}

export interface SpillLimits {
  /** Unread bytes the spill holds at most. */
  readonly maxBytes: number;
  /** A segment is closed past this size (and deleted once read). */
  readonly segmentBytes: number;
}

interface Position {
  readonly segment: number;
  readonly offset: number;
}

/** Records read but not yet committed, with where each one ends. */
export interface SpillRead<T> {
  readonly records: readonly T[];
  /** Pass back to commit() once every record of `records` is delivered. */
  readonly end: Position;
}

const SEGMENT = /^segment-(\d{6,})\.ndjson$/;
const segmentName = (n: number) => `segment-${String(n).padStart(6, '0')}.ndjson`;
const CURSOR = 'cursor';
const FRONT = 'front';

export class SpillLog<T> {
  /** Segment numbers on disk, oldest first; the last is the one appended to. */
  private segments: number[] = [];
  private sizes = new Map<number, number>();
  private cursor: Position = { segment: 1, offset: 0 };
  /** Where the next read starts (ahead of the cursor while a read is being delivered). */
  private readPosition: Position = { segment: 1, offset: 0 };
  private tail: FileHandle | undefined;
  private readonly state: StateStore;
  private opened = false;
  private front: readonly T[] = [];

  constructor(readonly dir: string, private readonly codec: SpillCodec<T>, private readonly limits: SpillLimits) {
    this.state = new StateStore(dir);
  }

  /** Loads what an earlier run left (cursor, segments), cutting off a torn last line. Idempotent. */
  async open(): Promise<void> {
    if (this.opened) return;
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const saved = await this.state.read<Position>(CURSOR).catch(() => undefined);
    const names = await readdir(this.dir);
    const found = names.map((n) => SEGMENT.exec(n)).filter((m): m is RegExpExecArray => m !== null).map((m) => Number(m[1])).sort((a, b) => a - b);
    const valid = saved && Number.isInteger(saved.segment) && Number.isInteger(saved.offset) ? saved : undefined;
    for (const n of found) {
      if (valid && n < valid.segment) await rm(path.join(this.dir, segmentName(n)), { force: true });
      else this.segments.push(n);
    }
    for (const n of this.segments) this.sizes.set(n, (await stat(path.join(this.dir, segmentName(n)))).size);
    const last = this.segments.at(-1);
    if (last !== undefined) await this.cutTornLine(last);
    const first = this.segments[0];
    if (valid && first === valid.segment) this.cursor = { segment: valid.segment, offset: Math.min(valid.offset, this.sizes.get(first) ?? 0) };
    else this.cursor = { segment: first ?? (valid ? valid.segment : 1), offset: 0 };
    this.readPosition = this.cursor;
    const front = await this.state.read<string[]>(FRONT).catch(() => undefined);
    this.front = Array.isArray(front) ? front.map((line) => this.codec.decode(line)) : [];
    this.opened = true;
  }

  /** Records to be delivered before any segment (older than all of them). */
  get frontRecords(): readonly T[] {
    return this.front;
  }

  /** Replaces the front durably (temp file, fsync, rename); only while it is empty. */
  async setFront(records: readonly T[]): Promise<void> {
    if (this.front.length > 0) throw new Error('spill front already holds records');
    await this.state.write(FRONT, records.map((r) => this.codec.encode(r)));
    this.front = records;
  }

  /** The front was delivered. */
  async clearFront(): Promise<void> {
    await this.state.remove(FRONT);
    this.front = [];
  }

  /** Bytes appended and not yet committed. */
  get bytes(): number {
    let total = 0;
    for (const n of this.segments) total += this.sizes.get(n) ?? 0;
    return total - (this.segments[0] === this.cursor.segment ? this.cursor.offset : 0);
  }

  /** Nothing appended is left uncommitted, and the front is empty. */
  get isEmpty(): boolean {
    return this.bytes === 0 && this.front.length === 0;
  }

  /** Nothing appended is left unread (some may be read and not committed yet). */
  get allRead(): boolean {
    const last = this.segments.at(-1);
    return last === undefined || (this.readPosition.segment === last && this.readPosition.offset >= (this.sizes.get(last) ?? 0)) || this.readPosition.segment > last;
  }

  /** Appends `records` durably; returns how many fit under maxBytes (a prefix; the rest was not written). */
  async append(records: readonly T[]): Promise<number> {
    let room = this.limits.maxBytes - this.bytes;
    const lines: string[] = [];
    for (const record of records) {
      const line = `${this.codec.encode(record)}\n`;
      const size = Buffer.byteLength(line);
      if (size > room) break;
      room -= size;
      lines.push(line);
    }
    if (lines.length === 0) return 0;
    const handle = await this.tailHandle();
    const text = lines.join('');
    await handle.write(text);
    await handle.sync();
    const last = this.segments.at(-1)!;
    this.sizes.set(last, (this.sizes.get(last) ?? 0) + Buffer.byteLength(text));
    return lines.length;
  }

  /** Reads up to `max` records after the last read (not the last commit); empty when all is read. */
  async read(max: number): Promise<SpillRead<T>> {
    this.skipFinishedSegment();
    const { segment, offset } = this.readPosition;
    const size = this.sizes.get(segment) ?? 0;
    if (offset >= size) return { records: [], end: this.readPosition };
    const handle = await open(path.join(this.dir, segmentName(segment)), 'r');
    const records: T[] = [];
    let end = offset;
    try {
      // Segments are small (segmentBytes): read the rest of this one at once.
      const buffer = Buffer.alloc(size - offset);
      await handle.read(buffer, 0, buffer.length, offset);
      let start = 0;
      while (records.length < max) {
        const newline = buffer.indexOf(0x0a, start);
        if (newline < 0) break;
        records.push(this.codec.decode(buffer.toString('utf8', start, newline)));
        start = newline + 1;
      }
      end = offset + start;
    } finally {
      await handle.close();
    }
    this.readPosition = { segment, offset: end };
    return { records, end: this.readPosition };
  }

  /** Everything up to `end` (from read()) is delivered: move the cursor, delete finished segments. */
  async commit(end: Position): Promise<void> {
    this.cursor = end;
    while (this.segments.length > 1 && this.segments[0]! < this.cursor.segment) await this.deleteSegment(this.segments[0]!);
    const head = this.segments[0];
    if (head !== undefined && head === this.cursor.segment && this.cursor.offset >= (this.sizes.get(head) ?? 0) && this.segments.length > 1) {
      await this.deleteSegment(head);
      this.cursor = { segment: this.segments[0]!, offset: 0 };
    }
    await this.state.write(CURSOR, this.cursor);
  }

  /** Reading starts again from the last commit (records read but not delivered are read again). */
  rewind(): void {
    this.readPosition = this.cursor;
  }

  async close(): Promise<void> {
    await this.tail?.close();
    this.tail = undefined;
  }

  /** Moves the read position to the next segment once this one is read to its end (or deleted). */
  private skipFinishedSegment(): void {
    for (;;) {
      const { segment, offset } = this.readPosition;
      const next = this.segments.find((n) => n > segment);
      if (next === undefined) return;
      if (this.segments.includes(segment) && offset < (this.sizes.get(segment) ?? 0)) return;
      this.readPosition = { segment: next, offset: 0 };
    }
  }

  /** The segment to append to: the last one while it has room, else a new one (its directory entry fsync'd). */
  private async tailHandle(): Promise<FileHandle> {
    const last = this.segments.at(-1);
    if (this.tail && last !== undefined && (this.sizes.get(last) ?? 0) < this.limits.segmentBytes) return this.tail;
    await this.tail?.close();
    this.tail = undefined;
    let target = last;
    if (target === undefined || (this.sizes.get(target) ?? 0) >= this.limits.segmentBytes) {
      target = Math.max(last ?? 0, this.cursor.segment - 1) + 1;
      this.segments.push(target);
      this.sizes.set(target, 0);
      if (this.segments.length === 1) this.cursor = this.readPosition = { segment: target, offset: 0 };
      this.tail = await open(path.join(this.dir, segmentName(target)), 'a', 0o600);
      await this.syncDir();
    } else {
      this.tail = await open(path.join(this.dir, segmentName(target)), 'a', 0o600);
    }
    return this.tail;
  }

  private async deleteSegment(n: number): Promise<void> {
    if (n === this.segments.at(-1)) {
      await this.tail?.close();
      this.tail = undefined;
    }
    await rm(path.join(this.dir, segmentName(n)), { force: true });
    this.segments = this.segments.filter((s) => s !== n);
    this.sizes.delete(n);
  }

  private async cutTornLine(n: number): Promise<void> {
    const file = path.join(this.dir, segmentName(n));
    const size = this.sizes.get(n) ?? 0;
    if (size === 0) return;
    const handle = await open(file, 'r');
    let keep = size;
    try {
      const probe = Buffer.alloc(Math.min(size, 1 << 20));
      // Scan back for the last newline (a line is far smaller than a segment's last MiB).
      await handle.read(probe, 0, probe.length, size - probe.length);
      const lastNewline = probe.lastIndexOf(0x0a);
      keep = lastNewline < 0 ? (probe.length === size ? 0 : size) : size - probe.length + lastNewline + 1;
    } finally {
      await handle.close();
    }
    if (keep < size) {
      await truncate(file, keep);
      this.sizes.set(n, keep);
    }
  }

  private async syncDir(): Promise<void> {
    const dir = await open(this.dir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}
