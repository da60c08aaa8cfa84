/**
 * The daemon's multiplexed log stream (non-TTY containers): frames of an 8-byte header
 * ([stream, 0, 0, 0, size as big-endian uint32]) and `size` bytes of payload. Frames wholly inside
 * a chunk are handed on as (chunk, start, end) with no copy; only a frame split across chunks is
 * assembled into its own buffer.
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

  push(chunk: Buffer, sink: FrameSink): void {
    let i = 0;
    const length = chunk.length;
    if (this.payload) i = this.continuePayload(chunk, sink);
    else if (this.headerFill > 0) i = this.continueHeader(chunk, 0, sink);
    while (i < length) {
      if (length - i < 8) {
        chunk.copy(this.header, 0, i, length);
        this.headerFill = length - i;
        return;
      }
      const stream = chunk[i]!;
      const size = chunk.readUInt32BE(i + 4);
      checkHeader(stream, size);
      const start = i + 8;
      const end = start + size;
      if (end <= length) {
        sink.frame(stream, chunk, start, end);
        i = end;
      } else {
        this.startPayload(stream, size, chunk, start, length);
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

  private continueHeader(chunk: Buffer, offset: number, sink: FrameSink): number {
    const need = 8 - this.headerFill;
    const take = Math.min(need, chunk.length - offset);
    chunk.copy(this.header, this.headerFill, offset, offset + take);
    this.headerFill += take;
    if (this.headerFill < 8) return chunk.length;
    this.headerFill = 0;
    const stream = this.header[0]!;
    const size = this.header.readUInt32BE(4);
    checkHeader(stream, size);
    const start = offset + take;
    if (chunk.length - start >= size) {
      sink.frame(stream, chunk, start, start + size);
      return start + size;
    }
    this.startPayload(stream, size, chunk, start, chunk.length);
    return chunk.length;
  }

  private startPayload(stream: number, size: number, chunk: Buffer, start: number, end: number): void {
    this.payload = Buffer.allocUnsafe(size);
    this.payloadStream = stream;
    chunk.copy(this.payload, 0, start, end);
    this.payloadFill = end - start;
  }

  private continuePayload(chunk: Buffer, sink: FrameSink): number {
    const payload = this.payload!;
    const take = Math.min(payload.length - this.payloadFill, chunk.length);
    chunk.copy(payload, this.payloadFill, 0, take);
    this.payloadFill += take;
    if (this.payloadFill < payload.length) return chunk.length;
    this.payload = undefined;
    this.payloadFill = 0;
    sink.frame(this.payloadStream, payload, 0, payload.length);
    return take;
  }
}

function checkHeader(stream: number, size: number): void {
  if (stream > 2) throw new DemuxError(`log stream out of step: frame header names stream ${stream}`);
  if (size > MAX_FRAME) throw new DemuxError(`log stream out of step: frame of ${size} bytes`);
}
