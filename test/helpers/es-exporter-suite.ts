/**
 * Expectations of the Elasticsearch exporter that need no fault injection, so they run both against
 * the test server and against a real cluster (ELASTICSEARCH_TEST_URL). Everything a test creates is
 * named after a token unique to it, and removed afterwards.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Client } from '@elastic/elasticsearch';
import { ElasticsearchExporter } from '../../exporters/elasticsearch/exporter.js';
import { elasticsearchConfigSchema, type ElasticsearchConfigInput } from '../../exporters/elasticsearch/config.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { SelfMetrics } from '../../src/telemetry/metrics.js';
import { eventRecord, logRecord, logRecords, metricRecord } from './es-records.js';

export interface EsTarget {
  readonly url: string;
  /** Credentials and TLS settings for the exporter's config section. */
  readonly config: Partial<ElasticsearchConfigInput>;
  /** Options for a client that reads back what was stored. */
  readonly clientOptions: ConstructorParameters<typeof Client>[0];
  /** Called once the test is over, to close what open() started. */
  close(): Promise<void>;
}

/** Plain JSON on both headers: every Elasticsearch version from 7.x on takes it. */
const PLAIN = { accept: 'application/json', 'content-type': 'application/json' };

class Reader {
  constructor(readonly client: Client) {}

  async call<T = any>(method: string, path: string, body?: unknown, ignore: number[] = []): Promise<{ statusCode: number; body: T }> {
    const result = await this.client.transport.request<T>({ method, path, ...(body === undefined ? {} : { body: body as Record<string, unknown> }) }, { meta: true, headers: PLAIN, ignore });
    return { statusCode: result.statusCode ?? 0, body: result.body };
  }

  async count(expression: string): Promise<number> {
    await this.call('POST', `/${expression}/_refresh`, undefined, [404]);
    const result = await this.call<{ count?: number }>('GET', `/${expression}/_count`, undefined, [404]);
    return result.statusCode === 404 ? 0 : result.body.count ?? 0;
  }

  async get(expression: string, id: string): Promise<Record<string, any> | undefined> {
    await this.call('POST', `/${expression}/_refresh`, undefined, [404]);
    const result = await this.call<{ hits?: { hits?: { _source: Record<string, any> }[] } }>('POST', `/${expression}/_search`, { query: { ids: { values: [id] } } }, [404]);
    return result.body.hits?.hits?.[0]?._source;
  }

  async search(expression: string, size = 100): Promise<{ _id: string; _index: string; _source: Record<string, any> }[]> {
    await this.call('POST', `/${expression}/_refresh`, undefined, [404]);
    const result = await this.call<{ hits?: { hits?: { _id: string; _index: string; _source: Record<string, any> }[] } }>('POST', `/${expression}/_search`, { size, query: { match_all: {} } }, [404]);
    return result.body.hits?.hits ?? [];
  }

  async fieldType(expression: string, path: string[]): Promise<string | undefined> {
    const result = await this.call<Record<string, { mappings: Record<string, any> }>>('GET', `/${expression}/_mapping`);
    const first = Object.values(result.body)[0];
    let node: Record<string, any> | undefined = first?.mappings;
    for (const part of path) node = node?.properties?.[part];
    return node?.type;
  }
}

/** The names one test uses: its namespace, prefixes and template names carry `unique`. */
function names(unique: string) {
  return {
    namespace: unique,
    indexPrefix: `dockhand-${unique}`,
    deadLetter: `dockhand-${unique}-dead-letter`,
    template: `dockhand-${unique}`,
  };
}

function exporterConfig(target: EsTarget, unique: string, overrides: Partial<ElasticsearchConfigInput> = {}) {
  const n = names(unique);
  return elasticsearchConfigSchema.parse({
    enabled: true,
    urls: [target.url],
    namespace: n.namespace,
    index_prefix: n.indexPrefix,
    dead_letter_index: n.deadLetter,
    // A priority of its own: a real cluster refuses two overlapping templates of one priority.
    template: { name: n.template, priority: 1000 + (Number.parseInt(unique.slice(-4), 36) % 10_000) },
    retry: { initial_ms: 20, max_ms: 200 },
    ...target.config,
    ...overrides,
  });
}

async function cleanup(reader: Reader, unique: string): Promise<void> {
  const n = names(unique);
  const quiet = [400, 404];
  for (const ds of [`logs-docker.logs-${unique}`, `logs-docker.events-${unique}`, `metrics-docker.metrics-${unique}`]) {
    await reader.call('DELETE', `/_data_stream/${ds}`, undefined, quiet).catch(() => undefined);
  }
  await reader.call('DELETE', `/${n.indexPrefix}-*`, undefined, quiet).catch(() => undefined);
  await reader.call('DELETE', `/${n.deadLetter}`, undefined, quiet).catch(() => undefined);
  for (const t of ['docker.logs', 'docker.events', 'docker.metrics', 'dead-letter']) {
    await reader.call('DELETE', `/_index_template/${n.template}-${t}`, undefined, quiet).catch(() => undefined);
  }
  await reader.call('DELETE', `/_index_template/${n.template}`, undefined, quiet).catch(() => undefined);
  for (const c of ['@mappings', '@settings', '-metrics@mappings']) {
    await reader.call('DELETE', `/_component_template/${n.template}${c}`, undefined, quiet).catch(() => undefined);
  }
}

/** Registers the shared tests. `open` returns undefined to skip (no cluster configured). */
export function exporterSuite(label: string, open: () => Promise<EsTarget | undefined>): void {
  const run = (name: string, body: (ctx: { target: EsTarget; reader: Reader; unique: string; exporter: (o?: Partial<ElasticsearchConfigInput>) => Promise<ElasticsearchExporter> }) => Promise<void>) => {
    test(`${label}: ${name}`, async (t) => {
      const target = await open();
      if (!target) {
        t.skip('no cluster configured');
        return;
      }
      const unique = `t${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
      const reader = new Reader(new Client(target.clientOptions));
      const exporters: ElasticsearchExporter[] = [];
      t.after(async () => {
        for (const e of exporters) await e.stop();
        await cleanup(reader, unique);
        await reader.client.close();
        await target.close();
      });
      const exporter = async (overrides: Partial<ElasticsearchConfigInput> = {}) => {
        const e = new ElasticsearchExporter(exporterConfig(target, unique, overrides), { logger: silentLogger(), metrics: new SelfMetrics({ defaultMetrics: false }), agentVersion: '0.1.0-test' });
        exporters.push(e);
        await e.start();
        return e;
      };
      await body({ target, reader, unique, exporter });
    });
  };

  run('logs and events land as ECS documents in their data streams, nanoseconds kept', async ({ reader, unique, exporter }) => {
    const es = await exporter();
    assert.deepEqual(es.health(), { healthy: true });
    assert.equal(es.status().templates, 'installed');
    const logs = [logRecord(0, { message: 'hello', truncated: true }), logRecord(1, { json: { level: 'warn', nested: { n: 1 } } }), ...logRecords(3).map((r, i) => logRecord(10 + i, { message: r.message }))];
    const events = [eventRecord(0), eventRecord(1)];
    await es.export([...logs, ...events]);
    assert.equal(await reader.count(`logs-docker.logs-${unique}`), logs.length);
    assert.equal(await reader.count(`logs-docker.events-${unique}`), events.length);
    const doc = await reader.get(`logs-docker.logs-${unique}`, logs[0]!.id);
    assert.ok(doc, 'the first log line is there under its record id');
    assert.equal(doc['@timestamp'], '2026-01-02T03:04:05.123456789Z');
    assert.equal(doc.message, 'hello');
    assert.equal(doc.stream, 'stdout');
    assert.deepEqual(doc.log, { flags: ['truncated'] });
    assert.equal(doc.container.image.name, 'nginx:1.27');
    assert.equal(doc.container.labels.com_docker_compose_project, 'shop');
    assert.equal(doc.host.name, 'docker-host-1');
    assert.equal(doc.event.dataset, 'docker.logs');
    assert.deepEqual(doc.agent, { type: 'dockhand', version: '0.1.0-test' });
    assert.deepEqual(doc.data_stream, { type: 'logs', dataset: 'docker.logs', namespace: unique });
    assert.equal(await reader.fieldType(`logs-docker.logs-${unique}`, ['@timestamp']), 'date_nanos');
    assert.equal(await reader.fieldType(`logs-docker.logs-${unique}`, ['json']), 'flattened');
    const event = await reader.get(`logs-docker.events-${unique}`, events[1]!.id);
    assert.equal(event?.docker.event.action, 'start');
    assert.equal(event?.docker.event.actor.attributes.com_docker_compose_project, 'shop');
    const stored = await reader.search(`logs-docker.logs-${unique}`);
    assert.ok(stored.every((hit) => hit._index.startsWith(`.ds-logs-docker.logs-${unique}-`)), 'written through the data stream');
  });

  run('a replayed batch is answered 409 and counted as a duplicate, never stored twice', async ({ reader, unique, exporter }) => {
    const es = await exporter();
    const batch = logRecords(20);
    await es.export(batch);
    await es.export(batch);
    assert.equal(await reader.count(`logs-docker.logs-${unique}`), 20);
    const documents = es.status().documents as Record<string, number>;
    assert.equal(documents.stored, 20);
    assert.equal(documents.duplicates, 20);
  });

  run('daily indices; a document the mapping refuses goes to the dead-letter index with the reason', async ({ reader, unique, exporter }) => {
    const n = names(unique);
    const es = await exporter({ mode: 'index' });
    // A day index someone created with `message` as a number: text there is a real mapping error.
    await reader.call('PUT', `/${n.indexPrefix}-2026.01.02`, { mappings: { properties: { message: { type: 'long' } } } });
    const fits = logRecord(0, { message: '42' });
    const refused = logRecord(1, { message: 'not a number' });
    await es.export([fits, refused]);
    assert.equal(await reader.count(`${n.indexPrefix}-2026.01.02`), 1);
    const dead = await reader.get(n.deadLetter, refused.id);
    assert.ok(dead, 'the refused line is in the dead-letter index');
    assert.match(dead.error.type, /(document|mapper)_parsing_exception/);
    assert.match(dead.error.message, /message/);
    assert.equal(JSON.parse(dead.event.original).message, 'not a number');
    assert.equal(dead.dockhand.dead_letter.index, `${n.indexPrefix}-2026.01.02`);
    assert.equal((es.status().documents as Record<string, number>).dead_lettered, 1);
    // Dead-lettering again (a replay) is a 409 in the dead-letter index, not a second copy.
    await es.export([fits, refused]);
    assert.equal(await reader.count(n.deadLetter), 1);
  });

  run('container metrics, when enabled, land in metrics-docker.metrics-<namespace>', async ({ reader, unique, exporter }) => {
    const es = await exporter({ metrics: { enabled: true } });
    assert.ok(es.accepts.has('metric'));
    await es.export([metricRecord(0), metricRecord(1)]);
    assert.equal(await reader.count(`metrics-docker.metrics-${unique}`), 2);
    const doc = await reader.get(`metrics-docker.metrics-${unique}`, `${'f'.repeat(64)}-${metricRecord(1).time}-cgroup`);
    assert.equal(doc?.docker.memory.working_set_bytes, 800);
  });
}
