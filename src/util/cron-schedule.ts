/**
 * The one validation of a node-cron schedule in a config (inventory.resync_schedule,
 * collectors.engine.schedule): the schema's error names the key path, the value and why.
 */
import cron from 'node-cron';
import { z } from 'zod';

export function cronSchedule(example = '*/5 * * * *') {
  return z.string().superRefine((value, ctx) => {
    if (cron.validate(value)) return;
    const detail = cron.validateDetailed(value).errors.map((e) => e.message).join('; ');
    ctx.addIssue({ code: 'custom', message: `expected a cron expression (five fields, or six with seconds) such as "${example}", got ${JSON.stringify(value)}${detail ? `: ${detail}` : ''}` });
  });
}
