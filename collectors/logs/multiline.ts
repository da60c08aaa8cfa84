/**
 * Joins lines into records (a stack trace becomes one record), per stream. Where a record ends is
 * decided by the lines alone, never by when they happened to arrive, so that a replay after a crash
 * makes exactly the records made before it (same id, same content):
 *
 * - a line matching `pattern` starts a record;
 * - any other line continues the open record if its daemon timestamp is within `timeoutMs` of the
 *   record's previous line, and the record stays within `maxLines` and `maxBytes`; otherwise it
 *   starts a record of its own.
 *
 * So a record is complete once a later line of its stream exists. Until then it is held; the owner
 * completes it early only when no later line can still belong to it (`complete`): the other
 * stream has moved past its window, or time has (see ContainerLog). A held record is never
 * completed because a stream broke: it is dropped and read again.
 */
import type { StreamIndex } from './lines.js';
import { nanosFromMs } from './timestamp.js';

export interface MultilineSettings {
  readonly pattern: RegExp;
  readonly maxLines: number;
  readonly maxBytes: number;
  readonly timeoutMs: number;
}

/** A line (or joined lines) on its way to becoming a record. */
export interface LogLine {
  readonly stream: StreamIndex;
  /** Timestamp and per-stream index of the (first) line: the record's identity. */
  readonly time: bigint;
  readonly index: number;
  /** Position of the last line in it: where the checkpoint may move once it is stored. */
  readonly lastTime: bigint;
  readonly lastIndex: number;
  readonly message: string;
  readonly bytes: number;
  readonly truncated: boolean;
}

class Group {
  lines: LogLine[] = [];
  bytes = 0;
}

export class MultilineJoiner {
  private readonly groups = [new Group(), new Group()] as const;
  private readonly timeoutNs: bigint;

  constructor(readonly settings: MultilineSettings) {
    this.timeoutNs = nanosFromMs(settings.timeoutMs);
  }

  /** Adds one line; appends the record it completed, if any, to `out`. */
  push(line: LogLine, out: LogLine[]): void {
    const group = this.groups[line.stream];
    if (group.lines.length > 0 && !this.continues(group, line)) out.push(this.take(group));
    group.lines.push(line);
    group.bytes += (group.lines.length > 1 ? 1 : 0) + line.bytes;
  }

  private continues(group: Group, line: LogLine): boolean {
    const { settings } = this;
    return group.lines.length < settings.maxLines
      && group.bytes + 1 + line.bytes <= settings.maxBytes
      && line.time - group.lines[group.lines.length - 1]!.lastTime <= this.timeoutNs
      && !settings.pattern.test(line.message);
  }

  /** Completes the held record of `stream`, if any (no later line can belong to it). */
  complete(stream: StreamIndex, out: LogLine[]): void {
    const group = this.groups[stream];
    if (group.lines.length > 0) out.push(this.take(group));
  }

  /**
   * A line of one stream stamped `time` completes the other stream's record when that record's
   * window (its timeout, plus how far the two streams' timestamps may run out of order in the
   * log file) has closed by then: a later line of the other stream comes after this one in the file.
   */
  passTime(stream: StreamIndex, time: bigint, reorderWindowNs: bigint, out: LogLine[]): void {
    const other = this.groups[stream === 0 ? 1 : 0];
    if (other.lines.length > 0 && time > other.lines[other.lines.length - 1]!.lastTime + this.timeoutNs + reorderWindowNs) out.push(this.take(other));
  }

  /** Forgets the held records: their lines are read again. */
  drop(): void {
    for (const group of this.groups) {
      group.lines = [];
      group.bytes = 0;
    }
  }

  holds(stream: StreamIndex): boolean {
    return this.groups[stream].lines.length > 0;
  }

  get holding(): boolean {
    return this.groups[0].lines.length > 0 || this.groups[1].lines.length > 0;
  }

  /** Time of the first held line of `stream`, if any. */
  heldTime(stream: StreamIndex): bigint | undefined {
    return this.groups[stream].lines[0]?.time;
  }

  private take(group: Group): LogLine {
    const { lines, bytes } = group;
    group.lines = [];
    group.bytes = 0;
    if (lines.length === 1) return lines[0]!;
    const first = lines[0]!;
    const last = lines[lines.length - 1]!;
    const truncated = lines.some((l) => l.truncated);
    return { stream: first.stream, time: first.time, index: first.index, lastTime: last.lastTime, lastIndex: last.lastIndex, message: lines.map((l) => l.message).join('\n'), bytes, truncated };
  }
}
