/**
 * The daemon's multiplexed log stream (non-TTY containers): frames of an 8-byte header
 * ([stream, 0, 0, 0, size as big-endian uint32]) and `size` bytes of payload. Frames wholly inside
 * a chunk (or a range of one: the HTTP reader hands on each HTTP chunk's bytes as a range of the
 * socket read) are handed on as (chunk, start, end) with no copy; only a frame split across
 * chunks is assembled into its own buffer.
 */

export const STDOUT = 1;
export const STDERR = 2;

export interface FrameSink {
  /** One whole frame's payload: `buf[start, end)`, valid only during the call. */
  frame(stream: number, buf: Buffer, start: number, end: number): void;
}

/** Frames larger than this are not something the daemon sends: the stream is out of step. */
const MAX_FRAME = 64 * 1024 * 1024;

export class DemuxError extends Error {
  override readonly name = 'DemuxError';
}

export class FrameDemuxer {
  private readonly header = Buffer.alloc(8);
  private headerFill = 0;
  private payload: Buffer | undefined;
  private payloadFill = 0;
  private payloadStream = 0;

  /** Bytes held for an incomplete frame (header or payload). */
  get pendingBytes(): number {
    return this.payload ? this.payloadFill : this.headerFill;
  }

  /** Parses `chunk[start, end)` (a whole chunk by default). */
  push(chunk: Buffer, sink: FrameSink, start = 0, end = chunk.length): void {
    let i = start;
    if (this.payload) i = this.continuePayload(chunk, start, end, sink);
    else if (this.headerFill > 0) i = this.continueHeader(chunk, start, end, sink);
    while (i < end) {
      if (end - i < 8) {
        chunk.copy(this.header, 0, i, end);
        this.headerFill = end - i;
        return;
      }
      const stream = chunk[i]!;
      const size = chunk.readUInt32BE(i + 4);
      checkHeader(stream, size);
      const payloadStart = i + 8;
      const payloadEnd = payloadStart + size;
      if (payloadEnd <= end) {
        sink.frame(stream, chunk, payloadStart, payloadEnd);
        i = payloadEnd;
      } else {
        this.startPayload(stream, size, chunk, payloadStart, end);
        return;
      }
    }
  }

  /** Whatever was held for a frame the stream never finished (dropped). */
  reset(): void {
    this.headerFill = 0;
    this.payload = undefined;
    this.payloadFill = 0;
  }

  private continueHeader(chunk: Buffer, offset: number, end: number, sink: FrameSink): number {
    const need = 8 - this.headerFill;
    const take = Math.min(need, end - offset);
    chunk.copy(this.header, this.headerFill, offset, offset + take);
    this.headerFill += take;
    if (this.headerFill < 8) return end;
    this.headerFill = 0;
    const stream = this.header[0]!;
    const size = this.header.readUInt32BE(4);
    checkHeader(stream, size);
    const start = offset + take;
    if (end - start >= size) {
      sink.frame(stream, chunk, start, start + size);
      return start + size;
    }
    this.startPayload(stream, size, chunk, start, end);
    return end;
  }

  private startPayload(stream: number, size: number, chunk: Buffer, start: number, end: number): void {
    this.payload = Buffer.allocUnsafe(size);
    this.payloadStream = stream;
    chunk.copy(this.payload, 0, start, end);
    this.payloadFill = end - start;
  }

  private continuePayload(chunk: Buffer, start: number, end: number, sink: FrameSink): number {
    const payload = this.payload!;
    const take = Math.min(payload.length - this.payloadFill, end - start);
    chunk.copy(payload, this.payloadFill, start, start + take);
    this.payloadFill += take;
    if (this.payloadFill < payload.length) return end;
    this.payload = undefined;
    this.payloadFill = 0;
    sink.frame(this.payloadStream, payload, 0, payload.length);
    return start + take;
  }
}

function checkHeader(stream: number, size: number): void {
  if (stream > 2) throw new DemuxError(`log stream out of step: frame header names stream ${stream}`);
  if (size > MAX_FRAME) throw new DemuxError(`log stream out of step: frame of ${size} bytes`);
}
