import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventsCollectorFactory } from '../../collectors/events/index.js';
import { configSchema } from '../../config/schema.js';

test('events config: defaults, unknown keys rejected', () => {
  assert.deepEqual(eventsCollectorFactory.configSchema.parse({}), { enabled: true, exclude_actions: [], persist_position: true });
  assert.equal(eventsCollectorFactory.configSchema.safeParse({ enabeld: false }).success, false);
});

test('the factory needs only its own section (narrow settings): events are turned into records, nothing more', () => {
  const collector = eventsCollectorFactory.create(eventsCollectorFactory.configSchema.parse({}), { dataDir: '/tmp', agentVersion: 't' });
  assert.equal(collector.id, 'events');
  assert.deepEqual(eventsCollectorFactory.produces, ['event']);
});

test('a bad cron schedule is one validation, in the schema, naming the key, the value and why (inventory and engine alike)', () => {
  for (const [input, key] of [
    [{ inventory: { resync_schedule: '61 * * * *' } }, 'inventory.resync_schedule'],
    [{ collectors: { engine: { schedule: '61 * * * *' } } }, 'collectors.engine.schedule'],
  ] as const) {
    const result = configSchema.safeParse(input);
    assert.equal(result.success, false);
    const issue = result.error!.issues[0]!;
    assert.equal(issue.path.join('.'), key);
    assert.match(issue.message, /expected a cron expression .*"61 \* \* \* \*".*61 is a invalid expression for minute/);
  }
  assert.equal(configSchema.parse({ inventory: { resync_schedule: '*/30 * * * * *' } }).inventory.resync_schedule, '*/30 * * * * *');
});
