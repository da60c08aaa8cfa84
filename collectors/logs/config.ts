/** Config section `collectors.logs`. */
import { z } from 'zod';

const MiB = 1024 * 1024;

const globs = (what: string) => z.array(z.string().min(1)).default([]).describe(what);

const selector = z.strictObject({
  names: globs('Container name globs (without the leading /).'),
  images: globs('Image globs, as the container was created with (e.g. nginx:*).'),
  labels: globs('Label globs: `key` (label present) or `key=value`, both sides globs.'),
});

const validRegex = z.string().min(1).refine((value) => {
  try {
    new RegExp(value);
    return true;
  } catch {
    return false;
  }
}, 'expected a JavaScript regular expression');

export const multilineRuleSchema = z.strictObject({
  names: globs('Container name globs this rule applies to (empty with empty images: every container).'),
  images: globs('Image globs this rule applies to.'),
  pattern: validRegex.describe('Regular expression matching the first line of a record; other lines continue the record before them.'),
  max_lines: z.number().int().min(1).default(500).describe('Most lines joined into one record.'),
  max_bytes: z.number().int().min(1).default(MiB).describe('Most bytes joined into one record.'),
  timeout_ms: z.number().int().min(1).default(1000).describe('A line continues a record only if the daemon stamped it within this long of the record\'s previous line; a record with no further line completes this long (plus 1 s for lines on their way) after its last.'),
});

export const logsConfigSchema = z.strictObject({
  enabled: z.boolean().default(true).describe('Ship every container\'s stdout and stderr.'),
  include: selector.prefault({}).describe('Only containers matching one of these (all empty: every container).'),
  exclude: selector.prefault({}).describe('Containers matching one of these are skipped (so is a container labelled dockhand.logs=false).'),
  exclude_self: z.boolean().default(true).describe('Skip the agent\'s own container (found from /proc/self/cgroup, /proc/self/mountinfo or HOSTNAME).'),
  history: z.enum(['running', 'all', 'none']).default('running').describe(
    'Containers the collector has no checkpoint for that predate its first start: running = read running ones from their first line; '
    + 'all = exited ones too; none = only lines written after the first start. Containers started later are always read whole.'),
  max_line_bytes: z.number().int().min(1024).default(MiB).describe('Longer lines are cut (at a UTF-8 boundary) and flagged truncated.'),
  reorder_window_ms: z.number().int().min(0).default(2000).describe(
    'How far the daemon\'s stdout and stderr timestamps may run out of order in its log file; resumes re-read this much and skip what was delivered.'),
  checkpoint_interval_ms: z.number().int().min(10).default(200).describe('Checkpoints are saved at most this often (and at stop).'),
  rescan_interval_ms: z.number().int().min(50).default(1000).describe('How often the container inventory is rechecked for containers to read (events start them at once).'),
  multiline: z.array(multilineRuleSchema).default([]).describe(
    'Multiline rules, first match wins; a container label dockhand.multiline.pattern (with dockhand.multiline.max_lines, .max_bytes, .timeout_ms) overrides them.'),
  json: selector.prefault({}).describe('Containers whose JSON-object lines are parsed into the json field (label dockhand.logs.json=true|false overrides).'),
});

export type LogsConfig = z.output<typeof logsConfigSchema>;
export type MultilineRule = z.output<typeof multilineRuleSchema>;
