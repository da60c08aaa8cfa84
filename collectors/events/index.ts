/** The `events` collector type: config section `collectors.events`. */
import { z } from 'zod';
import { defineCollector } from '../../src/component.js';
import { EventsCollector } from './collector.js';

export const eventsConfigSchema = z.strictObject({
  enabled: z.boolean().default(true).describe('Follow the daemon events and emit them as records (the container inventory is kept current either way).'),
  exclude_actions: z.array(z.string().min(1)).default([]).describe('Event actions (globs on the verb before any colon, e.g. "exec_*" for the exec_create/exec_start/exec_die events every healthcheck probe makes) that are not emitted as records.'),
  persist_position: z.boolean().default(true).describe('Save the position of the last stored event under the data directory and resume from it after a restart (the daemon replays at most its last 256 events).'),
});

export const eventsCollectorFactory = defineCollector({
  type: 'events',
  configSchema: eventsConfigSchema,
  produces: ['event'],
  create: (config) => new EventsCollector({ persistPosition: config.persist_position, excludeActions: config.exclude_actions }),
});
