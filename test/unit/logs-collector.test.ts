/**
 * The logs collector's bookkeeping of containers that are gone, with a real inventory and a
 * stand-in daemon port: each container removed before it could be read is counted once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { logsConfigSchema } from '../../collectors/logs/config.js';
import { LogsCollector } from '../../collectors/logs/index.js';
import { DockerConnection } from '../../src/docker/connection.js';
import { Inventory, type ContainerState } from '../../src/docker/inventory.js';
import { StateStore } from '../../src/state/store.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { SelfMetrics } from '../../src/telemetry/metrics.js';
import { standInDaemon } from '../helpers/container-log.js';

function state(id: string, labels: Record<string, string> = {}): ContainerState {
  return {
    meta: { id, name: `c-${id.slice(0, 4)}`, image: 'img', labels: {}, host: 'h' },
    imageId: 'sha256:0', state: 'running', health: 'none', restartCount: 0, exitCode: 0, oomKilled: false, oomEvents: 0,
    startedAt: 1_795_825_900, finishedAt: 0, createdAt: 1_795_825_899, tty: false, pid: 1, lastSeen: 0, cgroupPath: '', allLabels: labels,
  };
}

test('removed before it could be read: counted once, whatever tells (the follower, the inventory, an event the inventory could not look at)', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dockhand-logs-collector-'));
  const metrics = new SelfMetrics({ defaultMetrics: false });
  const inventory = new Inventory([], silentLogger());
  // Every container is gone by the time it is looked at.
  const daemon = standInDaemon(() => undefined, async () => undefined);
  const collector = new LogsCollector(logsConfigSchema.parse({ exclude: { labels: ['skip'] } }), {}, daemon);
  const stop = new AbortController();
  const connection = new DockerConnection({ kind: 'unix', socketPath: path.join(dir, 'none.sock'), source: 'test' }, { reconnectInitialMs: 10, reconnectMaxMs: 10, requestTimeoutMs: 10 }, silentLogger(), metrics);
  const running = collector.run({ signal: stop.signal, emit: async () => undefined, docker: connection, inventory, logger: silentLogger(), metrics, state: new StateStore(dir) });
  const missed = async () => (await metrics.registry.getSingleMetric('dockhand_logs_containers_missed_total')!.get()).values.reduce((sum, v) => sum + v.value, 0);
  const settle = () => new Promise((resolve) => setTimeout(resolve, 50));
  try {
    await settle();
    // Seen by the inventory, gone when the follower looks; the inventory then updates and removes it.
    const a = state('a'.repeat(64));
    inventory.emit('added', a);
    await settle();
    inventory.emit('updated', a);
    inventory.emit('removed', a);
    await settle();
    assert.equal(await missed(), 1, 'the follower found it gone: one');
    // Removed before the collector ever followed it.
    const b = state('b'.repeat(64));
    inventory.emit('removed', b);
    inventory.emit('removed', b);
    // An event the inventory could not look at (gone at its first inspect): counted unless filtered out.
    inventory.emit('vanished', { meta: { id: 'c'.repeat(64), name: 'c', image: 'img' }, allLabels: {} });
    inventory.emit('vanished', { meta: { id: 'c'.repeat(64), name: 'c', image: 'img' }, allLabels: {} });
    inventory.emit('vanished', { meta: { id: 'd'.repeat(64), name: 'd', image: 'img' }, allLabels: { skip: '1' } });
    await settle();
    assert.equal(await missed(), 3);
    assert.equal(collector.status().missed, 3);
  } finally {
    stop.abort();
    await running;
    rmSync(dir, { recursive: true, force: true });
  }
});
