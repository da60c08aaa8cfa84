/**
 * The shared Elasticsearch exporter expectations against a real cluster, opt-in:
 *   ELASTICSEARCH_TEST_URL=https://localhost:9200 ELASTICSEARCH_TEST_USERNAME=elastic ELASTICSEARCH_TEST_PASSWORD=… \
 *   ELASTICSEARCH_TEST_CA=/path/http_ca.crt node --test dist/test/unit/elasticsearch-cluster.test.js
 * (or ELASTICSEARCH_TEST_API_KEY; ELASTICSEARCH_TEST_TLS_VERIFY=false for a self-signed cluster without its CA).
 * Each test works under names of its own and deletes them afterwards, but it installs index templates
 * for the logs-docker.* patterns while it runs: use a disposable cluster.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Client } from '@elastic/elasticsearch';
import { ElasticsearchExporter } from '../../exporters/elasticsearch/exporter.js';
import { elasticsearchConfigSchema } from '../../exporters/elasticsearch/config.js';
import { versionAtLeast } from '../../exporters/elasticsearch/templates.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { SelfMetrics } from '../../src/telemetry/metrics.js';
import { exporterSuite, type EsTarget } from '../helpers/es-exporter-suite.js';
import { logRecords } from '../helpers/es-records.js';

const env = process.env;

exporterSuite('real cluster', async () => {
  const url = env.ELASTICSEARCH_TEST_URL;
  return url ? realTarget(url) : undefined;
});

function realTarget(url: string): EsTarget {
  const ca = env.ELASTICSEARCH_TEST_CA ? readFileSync(env.ELASTICSEARCH_TEST_CA, 'utf8') : undefined;
  const tlsVerify = env.ELASTICSEARCH_TEST_TLS_VERIFY !== 'false';
  const apiKey = env.ELASTICSEARCH_TEST_API_KEY;
  const username = env.ELASTICSEARCH_TEST_USERNAME;
  const password = env.ELASTICSEARCH_TEST_PASSWORD ?? '';
  const auth = apiKey ? { apiKey } : username ? { username, password } : undefined;
  return {
    url,
    config: {
      ...(apiKey ? { api_key: apiKey } : {}),
      ...(username && !apiKey ? { username, password } : {}),
      ...(env.ELASTICSEARCH_TEST_CA ? { ca_file: env.ELASTICSEARCH_TEST_CA } : {}),
      tls_verify: tlsVerify,
    },
    clientOptions: { node: url, ...(auth ? { auth } : {}), tls: { ...(ca ? { ca } : {}), rejectUnauthorized: tlsVerify } },
    close: async () => {},
  };
}

/**
 * A data stream dockhand writes rolls over by the lifecycle its template gave it, which carries the
 * retention and manages the backing indices (not logs@settings' ILM policy). The lifecycle is made to
 * run every second and roll over at one document through two cluster settings, reset afterwards.
 * Clusters before 8.14 (no data stream lifecycle: dockhand's ILM policy there) are skipped.
 */
test('real cluster: a data stream rolls over by its lifecycle, which carries the retention', async (t) => {
  const url = env.ELASTICSEARCH_TEST_URL;
  if (!url) {
    t.skip('no cluster configured');
    return;
  }
  const target = realTarget(url);
  const client = new Client(target.clientOptions);
  const call = async (method: string, path: string, body?: Record<string, unknown>) =>
    (await client.transport.request<any>({ method, path, ...(body ? { body } : {}) }, { meta: true, headers: { accept: 'application/json', 'content-type': 'application/json' }, ignore: [404] })).body;
  const version: string = (await call('GET', '/')).version.number;
  if (!versionAtLeast(version, 8, 14)) {
    await client.close();
    t.skip(`Elasticsearch ${version} has no data stream lifecycle (dockhand attaches its ILM policy there)`);
    return;
  }
  const unique = `r${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const stream = `logs-docker.logs-${unique}`;
  const exporter = new ElasticsearchExporter(elasticsearchConfigSchema.parse({
    enabled: true, urls: [url], namespace: unique, dead_letter_index: `dockhand-${unique}-dead-letter`,
    template: { name: `dockhand-${unique}`, priority: 1000 + (Number.parseInt(unique.slice(-4), 36) % 10_000) },
    retry: { initial_ms: 20, max_ms: 200 }, ...target.config,
  }), { logger: silentLogger(), metrics: new SelfMetrics({ defaultMetrics: false }), agentVersion: '0.1.0-test' });
  t.after(async () => {
    await exporter.stop();
    await call('PUT', '/_cluster/settings', { persistent: { 'data_streams.lifecycle.poll_interval': null, 'cluster.lifecycle.default.rollover': null } });
    await call('DELETE', `/_data_stream/${stream}`);
    for (const name of ['docker.logs', 'docker.events', 'dead-letter']) await call('DELETE', `/_index_template/dockhand-${unique}-${name}`);
    for (const name of ['@mappings', '@settings', '-metrics@mappings']) await call('DELETE', `/_component_template/dockhand-${unique}${name}`);
    await client.close();
  });
  await call('PUT', '/_cluster/settings', { persistent: { 'data_streams.lifecycle.poll_interval': '1s', 'cluster.lifecycle.default.rollover': 'min_docs=1,max_docs=1' } });
  await exporter.start();
  assert.deepEqual(exporter.status().lifecycle, { kind: 'data_stream', retention: '30d' });
  await exporter.export(logRecords(3));
  const deadline = Date.now() + 120_000;
  let described: any;
  for (;;) {
    described = (await call('GET', `/_data_stream/${stream}`)).data_streams?.[0];
    if ((described?.indices?.length ?? 0) >= 2 || Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  assert.ok(described.indices.length >= 2, `rolled over by its lifecycle (${described.indices.length} backing index)`);
  assert.equal(described.lifecycle?.data_retention, '30d');
  assert.equal(described.indices[0].managed_by, 'Data stream lifecycle', 'the retention applies: not logs@settings\' ILM policy');
  assert.equal(described.indices[0].prefer_ilm, false);
});
