/**
 * exporters.otlp: defaults, the standard OTEL_EXPORTER_OTLP_* variables (the SDKs' and the
 * Collector's), per-signal URLs as the specification builds them, and config errors that name the
 * key and the variable (dockhand exits 2 on them), never a header value.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig, maskSecrets } from '../../config/loader.js';
import { exporterShape, otlpConfigFromEnv, otlpConfigSchema, parseHeaderList, resolveSignal, signalUrl, type OtlpConfig } from '../../exporters/otlp/config.js';
import { ConfigError } from '../../src/errors.js';
import { configProblem } from '../helpers/config-problem.js';

test('an empty section: disabled, protobuf, gzip, 10 s, logs and events, no metrics', () => {
  const config = otlpConfigSchema.parse({});
  assert.equal(config.enabled, false);
  assert.equal(config.endpoint, 'http://localhost:4318');
  assert.equal(config.protocol, 'http/protobuf');
  assert.equal(config.compression, 'gzip');
  assert.equal(config.timeout_ms, 10_000);
  assert.deepEqual([...exporterShape(config).accepts], ['log', 'event']);
  assert.deepEqual([...exporterShape(otlpConfigSchema.parse({ metrics: { enabled: true }, logs: { events: false } })).accepts], ['log', 'metric']);
  const logs = resolveSignal(config, 'logs');
  assert.deepEqual({ url: logs.push.url, encoding: logs.encoding, gzip: logs.gzip }, { url: 'http://localhost:4318/v1/logs', encoding: 'protobuf', gzip: true });
});

test('per-signal URLs: the base endpoint plus /v1/<signal> (one slash), a signal endpoint as it is', () => {
  assert.equal(signalUrl(otlpConfigSchema.parse({ endpoint: 'https://otel.example:4318/' }), 'logs'), 'https://otel.example:4318/v1/logs');
  assert.equal(signalUrl(otlpConfigSchema.parse({ endpoint: 'https://gw.example/otlp' }), 'metrics'), 'https://gw.example/otlp/v1/metrics');
  assert.equal(signalUrl(otlpConfigSchema.parse({ endpoint: 'http://a:4318', logs: { endpoint: 'http://b:9999/custom/logs' } }), 'logs'), 'http://b:9999/custom/logs');
});

test('the environment: ENDPOINT enables, HEADERS are URL-decoded k=v pairs, per-signal variables win for their signal', () => {
  const env = {
    OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
    OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20abc%3D%3D, x-tenant = team%2Ca ,',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_EXPORTER_OTLP_COMPRESSION: 'none',
    OTEL_EXPORTER_OTLP_TIMEOUT: '2500',
    OTEL_EXPORTER_OTLP_LOGS_HEADERS: 'x-scope=logs',
    OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://metrics-gw:4318/v1/metrics',
    OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/protobuf',
  };
  const config = loadConfig({}, env).exporters.otlp as OtlpConfig;
  assert.equal(config.enabled, true);
  assert.equal(config.metrics.enabled, true, 'a metrics endpoint turns metrics on');
  const logs = resolveSignal(config, 'logs');
  const metrics = resolveSignal(config, 'metrics');
  assert.deepEqual(logs.push.headers, { authorization: 'Bearer abc==', 'x-tenant': 'team,a', 'x-scope': 'logs' });
  assert.deepEqual({ url: logs.push.url, encoding: logs.encoding, gzip: logs.gzip, timeout: logs.push.timeoutMs }, { url: 'http://collector:4318/v1/logs', encoding: 'json', gzip: false, timeout: 2500 });
  assert.deepEqual({ url: metrics.push.url, encoding: metrics.encoding, headers: metrics.push.headers }, { url: 'http://metrics-gw:4318/v1/metrics', encoding: 'protobuf', headers: { authorization: 'Bearer abc==', 'x-tenant': 'team,a' } });
  assert.equal(otlpConfigFromEnv({}), undefined);
  assert.equal((loadConfig({}, {}).exporters.otlp as OtlpConfig).enabled, false);
});

test('certificates from the environment are read at resolve time; an unreadable one names the key', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'dh-otlp-ca-'));
  try {
    const ca = path.join(dir, 'ca.pem');
    writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n');
    const config = loadConfig({}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'https://c:4318', OTEL_EXPORTER_OTLP_CERTIFICATE: ca }).exporters.otlp as OtlpConfig;
    assert.match(resolveSignal(config, 'logs').push.tls.ca ?? '', /BEGIN CERTIFICATE/);
    const missing = loadConfig({}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'https://c:4318', OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE: path.join(dir, 'nope.pem') }).exporters.otlp as OtlpConfig;
    assert.match(configProblem(() => resolveSignal(missing, 'logs')), /^exporters\.otlp\.logs\.ca_file: cannot read/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('errors name the key and the variable: grpc refused with the way out, bad compression, timeout, URL', () => {
  const grpc = configProblem(() => loadConfig({}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4317', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }));
  assert.match(grpc, /exporters\.otlp\.protocol/);
  assert.match(grpc, /grpc is not supported: use http\/protobuf or http\/json/);
  assert.match(grpc, /OTEL_EXPORTER_OTLP_PROTOCOL/);
  assert.match(configProblem(() => loadConfig({}, { OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' })), /exporters\.otlp\.metrics\.protocol.*grpc is not supported/);
  assert.match(configProblem(() => loadConfig({}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_COMPRESSION: 'zstd' })), /exporters\.otlp\.compression/);
  assert.match(configProblem(() => loadConfig({}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_TIMEOUT: '10s' })), /exporters\.otlp\.timeout_ms.*OTEL_EXPORTER_OTLP_TIMEOUT/s);
  assert.match(configProblem(() => loadConfig({}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' })), /exporters\.otlp\.endpoint/);
});

test('a malformed header list names the variable and the entry, never a value', () => {
  const problem = configProblem(() => loadConfig({}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer s3cret,broken' }));
  assert.match(problem, /^OTEL_EXPORTER_OTLP_HEADERS: entry 2 is not key=value/);
  assert.doesNotMatch(problem, /s3cret/);
  assert.throws(() => parseHeaderList('a=%E0%A4%A', 'X'), (error: unknown) => error instanceof ConfigError && /^X: entry 1/.test(error.message));
  assert.deepEqual(parseHeaderList('a=1,,b=x%20y', 'X'), { a: '1', b: 'x y' });
});

test('header values are masked wherever the config is shown (--check-config, /status)', () => {
  const config = loadConfig({}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=s3cret' });
  const shown = maskSecrets(config);
  assert.doesNotMatch(JSON.stringify(shown), /s3cret/);
  assert.deepEqual((shown.exporters.otlp as OtlpConfig).headers, { 'x-api-key': '********' }, 'the names stay, for the reader');
});
