/**
 * The templates dockhand installs: composed with Elastic's managed components where the cluster has
 * them (as Fleet composes an integration's), complete equivalents where it has not (older 8.x), and a
 * lifecycle that really applies (a data stream lifecycle with `prefer_ilm: false`, or an ILM policy with
 * a delete phase). Checked on the plan, and on what the test server received and made of it in its
 * two modes: managed templates present (8.11+, 9.x) and the old 8.x names.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { ElasticsearchExporter } from '../../exporters/elasticsearch/exporter.js';
import { elasticsearchConfigSchema, type ElasticsearchConfigInput } from '../../exporters/elasticsearch/config.js';
import { MANAGED_COMPONENTS, TEMPLATE_VERSION, chooseLifecycle, templatePlan, type ClusterFacts } from '../../exporters/elasticsearch/templates.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { SelfMetrics } from '../../src/telemetry/metrics.js';
import { EsTestServer, type EsTestServerOptions } from '../helpers/es-server.js';
import { eventRecord, logRecord, metricRecord } from '../helpers/es-records.js';

const config = (input: Partial<ElasticsearchConfigInput> = {}) => elasticsearchConfigSchema.parse(input);
const current: ClusterFacts = { version: '9.1.0', managed: new Set(MANAGED_COMPONENTS) };
const old88: ClusterFacts = { version: '8.8.0', managed: new Set() };
const old85: ClusterFacts = { version: '8.5.0', managed: new Set() };

function bodyOf(plan: ReturnType<typeof templatePlan>, name: string): Record<string, any> {
  const found = plan.find((r) => r.name === name);
  assert.ok(found, `${name} is in the plan`);
  return found.body as Record<string, any>;
}

test('plan, managed templates present: composed as Fleet does, own mappings between Elastic\'s and the @custom hooks, a data stream lifecycle that wins over logs@settings\' ILM', () => {
  const plan = templatePlan(config({ metrics: { enabled: true } }), current);
  assert.deepEqual(plan.map((r) => `${r.kind}:${r.name}`), [
    'component_template:dockhand@settings',
    'component_template:dockhand@mappings',
    'component_template:dockhand-metrics@mappings',
    'index_template:dockhand-docker.logs',
    'index_template:dockhand-docker.events',
    'index_template:dockhand-docker.metrics',
    'index_template:dockhand-dead-letter',
  ]);
  const logs = bodyOf(plan, 'dockhand-docker.logs');
  assert.deepEqual(logs.index_patterns, ['logs-docker.logs-*']);
  assert.deepEqual(logs.data_stream, {});
  assert.equal(logs.priority, 200, 'above the built-in logs template (100)');
  assert.deepEqual(logs.composed_of, ['logs@mappings', 'logs@settings', 'dockhand@mappings', 'logs@custom', 'logs-docker.logs@custom', 'ecs@mappings']);
  assert.deepEqual(logs.ignore_missing_component_templates, ['logs@custom', 'logs-docker.logs@custom']);
  assert.equal(logs.template.settings['index.mode'], undefined, 'index.mode left to the cluster (LogsDB on 9.x)');
  assert.deepEqual(logs.template, { settings: { 'index.lifecycle.prefer_ilm': false }, lifecycle: { data_retention: '30d' } });
  assert.equal(logs.version, TEMPLATE_VERSION);
  assert.match(logs._meta.fingerprint, /^[0-9a-f]{16}$/);
  assert.deepEqual(bodyOf(plan, 'dockhand-docker.events').composed_of, ['logs@mappings', 'logs@settings', 'dockhand@mappings', 'logs@custom', 'logs-docker.events@custom', 'ecs@mappings']);
  const metrics = bodyOf(plan, 'dockhand-docker.metrics');
  assert.deepEqual(metrics.composed_of, ['metrics@mappings', 'metrics@settings', 'dockhand@mappings', 'dockhand-metrics@mappings', 'metrics@custom', 'metrics-docker.metrics@custom', 'ecs@mappings']);
  assert.deepEqual(metrics.ignore_missing_component_templates, ['metrics@custom', 'metrics-docker.metrics@custom']);
  for (const resource of plan.filter((r) => r.kind === 'index_template')) {
    assert.doesNotMatch(resource.name, /@/, 'no @ in index template names (Elastic\'s advice)');
    const body = resource.body as Record<string, any>;
    for (const name of body.composed_of ?? []) {
      if (name.endsWith('@custom')) assert.ok(body.ignore_missing_component_templates.includes(name), `${name} may be missing`);
    }
  }
  const mappings = bodyOf(plan, 'dockhand@mappings').template.mappings;
  assert.equal(mappings.properties['@timestamp'].type, 'date_nanos');
  assert.equal(mappings.properties.host.properties.name.type, 'keyword', 'LogsDB sorts on host.name: a keyword');
  assert.equal(mappings.properties.json.type, 'flattened');
  const metricMappings = bodyOf(plan, 'dockhand-metrics@mappings').template.mappings;
  assert.deepEqual(metricMappings.properties.docker.properties.cpu.properties.total.properties.pct, { type: 'scaled_float', scaling_factor: 1000 });
  const dead = bodyOf(plan, 'dockhand-dead-letter');
  assert.deepEqual(dead.index_patterns, ['dockhand-dead-letter']);
  assert.equal(dead.priority, 300);
});

test('plan, older 8.x without the managed components: dockhand@settings instead, @custom hooks only where ignore_missing_component_templates exists (8.7+), an ILM policy with a delete phase', () => {
  const plan = templatePlan(config(), old88);
  assert.deepEqual(plan.map((r) => `${r.kind}:${r.name}`).slice(0, 2), ['ilm_policy:dockhand', 'component_template:dockhand@settings']);
  const logs = bodyOf(plan, 'dockhand-docker.logs');
  assert.deepEqual(logs.composed_of, ['dockhand@settings', 'dockhand@mappings', 'logs@custom', 'logs-docker.logs@custom']);
  assert.deepEqual(logs.template, { settings: { 'index.lifecycle.name': 'dockhand' } });
  const settings = bodyOf(plan, 'dockhand@settings').template;
  assert.equal(settings.settings['index.codec'], 'best_compression');
  assert.equal(settings.mappings.date_detection, false);
  const policy = bodyOf(plan, 'dockhand').policy;
  assert.deepEqual(policy.phases.hot.actions.rollover, { max_age: '1d', max_primary_shard_size: '50gb' });
  assert.deepEqual(policy.phases.delete, { min_age: '30d', actions: { delete: {} } }, 'the retention is the delete phase');
  assert.deepEqual(bodyOf(templatePlan(config({ ilm: { delete_after: '7d' } }), old88), 'dockhand').policy.phases.delete.min_age, '7d');

  const older = bodyOf(templatePlan(config(), old85), 'dockhand-docker.logs');
  assert.deepEqual(older.composed_of, ['dockhand@settings', 'dockhand@mappings']);
  assert.equal(older.ignore_missing_component_templates, undefined, 'unknown before 8.7');
});

test('lifecycle choice: auto by cluster and mode, an existing policy, none; only a data stream lifecycle needs prefer_ilm false', () => {
  assert.deepEqual(chooseLifecycle(config(), current), { kind: 'data_stream', retention: '30d' });
  assert.deepEqual(chooseLifecycle(config(), { ...current, version: '8.14.0' }), { kind: 'data_stream', retention: '30d' });
  assert.deepEqual(chooseLifecycle(config(), { ...current, version: '8.13.4' }), { kind: 'ilm', policy: 'dockhand', installed: true });
  assert.deepEqual(chooseLifecycle(config({ mode: 'index' }), current), { kind: 'ilm', policy: 'dockhand', installed: true }, 'daily indices: ILM');
  assert.deepEqual(chooseLifecycle(config({ ilm: { enabled: true } }), current), { kind: 'ilm', policy: 'dockhand', installed: true });
  assert.deepEqual(chooseLifecycle(config({ lifecycle: { ilm_policy: '30-days@lifecycle' } }), current), { kind: 'ilm', policy: '30-days@lifecycle', installed: false });
  assert.deepEqual(chooseLifecycle(config({ lifecycle: { type: 'none' } }), current), { kind: 'none' });

  const existing = templatePlan(config({ lifecycle: { ilm_policy: '30-days@lifecycle' } }), current);
  assert.ok(!existing.some((r) => r.kind === 'ilm_policy'), 'an existing policy is attached, not installed');
  assert.deepEqual(bodyOf(existing, 'dockhand-docker.logs').template, { settings: { 'index.lifecycle.name': '30-days@lifecycle' } });
  assert.deepEqual(bodyOf(templatePlan(config({ lifecycle: { type: 'none' } }), current), 'dockhand-docker.logs').template, {});
  const retention = bodyOf(templatePlan(config({ lifecycle: { retention: '7d' } }), current), 'dockhand-docker.logs');
  assert.equal(retention.template.lifecycle.data_retention, '7d');
  assert.notEqual(retention._meta.fingerprint, bodyOf(templatePlan(config(), current), 'dockhand-docker.logs')._meta.fingerprint, 'another retention, another fingerprint');

  const daily = templatePlan(config({ mode: 'index' }), current);
  const dailyTemplate = bodyOf(daily.filter((r) => r.kind === 'index_template'), 'dockhand');
  assert.deepEqual(dailyTemplate.index_patterns, ['dockhand-*']);
  assert.deepEqual(dailyTemplate.composed_of, ['dockhand@settings', 'dockhand@mappings', 'dockhand-metrics@mappings', 'dockhand@custom', 'ecs@mappings'],
    'daily indices never take logs@settings (its rollover policy needs a data stream)');
  assert.equal(dailyTemplate.template.settings['index.lifecycle.name'], 'dockhand');
  assert.deepEqual(bodyOf(daily.filter((r) => r.kind === 'ilm_policy'), 'dockhand').policy.phases.hot, { min_age: '0ms', actions: {} }, 'no rollover without a data stream');
});

interface Started {
  server: EsTestServer;
  start(input?: Partial<ElasticsearchConfigInput>): Promise<ElasticsearchExporter>;
}

async function against(t: TestContext, options: EsTestServerOptions): Promise<Started> {
  const server = await EsTestServer.start(options);
  const made: ElasticsearchExporter[] = [];
  t.after(async () => {
    for (const e of made) await e.stop();
    await server.close();
  });
  return {
    server,
    start: async (input = {}) => {
      const exporter = new ElasticsearchExporter(config({ enabled: true, urls: [server.url], metrics: { enabled: true }, ...input }), { logger: silentLogger(), metrics: new SelfMetrics({ defaultMetrics: false }), agentVersion: '0.1.0-test' });
      made.push(exporter);
      await exporter.start();
      return exporter;
    },
  };
}

test('test server, managed templates (9.x): the templates it received compose logs@*, the data streams are managed by their data stream lifecycle with the retention, a user\'s @custom hook applies', async (t) => {
  const { server, start } = await against(t, {});
  // A user's hook, as the docs tell them to make one: it must reach dockhand's data streams too.
  server.putComponentTemplate('logs@custom', { template: { settings: { 'index.number_of_replicas': 0 } } });
  const exporter = await start();
  assert.equal(exporter.status().templates, 'installed');
  assert.deepEqual(exporter.status().lifecycle, { kind: 'data_stream', retention: '30d' });
  for (const name of MANAGED_COMPONENTS) {
    assert.ok(server.requestLog.some((l) => decodeURIComponent(l) === `GET /_component_template/${name}`), `${name} was looked up`);
  }
  assert.deepEqual(server.indexTemplate('dockhand-docker.logs')!.composed_of, ['logs@mappings', 'logs@settings', 'dockhand@mappings', 'logs@custom', 'logs-docker.logs@custom', 'ecs@mappings']);
  await exporter.export([logRecord(0), eventRecord(0), metricRecord(0)]);
  for (const stream of ['logs-docker.logs-default', 'logs-docker.events-default', 'metrics-docker.metrics-default']) {
    const lifecycle = server.lifecycleOf(stream);
    assert.equal(lifecycle?.managedBy, 'Data stream lifecycle', `${stream}: the retention applies, not logs@settings' ILM policy`);
    assert.equal(lifecycle?.retention, '30d');
    assert.equal(lifecycle?.preferIlm, false);
    assert.match(lifecycle?.ilmPolicy ?? '', /^(logs|metrics)@lifecycle$/, 'logs@settings\' policy is there, and loses');
  }
  const settings = server.indexSettings('logs-docker.logs-default');
  assert.equal(settings['index.number_of_replicas'], 0, 'logs@custom reached dockhand\'s data stream');
  assert.equal(settings['index.codec'], 'best_compression', 'from logs@settings');
  assert.equal(server.mapping('logs-docker.logs-default')!.properties['@timestamp']!.type, 'date_nanos', 'dockhand\'s mapping over logs@mappings\'');
  assert.equal(server.indexTemplate('dockhand-docker.logs')!.priority, 200);
  assert.equal(server.dataStream('logs-docker.logs-default')!.template, 'dockhand-docker.logs', 'above the built-in logs template');
});

test('test server, old 8.x (no managed components, no data stream lifecycle): complete equivalents and dockhand\'s ILM policy, which deletes', async (t) => {
  const { server, start } = await against(t, { version: '8.9.0', managedTemplates: 'old' });
  const exporter = await start();
  assert.equal(exporter.status().templates, 'installed');
  assert.deepEqual(exporter.status().lifecycle, { kind: 'ilm', policy: 'dockhand', installed: true });
  assert.deepEqual(server.indexTemplate('dockhand-docker.logs')!.composed_of, ['dockhand@settings', 'dockhand@mappings', 'logs@custom', 'logs-docker.logs@custom']);
  assert.deepEqual((server.ilmPolicy('dockhand') as any).phases.delete, { min_age: '30d', actions: { delete: {} } });
  await exporter.export([logRecord(0), metricRecord(0)]);
  for (const stream of ['logs-docker.logs-default', 'metrics-docker.metrics-default']) {
    assert.deepEqual(server.lifecycleOf(stream), { managedBy: 'Index Lifecycle Management', ilmPolicy: 'dockhand', preferIlm: true, retention: undefined });
  }
  assert.equal(server.indexSettings('logs-docker.logs-default')['index.codec'], 'best_compression', 'dockhand@settings stands in for logs@settings');
});

test('test server: a template naming a missing component is refused unless ignore_missing_component_templates lists it; unknown before 8.7, as the lifecycle before 8.11', async (t) => {
  const server = await EsTestServer.start({ version: '8.17.0' });
  t.after(() => server.close());
  const put = (body: Record<string, unknown>) => server.putIndexTemplate('t1', { index_patterns: ['x-*'], priority: 7, ...body });
  assert.match(JSON.stringify(put({ composed_of: ['nope@custom'] }).body), /specifies a missing component templates \[nope@custom\] that does not exist and is not part of 'ignore_missing_component_templates'/);
  assert.equal(put({ composed_of: ['nope@custom'], ignore_missing_component_templates: ['nope@custom'] }).status, 200);
  const old = await EsTestServer.start({ version: '8.5.0', managedTemplates: 'old' });
  t.after(() => old.close());
  assert.match(JSON.stringify(old.putIndexTemplate('t1', { index_patterns: ['x-*'], ignore_missing_component_templates: [] }).body), /unknown field \[ignore_missing_component_templates\]/);
  assert.match(JSON.stringify(old.putIndexTemplate('t1', { index_patterns: ['x-*'], template: { lifecycle: { data_retention: '1d' } } }).body), /unknown field \[lifecycle\]/);
  assert.match(JSON.stringify(put({ template: { lifecycle: { data_retention: 'a month' } } }).body), /failed to parse field \[lifecycle\]/);
});

test('a template installed by this version with the same body is left alone; another retention replaces it', async (t) => {
  const { server, start } = await against(t, {});
  await start();
  const puts = () => server.requestLog.filter((l) => l.startsWith('PUT /_index_template/')).length;
  const first = puts();
  await start();
  assert.equal(puts(), first, 'nothing rewritten');
  await start({ lifecycle: { retention: '7d' } });
  assert.equal(puts(), first + 3, 'the three data stream templates, rewritten with the new retention');
  assert.deepEqual(server.indexTemplate('dockhand-docker.logs')!.template!.lifecycle, { data_retention: '7d' });
});

test('a user who may not even read component templates: the probe\'s 403 is a warning, not a crash, and documents still flow', async (t) => {
  const { server, start } = await against(t, {});
  server.forbid(/^GET \/_component_template\//);
  const exporter = await start();
  assert.equal(exporter.status().templates, 'forbidden');
  assert.deepEqual(exporter.health(), { healthy: true });
  await exporter.export([logRecord(0)]);
  assert.equal(server.count('logs-docker.logs-default'), 1);
  assert.equal(server.dataStream('logs-docker.logs-default')?.template, 'logs', 'the cluster\'s own template applied');
});

test('dockhand@mappings leaves unknown strings to ecs@mappings where the cluster has it (a catch-all of its own would match first); without it, they are keywords', () => {
  const dynamicNames = (facts: ClusterFacts) => (bodyOf(templatePlan(config(), facts), 'dockhand@mappings').template.mappings.dynamic_templates as Record<string, unknown>[]).map((t) => Object.keys(t)[0]);
  assert.deepEqual(dynamicNames(current), ['container_labels']);
  assert.deepEqual(dynamicNames(old88), ['container_labels', 'strings_as_keyword']);
});
