/**
 * The Prometheus text exposition format (0.0.4), the few pieces our computed families need: label
 * values escaped as the format says (backslash, double quote, newline), HELP text escaped (backslash,
 * newline), sample values written as prom-client writes them, and label sets formatted once per
 * object. A label set is a frozen object kept for as long as what it describes is unchanged (a
 * container's identity, a record's interface), so a scrape finds its text in the cache instead of
 * formatting it again: that is what keeps /metrics cheap at hundreds of containers.
 */

import { escapeHelp, escapeLabelValue } from '../../src/telemetry/text-registry.js';

export { escapeHelp, escapeLabelValue };

export type LabelSet = Readonly<Record<string, string>>;

export const NO_LABELS: LabelSet = Object.freeze({});

/** As prom-client writes values, except NaN spelt as the format spells it. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return `${value}`;
}

const formatted = new WeakMap<LabelSet, string>();

/** `a="x",b="y"` in the object's key order; cached per object, so pass objects that are not mutated. */
export function labelText(labels: LabelSet): string {
  let text = formatted.get(labels);
  if (text === undefined) {
    text = Object.entries(labels).map(([name, value]) => `${name}="${escapeLabelValue(value)}"`).join(',');
    formatted.set(labels, text);
  }
  return text;
}

