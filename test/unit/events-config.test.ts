import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventsCollectorFactory, validateResyncSchedule } from '../../collectors/events/index.js';
import { ConfigError } from '../../src/errors.js';
import { configSchema } from '../../config/schema.js';

test('events config: defaults, unknown keys rejected', () => {
  assert.deepEqual(eventsCollectorFactory.configSchema.parse({}), { enabled: true, exclude_actions: [], persist_position: true });
  assert.equal(eventsCollectorFactory.configSchema.safeParse({ enabeld: false }).success, false);
});

test('a bad resync schedule is a config error naming inventory.resync_schedule', () => {
  assert.doesNotThrow(() => validateResyncSchedule('*/5 * * * *'));
  assert.doesNotThrow(() => validateResyncSchedule('*/30 * * * * *'));
  assert.throws(() => validateResyncSchedule('every five minutes'), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.match(error.message, /inventory\.resync_schedule/);
    assert.match(error.message, /every five minutes/);
    return true;
  });
  const config = eventsCollectorFactory.configSchema.parse({});
  // The schema rejects it too; the factory must not rely on that (it may be built from code).
  const bad = { ...configSchema.parse({}), inventory: { resync_schedule: '61 * * * *' } };
  assert.throws(() => eventsCollectorFactory.create(config, { dataDir: '/tmp', agentVersion: 't', config: bad }), /inventory\.resync_schedule: "61 \* \* \* \*"/);
  assert.equal(eventsCollectorFactory.create(config, { dataDir: '/tmp', agentVersion: 't', config: configSchema.parse({}) }).id, 'events');
});
