/**
 * deploy/kibana against the documents the exporter really produces: every field a data view, a Lens
 * panel (its columns and its KQL) or the dashboard names is a field of documents made by the real
 * document functions, with the values the queries look for, and mapped by dockhand's templates with a
 * type the panel can use.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { DATASETS, MetricHistory, dataStreamName, targetIndex, toDocument, type DocumentSettings } from '../../exporters/elasticsearch/documents.js';
import { ecsMappings, metricMappings } from '../../exporters/elasticsearch/templates.js';
import { elasticsearchConfigSchema } from '../../exporters/elasticsearch/config.js';
import type { EventRecord, MetricRecord } from '../../src/records.js';
import { globMatcher } from '../../src/util/glob.js';
import { repoPath } from '../helpers/deploy-files.js';
import { eventRecord, logRecord, metricRecord } from '../helpers/es-records.js';

interface SavedObject {
  id: string;
  type: string;
  attributes: Record<string, any>;
  references: { id: string; name: string; type: string }[];
}

const objects: SavedObject[] = readFileSync(repoPath('deploy/kibana/dockhand-saved-objects.ndjson'), 'utf8')
  .split('\n').filter((line) => line.trim() !== '').map((line) => JSON.parse(line) as SavedObject);

/** Documents of every kind the exporter ships, as it builds them (two samples of a container, so the figures between samples are there). */
function documents(mode: 'data_stream' | 'index'): { logs: Record<string, unknown>[]; metrics: Record<string, unknown>[] } {
  const settings: DocumentSettings = { mode, namespace: 'default', indexPrefix: 'dockhand', agentVersion: '0.0.0', host: { cpus: 2, memoryBytes: 1 << 30 }, metricHistory: new MetricHistory() };
  const event = (action: string): EventRecord => ({ ...eventRecord(0), action, id: `e-${action}` });
  const later: MetricRecord = { ...metricRecord(1), cpu: { ...metricRecord(1).cpu, usageSeconds: 2 } };
  return {
    logs: [logRecord(0), logRecord(1, { stream: 'stderr' }), event('die'), event('restart'), event('oom')].map((r) => toDocument(r, settings).source),
    metrics: [metricRecord(0), later].map((r) => toDocument(r, settings).source),
  };
}

/** Every leaf's dotted path, with the values seen there. */
function fieldsOf(sources: readonly Record<string, unknown>[]): Map<string, Set<unknown>> {
  const fields = new Map<string, Set<unknown>>();
  const walk = (node: unknown, path: string) => {
    if (node !== null && typeof node === 'object' && !Array.isArray(node)) {
      for (const [key, value] of Object.entries(node)) walk(value, path ? `${path}.${key}` : key);
      return;
    }
    if (!fields.has(path)) fields.set(path, new Set());
    for (const value of Array.isArray(node) ? node : [node]) fields.get(path)!.add(value);
  };
  for (const source of sources) walk(source, '');
  return fields;
}

/** The type the templates map a dotted path to. */
function mappedType(path: string): string | undefined {
  for (const mappings of [ecsMappings(), metricMappings()]) {
    let node: any = mappings;
    for (const part of path.split('.')) node = node?.properties?.[part];
    if (node?.type) return node.type;
  }
  return undefined;
}

const byId = (id: string) => objects.find((o) => o.id === id);

/** The fields of the documents a data view shows. */
function fieldsForView(viewId: string): Map<string, Set<unknown>> {
  const stream = documents('data_stream');
  if (viewId === 'dockhand-logs-docker') return fieldsOf(stream.logs);
  if (viewId === 'dockhand-metrics-docker') return fieldsOf(stream.metrics);
  if (viewId === 'dockhand-index-mode') {
    const daily = documents('index');
    return fieldsOf([...daily.logs, ...daily.metrics]);
  }
  throw new Error(`no documents known for data view ${viewId}`);
}

/** `field : "value"` and `field : ("a" or "b")` pairs of a KQL query. */
function kqlTerms(query: string): { field: string; values: string[] }[] {
  const terms: { field: string; values: string[] }[] = [];
  for (const match of query.matchAll(/([A-Za-z_@][\w.@]*)\s*:\s*(\([^)]*\)|"[^"]*"|[^\s)]+)/g)) {
    terms.push({ field: match[1]!, values: [...match[2]!.matchAll(/"([^"]*)"/g)].map((m) => m[1]!) });
  }
  return terms;
}

test('kibana data views: metrics on the metrics data streams, one for index mode on the daily indices (not the dead letters), logs and events as before', () => {
  const config = elasticsearchConfigSchema.parse({});
  const metrics = byId('dockhand-metrics-docker');
  assert.equal(metrics?.type, 'index-pattern');
  assert.equal(metrics.attributes.timeFieldName, '@timestamp');
  const matchesMetrics = globMatcher([metrics.attributes.title]);
  assert.ok(matchesMetrics(dataStreamName('metric', 'default')) && matchesMetrics(dataStreamName('metric', 'production')));
  assert.ok(!matchesMetrics(dataStreamName('log', 'default')));

  const daily = byId('dockhand-index-mode');
  assert.equal(daily?.type, 'index-pattern');
  assert.equal(daily.attributes.timeFieldName, '@timestamp');
  const patterns = (daily.attributes.title as string).split(',');
  const included = globMatcher(patterns.filter((p) => !p.startsWith('-')));
  const excluded = globMatcher(patterns.filter((p) => p.startsWith('-')).map((p) => p.slice(1)));
  const settings: DocumentSettings = { mode: 'index', namespace: 'default', indexPrefix: config.index_prefix, agentVersion: '0' };
  const index = targetIndex(logRecord(0), settings);
  assert.ok(included(index) && !excluded(index), `${daily.attributes.title} shows ${index}`);
  assert.ok(excluded(config.dead_letter_index), 'the dead letters are not mixed in');

  for (const view of [metrics, daily]) {
    const fields = fieldsForView(view.id);
    for (const field of Object.keys(JSON.parse(view.attributes.fieldFormatMap))) assert.ok(fields.has(field), `${view.id} formats ${field}, which no document has`);
  }
});

test('kibana dashboard: its Lens panels query only fields the documents have, with values they hold, mapped with a type the panel can use', () => {
  const dashboard = byId('dockhand-containers')!;
  assert.equal(dashboard?.type, 'dashboard');
  const panels = JSON.parse(dashboard.attributes.panelsJSON) as { panelIndex: string; panelRefName: string; type: string }[];
  assert.ok(panels.length >= 6);
  const titles: string[] = [];
  for (const panel of panels) {
    const reference: SavedObject['references'][number] | undefined = dashboard.references.find((r) => r.name === `${panel.panelIndex}:${panel.panelRefName}`);
    assert.ok(reference, `panel ${panel.panelIndex} has its reference`);
    const lens = byId(reference.id);
    assert.equal(lens?.type, 'lens', `${reference.id} is a Lens visualization in the file`);
    titles.push(lens.attributes.title);
    const layers = lens.attributes.state.datasourceStates.formBased.layers as Record<string, { columns: Record<string, { operationType: string; sourceField: string }> }>;
    for (const [layerId, layer] of Object.entries(layers)) {
      const view = lens.references.find((r) => r.name === `indexpattern-datasource-layer-${layerId}`);
      assert.ok(view && byId(view.id)?.type === 'index-pattern', `${lens.id} layer ${layerId} has a data view`);
      const fields = fieldsForView(view.id);
      for (const column of Object.values(layer.columns)) {
        if (column.sourceField === '___records___') continue;
        assert.ok(fields.has(column.sourceField), `${lens.id}: ${column.sourceField} is in no document the data view shows`);
        const type = mappedType(column.sourceField);
        if (column.operationType === 'terms') assert.equal(type, 'keyword', `${lens.id}: terms on ${column.sourceField}`);
        if (column.operationType === 'average') assert.ok(['scaled_float', 'long', 'double'].includes(type ?? ''), `${lens.id}: average of ${column.sourceField} (${type})`);
        if (column.operationType === 'date_histogram') assert.equal(type, 'date_nanos');
      }
      for (const term of kqlTerms(lens.attributes.state.query.query)) {
        assert.ok(fields.has(term.field), `${lens.id}: its query names ${term.field}, which no document has`);
        for (const value of term.values) assert.ok(fields.get(term.field)!.has(value), `${lens.id}: ${term.field} is never "${value}"`);
      }
    }
  }
  for (const wanted of [/CPU/, /Memory/, /restart/i, /OOM/, /Log lines/, /stderr/]) assert.ok(titles.some((t) => wanted.test(t)), `a panel for ${wanted}`);
  const source = JSON.parse(dashboard.attributes.kibanaSavedObjectMeta.searchSourceJSON) as { query: { query: string } };
  assert.deepEqual(kqlTerms(source.query.query), []);
});

test('kibana: the metric fields the panels chart carry sane values in the documents (fractions between 0 and the CPUs)', () => {
  const fields = fieldsForView('dockhand-metrics-docker');
  const values = (field: string) => [...(fields.get(field) ?? [])] as number[];
  assert.deepEqual(values('docker.cpu.total.pct'), [0.5], '0.5 CPU-seconds over one second');
  assert.deepEqual(values('container.cpu.usage'), [0.25], 'over the 2 CPUs');
  for (const field of ['docker.memory.usage.pct', 'container.memory.usage']) assert.ok(values(field).every((v) => v > 0 && v <= 1), `${field}: ${values(field)}`);
  assert.deepEqual([...fields.get('event.dataset')!], [DATASETS.metric]);
});
