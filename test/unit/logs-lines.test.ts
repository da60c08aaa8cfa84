import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { FrameDemuxer } from '../../collectors/logs/demux.js';
import { LineAssembler, TtySplitter, utf8Boundary, type StreamIndex } from '../../collectors/logs/lines.js';
import { PIECE, T0, chunks, frame, messages, muxStream, ttyStream, type DaemonLine } from './logs-frames.js';

interface Line {
  stream: StreamIndex;
  time: bigint;
  content: Buffer;
  pieces: number;
  truncated: boolean;
}

function read(bytes: Buffer, options: { tty?: boolean; cap?: number; sizes?: readonly number[]; ended?: boolean } = {}): Line[] {
  const out: Line[] = [];
  const assembler = new LineAssembler({
    line: (stream, time, buf, start, end, pieces, truncated) => out.push({ stream, time, content: Buffer.from(buf.subarray(start, end)), pieces, truncated }),
  }, options.cap ?? 1024 * 1024, options.tty ?? false);
  const demux = new FrameDemuxer();
  const tty = new TtySplitter();
  for (const chunk of chunks(bytes, options.sizes ?? [bytes.length])) {
    if (options.tty) tty.push(chunk, assembler);
    else demux.push(chunk, assembler);
  }
  if (options.ended ?? true) {
    if (options.tty) tty.end(assembler);
    assembler.endRun();
  }
  return out;
}

// Verbatim from dockerd 20.10: `sh -c 'echo a; echo b >&2; printf c-no-newline'`, logs?stdout=1&stderr=1&timestamps=1.
const CAPTURED_SMALL = gunzipSync(Buffer.from('H4sICHkjCmsCA3NtYWxsLmJpbgBjZAADRSMDIzNdQ0NdI4sQAwMrYyMrQwM9I1MTS0NLE3PLKIVELia8Ck0NDSyNLYyiFJK4GCEKtbEqNDcxMTc3MzeNUkjWzcvXzUstz8nMSwUA8bS71oUAAAA=', 'base64'));
// `head -c 40000 /dev/zero | tr '\0' x; echo; echo short; head -c 20000 /dev/zero | tr '\0' y` (exits without a newline).
const CAPTURED_LONG = gunzipSync(Buffer.from('H4sICC0hCmsCA25vbnR0eS5iaW4A7dyxDsFQAEDRWjv4AokuRvL6+lqehY8wdTLaJBj4e5HOpFsjOec3bnJnxcdxGUPs1nW9jrtTCPsm7lPadLscY5O3TV89AQAAAAAAAAAAAAAAAAAAgMnNbAIAAAAAAAAAAAAAAAAAAADgXwybgMXZJgAAAAAAAAAYqRw6Y7H60hnbtk4h9NX9cr09yp/v8hxCjiGnvnoBAAAAAAAAAAAAAAAAAAAAkxs2AfODTQAAAAAjvAGtOUZ8UesAAA==', 'base64'));
// `printf "first\nsecond\nlast-no-newline"`, started three times (json-file).
const CAPTURED_THREE_RUNS = gunzipSync(Buffer.from('H4sIAAAAAAACA5WQuw7CMAxF6cpXdIEtle3UTtzvYMqGIEiVqlSilfr7pFRMPFo8n3t9dIvd8w4EJAbRkJ6IGoQGqGIVYATrQnlr78O4Lxb4+A12LL4O5RAvfbq+6OoTLWRzryUKZXceRpN6k+LUtSkWP4SUhBV5Tq0LZVhAnPImIWXP4hD5DyFbUZ0jyvOPNaEFrq1X3CCUaQ/zovq+0AORw3vWswEAAA==', 'base64'));
// `echo a; head -c 20000 /dev/zero | tr "\0" y` (no newline at the end), started twice.
const CAPTURED_LONG_LAST_TWICE = gunzipSync(Buffer.from('H4sIAAAAAAACA+3cMRbBQBiFUWkVtoAFcGb+xMikYRGqdJZh95zonBx0FPfWbwOv+ZrFZBspyi7nXdRLxBB5iH7fRiql1pLHzXXZTLvzen4Y+VCPuYybGwAAAAAAAAAAAAAAAAAAAPBzz0zA6iQTAAAAwNc3cj5LV2rbpmNK/acsXamH+hh2nb8JAAAAAAAAAAAAAAAAAAAA/+Bdlk4mAAAAgBd3H9UXHS6dAAA=', 'base64'));
// Two runs with --tty: no frames, the last words glued to the next run's first message.
const CAPTURED_TTY_TWO_RUNS = gunzipSync(Buffer.from('H4sIAAAAAAACA33NQQqDMBAF0H3BO+QCkZmfScbxHF1lV9oIgkQwQq9vu651/+CBkDyzh92BETzCekoWyUCU3TRvbe9u+KOi0SDZtfJc6+ucMYkFVdHslkfbfV19Le9lruVMS4gcCSSX9VfpYKrXtSST8Jnlpz4ABS+shfYAAAA=', 'base64'));
// The same with --tty, ending in `printf tail-no-nl`.
const CAPTURED_TTY = gunzipSync(Buffer.from('H4sICC8hCmsCA3R0eS5iaW4A7dyxDYJAAIXh3sQdWODM3QEnxxxWdHaaEEiUwvFdQBM7LL6vfhu85M8xl5BSyMMlxrHNY1dOcYh9n0rNU/MCAAAAAAAAAAAAAAAAAAAAdpflAQAAAAAAAAAAAAAAAAAAAODfyQMAAAAAAAAAPzoevhyM9VxrrFPzvK2P7fMqxa4tfeqGqdmu9zksa1jmN9ExccXunAAA', 'base64'));

test('recorded stream: lines per stream with nanosecond times, the last one without newline kept', () => {
  const lines = read(CAPTURED_SMALL);
  assert.deepEqual(lines.map((l) => [l.stream, l.time, l.content.toString()]), [
    [0, 1_795_825_930_254_919_479n, 'a'],
    [1, 1_795_825_930_255_109_382n, 'b'],
    [0, 1_795_825_930_274_477_675n, 'c-no-newline'],
  ]);
});

test('recorded stream: 16 KiB pieces merged into the 40,000-byte line, the 20,000-byte unterminated tail too', () => {
  for (const sizes of [[CAPTURED_LONG.length], [1], [4096], [16_415], [100, 7]]) {
    const lines = read(CAPTURED_LONG, { sizes });
    assert.equal(lines.length, 3);
    assert.ok(lines[0]!.content.equals(Buffer.alloc(40_000, 'x')));
    assert.equal(lines[0]!.pieces, 3);
    assert.equal(lines[1]!.content.toString(), 'short');
    assert.ok(lines[2]!.content.equals(Buffer.alloc(20_000, 'y')));
    assert.equal(lines[2]!.pieces, 2);
  }
});

test('recorded TTY stream: \\r stripped, 16 KiB pieces (timestamped, no frames) merged, unterminated tail kept', () => {
  for (const sizes of [[CAPTURED_TTY.length], [1], [4096], [16_415], [33, 5000]]) {
    const lines = read(CAPTURED_TTY, { tty: true, sizes });
    assert.deepEqual(lines.map((l) => [l.content.length, l.content.includes(13)]), [[40_000, false], [5, false], [10, false]]);
    assert.ok(lines[0]!.content.equals(Buffer.alloc(40_000, 'x')));
    assert.equal(lines[1]!.content.toString(), 'short');
    assert.equal(lines[2]!.content.toString(), 'tail-no-nl');
    assert.equal(lines[0]!.time, 1_795_825_966_080_551_692n); // 2026-11-28T00:32:46.080551692Z
  }
});

function randomContent(length: number, seed: number): Buffer {
  // Multi-byte characters so that piece boundaries fall inside them.
  const alphabet = ['a', 'é', '€', '😀', ' ', '\t'];
  let text = '';
  let x = seed;
  while (Buffer.byteLength(text) < length) {
    x = (x * 1_103_515_245 + 12_345) % 2_147_483_648;
    text += alphabet[x % alphabet.length];
  }
  return Buffer.from(text).subarray(0, length);
}

test('merges interleaved stdout/stderr pieces of long lines byte for byte', () => {
  const big = randomContent(200_000, 1);
  const mid = randomContent(40_000, 2);
  const input: DaemonLine[] = [
    { stream: 1, time: T0, content: big },
    { stream: 2, time: T0 + 5n, content: mid },
    { stream: 1, time: T0 + 9n, content: 'after' },
    { stream: 2, time: T0 + 9n, content: Buffer.alloc(PIECE, 'z') },
    { stream: 2, time: T0 + 10n, content: Buffer.alloc(2 * PIECE, 'w') },
  ];
  // Interleave the pieces of the two long lines as the daemon's two copiers would.
  const mux = muxStream(input);
  for (const sizes of [[mux.length], [999], [16_415, 3]]) {
    const lines = read(mux, { sizes });
    assert.equal(lines.length, 5);
    assert.ok(lines[0]!.content.equals(big));
    assert.equal(lines[0]!.pieces, Math.ceil((big.length + 1) / PIECE));
    assert.ok(lines[1]!.content.equals(mid));
    assert.equal(lines[1]!.stream, 1);
    assert.equal(lines[2]!.content.toString(), 'after');
    assert.ok(lines[3]!.content.equals(Buffer.alloc(PIECE, 'z')), 'a line of exactly one piece: the newline comes as an empty piece');
    assert.ok(lines[4]!.content.equals(Buffer.alloc(2 * PIECE, 'w')));
    assert.ok(lines.every((l) => !l.truncated));
  }
});

test('pieces of stdout and stderr lines interleaved frame by frame stay apart', () => {
  const a = randomContent(50_000, 3);
  const b = randomContent(35_000, 4);
  const pa = splitPieces(a, T0);
  const pb = splitPieces(b, T0 + 1n);
  const frames: Buffer[] = [];
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    if (pa[i]) frames.push(frame(1, pa[i]!));
    if (pb[i]) frames.push(frame(2, pb[i]!));
  }
  const lines = read(Buffer.concat(frames), { sizes: [7777] });
  assert.equal(lines.length, 2);
  const out = lines.find((l) => l.stream === 0)!;
  const err = lines.find((l) => l.stream === 1)!;
  assert.ok(out.content.equals(a));
  assert.ok(err.content.equals(b));
});

function splitPieces(content: Buffer, time: bigint): Buffer[] {
  return messages({ stream: 1, time, content });
}

test('lines over the cap are cut at a UTF-8 boundary and flagged, whole or merged', () => {
  const euro = Buffer.from('€'.repeat(30_000)); // 90,000 bytes, 3 per character
  const lines = read(muxStream([{ stream: 1, time: T0, content: euro }, { stream: 1, time: T0 + 1n, content: Buffer.from('€'.repeat(400)) }]), { cap: 1000 + 1 });
  assert.equal(lines.length, 2);
  for (const line of lines) {
    assert.equal(line.truncated, true);
    assert.equal(line.content.length, 999);
    assert.equal(line.content.toString(), '€'.repeat(333));
  }
  const fits = read(muxStream([{ stream: 1, time: T0, content: 'x'.repeat(1024) }]), { cap: 1024 });
  assert.equal(fits[0]!.truncated, false);
});

test('a cap falling on a piece boundary inside a character does not leave half of it', () => {
  // 16,383 ASCII bytes then a 4-byte character across the first piece boundary; cap at the boundary.
  const content = Buffer.concat([Buffer.alloc(PIECE - 1, 'a'), Buffer.from('😀'), Buffer.alloc(100, 'b')]);
  const [line] = read(muxStream([{ stream: 1, time: T0, content }]), { cap: PIECE });
  assert.equal(line!.truncated, true);
  assert.ok(line!.content.equals(Buffer.alloc(PIECE - 1, 'a')));
});

test('a full 16 KiB piece is held until its line ends, and dropped when the stream breaks; a shorter piece without newline is a line at once', () => {
  const piece = 'p'.repeat(PIECE);
  const bytes = muxStream([{ stream: 1, time: T0, content: 'done' }, { stream: 2, time: T0 + 1n, content: piece, noNewline: true }, { stream: 1, time: T0 + 2n, content: 'last words', noNewline: true }]);
  const held = read(bytes, { ended: false });
  assert.deepEqual(held.map((l) => l.content.toString()), ['done', 'last words']);
  const out: string[] = [];
  const assembler = new LineAssembler({ line: (_s, _t, buf, start, end) => out.push(buf.toString('utf8', start, end)) }, 1 << 20, false);
  new FrameDemuxer().push(bytes, assembler);
  assert.equal(assembler.pendingTime(1), T0 + 1n);
  assembler.dropPending();
  assert.equal(assembler.pendingTime(1), undefined);
  assembler.endRun();
  assert.deepEqual(out, ['done', 'last words']);
});

test('a run\'s last line is never merged with the next run\'s first line (captured from dockerd 20.10: docker start three times)', () => {
  // `printf "first\nsecond\nlast-no-newline"`, run three times; logs?stdout=1&stderr=1&timestamps=1.
  const lines = read(CAPTURED_THREE_RUNS, { ended: false });
  assert.deepEqual(lines.map((l) => l.content.toString()), ['first', 'second', 'last-no-newline', 'first', 'second', 'last-no-newline', 'first', 'second', 'last-no-newline']);
  // One chunk per byte: the same.
  assert.deepEqual(read(CAPTURED_THREE_RUNS, { ended: false, sizes: [1] }).map((l) => l.content.toString()), lines.map((l) => l.content.toString()));
  // `echo a; head -c 20000 /dev/zero | tr "\0" y` (no newline), run twice: 16,384 + 3,616 bytes at one timestamp, then the next run.
  const long = read(CAPTURED_LONG_LAST_TWICE, { ended: false });
  assert.deepEqual(long.map((l) => [l.content.length, l.pieces]), [[1, 1], [20_000, 2], [1, 1], [20_000, 2]]);
  // A last line of exactly one piece, sent again before the next run: its timestamp tells it ended.
  const exact = muxStream([{ stream: 1, time: T0, content: 'x'.repeat(PIECE), noNewline: true }, { stream: 1, time: T0 + 5n, content: 'next run' }]);
  assert.deepEqual(read(exact, { ended: false }).map((l) => l.content.length), [PIECE, 8]);
});

test('TTY: a run\'s last line sent again is cut after its own bytes once seen at a stream\'s end (captured: two runs)', () => {
  const out: string[] = [];
  const assembler = new LineAssembler({ line: (_s, _t, buf, start, end) => out.push(buf.toString('utf8', start, end)) }, 1 << 20, true);
  const tty = new TtySplitter();
  const text = CAPTURED_TTY_TWO_RUNS.toString('latin1');
  // Each run read to its end as it finishes: stream k has runs 1..k (since 0).
  for (let run = 1, from = 0; run <= 2; run++) {
    from = text.indexOf('last-no-newline', from) + 'last-no-newline'.length;
    out.length = 0;
    tty.reset();
    for (const chunk of chunks(CAPTURED_TTY_TWO_RUNS.subarray(0, from), [7])) tty.push(chunk, assembler);
    tty.end(assembler);
    assert.deepEqual(out, Array.from({ length: run }, () => ['first', 'second', 'last-no-newline']).flat(), `stream ${run}`);
  }
  // Without having seen a run end (the agent was down): the next run's timestamp inside the message, later than its own, ends the last words.
  for (const size of [1, 7, 64, CAPTURED_TTY_TWO_RUNS.length]) {
    out.length = 0;
    const fresh = new TtySplitter();
    for (const chunk of chunks(CAPTURED_TTY_TWO_RUNS, [size])) fresh.push(chunk, assembler);
    fresh.end(assembler);
    assert.deepEqual(out, ['first', 'second', 'last-no-newline', 'first', 'second', 'last-no-newline'], `chunks of ${size}`);
  }
});

test('TTY: a timestamp a process prints itself stays in its line; only one stamped after the message ends it', () => {
  const out: { time: bigint; text: string }[] = [];
  const assembler = new LineAssembler({ line: (_s, time, buf, start, end) => out.push({ time, text: buf.toString('utf8', start, end) }) }, 1 << 20, true);
  const tty = new TtySplitter();
  const own = '2026-11-29T23:53:32.100000000Z';
  const lines = [
    `${own} request at 2026-11-29T23:53:32.090000000Z took 3ms\r\n`, // earlier than its own stamp: the process's text
    `${own} at the same instant ${own} still one line\r\n`,
    `${own} within 50 ms 2026-11-29T23:53:32.140000000Z is text too\r\n`,
    `${own} no space after 2026-11-29T23:53:40.000000000Z, not a message\r\n`,
    `${own} last words2026-11-29T23:53:32.400000000Z first of the next run\r\n`,
  ];
  tty.push(Buffer.from(lines.join('')), assembler);
  tty.end(assembler);
  assert.deepEqual(out.map((l) => l.text), [
    'request at 2026-11-29T23:53:32.090000000Z took 3ms',
    `at the same instant ${own} still one line`,
    'within 50 ms 2026-11-29T23:53:32.140000000Z is text too',
    'no space after 2026-11-29T23:53:40.000000000Z, not a message',
    'last words',
    'first of the next run',
  ]);
  assert.equal(out[5]!.time - out[4]!.time, 300_000_000n, 'the next run\'s line keeps its own timestamp');
});

test('TTY: generated stream split at every kind of boundary gives the same lines', () => {
  const input: DaemonLine[] = [
    { stream: 1, time: T0, content: 'one' },
    { stream: 1, time: T0 + 1n, content: randomContent(50_000, 7) },
    { stream: 1, time: T0 + 2n, content: '' },
    { stream: 1, time: T0 + 3n, content: 'carriage\rinside' },
    { stream: 1, time: T0 + 4n, content: '2026-11-28T00:32:10.254919479Z looks like a stamp' },
    { stream: 1, time: T0 + 5n, content: 'last', noNewline: true },
  ];
  const bytes = ttyStream(input);
  for (const sizes of [[bytes.length], [1], [3, 17], [16_384], [16_400]]) {
    const lines = read(bytes, { tty: true, sizes });
    assert.deepEqual(lines.map((l) => l.time), input.map((l) => l.time));
    lines.forEach((l, i) => {
      const expected = Buffer.isBuffer(input[i]!.content) ? input[i]!.content as Buffer : Buffer.from(input[i]!.content as string);
      assert.ok(l.content.equals(expected), `line ${i} with chunks ${sizes}`);
    });
  }
});

test('utf8Boundary never splits a sequence', () => {
  const buf = Buffer.from('a€😀b');
  // a | € (3) | 😀 (4) | b
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8, 9].map((end) => utf8Boundary(buf, 0, end)), [1, 1, 1, 4, 4, 4, 4, 8, 9]);
});
