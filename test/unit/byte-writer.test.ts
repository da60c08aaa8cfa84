import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ByteWriter } from '../../src/util/byte-writer.js';

test('ascii and utf8 append at the end, growing the buffer', () => {
  const writer = new ByteWriter(Buffer.alloc(4));
  writer.ascii('abc');
  writer.utf8('é€𝄞');
  writer.ascii('x'.repeat(100));
  assert.equal(writer.written().toString('utf8'), `abcé€𝄞${'x'.repeat(100)}`);
  assert.equal(writer.size, Buffer.byteLength(`abcé€𝄞${'x'.repeat(100)}`));
});

test('digits9 writes nine digits, leading zeros kept, for every order of magnitude and its edges', () => {
  const values = [0, 999_999_999];
  for (let power = 1; power < 1e9; power *= 10) values.push(power - 1, power, power + 1, 7 * power);
  for (let i = 0; i < 1000; i++) values.push(Math.floor(Math.random() * 1e9));
  const writer = new ByteWriter();
  for (const value of values) writer.digits9(value);
  assert.equal(writer.written().toString('latin1'), values.map((v) => String(v).padStart(9, '0')).join(''));
});

test('jsonString writes what JSON.stringify writes: plain ASCII copied, quotes, backslashes, controls, non-ASCII and lone surrogates escaped as it does', () => {
  const texts = ['', 'plain', 'a "quoted" \\ path', 'tab\tnew\nline\r', '\u0000\u001f\u007f', 'ü é 😀', 'lone \ud800 \udc00', '\u2028\u2029', 'x'.repeat(3000)];
  const writer = new ByteWriter();
  for (const text of texts) writer.jsonString(text);
  assert.equal(writer.written().toString('utf8'), texts.map((t) => JSON.stringify(t)).join(''));
});
