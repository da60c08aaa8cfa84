import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Inventory, type InventorySource } from '../../src/docker/inventory.js';
import { silentLogger } from '../../src/telemetry/logger.js';

const ID = 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90';

/** A daemon whose one container's inspect body the test changes between refreshes. */
function daemon(body: { name: string; labels: Record<string, string>; status: string }): InventorySource {
  return {
    listContainers: async () => [],
    inspectContainer: async () => ({
        Id: ID, Name: `/${body.name}`, Image: 'sha256:img', Created: '2026-01-01T00:00:00Z', RestartCount: 0,
        Config: { Image: 'busybox', Labels: { ...body.labels }, Tty: false },
        State: { Status: body.status, Pid: 1, ExitCode: 0, OOMKilled: false, StartedAt: '2026-01-01T00:00:01Z', FinishedAt: '0001-01-01T00:00:00Z' },
    }),
  } as unknown as InventorySource;
}

test('an inspect that changes nothing shipped keeps the ContainerMeta object; a change replaces it', async () => {
  const inventory = new Inventory(['app.*'], silentLogger());
  const body = { name: 'web', labels: { 'app.tier': 'front', 'other': 'x' }, status: 'running' };
  const docker = daemon(body);
  const first = (await inventory.refresh(docker, ID))!.meta;

  body.status = 'exited';
  body.labels.other = 'y'; // not allow-listed: not in the meta
  const second = await inventory.refresh(docker, ID);
  assert.equal(second!.state, 'exited');
  assert.equal(second!.meta, first, 'same object, so caches keyed by it stay valid');

  body.labels['app.tier'] = 'back';
  const relabelled = (await inventory.refresh(docker, ID))!.meta;
  assert.notEqual(relabelled, first);
  assert.deepEqual(relabelled.labels, { 'app.tier': 'back' });

  body.name = 'web2';
  const renamed = (await inventory.refresh(docker, ID))!.meta;
  assert.notEqual(renamed, relabelled);
  assert.equal(renamed.name, 'web2');

  inventory.hostName = 'other-host';
  const moved = (await inventory.refresh(docker, ID))!.meta;
  assert.notEqual(moved, renamed);
  assert.equal(moved.host, 'other-host');
});
