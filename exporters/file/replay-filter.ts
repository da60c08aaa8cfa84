/**
 * Idempotent writes across agent crashes. After a crash the log collector resumes from its last
 * checkpoint, so records that reached the file but whose checkpoint was not yet saved come again.
 * At start the exporter scans the tail of its files (a bounded window) and skips what it finds
 * there when it comes again.
 *
 * Log records: their id is `<container id>:<stream>:<time ns>:<index at that time>` and every
 * container stream reaches this exporter in order (one writer, batches in queue order), so the
 * highest position written per `<container id>:<stream>` says everything about that stream: a
 * replayed record is at or below it. The first record above it ends the replay for that stream and
 * the entry is dropped (a clock stepping back later can then never make a new line look old).
 * Other records with an id (events): the ids found in the window, as a set.
 */
import { open } from 'node:fs/promises';

interface Position {
  ns: bigint;
  index: number;
}

export interface ParsedLogId {
  readonly stream: string;
  readonly ns: bigint;
  readonly index: number;
}

/** Splits a log record id; undefined when it does not have the log shape. */
export function parseLogId(id: string): ParsedLogId | undefined {
  const before = streamEnd(id);
  if (before < 0) return undefined;
  const last = id.lastIndexOf(':');
  const nsText = id.slice(before + 1, last);
  const indexText = id.slice(last + 1);
  if (!/^\d{1,20}$/.test(nsText) || !/^\d{1,9}$/.test(indexText)) return undefined;
  return { stream: id.slice(0, before), ns: BigInt(nsText), index: Number(indexText) };
}

/** Where `<container id>:<stream>` ends in a log id (its second-to-last colon), or -1. */
function streamEnd(id: string): number {
  const last = id.lastIndexOf(':');
  if (last <= 0) return -1;
  const before = id.lastIndexOf(':', last - 1);
  return before > 0 ? before : -1;
}

export class ReplayFilter {
  private readonly logHighWater = new Map<string, Position>();
  private readonly otherIds = new Set<string>();
  /** Records the scan found (for status). */
  scannedRecords = 0;
  scannedBytes = 0;

  /** Notes a record found in the file during the start-up scan. */
  noteWritten(kind: string, id: string): void {
    this.scannedRecords++;
    if (kind === 'log') {
      const parsed = parseLogId(id);
      if (parsed) {
        const known = this.logHighWater.get(parsed.stream);
        if (!known || parsed.ns > known.ns || (parsed.ns === known.ns && parsed.index > known.index)) {
          this.logHighWater.set(parsed.stream, { ns: parsed.ns, index: parsed.index });
        }
        return;
      }
    }
    this.otherIds.add(id);
  }

  /** Whether any record may still be a replay: once not, isReplay() need not be asked (nor an id made for it). */
  get active(): boolean {
    return this.logHighWater.size > 0 || this.otherIds.size > 0;
  }

  /** True when the record is already in the file. */
  isReplay(kind: string, id: string | undefined): boolean {
    if (id === undefined) return false;
    if (kind === 'log' && this.logHighWater.size > 0) {
      // Streams the scan saw but that never come again (removed containers) keep the map from emptying:
      // look the stream up before parsing, so every other line pays a slice, not a parse (~0.4 µs).
      const end = streamEnd(id);
      const known = end < 0 ? undefined : this.logHighWater.get(id.slice(0, end));
      const parsed = known && parseLogId(id);
      if (known && parsed) {
        if (parsed.ns < known.ns || (parsed.ns === known.ns && parsed.index <= known.index)) return true;
        this.logHighWater.delete(parsed.stream);
        return false;
      }
    }
    return this.otherIds.size > 0 && this.otherIds.has(id);
  }

  /** Streams still expecting replays, and other ids remembered. */
  get size(): { streams: number; ids: number } {
    return { streams: this.logHighWater.size, ids: this.otherIds.size };
  }
}

const ID_PREFIX = '{"id":"';
const KIND_SEPARATOR = '","kind":"';

/** Reads `id` and `kind` from the start of one NDJSON line as serialised by ndjson.ts. */
export function readIdAndKind(line: string): { id: string; kind: string } | undefined {
  if (!line.startsWith(ID_PREFIX)) return undefined;
  const end = line.indexOf(KIND_SEPARATOR, ID_PREFIX.length);
  if (end < 0) return undefined;
  const rawId = line.slice(ID_PREFIX.length, end);
  const kindStart = end + KIND_SEPARATOR.length;
  const kindEnd = line.indexOf('"', kindStart);
  if (kindEnd < 0) return undefined;
  let id = rawId;
  if (rawId.includes('\\')) {
    try {
      id = JSON.parse(`"${rawId}"`) as string;
    } catch {
      return undefined;
    }
  }
  return { id, kind: line.slice(kindStart, kindEnd) };
}

const BLOCK = 4 * 1024 * 1024;

/**
 * Feeds the last `windowBytes` of `files` (newest first) into `filter`. A line cut by the window's
 * start is ignored; a torn last line was repaired before this runs.
 */
export async function scanTail(files: readonly string[], windowBytes: number, filter: ReplayFilter): Promise<void> {
  let left = windowBytes;
  for (const file of files) {
    if (left <= 0) return;
    const handle = await open(file, 'r');
    try {
      const size = (await handle.stat()).size;
      const start = Math.max(0, size - left);
      left -= size - start;
      filter.scannedBytes += size - start;
      await scanRange(handle, start, size, filter);
    } finally {
      await handle.close();
    }
  }
}

async function scanRange(handle: import('node:fs/promises').FileHandle, start: number, end: number, filter: ReplayFilter): Promise<void> {
  let position = start;
  let carry = '';
  let skipFirst = start > 0;
  // No larger than what is scanned: a small file (or window) does not cost a 4 MiB buffer.
  const buffer = Buffer.allocUnsafe(Math.max(1, Math.min(BLOCK, end - start)));
  while (position < end) {
    const { bytesRead } = await handle.read(buffer, 0, Math.min(BLOCK, end - position), position);
    if (bytesRead === 0) break;
    position += bytesRead;
    // Cut at the last newline so a multi-byte character is never split between two blocks.
    const lastNewline = buffer.lastIndexOf(10, bytesRead - 1);
    if (lastNewline < 0) {
      carry += buffer.toString('utf8', 0, bytesRead);
      continue;
    }
    const text = carry + buffer.toString('utf8', 0, lastNewline);
    carry = buffer.toString('utf8', lastNewline + 1, bytesRead);
    let lineStart = 0;
    while (lineStart <= text.length) {
      let lineEnd = text.indexOf('\n', lineStart);
      if (lineEnd < 0) lineEnd = text.length;
      if (skipFirst) skipFirst = false;
      else {
        const found = readIdAndKind(text.slice(lineStart, Math.min(lineEnd, lineStart + 512)));
        if (found) filter.noteWritten(found.kind, found.id);
      }
      lineStart = lineEnd + 1;
    }
  }
}
