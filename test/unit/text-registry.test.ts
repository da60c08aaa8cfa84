import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Gauge, Histogram, Registry, Summary, type OpenMetricsContentType } from 'prom-client';
import { TextRegistry } from '../../src/telemetry/text-registry.js';
import { SelfMetrics } from '../../src/telemetry/metrics.js';
import { promtoolCheckMetrics } from '../helpers/prometheus.js';

/** Families of every prom-client kind, awkward names, help, label values and values included. */
function fill(registry: Registry): void {
  const registers = [registry];
  const counter = new Counter({ name: 'dockhand_test_things_total', help: 'Things with a \\ backslash\nand a newline.', labelNames: ['component', 'kind'], registers });
  counter.inc({ component: 'we"ird\\name\nsecond', kind: 'log' }, 3);
  counter.inc({ component: 'café ☕', kind: 'event' });
  new Counter({ name: 'dockhand_test_never_total', help: 'Never counted.', labelNames: ['component'], registers });
  const gauge = new Gauge({ name: 'dockhand_test_level', help: 'Levels.', labelNames: ['container'], registers });
  gauge.set({ container: 'a' }, NaN);
  gauge.set({ container: 'b' }, Infinity);
  gauge.set({ container: 'c' }, -Infinity);
  gauge.set({ container: 'd' }, 0.1 + 0.2);
  new Gauge({ name: 'dockhand_test_plain', help: 'No labels.', registers }).set(1e21);
  new Gauge({ name: 'dockhand_test_collected', help: 'Set at collect.', labelNames: ['n'], registers, collect() { this.reset(); this.set({ n: '1' }, 7); } });
  const histogram = new Histogram({ name: 'dockhand_test_seconds', help: 'Durations.', labelNames: ['component'], buckets: [0.001, 0.5, 1], registers });
  histogram.observe({ component: 'x"y' }, 0.2);
  histogram.observe({ component: 'z' }, 5);
  new Histogram({ name: 'dockhand_test_unlabelled_seconds', help: 'Durations.', buckets: [1], registers }).observe(0.5);
  const summary = new Summary({ name: 'dockhand_test_sizes', help: 'Sizes.', labelNames: ['component'], percentiles: [0.5, 0.9], registers });
  summary.observe({ component: 'a' }, 10);
}

test('the text registry writes exactly what prom-client writes, for every kind of family', async () => {
  const ours = new TextRegistry();
  const theirs = new Registry();
  fill(ours);
  fill(theirs);
  const text = await ours.metrics();
  assert.equal(text, await theirs.metrics());
  assert.equal(Buffer.concat(await ours.metricsChunks()).toString('utf8'), text);
  assert.match(text, /^dockhand_test_things_total\{component="we\\"ird\\\\name\\nsecond",kind="log"\} 3$/m);
  assert.match(text, /^dockhand_test_seconds_bucket\{le="0\.5",component="x\\"y"\} 1$/m);
  assert.match(text, /^dockhand_test_level\{container="a"\} Nan$/m, 'NaN as prom-client spells it');
  assert.equal(await ours.metrics(), await theirs.metrics(), 'and again, from the caches');
});

test('default labels and OpenMetrics are left to prom-client whole', async () => {
  const labelled = new TextRegistry();
  new Gauge({ name: 'dockhand_test_plain', help: 'plain', registers: [labelled] }).set(1);
  labelled.setDefaultLabels({ host: 'h1' });
  assert.match(await labelled.metrics(), /^dockhand_test_plain\{host="h1"\} 1$/m);
  const open = new TextRegistry();
  (open as unknown as Registry<OpenMetricsContentType>).setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  new Counter({ name: 'dockhand_test_hits_total', help: 'hits', registers: [open] }).inc();
  assert.match(await open.metrics(), /# EOF\n$/);
});

test('the agent\'s own registry, default metrics included, passes promtool', async () => {
  const metrics = new SelfMetrics();
  metrics.recordsIn.inc({ component: 'logs', kind: 'log' }, 5);
  metrics.exportDuration.observe({ component: 'file' }, 0.02);
  const text = await metrics.registry.metrics();
  assert.match(text, /^process_cpu_seconds_total \d/m);
  assert.match(text, /^dockhand_export_duration_seconds_bucket\{le="0\.05",component="file"\} 1$/m);
  const check = await promtoolCheckMetrics(text);
  assert.equal(check.code, 0, check.output);
});
