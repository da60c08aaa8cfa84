/**
 * Joins lines into records (a stack trace becomes one record). `pattern` matches the first line of
 * a record; lines that do not match continue the record before them. A record is complete when the
 * next one starts, when it reaches `maxLines` or `maxBytes`, or when no line came for `timeoutMs`
 * (the caller's timer calls `flush`). Per stream: stdout and stderr records never mix.
 */
import type { StreamIndex } from './lines.js';

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
  private readonly groups = [new Group(), new Group()];
  /** When the newest line was added to any held group (for the flush timer). */
  lastAddedAt = 0;

  constructor(readonly settings: MultilineSettings) {}

  /** Adds one line; appends the record it completed, if any, to `out`. */
  push(line: LogLine, out: LogLine[]): void {
    const group = this.groups[line.stream]!;
    const startsRecord = this.settings.pattern.test(line.message);
    if (group.lines.length > 0 && (startsRecord || group.lines.length >= this.settings.maxLines || group.bytes + 1 + line.bytes > this.settings.maxBytes)) {
      out.push(this.take(group));
    }
    group.lines.push(line);
    group.bytes += (group.lines.length > 1 ? 1 : 0) + line.bytes;
    this.lastAddedAt = Date.now();
  }

  /** Completes every held record. */
  flush(out: LogLine[]): void {
    for (const group of this.groups) if (group.lines.length > 0) out.push(this.take(group));
  }

  get holding(): boolean {
    return this.groups[0]!.lines.length > 0 || this.groups[1]!.lines.length > 0;
  }

  /** Time of the first held line of `stream`, if any. */
  heldTime(stream: StreamIndex): bigint | undefined {
    return this.groups[stream]!.lines[0]?.time;
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
