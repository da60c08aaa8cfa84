import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DemuxError, FrameDemuxer } from '../../collectors/logs/demux.js';
import { chunks, frame } from './logs-frames.js';

function collect(stream: Buffer, sizes: readonly number[]): { stream: number; payload: string }[] {
  const demux = new FrameDemuxer();
  const out: { stream: number; payload: string }[] = [];
  const sink = { frame: (s: number, buf: Buffer, start: number, end: number) => out.push({ stream: s, payload: buf.toString('latin1', start, end) }) };
  for (const chunk of chunks(stream, sizes)) demux.push(chunk, sink);
  assert.equal(demux.pendingBytes, 0);
  return out;
}

const FRAMES = [
  { stream: 1, payload: 'hello\n' },
  { stream: 2, payload: 'x'.repeat(70_000) },
  { stream: 1, payload: '' },
  { stream: 2, payload: 'é\n' },
  { stream: 1, payload: 'a'.repeat(300) + '\n' },
];
const STREAM = Buffer.concat(FRAMES.map((f) => frame(f.stream, Buffer.from(f.payload, 'latin1'))));

test('demultiplexes whole frames from one chunk', () => {
  assert.deepEqual(collect(STREAM, [STREAM.length]), FRAMES);
});

test('demultiplexes identically whatever the chunk boundaries (headers and payloads split anywhere)', () => {
  for (const size of [1, 2, 3, 7, 8, 9, 13, 100, 4096, 65_536]) {
    assert.deepEqual(collect(STREAM, [size]), FRAMES, `chunks of ${size}`);
  }
  assert.deepEqual(collect(STREAM, [5, 1, 300, 2, 70_000, 3]), FRAMES);
});

test('hands frames inside a chunk over without copying', () => {
  const demux = new FrameDemuxer();
  let seen: Buffer | undefined;
  const chunk = frame(1, 'zero-copy\n');
  demux.push(chunk, { frame: (_s, buf) => { seen = buf; } });
  assert.equal(seen, chunk);
});

test('a stream out of step is an error, not garbage lines', () => {
  const demux = new FrameDemuxer();
  assert.throws(() => demux.push(Buffer.from('2026-11-28T00:32:10.254919479Z not a frame\n'), { frame: () => undefined }), DemuxError);
});
