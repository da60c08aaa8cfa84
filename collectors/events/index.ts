/** The `events` collector type: config section `collectors.events`. */
import { z } from 'zod';
import cron from 'node-cron';
import { defineCollector } from '../../src/component.js';
import { ConfigError } from '../../src/errors.js';
import { EventsCollector } from './collector.js';

export const DEFAULT_RESYNC_SCHEDULE = '*/5 * * * *';

export const eventsConfigSchema = z.strictObject({
  enabled: z.boolean().default(true).describe('Follow the daemon events, emit them as records and keep the container inventory current.'),
  exclude_actions: z.array(z.string().min(1)).default([]).describe('Event actions (globs on the verb before any colon, e.g. "exec_*" for the exec_create/exec_start/exec_die events every healthcheck probe makes) that are not emitted as records; the inventory still sees them.'),
  persist_position: z.boolean().default(true).describe('Save the position of the last stored event under the data directory and resume from it after a restart (the daemon replays at most its last 256 events).'),
});

/** Throws a ConfigError naming the key when `expression` is not a cron expression node-cron runs. */
export function validateResyncSchedule(expression: string, key = 'inventory.resync_schedule'): void {
  if (cron.validate(expression)) return;
  const detail = cron.validateDetailed(expression).errors.map((e) => e.message).join('; ');
  throw new ConfigError([`${key}: ${JSON.stringify(expression)} is not a valid cron expression (expected five or six fields, e.g. "${DEFAULT_RESYNC_SCHEDULE}")${detail ? `: ${detail}` : ''}`]);
}

export const eventsCollectorFactory = defineCollector({
  type: 'events',
  configSchema: eventsConfigSchema,
  create(config, deps) {
    const resyncSchedule = deps.config.inventory.resync_schedule;
    validateResyncSchedule(resyncSchedule);
    return new EventsCollector({ resyncSchedule, persistPosition: config.persist_position, excludeActions: config.exclude_actions });
  },
});
