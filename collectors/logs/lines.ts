/**
 * From daemon messages to whole lines. Every message starts with its RFC 3339 timestamp and a
 * space. The daemon's copier writes a message when it sees `\n`, when its 16 KiB buffer is full
 * (a piece of a longer line), or when the run's output ends (the last words, without newline). So:
 *
 * - a message ending in `\n` ends a line;
 * - a message without, shorter than 16 KiB, ends a line too: the run's last words, or (local
 *   driver, which drops the newline of a long line's last piece) a long line's last piece;
 * - a full 16 KiB piece is held and merged with the messages that follow on its stream with the
 *   same timestamp (all pieces of one line carry the first piece's timestamp); a message with
 *   another timestamp ends it.
 *
 * Captured from dockerd 20.10: a run's last words are sent again before the next run's first line
 * (`printf "first\nsecond\nlast-no-newline"`, started twice: `…02.623037322Z last-no-newline`, no
 * `\n`, then `…02.926591522Z first\n`); a 20,000-byte last line comes as 16,384 + 3,616 bytes,
 * both at `…17.654386073Z`; the local driver sends a 40,000-byte line as 16,384 + 16,384 + 7,232
 * bytes at one timestamp and no newline. None of them is ever merged with another line.
 * Pieces are merged byte for byte, per stream (stdout and stderr pieces may interleave). Lines
 * over the cap are cut at a UTF-8 boundary and flagged.
 */
import { STDERR, STDOUT, type FrameSink } from './demux.js';
import { TimestampParser, nanosFromMs } from './timestamp.js';

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
  truncated = false;
  time = 0n;

  get active(): boolean {
    return this.count > 0;
  }

  add(buf: Buffer, start: number, end: number, cap: number): void {
    this.count++;
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
    this.truncated = false;
  }
}

export class LineAssembler implements FrameSink {
  private readonly timestamps = new TimestampParser();
  private readonly pending = [new PendingLine(), new PendingLine()];
  private lastTime = 0n;
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
    // The daemon writes a piece without newline only when its 16 KiB buffer is full, or at the run's end.
    const lastPiece = complete || contentEnd - contentStart < PIECE_BYTES;
    const pending = this.pending[stream]!;
    if (pending.active) {
      if (time === pending.time) {
        pending.add(buf, contentStart, contentEnd, this.maxLineBytes);
        if (lastPiece) this.emitPending(stream);
        return;
      }
      // A run's last line (a whole number of pieces) sent again before the next run's first line: it ended there.
      this.emitPending(stream);
    }
    if (!lastPiece) {
      pending.time = time;
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

  /** The run is over: an unfinished line (a whole number of pieces) is its last line, complete as it is. */
  endRun(): void {
    for (const stream of [0, 1] as const) {
      if (this.pending[stream]!.active) this.emitPending(stream);
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
const MAX_EXPECTED = 16;

/**
 * TTY containers: no frames, a raw byte stream of `<timestamp> <content>` messages. A message ends
 * at `\n`; a piece of a long line has none and is recognised by a timestamp starting exactly
 * PIECE_BYTES after its content began.
 *
 * A run's last line without a newline is the one message whose end the bytes do not show: when
 * the daemon sends it again, the next run's first message follows straight after its last byte
 * (captured: `…04.325528200Z last-no-newline2026-11-29T22:13:04.712902959Z first\r\n`). Once seen
 * at the end of a stream, its timestamp and length are remembered, and it is cut there whenever
 * it comes again.
 */
/** Restart delays are 100 ms at least (a policy) and a manual start takes longer: 50 ms tells two runs apart. */
const GLUE_GAP_NS = 50_000_000n;
/**
 * A next run's stamp was made before it was read: one later than this past the agent's clock is a
 * process printing a time ("next backup at …Z daily"), not a glued run, and taken as one it would
 * move the log's position into the future (every later stream asked from there).
 */
const GLUE_FUTURE_MARGIN_MS = 250;

export class TtySplitter {
  private carry: Buffer | undefined;
  private readonly clock = new TimestampParser();
  /** The pieces of a long line emitted so far: its timestamp bytes and content length. */
  private pieces: { stamp: Buffer; bytes: number } | undefined;
  /** Recent runs' last lines (timestamp bytes, content length), to be cut after their own bytes when sent again. */
  private readonly expected: { stamp: Buffer; bytes: number; taken: number }[] = [];

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
      const expected = this.expected.length > 0 ? this.expectedAt(buf, i, space) : undefined;
      if (expected) {
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
        const glued = this.gluedRunStart(buf, i, contentStart, nl);
        if (glued > 0) {
          // A run's last words without newline, the next run's first message right behind them.
          sink.frame(STDOUT, buf, i, glued);
          i = glued;
          continue;
        }
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
        this.notePiece(buf, i, space);
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

  /**
   * Where, inside the message at `start` (content `[contentStart, nl)`), a later run's first message
   * begins, or -1. With no frames, a run's last words without newline and the next run's first
   * message arrive as one: `<t1> last words<t2> first`. Seen when the agent did not see the run end
   * (it was down, or its stream was held back by a slow sink across two runs). The daemon's own
   * timestamp format followed by a space, stamped more than GLUE_GAP_NS after the message's own and
   * not in the future, is taken for the next message: a process cannot stamp its output in the
   * daemon's future.
   */
  private gluedRunStart(buf: Buffer, start: number, contentStart: number, nl: number): number {
    let z = buf.indexOf(90, contentStart); // 'Z'
    if (z < 0 || z >= nl) return -1;
    let own: bigint | undefined;
    for (; z >= 0 && z < nl; z = buf.indexOf(90, z + 1)) {
      if (buf[z + 1] !== 32) continue;
      let dot = z - 1;
      while (dot > contentStart && buf[dot]! >= 48 && buf[dot]! <= 57 && z - dot <= 10) dot--;
      const at = buf[dot] === 46 ? dot - 19 : z - 19;
      if (at < contentStart || !looksLikeTimestamp(buf, at)) continue;
      if (this.clock.parse(buf, at, z + 2) !== z + 1) continue;
      const embedded = this.clock.time;
      if (own === undefined) {
        if (this.clock.parse(buf, start, contentStart) !== contentStart - 1) return -1;
        own = this.clock.time;
      }
      if (embedded - own > GLUE_GAP_NS && embedded <= nanosFromMs(Date.now() + GLUE_FUTURE_MARGIN_MS)) return at;
    }
    return -1;
  }

  /** The run is over: what is held is its last message, without a newline. */
  end(sink: FrameSink): void {
    this.endOfStream();
    const carry = this.carry;
    this.carry = undefined;
    if (carry && carry.length > 0) sink.frame(STDOUT, carry, 0, carry.length);
  }

  /** A stream ended by itself (not broken): a message held without newline is a run's last line. */
  endOfStream(): void {
    const carry = this.carry;
    if (!carry) return;
    const space = carry.indexOf(32);
    if (space < 0 || !looksLikeTimestamp(carry, 0)) return;
    const stamp = Buffer.from(carry.subarray(0, space));
    if (this.expected.some((e) => e.stamp.equals(stamp))) return;
    const before = this.pieces && this.pieces.stamp.equals(stamp) ? this.pieces.bytes : 0;
    this.expected.push({ stamp, bytes: before + carry.length - space - 1, taken: 0 });
    // Streams re-read a few seconds at most: the last few runs are all that can come again.
    if (this.expected.length > MAX_EXPECTED) this.expected.shift();
  }

  reset(): void {
    this.carry = undefined;
    this.pieces = undefined;
    for (const expected of this.expected) expected.taken = 0;
  }

  private notePiece(buf: Buffer, start: number, space: number): void {
    const pieces = this.pieces;
    if (pieces && space - start === pieces.stamp.length && buf.compare(pieces.stamp, 0, pieces.stamp.length, start, space) === 0) {
      pieces.bytes += PIECE_BYTES;
    } else {
      this.pieces = { stamp: Buffer.from(buf.subarray(start, space)), bytes: PIECE_BYTES };
    }
  }

  private expectedAt(buf: Buffer, start: number, space: number): { stamp: Buffer; bytes: number; taken: number } | undefined {
    for (const expected of this.expected) {
      const stamp = expected.stamp;
      if (space - start === stamp.length && buf.compare(stamp, 0, stamp.length, start, space) === 0) return expected;
    }
    return undefined;
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
