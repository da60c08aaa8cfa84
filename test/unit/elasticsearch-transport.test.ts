/**
 * The exporter's transport: the official client's own Transport, HttpConnection and pool, without
 * undici and OpenTelemetry (exporters/elasticsearch/transport.ts). Checked in a fresh process, where
 * nothing else has loaded them: the exporter starts, ships, and the module cache shows what it loaded.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { EsTestServer } from '../helpers/es-server.js';

const run = promisify(execFile);
const dist = fileURLToPath(new URL('../../', import.meta.url));

/** Starts an exporter at `url`, exports 3 log lines, prints what it stored and every CommonJS module loaded. */
const CHILD = `
import { createRequire } from 'node:module';
const { ElasticsearchExporter } = await import(process.env.DIST + 'exporters/elasticsearch/exporter.js');
const { elasticsearchConfigSchema } = await import(process.env.DIST + 'exporters/elasticsearch/config.js');
const { createLogger } = await import(process.env.DIST + 'src/telemetry/logger.js');
const { SelfMetrics } = await import(process.env.DIST + 'src/telemetry/metrics.js');
const { logRecords } = await import(process.env.DIST + 'test/helpers/es-records.js');
const config = elasticsearchConfigSchema.parse({ enabled: true, urls: [process.env.ES_URL], username: 'dockhand', password: 'secret-pass' });
const exporter = new ElasticsearchExporter(config, { logger: createLogger({ level: 'silent', format: 'json' }), metrics: new SelfMetrics({ defaultMetrics: false }), agentVersion: '0.1.0-test' });
await exporter.start();
await exporter.export(logRecords(3));
const status = exporter.status();
await exporter.stop();
const modules = Object.keys(createRequire(import.meta.url).cache);
process.stdout.write(JSON.stringify({ stored: status.documents.stored, serverVersion: status.server_version, modules }));
`;

test('the exporter ships through the official transport over node:http, without loading undici or OpenTelemetry', async (t) => {
  const server = await EsTestServer.start({ version: '8.17.0' });
  t.after(() => server.close());
  server.requireAuth({ basic: { username: 'dockhand', password: 'secret-pass' } });
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', CHILD], { env: { ...process.env, DIST: dist, ES_URL: server.url } });
  const { stored, serverVersion, modules } = JSON.parse(stdout) as { stored: number; serverVersion: string; modules: string[] };
  assert.equal(stored, 3);
  assert.equal(serverVersion, '8.17.0');
  assert.equal(server.count('logs-docker.logs-default'), 3);
  assert.ok(modules.some((m) => /@elastic[\\/]transport[\\/]lib[\\/]connection[\\/]HttpConnection\.js$/.test(m)), 'the official HttpConnection carried the requests');
  // What the transport's own OpenTelemetry middleware loads (prom-client loads @opentelemetry/api by itself).
  assert.deepEqual(modules.filter((m) => /[\\/]node_modules[\\/](undici|@opentelemetry[\\/](core|semantic-conventions))[\\/]/.test(m)), []);
  assert.deepEqual(modules.filter((m) => /@elastic[\\/]elasticsearch[\\/]lib[\\/](client|api)/.test(m)), [], 'the client and its API methods stay unloaded');
});
