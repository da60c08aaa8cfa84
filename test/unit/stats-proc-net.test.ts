import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { parseNetDev, readProcNetDev } from '../../collectors/stats/proc-net.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/cgroup/', import.meta.url));

test('net/dev: every interface but lo, receive and transmit columns in kernel order', () => {
  const text = [
    'Inter-|   Receive                                                |  Transmit',
    ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed',
    '    lo:     504       6    0    0    0     0          0         0      504       6    0    0    0     0       0          0',
    '  eth0: 9873412    7012    2    3    4     5          6         7   512330    4410    1    9    10    11      12         13',
  ].join('\n');
  assert.deepEqual(parseNetDev(text), [{
    interface: 'eth0', rxBytes: 9873412, rxPackets: 7012, rxErrors: 2, rxDropped: 3, txBytes: 512330, txPackets: 4410, txErrors: 1, txDropped: 9,
  }]);
});

test('net/dev: a byte count glued to the colon (old kernels) still parses', () => {
  const [eth] = parseNetDev('eth1:123456789012 10 0 0 0 0 0 0 800 8 0 0 0 0 0 0\n');
  assert.equal(eth?.interface, 'eth1');
  assert.equal(eth?.rxBytes, 123456789012);
  assert.equal(eth?.txBytes, 800);
});

test('net/dev: header lines and garbage are skipped', () => {
  assert.deepEqual(parseNetDev('Inter-|   Receive |  Transmit\n face |bytes\nbogus: a b c\n'), []);
});

test('readProcNetDev reads <proc_root>/<pid>/net/dev of the recorded container; an invisible pid is undefined', () => {
  const procRoot = path.join(FIXTURES, 'v1-cgroupfs/proc');
  const interfaces = readProcNetDev(procRoot, 26972);
  assert.deepEqual(interfaces?.map((n) => n.interface), ['eth0']);
  assert.ok(interfaces![0]!.rxBytes > 0);
  assert.equal(readProcNetDev(procRoot, 1), undefined);
  assert.equal(readProcNetDev(procRoot, 0), undefined);
});
