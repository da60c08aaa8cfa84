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
