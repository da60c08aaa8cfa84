/**
 * Builds the bytes the daemon sends for a log stream, as recorded from dockerd 20.10 (see
 * test/unit/logs-lines.test.ts for a verbatim capture): 8-byte frame headers for non-TTY
 * containers, `<RFC3339Nano> <content>` messages, lines over 16 KiB cut into pieces that share
 * the first piece's timestamp, TTY output with `\r\n` and no frames.
 */
import { formatRfc3339Nano } from '../../src/records.js';

export const PIECE = 16 * 1024;

export interface DaemonLine {
  readonly stream: 1 | 2;
  readonly time: bigint;
  /** Line content without the newline. */
  readonly content: Buffer | string;
  /** A last line the container wrote without a newline. */
  readonly noNewline?: boolean;
}

export function frame(stream: number, payload: Buffer | string): Buffer {
  const body = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}

/** The daemon's messages for one line: pieces of PIECE bytes, the last ending in `\n` (unless noNewline). */
export function messages(line: DaemonLine, tty = false): Buffer[] {
  const content = Buffer.isBuffer(line.content) ? line.content : Buffer.from(line.content);
  const stamp = Buffer.from(`${formatRfc3339Nano(line.time)} `);
  const ending = line.noNewline ? Buffer.alloc(0) : Buffer.from(tty ? '\r\n' : '\n');
  const whole = Buffer.concat([content, ending]);
  const out: Buffer[] = [];
  for (let i = 0; i < whole.length || i === 0; i += PIECE) {
    const piece = whole.subarray(i, Math.min(whole.length, i + PIECE));
    out.push(Buffer.concat([stamp, piece]));
    if (whole.length === 0) break;
  }
  return out;
}

/** A non-TTY stream: every message in a frame. */
export function muxStream(lines: readonly DaemonLine[]): Buffer {
  return Buffer.concat(lines.flatMap((line) => messages(line).map((m) => frame(line.stream, m))));
}

/** A TTY stream: messages back to back. */
export function ttyStream(lines: readonly DaemonLine[]): Buffer {
  return Buffer.concat(lines.flatMap((line) => messages(line, true)));
}

/** Cuts `buf` into chunks of the given sizes (cycled). */
export function chunks(buf: Buffer, sizes: readonly number[]): Buffer[] {
  const out: Buffer[] = [];
  let i = 0;
  let k = 0;
  while (i < buf.length) {
    const size = Math.max(1, sizes[k++ % sizes.length]!);
    out.push(buf.subarray(i, i + size));
    i += size;
  }
  return out;
}

export const T0 = 1_795_825_930_254_919_479n;
