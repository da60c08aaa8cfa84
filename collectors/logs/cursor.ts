/**
 * One stream's (stdout's or stderr's) place in a container's log. It numbers the lines of a stream
 * read (the index among lines with the same timestamp: the API's `since` is inclusive, so lines are
 * told apart by position, not by time alone) and says which lines were handed on already.
 *
 * The daemon re-sends lines on every new stream (from `since`, which stays a reorder window behind,
 * and at or before anything not handed on yet). A re-sent line is recognised by its position: it is
 * skipped while it lies at or before the last line handed on; the first line after that position is
 * new, and so is everything after it in the stream, whatever its timestamp: once the last line
 * handed on is seen again, what follows it in the log came after it.
 */
import type { StreamPosition } from './checkpoints.js';

/** `accept` says the line was handed on already. */
export const SKIP = -1;

export class StreamCursor {
  /** Timestamp of the previous line of this stream read, and how many lines carried it. */
  private time = -1n;
  private count = 0;
  /** Lines up to this position (time, and count of lines at that time) were handed on. */
  private handedTime: bigint | undefined;
  private handedCount = 0;
  /** This stream read is past the handed-on position: every further line is new. */
  private caughtUp = true;

  constructor(position: StreamPosition | undefined) {
    this.moveTo(position);
  }

  /** The last line handed on: where the next stream read skips to. */
  get position(): StreamPosition | undefined {
    return this.handedTime === undefined ? undefined : { time: this.handedTime, count: this.handedCount };
  }

  /** Lines handed on but not kept (a dropped multiline group): the handed-on position goes back to `position`. */
  moveTo(position: StreamPosition | undefined): void {
    this.handedTime = position?.time;
    this.handedCount = position?.count ?? 0;
  }

  /** A new stream read starts (from a `since` at or before the handed-on position). */
  restart(): void {
    this.time = -1n;
    this.count = 0;
    this.caughtUp = this.handedTime === undefined;
  }

  /** The hot path, once per line: the line's index among lines of this stream at `time`, or SKIP when handed on already. */
  accept(time: bigint): number {
    let index: number;
    if (time === this.time) {
      index = this.count++;
    } else {
      this.time = time;
      this.count = 1;
      index = 0;
    }
    if (!this.caughtUp) {
      const handed = this.handedTime!;
      if (time < handed || (time === handed && index < this.handedCount)) {
        if (time === handed && index === this.handedCount - 1) this.caughtUp = true;
        return SKIP;
      }
      this.caughtUp = true;
    }
    this.handedTime = time;
    this.handedCount = index + 1;
    return index;
  }
}
