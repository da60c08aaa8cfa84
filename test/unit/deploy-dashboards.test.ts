/**
 * deploy/grafana and deploy/kibana, checked for structure: the Grafana dashboard's panels query only
 * metrics the agent defines through the dashboard's datasource variable, in PromQL that promtool
 * parses; the Kibana saved objects are valid NDJSON whose references resolve, whose data view
 * matches the data streams the Elasticsearch exporter writes, and whose columns are fields of its
 * documents.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { DATASETS, dataStreamName, toDocument } from '../../exporters/elasticsearch/documents.js';
import { globMatcher } from '../../src/util/glob.js';
import { checkPromqlSyntax, knownMetricNames, metricNamesInPromql, repoPath, withGrafanaIntervals } from '../helpers/deploy-files.js';

interface Target { expr?: string; refId: string; datasource?: { type?: string; uid?: string } }
interface Panel {
  id: number; type: string; title: string;
  datasource?: { type?: string; uid?: string };
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: Target[];
}
interface Variable { name: string; type: string; query?: unknown; datasource?: { uid?: string } }
interface Dashboard { uid: string; title: string; schemaVersion: number; panels: Panel[]; templating: { list: Variable[] } }

const dashboard = JSON.parse(readFileSync(repoPath('deploy/grafana/dockhand-dashboard.json'), 'utf8')) as Dashboard;
const queryPanels = dashboard.panels.filter((p) => p.type !== 'row');
const targets = queryPanels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p, target: t })));
const DATASOURCE_REF = '${datasource}';

test('grafana: the dashboard has a uid, a title, a schema version and panels that each query something', () => {
  assert.match(dashboard.uid, /^[a-zA-Z0-9_-]{1,40}$/);
  assert.ok(dashboard.title);
  assert.ok(dashboard.schemaVersion >= 36, 'a schema Grafana 10+ reads without migrating panels');
  assert.ok(queryPanels.length >= 10);
  for (const panel of queryPanels) assert.ok((panel.targets ?? []).some((t) => t.expr), `panel "${panel.title}" has no query`);
  const ids = dashboard.panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
});

test('grafana: panels sit on the 24-column grid without overlapping', () => {
  const cells = new Map<string, string>();
  for (const panel of dashboard.panels) {
    const { x, y, w, h } = panel.gridPos;
    assert.ok(x >= 0 && w > 0 && x + w <= 24, `panel "${panel.title}" leaves the grid`);
    for (let row = y; row < y + h; row++) {
      for (let col = x; col < x + w; col++) {
        const key = `${row}:${col}`;
        assert.ok(!cells.has(key), `panels "${cells.get(key)}" and "${panel.title}" overlap at row ${row}, column ${col}`);
        cells.set(key, panel.title);
      }
    }
  }
});

test('grafana: every panel and query uses the dashboard\'s Prometheus datasource variable', () => {
  const variable = dashboard.templating.list.find((v) => v.name === 'datasource');
  assert.ok(variable, 'a datasource variable');
  assert.equal(variable.type, 'datasource');
  assert.equal(variable.query, 'prometheus');
  for (const panel of queryPanels) {
    assert.deepEqual(panel.datasource, { type: 'prometheus', uid: DATASOURCE_REF }, `panel "${panel.title}"`);
    for (const target of panel.targets ?? []) assert.deepEqual(target.datasource, { type: 'prometheus', uid: DATASOURCE_REF }, `panel "${panel.title}" query ${target.refId}`);
  }
  for (const v of dashboard.templating.list.filter((v) => v.type === 'query')) assert.equal(v.datasource?.uid, DATASOURCE_REF, `variable ${v.name}`);
});

test('grafana: every variable a query uses is defined', () => {
  const defined = new Set(dashboard.templating.list.map((v) => v.name));
  const texts = [...targets.map(({ target }) => target.expr ?? ''), ...dashboard.templating.list.map((v) => JSON.stringify(v.query ?? ''))];
  for (const text of texts) {
    for (const match of text.matchAll(/\$\{?([a-zA-Z_]\w*)/g)) {
      if (match[1]!.startsWith('__')) continue; // Grafana's built-ins
      assert.ok(defined.has(match[1]!), `$${match[1]} is not a dashboard variable (in ${text})`);
    }
  }
});

test('grafana: every query reads only metrics the agent defines', async () => {
  const known = await knownMetricNames();
  for (const { panel, target } of targets) {
    const used = metricNamesInPromql(target.expr ?? '');
    assert.ok(used.length > 0, `panel "${panel.title}" ${target.refId}: no metric in ${target.expr}`);
    for (const name of used) assert.ok(known.has(name), `panel "${panel.title}" reads ${name}, which no source file defines`);
  }
});

test('grafana: every query is PromQL that promtool parses', async () => {
  await checkPromqlSyntax(targets.map(({ target }) => withGrafanaIntervals(target.expr!)));
});

test('grafana: the dashboard covers CPU, memory vs limit, network, filesystem, restarts, health, OOM and dockhand itself', () => {
  const used = new Set(targets.flatMap(({ target }) => metricNamesInPromql(target.expr ?? '')));
  for (const name of [
    'container_cpu_usage_seconds_total', 'container_memory_working_set_bytes', 'container_spec_memory_limit_bytes',
    'container_network_receive_bytes_total', 'container_network_transmit_bytes_total', 'container_fs_reads_bytes_total',
    'container_fs_writes_bytes_total', 'container_restarts_total', 'container_health_status', 'container_state',
    'container_oom_events_total', 'dockhand_ready', 'dockhand_records_out_total', 'dockhand_queue_depth',
  ]) assert.ok(used.has(name), `no panel shows ${name}`);
});

test('grafana: the provisioning files point at the dashboard where docker-compose mounts it', () => {
  const provider = YAML.parse(readFileSync(repoPath('deploy/grafana/provisioning/dashboards/dockhand.yml'), 'utf8')) as { providers: { type: string; options: { path: string } }[] };
  const datasources = YAML.parse(readFileSync(repoPath('deploy/grafana/provisioning/datasources/prometheus.yml'), 'utf8')) as { datasources: { type: string; url: string }[] };
  assert.equal(datasources.datasources[0]?.type, 'prometheus');
  assert.equal(datasources.datasources[0]?.url, 'http://prometheus:9090');
  const compose = YAML.parse(readFileSync(repoPath('docker-compose.yml'), 'utf8')) as { services: Record<string, { volumes?: string[] }> };
  const mount = compose.services.grafana?.volumes?.find((v) => v.startsWith('./deploy/grafana/dockhand-dashboard.json:'));
  assert.ok(mount, 'docker-compose mounts the dashboard into grafana');
  const target = mount.split(':')[1]!;
  assert.equal(target.slice(0, target.lastIndexOf('/')), provider.providers[0]?.options.path);
});

interface SavedObject { id: string; type: string; attributes: Record<string, any>; references: { id: string; name: string; type: string }[] }

const savedObjects = (): SavedObject[] => readFileSync(repoPath('deploy/kibana/dockhand-saved-objects.ndjson'), 'utf8')
  .split('\n').filter((line) => line.trim() !== '').map((line, i) => {
    try {
      return JSON.parse(line) as SavedObject;
    } catch (error) {
      throw new Error(`line ${i + 1} is not JSON: ${(error as Error).message}`);
    }
  });

test('kibana: the NDJSON has one object per line, unique ids, and references that resolve within the file', () => {
  const objects = savedObjects();
  assert.ok(objects.length >= 2);
  const byId = new Map(objects.map((o) => [`${o.type}:${o.id}`, o]));
  assert.equal(byId.size, objects.length, 'ids are unique per type');
  for (const object of objects) {
    assert.ok(object.id && object.type && object.attributes && Array.isArray(object.references), `object ${object.id} lacks id, type, attributes or references`);
    for (const ref of object.references) assert.ok(byId.has(`${ref.type}:${ref.id}`), `${object.id} references ${ref.type} ${ref.id}, which is not in the file`);
  }
});

test('kibana: the data view covers the logs and events data streams the exporter writes, on @timestamp', () => {
  const view = savedObjects().find((o) => o.type === 'index-pattern' && o.id === 'dockhand-logs-docker');
  assert.ok(view, 'the logs and events data view');
  assert.equal(view.attributes.title, 'logs-docker.*');
  assert.equal(view.attributes.timeFieldName, '@timestamp');
  const matches = globMatcher([view.attributes.title]);
  for (const kind of ['log', 'event'] as const) assert.ok(matches(dataStreamName(kind, 'default')), `${view.attributes.title} misses ${dataStreamName(kind, 'default')}`);
  assert.ok(!matches(dataStreamName('metric', 'default')), 'metrics have a data stream type of their own');
});

const meta = { id: 'c'.repeat(64), name: 'web', image: 'nginx:1', labels: { 'com.docker.compose.service': 'web' }, host: 'host1' };
const settings = { mode: 'data_stream' as const, namespace: 'default', indexPrefix: 'dockhand', agentVersion: '0.0.0' };
const logDocument = toDocument({ kind: 'log', id: 'l1', time: 1_700_000_000_000_000_000n, stream: 'stdout', message: 'hello', container: meta }, settings).source;
const eventDocument = toDocument({ kind: 'event', id: 'e1', time: 1_700_000_000_000_000_000n, type: 'container', action: 'start', actor: { id: meta.id, attributes: { name: 'web' } }, container: meta }, settings).source;

function fieldOf(document: Record<string, unknown>, dotted: string): unknown {
  let node: unknown = document;
  for (const part of dotted.split('.')) node = (node as Record<string, unknown> | undefined)?.[part];
  return node;
}

test('kibana: the saved searches filter on the exporter\'s datasets and show fields its documents have', () => {
  const searches = savedObjects().filter((o) => o.type === 'search');
  const byDataset = new Map<string, SavedObject>();
  for (const search of searches) {
    const source = JSON.parse(search.attributes.kibanaSavedObjectMeta.searchSourceJSON) as { query: { query: string; language: string }; indexRefName: string };
    assert.equal(source.query.language, 'kuery');
    const ref = search.references.find((r) => r.name === source.indexRefName);
    assert.ok(ref, `${search.id}: indexRefName ${source.indexRefName} names no reference`);
    assert.equal(ref.type, 'index-pattern');
    const dataset = /event\.dataset\s*:\s*"([^"]+)"/.exec(source.query.query)?.[1];
    assert.ok(dataset, `${search.id}: filters on event.dataset`);
    byDataset.set(dataset, search);
    assert.deepEqual(search.attributes.sort, [['@timestamp', 'desc']]);
  }
  const logs = byDataset.get(DATASETS.log);
  assert.ok(logs, `a saved search of ${DATASETS.log}`);
  assert.deepEqual(logs.attributes.columns, ['container.name', 'stream', 'message']);
  for (const column of logs.attributes.columns as string[]) assert.notEqual(fieldOf(logDocument, column), undefined, `log documents have no ${column}`);
  assert.equal(fieldOf(logDocument, 'event.dataset'), DATASETS.log);
  const events = byDataset.get(DATASETS.event);
  assert.ok(events, `a saved search of ${DATASETS.event}`);
  for (const column of events.attributes.columns as string[]) assert.notEqual(fieldOf(eventDocument, column), undefined, `event documents have no ${column}`);
});
