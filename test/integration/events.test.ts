/**
 * The events collector against the real daemon: lifecycle and health events of labelled test
 * containers become EventRecords with name and image, the inventory follows them, ignored
 * containers stay invisible, and neither a broken stream nor a restart emits an event twice.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Readable } from 'node:stream';
import { DockerClient, type Query } from '../../src/docker/client.js';
import { eventsCollectorFactory } from '../../collectors/events/index.js';
import type { EventsCollector } from '../../collectors/events/collector.js';
import { POSITION_STATE_NAME, type SavedPosition } from '../../collectors/events/position-store.js';
import type { AgentRecord, EventRecord } from '../../src/records.js';
import { TEST_IMAGE, TestContainers, docker } from '../helpers/containers.js';
import { CollectorHarness } from '../helpers/events-harness.js';
import { waitFor } from '../helpers/wait.js';

const containers = new TestContainers();
const RUN_LABEL = containers.runLabel;
let harness: CollectorHarness;
let collector: EventsCollector;

function newCollector(): EventsCollector {
  return eventsCollectorFactory.create(eventsCollectorFactory.configSchema.parse({}), { dataDir: '/unused', agentVersion: 'test' }) as EventsCollector;
}

// Observe (not fake) the real event streams, so one test can break the one in use.
const streams: { client: DockerClient; stream: Readable; filtered: boolean }[] = [];
const originalEvents = DockerClient.prototype.events;
function observeEventStreams(): void {
  DockerClient.prototype.events = async function (this: DockerClient, query: Query, signal: AbortSignal | undefined) {
    const stream = await originalEvents.call(this, query, signal);
    streams.push({ client: this, stream, filtered: Boolean(query.filters) });
    return stream;
  };
}

/** Event records about this file's containers (the daemon is shared with other test files). */
function ours(records: readonly AgentRecord[]): EventRecord[] {
  return records.filter((r): r is EventRecord => r.kind === 'event' && r.container?.labels[RUN_LABEL] === containers.run);
}

function actionsOf(records: readonly AgentRecord[], id: string): string[] {
  return ours(records).filter((r) => r.actor.id === id).map((r) => r.action);
}

function assertNoDuplicates(records: readonly AgentRecord[]): void {
  const ids = records.filter((r) => r.kind === 'event').map((r) => (r as EventRecord).id);
  const dupes = ids.filter((id, i) => ids.indexOf(id) !== i);
  assert.deepEqual(dupes, [], 'no event emitted twice');
}

before(async () => {
  observeEventStreams();
  harness = await CollectorHarness.create({ labelAllow: [RUN_LABEL, 'dh.allowed.*'] });
  collector = newCollector();
  harness.start(collector);
  await harness.waitConnected(collector);
});

after(async () => {
  DockerClient.prototype.events = originalEvents;
  await harness.close();
  await containers.removeAll();
});

test('start, stop, die and destroy become event records with name and image; the inventory follows', async () => {
  const name = containers.name('life');
  const id = await containers.start(['sleep', '60'], { name, labels: { 'dh.allowed.tier': 'web', 'dh.secret': 'hidden' } });
  await waitFor(() => harness.inventory.get(id)?.state === 'running', { timeoutMs: 15_000, what: 'inventory shows the container running' });
  await docker('stop', '-t', '1', id);
  await waitFor(() => harness.inventory.get(id)?.state === 'exited', { timeoutMs: 15_000, what: 'inventory shows the container exited' });
  await docker('rm', id);
  await waitFor(() => actionsOf(harness.records, id).includes('destroy'), { timeoutMs: 15_000, what: 'destroy event' });
  // The inventory follows the daemon on its own stream: it gets there on its own time, not with the records.
  await waitFor(() => harness.inventory.get(id) === undefined, { timeoutMs: 15_000, what: 'destroyed containers leave the inventory' });

  const actions = actionsOf(harness.records, id);
  for (const action of ['create', 'start', 'die', 'stop', 'destroy']) {
    assert.equal(actions.filter((a) => a === action).length, 1, `exactly one ${action} in ${actions.join(',')}`);
  }
  // `docker stop -t 1` on a PID 1 that ignores SIGTERM: two kill events, TERM then KILL.
  const signals = ours(harness.records).filter((r) => r.actor.id === id && r.action === 'kill').map((r) => r.actor.attributes.signal);
  assert.deepEqual(signals, ['15', '9']);
  assert.ok(actions.indexOf('create') < actions.indexOf('start') && actions.indexOf('die') < actions.indexOf('destroy'), `in order: ${actions.join(',')}`);
  for (const record of ours(harness.records).filter((r) => r.actor.id === id)) {
    assert.equal(record.type, 'container');
    assert.equal(record.container?.name, name);
    assert.equal(record.container?.image, TEST_IMAGE);
    assert.equal(record.container?.labels['dh.allowed.tier'], 'web');
    assert.equal(record.container?.labels['dh.secret'], undefined, 'labels not allow-listed are never shipped');
    assert.equal(record.actor.attributes['dh.secret'], undefined, 'not in the attributes either');
    assert.equal(record.actor.attributes.name, name);
    assert.equal(typeof record.time, 'bigint');
    assert.match(record.id, /^[0-9a-f]{32}$/);
  }
  const die = ours(harness.records).find((r) => r.actor.id === id && r.action === 'die')!;
  assert.equal(die.actor.attributes.exitCode, '137');
  const inspectEnv = JSON.stringify(ours(harness.records), (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  assert.doesNotMatch(inspectEnv, /PATH=/, 'no container environment in any record');
  assertNoDuplicates(harness.records);
});

test('health events: a failing healthcheck turns the container unhealthy, a passing one healthy; exclude_actions drops the probes\' exec events', async () => {
  const quiet = await CollectorHarness.create({ labelAllow: [RUN_LABEL] });
  const quietCollector = eventsCollectorFactory.create(eventsCollectorFactory.configSchema.parse({ exclude_actions: ['exec_*'] }), { dataDir: '/unused', agentVersion: 'test' }) as EventsCollector;
  try {
    quiet.start(quietCollector);
    await quiet.waitConnected(quietCollector);
    const sick = await containers.start(['sleep', '60'], { name: containers.name('sick'), flags: ['--health-cmd', 'false', '--health-interval', '1s', '--health-retries', '1'] });
    const well = await containers.start(['sleep', '60'], { name: containers.name('well'), flags: ['--health-cmd', 'true', '--health-interval', '1s'] });
    await waitFor(() => actionsOf(harness.records, sick).includes('health_status: unhealthy'), { timeoutMs: 30_000, what: 'health_status: unhealthy event' });
    await waitFor(() => actionsOf(harness.records, well).includes('health_status: healthy'), { timeoutMs: 30_000, what: 'health_status: healthy event' });
    // The inventory follows the daemon on its own stream: it gets there on its own time, not with the records.
    await waitFor(() => harness.inventory.get(sick)?.health === 'unhealthy', { timeoutMs: 15_000, what: 'inventory shows sick unhealthy' });
    await waitFor(() => harness.inventory.get(well)?.health === 'healthy', { timeoutMs: 15_000, what: 'inventory shows well healthy' });
    const record = ours(harness.records).find((r) => r.actor.id === sick && r.action === 'health_status: unhealthy')!;
    assert.equal(record.container?.name, containers.name('sick'));
    assert.equal(record.container?.image, TEST_IMAGE);
    assert.ok(actionsOf(harness.records, sick).some((a) => a.startsWith('exec_start')), 'each probe is an exec');

    await waitFor(() => actionsOf(quiet.records, sick).includes('health_status: unhealthy'), { timeoutMs: 15_000, what: 'unhealthy event with exec_* excluded' });
    assert.deepEqual(actionsOf(quiet.records, sick).filter((a) => a.startsWith('exec_')), [], 'no exec_* records');
    await waitFor(() => quiet.inventory.get(sick)?.health === 'unhealthy', { timeoutMs: 15_000, what: 'the second inventory shows sick unhealthy' });
    assert.ok(Number(quietCollector.status().excluded) > 0);
    await docker('rm', '-f', sick, well);
  } finally {
    await quiet.close();
  }
});

test('containers labelled dockhand.enable=false are ignored: no record, no inventory entry', async () => {
  const hidden = await containers.start(['sleep', '60'], { name: containers.name('hidden'), labels: { 'dockhand.enable': 'false' } });
  const marker = await containers.start(['true'], { name: containers.name('marker') });
  // Events arrive in order: once the marker's start is in, the hidden one's events have passed.
  await waitFor(() => actionsOf(harness.records, marker).includes('start'), { timeoutMs: 15_000, what: 'marker start event' });
  await docker('rm', '-f', hidden);
  const marker2 = await containers.start(['true'], { name: containers.name('marker2') });
  await waitFor(() => actionsOf(harness.records, marker2).includes('start'), { timeoutMs: 15_000, what: 'second marker start event' });
  assert.equal(harness.records.filter((r) => r.kind === 'event' && r.actor.id === hidden).length, 0, 'no record for the ignored container');
  assert.equal(harness.inventory.get(hidden), undefined, 'never in the inventory');
  assert.ok(harness.inventory.get(marker), 'the marker is');
});

test('a broken stream reconnects from the last position without losing or repeating an event', async () => {
  const before = collector.status();
  const a = await containers.start(['true'], { name: containers.name('before-break') });
  await waitFor(() => actionsOf(harness.records, a).includes('die'), { timeoutMs: 15_000, what: 'first container died' });
  // The collector's own stream: the inventory service's is the one filtered to container events.
  const stream = streams.filter((s) => s.client === harness.connection.docker && !s.filtered).at(-1)?.stream;
  assert.ok(stream && !stream.destroyed, 'the collector follows a stream opened through events()');
  // As a daemon restart or a proxy would: the connection breaks under the collector.
  stream.destroy(new Error('test: connection reset'));
  const b = await containers.start(['true'], { name: containers.name('after-break') });
  await waitFor(() => Number(collector.status().reconnects) > Number(before.reconnects) && collector.status().connected === true, { timeoutMs: 20_000, what: 'collector reconnected' });
  await waitFor(() => actionsOf(harness.records, b).includes('die'), { timeoutMs: 15_000, what: 'second container died' });
  for (const id of [a, b]) {
    const actions = actionsOf(harness.records, id);
    for (const action of ['create', 'start', 'die']) assert.equal(actions.filter((x) => x === action).length, 1, `${action} once for ${id.slice(0, 12)}: ${actions}`);
  }
  assert.ok(Number(collector.status().duplicates) > Number(before.duplicates), 'the inclusive replay at the boundary was seen and skipped');
  assertNoDuplicates(harness.records);
});

test('a restarted collector resumes from the saved position: events during its absence arrive once', async () => {
  const first = await containers.start(['true'], { name: containers.name('first-run') });
  await waitFor(() => actionsOf(harness.records, first).includes('die'), { timeoutMs: 15_000, what: 'first-run container died' });
  const stopMs = await harness.stop(collector);
  assert.ok(stopMs < 5000, `run() returned ${stopMs} ms after abort`);
  const saved = await harness.state.read<SavedPosition>(POSITION_STATE_NAME);
  assert.ok(saved && /^\d+$/.test(saved.time), 'position saved on acknowledgement');
  const emittedBefore = harness.records.length;

  const during = await containers.start(['true'], { name: containers.name('while-away') });
  await docker('wait', during);

  collector = newCollector();
  harness.start(collector);
  await harness.waitConnected(collector);
  await waitFor(() => actionsOf(harness.records, during).includes('die'), { timeoutMs: 15_000, what: 'events from while the collector was away' });
  const resumed = harness.records.slice(emittedBefore);
  assert.equal(ours(resumed).filter((r) => r.actor.id === first).length, 0, 'nothing already stored is emitted again');
  const actions = actionsOf(harness.records, during);
  for (const action of ['create', 'start', 'die']) assert.equal(actions.filter((x) => x === action).length, 1, `${action} once: ${actions}`);
  assertNoDuplicates(harness.records);
});

test('the scheduled re-sync heals an inventory that missed something', async () => {
  const fast = await CollectorHarness.create({ labelAllow: [RUN_LABEL], resyncSchedule: '* * * * * *' });
  try {
    const id = await containers.start(['sleep', '60'], { name: containers.name('heal') });
    await waitFor(() => fast.inventory.get(id)?.state === 'running', { timeoutMs: 10_000, what: 'container in the inventory' });
    const resyncsBefore = Number(fast.inventoryService.status().resyncs);
    fast.inventory.remove(id); // as if its events had been lost
    // A re-sync puts the container back before it has inspected the rest of a busy shared daemon and counted itself.
    await waitFor(() => fast.inventory.get(id)?.state === 'running' && Number(fast.inventoryService.status().resyncs) > resyncsBefore, { timeoutMs: 10_000, what: 'the every-second re-sync to bring it back' });
    await docker('rm', '-f', id);
  } finally {
    await fast.close();
  }
});

test('the self-metric counts received events and the collector stops promptly', async () => {
  const text = await harness.metrics.registry.metrics();
  const received = [...text.matchAll(/^dockhand_events_received_total\{type="container"\} (\d+)$/gm)].map((m) => Number(m[1]));
  assert.ok(received.length === 1 && received[0]! > 10, `dockhand_events_received_total: ${received}`);
  assert.match(text, /^dockhand_reconnects_total\{component="events"\} [1-9]/m);
  const stopMs = await harness.stop(collector);
  assert.ok(stopMs < 2000, `stopped in ${stopMs} ms`);
});
