/**
 * From daemon messages to whole lines. Every message starts with its RFC 3339 timestamp and a
 * space. A message ending in `\n` ends a line; one without is a piece of a longer line (the daemon
 * cuts lines at 16 KiB, each piece carrying the first piece's timestamp) or the last words of a
 * container run that ended without a newline. Pieces are merged byte for byte, per stream (stdout
 * and stderr pieces may interleave). Lines over the cap are cut at a UTF-8 boundary and flagged.
 *
 * A run's unterminated last piece is followed in the log by the next run's first line. Captured
 * from dockerd 20.10 (json-file; `printf "first\nsecond\nlast-no-newline"`, `docker start`ed
 * again): `…02.623037322Z last-no-newline` (no `\n`), then `…02.926591522Z first\n`. All pieces of
 * one line share its first piece's timestamp, the run's last one included (a 20,000-byte last line:
 * 16,384 + 3,616 bytes, both at `…17.654386073Z`). So a held piece followed by a message with
 * another timestamp ends its line there: the two are never merged.
 */
import { STDERR, STDOUT, type FrameSink } from './demux.js';
import { TimestampParser } from './timestamp.js';

export type StreamIndex = 0 | 1;
export const STREAM_NAMES = ['stdout', 'stderr'] as const;

export interface LineSink {
  /**
   * One whole line: content `buf[start, end)` without its line ending, valid only during the call.
   * `time` is the line's (first piece's) timestamp; `pieces` > 1 when it was merged.
   */
  line(stream: StreamIndex, time: bigint, buf: Buffer, start: number, end: number, pieces: number, truncated: boolean): void;
}

class PendingLine {
  pieces: Buffer[] = [];
  count = 0;
  bytes = 0;
  /** Content bytes as sent, before any cut. */
  sentBytes = 0;
  /** Content bytes of the latest piece: a piece of a cut line is exactly PIECE_BYTES long. */
  lastPieceBytes = 0;
  truncated = false;
  time = 0n;
  /** The timestamp bytes as the daemon wrote them, to recognise the line when it is sent again (TTY). */
  stamp: Buffer | undefined;

  get active(): boolean {
    return this.count > 0;
  }

  add(buf: Buffer, start: number, end: number, cap: number): void {
    this.count++;
    this.sentBytes += end - start;
    this.lastPieceBytes = end - start;
    // Once cut, nothing more is kept, even if the cut at a character boundary left a few bytes of room.
    if (this.truncated) return;
    const room = cap - this.bytes;
    let take = end - start;
    if (take > room) {
      take = utf8Boundary(buf, start, start + room) - start;
      this.truncated = true;
    }
    // Copied: the chunk it came from is not ours to keep.
    if (take > 0) this.pieces.push(Buffer.from(buf.subarray(start, start + take)));
    this.bytes += take;
  }

  clear(): void {
    this.pieces = [];
    this.count = 0;
    this.bytes = 0;
    this.sentBytes = 0;
    this.lastPieceBytes = 0;
    this.truncated = false;
    this.stamp = undefined;
  }
}

/** A run's last line, written without a newline: how it looks in the log. */
export interface UnterminatedLine {
  readonly time: bigint;
  readonly stamp: Buffer;
  /** Content bytes as sent. */
  readonly bytes: number;
}

export class LineAssembler implements FrameSink {
  private readonly timestamps = new TimestampParser();
  private readonly pending = [new PendingLine(), new PendingLine()];
  private lastTime = 0n;
  /** Per stream, the unterminated last line of the run that ended last (see endRun). */
  readonly unterminated: [UnterminatedLine | undefined, UnterminatedLine | undefined] = [undefined, undefined];
  /** Messages whose timestamp could not be read (given the previous message's time). */
  malformed = 0;

  constructor(private readonly sink: LineSink, private readonly maxLineBytes: number, private readonly tty: boolean) {}

  frame(streamType: number, buf: Buffer, start: number, end: number): void {
    const stream: StreamIndex = streamType === STDERR ? 1 : 0;
    if (streamType !== STDOUT && streamType !== STDERR) return; // stdin: never sent for logs
    let contentStart: number;
    let time: bigint;
    const after = this.timestamps.parse(buf, start, end);
    if (after > 0 && buf[after] === 32) {
      contentStart = after + 1;
      time = this.timestamps.time;
      this.lastTime = time;
    } else {
      this.malformed++;
      contentStart = start;
      time = this.lastTime;
    }
    const complete = end > contentStart && buf[end - 1] === 10;
    const contentEnd = complete ? end - 1 : end;
    const pending = this.pending[stream]!;
    if (pending.active) {
      if (time === pending.time || pending.lastPieceBytes === PIECE_BYTES) {
        pending.add(buf, contentStart, contentEnd, this.maxLineBytes);
        if (complete) this.emitPending(stream);
        return;
      }
      // A run's last words, sent again before the next run's first line: a line of their own.
      this.emitPending(stream);
    }
    if (!complete) {
      pending.time = time;
      pending.stamp = Buffer.from(buf.subarray(start, contentStart - 1));
      pending.add(buf, contentStart, contentEnd, this.maxLineBytes);
      return;
    }
    let lineEnd = contentEnd;
    if (this.tty) while (lineEnd > contentStart && buf[lineEnd - 1] === 13) lineEnd--;
    if (lineEnd - contentStart > this.maxLineBytes) {
      this.sink.line(stream, time, buf, contentStart, utf8Boundary(buf, contentStart, contentStart + this.maxLineBytes), 1, true);
    } else {
      this.sink.line(stream, time, buf, contentStart, lineEnd, 1, false);
    }
  }

  /** Time of the first piece of an unfinished line, if one is held. */
  pendingTime(stream: StreamIndex): bigint | undefined {
    const pending = this.pending[stream]!;
    return pending.active ? pending.time : undefined;
  }

  /** The run is over: an unfinished line is its last line, complete as it is. */
  endRun(): void {
    for (const stream of [0, 1] as const) {
      const pending = this.pending[stream]!;
      this.unterminated[stream] = undefined;
      if (!pending.active) continue;
      this.unterminated[stream] = { time: pending.time, stamp: pending.stamp ?? Buffer.alloc(0), bytes: pending.sentBytes };
      this.emitPending(stream);
    }
  }

  /** The stream broke: unfinished lines are dropped and read again from the next stream. */
  dropPending(): void {
    for (const pending of this.pending) pending.clear();
  }

  private emitPending(stream: StreamIndex): void {
    const pending = this.pending[stream]!;
    const line = pending.pieces.length === 1 ? pending.pieces[0]! : Buffer.concat(pending.pieces, pending.bytes);
    let end = pending.truncated ? utf8Boundary(line, 0, line.length) : line.length;
    if (this.tty) while (end > 0 && line[end - 1] === 13) end--;
    const { time, count, truncated } = pending;
    pending.clear();
    this.sink.line(stream, time, line, 0, end, count, truncated);
  }
}

/** The largest index ≤ `end` (and ≥ `start`) at which cutting `buf` does not split a UTF-8 sequence. */
export function utf8Boundary(buf: Buffer, start: number, end: number): number {
  // Find the lead byte of the sequence the last kept byte belongs to (at most 3 continuation bytes back).
  let lead = end - 1;
  while (lead >= start && lead > end - 4 && (buf[lead]! & 0xc0) === 0x80) lead--;
  if (lead < start) return end;
  const b = buf[lead]!;
  const length = b < 0x80 ? 1 : b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
  return lead + length > end ? lead : end;
}

/** The daemon's piece size for long lines (its copier buffer). */
export const PIECE_BYTES = 16 * 1024;
const TIMESTAMP_PROBE = 32;

/**
 * TTY containers: no frames, a raw byte stream of `<timestamp> <content>` messages. A message ends
 * at `\n`; a piece of a long line has none and is recognised by a timestamp starting exactly
 * PIECE_BYTES after its content began.
 */
export class TtySplitter {
  private carry: Buffer | undefined;
  /**
   * A run's unterminated last line, still to be told apart when the daemon sends it again: with no
   * frames and no newline, the next run's first message follows straight after its last byte.
   */
  private expected: { stamp: Buffer; bytes: number; taken: number } | undefined;

  /** Whenever `line` comes again, it ends after its own bytes. */
  expectUnterminated(line: UnterminatedLine): void {
    this.expected = line.stamp.length > 0 ? { stamp: line.stamp, bytes: line.bytes, taken: 0 } : undefined;
  }

  push(chunk: Buffer, sink: FrameSink): void {
    const buf = this.carry ? Buffer.concat([this.carry, chunk]) : chunk;
    this.carry = undefined;
    let i = 0;
    const length = buf.length;
    while (i < length) {
      const space = buf.indexOf(32, i);
      if (space < 0 || space - i > 40) {
        if (space < 0 && length - i <= 40) break; // the timestamp is still arriving
        // Not a timestamp: take the bytes up to the newline as they are (the assembler counts it malformed).
        const nl = buf.indexOf(10, i);
        if (nl < 0) break;
        sink.frame(STDOUT, buf, i, nl + 1);
        i = nl + 1;
        continue;
      }
      const contentStart = space + 1;
      const pieceEnd = contentStart + PIECE_BYTES;
      if (this.expected && this.isExpected(buf, i, space)) {
        const expected = this.expected;
        const end = contentStart + Math.min(expected.bytes - expected.taken, PIECE_BYTES);
        if (end > length) break;
        sink.frame(STDOUT, buf, i, end);
        i = end;
        expected.taken += end - contentStart;
        if (expected.taken >= expected.bytes) expected.taken = 0;
        continue;
      }
      const nl = buf.indexOf(10, contentStart);
      if (nl >= 0 && nl < pieceEnd) {
        sink.frame(STDOUT, buf, i, nl + 1);
        i = nl + 1;
        continue;
      }
      if (length < pieceEnd + TIMESTAMP_PROBE) {
        if (nl >= 0) {
          // Enough bytes to see the newline but not to tell a piece boundary: only if no timestamp can start there.
          if (length >= pieceEnd + 20 && !looksLikeTimestamp(buf, pieceEnd)) {
            sink.frame(STDOUT, buf, i, nl + 1);
            i = nl + 1;
            continue;
          }
        }
        break;
      }
      if (looksLikeTimestamp(buf, pieceEnd)) {
        sink.frame(STDOUT, buf, i, pieceEnd);
        i = pieceEnd;
      } else if (nl >= 0) {
        sink.frame(STDOUT, buf, i, nl + 1);
        i = nl + 1;
      } else {
        break; // a line longer than a piece from a driver that does not cut: wait for its newline
      }
    }
    if (i < length) this.carry = Buffer.from(buf.subarray(i));
  }

  /** The stream ended: what is held is the container's last message, without a newline. */
  end(sink: FrameSink): void {
    const carry = this.carry;
    this.carry = undefined;
    if (carry && carry.length > 0) sink.frame(STDOUT, carry, 0, carry.length);
  }

  reset(): void {
    this.carry = undefined;
    if (this.expected) this.expected.taken = 0;
  }

  private isExpected(buf: Buffer, start: number, space: number): boolean {
    const stamp = this.expected!.stamp;
    return space - start === stamp.length && buf.compare(stamp, 0, stamp.length, start, space) === 0;
  }

  get pendingBytes(): number {
    return this.carry?.length ?? 0;
  }
}

function looksLikeTimestamp(buf: Buffer, at: number): boolean {
  if (at + 20 > buf.length) return false;
  if (buf[at + 4] !== 45 || buf[at + 7] !== 45 || buf[at + 10] !== 84 || buf[at + 13] !== 58 || buf[at + 16] !== 58) return false;
  for (const offset of [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]) {
    const b = buf[at + offset]!;
    if (b < 48 || b > 57) return false;
  }
  const next = buf[at + 19];
  return next === 46 || next === 90 || next === 43 || next === 45;
}
