/**
 * The exporter's transport: the official client's own Transport, HttpConnection and pool, without
 * undici and OpenTelemetry (exporters/elasticsearch/transport.ts). Checked in a fresh process, where
 * nothing else has loaded them: the exporter starts, ships, and the module cache shows what it loaded.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ElasticsearchExporter } from '../../exporters/elasticsearch/exporter.js';
import { elasticsearchConfigSchema, type ElasticsearchConfigInput } from '../../exporters/elasticsearch/config.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { SelfMetrics } from '../../src/telemetry/metrics.js';
import { EsTestServer } from '../helpers/es-server.js';
import { logRecords } from '../helpers/es-records.js';
import { freePort } from '../helpers/ports.js';

const run = promisify(execFile);
const LOGS = 'logs-docker.logs-default';
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

function exporterFor(t: TestContext, config: Partial<ElasticsearchConfigInput>): ElasticsearchExporter {
  const exporter = new ElasticsearchExporter(elasticsearchConfigSchema.parse({ enabled: true, ...config }), {
    logger: createLogger({ level: 'silent', format: 'json' }), metrics: new SelfMetrics({ defaultMetrics: false }), agentVersion: '0.1.0-test',
  });
  t.after(() => exporter.stop());
  return exporter;
}

test('several nodes: a node that refuses connections is failed over within the same request, whichever comes first', async (t) => {
  const server = await EsTestServer.start();
  t.after(() => server.close());
  const dead = `http://127.0.0.1:${await freePort()}`;
  for (const urls of [[dead, server.url], [server.url, dead]]) {
    server.reset();
    const exporter = exporterFor(t, { urls });
    await exporter.start();
    assert.equal(exporter.status().ready, true, `ready with ${urls.join(', ')}`);
    for (let round = 0; round < 4; round++) await exporter.export(logRecords(5).map((r) => ({ ...r, id: `${r.id}-${round}` })));
    assert.equal(server.count(LOGS), 20);
    assert.equal(exporter.status().failed_requests, 0, 'no export failed: the transport tried the other node');
  }
});

/** A CA, and a certificate for 127.0.0.1 it signed, made with openssl. */
async function certificates(dir: string, name: string): Promise<{ ca: string; key: string; cert: string }> {
  const file = (f: string) => path.join(dir, `${name}-${f}`);
  writeFileSync(file('ext.cnf'), 'subjectAltName=IP:127.0.0.1\n');
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${name} test CA`, '-keyout', file('ca.key'), '-out', file('ca.pem')]);
  await run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', file('key.pem'), '-out', file('csr.pem')]);
  await run('openssl', ['x509', '-req', '-in', file('csr.pem'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial', '-days', '1', '-extfile', file('ext.cnf'), '-out', file('cert.pem')]);
  return { ca: file('ca.pem'), key: readFileSync(file('key.pem'), 'utf8'), cert: readFileSync(file('cert.pem'), 'utf8') };
}

/** TLS in front of the test server: every request passed on as it came, every answer back. */
async function tlsFront(t: TestContext, target: string, key: string, cert: string): Promise<string> {
  const front = https.createServer({ key, cert }, (req, res) => {
    const upstream = http.request(`${target}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => { front.closeAllConnections(); front.close(() => resolve()); }));
  return `https://127.0.0.1:${(front.address() as AddressInfo).port}`;
}

test('TLS: the cluster certificate is verified against ca_file; another CA is refused unless tls_verify is off', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dockhand-es-tls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const [cluster, other] = await Promise.all([certificates(dir, 'cluster'), certificates(dir, 'other')]);
  const server = await EsTestServer.start();
  t.after(() => server.close());
  const url = await tlsFront(t, server.url, cluster.key, cluster.cert);

  const trusting = exporterFor(t, { urls: [url], ca_file: cluster.ca });
  await trusting.start();
  await trusting.export(logRecords(3));
  assert.equal(server.count(LOGS), 3);

  const wrongCa = exporterFor(t, { urls: [url], ca_file: other.ca });
  await wrongCa.start();
  assert.equal(wrongCa.status().ready, false);
  assert.match(wrongCa.health().reason ?? '', /certificate|self.signed|unable to verify/i);

  const unverified = exporterFor(t, { urls: [url], ca_file: other.ca, tls_verify: false });
  await unverified.start();
  await unverified.export(logRecords(5));
  assert.equal(server.count(LOGS), 5, 'the 3 stored before answered 409, 2 more stored');
});

test('product check: a server that answers GET / like Elasticsearch but without its x-elastic-product header is not taken for it', async (t) => {
  let bulkRequests = 0;
  const impostor = http.createServer((req, res) => {
    if (req.url?.includes('_bulk')) bulkRequests++;
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ name: 'impostor', version: { number: '9.1.0', build_flavor: 'default' }, tagline: 'You Know, for Search' }));
  });
  await new Promise<void>((resolve) => impostor.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => { impostor.closeAllConnections(); impostor.close(() => resolve()); }));
  const exporter = exporterFor(t, { urls: [`http://127.0.0.1:${(impostor.address() as AddressInfo).port}`] });
  await exporter.start();
  assert.equal(exporter.status().ready, false);
  assert.match(exporter.health().reason ?? '', /not Elasticsearch/);
  await assert.rejects(exporter.export(logRecords(1)));
  assert.equal(bulkRequests, 0, 'nothing was shipped to it');
});
