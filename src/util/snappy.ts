/**
 * A snappy compressor (the raw block format, not the framing format), as Loki's push API wants its
 * protobuf bodies. Greedy LZ77 over a hash table of 4-byte sequences, in 64 KiB fragments as the
 * reference implementation cuts them, so no copy reaches back further than 64 KiB (two-byte
 * offsets always suffice). Correct first; fast enough: a push body of 1,000 log lines is ~100 KiB.
 *
 * Format (github.com/google/snappy format_description.txt): the uncompressed length as a varint,
 * then elements whose tag byte's low two bits say what follows: 00 a literal, 01 a copy of 4-11
 * bytes with an 11-bit offset, 10 a copy of 1-64 bytes with a 16-bit offset (11, 32-bit offsets,
 * is never needed here).
 */
import { writeVarintAt } from './protobuf-writer.js';

const FRAGMENT_BYTES = 1 << 16;
const HASH_BITS = 14;
const MIN_MATCH = 4;
/** After this many misses in a row the scan starts skipping: incompressible input costs less. */
const SKIP_SHIFT = 5;

const TAG_LITERAL = 0;
const TAG_COPY_1 = 1;
const TAG_COPY_2 = 2;

/** The largest output `snappyCompress` can produce for `length` input bytes (snappy's MaxCompressedLength). */
export function maxCompressedLength(length: number): number {
  return 32 + length + Math.floor(length / 6);
}

/**
 * Compression runs synchronously, so one worst-case-sized output buffer and one hash table serve
 * every call: only the compressed bytes (a tenth of a log push) are copied out of it.
 */
let scratch = Buffer.allocUnsafe(0);
const table = new Int32Array(1 << HASH_BITS);

/** Compresses `input` into one snappy block. */
export function snappyCompress(input: Uint8Array): Buffer {
  const worst = maxCompressedLength(input.length);
  if (scratch.length < worst) scratch = Buffer.allocUnsafe(worst);
  let pos = writeVarintAt(scratch, 0, input.length);
  for (let start = 0; start < input.length; start += FRAGMENT_BYTES) {
    pos = compressFragment(input, start, Math.min(start + FRAGMENT_BYTES, input.length), scratch, pos, table);
  }
  return Buffer.from(scratch.subarray(0, pos));
}

function compressFragment(input: Uint8Array, start: number, end: number, out: Buffer, pos: number, table: Int32Array): number {
  table.fill(-1);
  let literalStart = start;
  let i = start;
  let misses = 0;
  const lastLoad = end - MIN_MATCH;
  while (i <= lastLoad) {
    const word = load32(input, i);
    const slot = hash(word);
    const candidate = table[slot]!;
    table[slot] = i;
    if (candidate < start || load32(input, candidate) !== word) {
      i += 1 + (misses++ >> SKIP_SHIFT);
      continue;
    }
    misses = 0;
    let length = MIN_MATCH;
    // Four bytes at a time while they match (log lines repeat long runs: shared metadata, prefixes), then byte by byte.
    while (i + length + 4 <= end && load32(input, candidate + length) === load32(input, i + length)) length += 4;
    while (i + length < end && input[candidate + length] === input[i + length]) length++;
    pos = emitLiteral(input, literalStart, i, out, pos);
    pos = emitCopy(i - candidate, length, out, pos);
    i += length;
    literalStart = i;
    // The position just before the next search: later text often repeats from there.
    if (i - 1 <= lastLoad) table[hash(load32(input, i - 1))] = i - 1;
  }
  return emitLiteral(input, literalStart, end, out, pos);
}

function load32(input: Uint8Array, at: number): number {
  return (input[at]! | (input[at + 1]! << 8) | (input[at + 2]! << 16) | (input[at + 3]! << 24)) | 0;
}

function hash(word: number): number {
  return Math.imul(word, 0x1e35a7bd) >>> (32 - HASH_BITS);
}

function emitLiteral(input: Uint8Array, from: number, to: number, out: Buffer, pos: number): number {
  const length = to - from;
  if (length === 0) return pos;
  const n = length - 1;
  if (n < 60) {
    out[pos++] = TAG_LITERAL | (n << 2);
  } else {
    const bytes = n < 0x100 ? 1 : n < 0x10000 ? 2 : n < 0x1000000 ? 3 : 4;
    out[pos++] = TAG_LITERAL | ((59 + bytes) << 2);
    for (let b = 0; b < bytes; b++) out[pos++] = (n >>> (8 * b)) & 0xff;
  }
  out.set(input.subarray(from, to), pos);
  return pos + length;
}

/** A match of any length as copies of at most 64 bytes, none shorter than 4 (the 1-byte-offset form's least). */
function emitCopy(offset: number, length: number, out: Buffer, pos: number): number {
  while (length >= 68) {
    pos = emitShortCopy(offset, 64, out, pos);
    length -= 64;
  }
  if (length > 64) {
    pos = emitShortCopy(offset, 60, out, pos);
    length -= 60;
  }
  return emitShortCopy(offset, length, out, pos);
}

function emitShortCopy(offset: number, length: number, out: Buffer, pos: number): number {
  if (length < 12 && offset < 2048) {
    out[pos++] = TAG_COPY_1 | ((length - 4) << 2) | ((offset >>> 8) << 5);
    out[pos++] = offset & 0xff;
    return pos;
  }
  out[pos++] = TAG_COPY_2 | ((length - 1) << 2);
  out[pos++] = offset & 0xff;
  out[pos++] = offset >>> 8;
  return pos;
}
