import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cgroupPathFromProc, detectCgroupLayout, expectedCgroupPath, resolveContainerCgroup } from '../../collectors/stats/cgroup-paths.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/cgroup/', import.meta.url));
const V1_ID = 'ad21b5acea1f04bce478270e211518bc989f6eaf38098c760cc33f2f1472a2f7';
const ID = '3f2a9c1e5b7d4f60a8e2c4b6d8f0a1c3e5b7d9f1a3c5e7b9d1f3a5c7e9b1d3f5';
const root = (tree: string) => path.join(FIXTURES, tree, 'sys/fs/cgroup');
const proc = (tree: string) => path.join(FIXTURES, tree, 'proc');

test('a v1 tree with one mount per controller (recorded on this machine) is v1, with each controller found', async () => {
  const layout = await detectCgroupLayout(root('v1-cgroupfs'));
  assert.ok(layout && layout.version === 1);
  assert.equal(layout.controllers.cpu, path.join(root('v1-cgroupfs'), 'cpu'));
  assert.equal(layout.controllers.cpuacct, path.join(root('v1-cgroupfs'), 'cpuacct'));
  assert.equal(layout.controllers.memory, path.join(root('v1-cgroupfs'), 'memory'));
  assert.equal(layout.controllers.blkio, path.join(root('v1-cgroupfs'), 'blkio'));
  assert.equal(layout.controllers.pids, path.join(root('v1-cgroupfs'), 'pids'));
});

test('a v1 tree with the combined cpu,cpuacct mount and its symlinks resolves both controllers', async () => {
  const layout = await detectCgroupLayout(root('v1-systemd'));
  assert.ok(layout && layout.version === 1);
  // Either the symlink or the combined directory is right; both point at the same files.
  assert.match(layout.controllers.cpu, /\/(cpu|cpu,cpuacct)$/);
  assert.match(layout.controllers.cpuacct, /\/(cpuacct|cpu,cpuacct)$/);
});

test('a tree with cgroup.controllers at its root is the v2 unified hierarchy', async () => {
  for (const tree of ['v2-systemd', 'v2-cgroupfs']) {
    const layout = await detectCgroupLayout(root(tree));
    assert.deepEqual(layout, { version: 2, root: root(tree) }, tree);
  }
});

test('no cgroup tree (missing directory, or one without memory/cpuacct) is undefined', async () => {
  assert.equal(await detectCgroupLayout('/nonexistent/cgroup'), undefined);
  const empty = mkdtempSync(path.join(os.tmpdir(), 'cg-'));
  try {
    assert.equal(await detectCgroupLayout(empty), undefined);
  } finally {
    rmSync(empty, { recursive: true });
  }
});

test('the container cgroup is found under both drivers and both versions', async () => {
  const cases: [string, string, number, string][] = [
    ['v1-cgroupfs', V1_ID, 26972, `/docker/${V1_ID}`],
    ['v1-systemd', ID, 777, `/system.slice/docker-${ID}.scope`],
    ['v2-cgroupfs', ID, 4242, `/docker/${ID}`],
    ['v2-systemd', ID, 4242, `/system.slice/docker-${ID}.scope`],
  ];
  for (const [tree, id, pid, expected] of cases) {
    const layout = await detectCgroupLayout(root(tree));
    assert.ok(layout, tree);
    assert.equal(await resolveContainerCgroup(layout, id, pid, proc(tree)), expected, tree);
  }
});

test('an unknown container has no cgroup; /proc/<pid>/cgroup is the fallback for a custom --cgroup-parent', async () => {
  const layout = (await detectCgroupLayout(root('v2-systemd')))!;
  assert.equal(await resolveContainerCgroup(layout, 'f'.repeat(64), 0, proc('v2-systemd')), undefined);
  // The id does not match the driver convention, but pid 4242's cgroup file names the scope.
  assert.equal(await resolveContainerCgroup(layout, 'f'.repeat(64), 4242, proc('v2-systemd')), `/system.slice/docker-${ID}.scope`);
});

test('/proc/<pid>/cgroup: memory line on v1, the 0:: line on v2, namespace-relative paths ignored', () => {
  const v1 = '12:pids:/custom/app\n11:memory:/custom/app\n4:cpu,cpuacct:/custom/app\n0::/\n';
  assert.equal(cgroupPathFromProc(v1, 1), '/custom/app');
  assert.equal(cgroupPathFromProc(v1, 2), undefined);
  assert.equal(cgroupPathFromProc('0::/system.slice/docker-abc.scope\n', 2), '/system.slice/docker-abc.scope');
  assert.equal(cgroupPathFromProc('0::/../../system.slice/docker-abc.scope\n', 2), undefined);
  assert.equal(cgroupPathFromProc('0::/\n', 2), undefined);
});

test('the id label for an API-sourced container follows the daemon\'s cgroup driver', () => {
  assert.equal(expectedCgroupPath('abc', 'cgroupfs'), '/docker/abc');
  assert.equal(expectedCgroupPath('abc', 'systemd'), '/system.slice/docker-abc.scope');
  assert.equal(expectedCgroupPath('abc', undefined), '/docker/abc');
});
