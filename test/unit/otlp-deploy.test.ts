/**
 * The OTLP parts of deploy/ and docker-compose.yml: the `otlp` profile's collector, the agent's
 * config inside the stack with and without OTEL_EXPORTER_OTLP_ENDPOINT (through the real config
 * loader), the collector's pipelines, and the example config.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { loadConfig } from '../../config/loader.js';
import type { OtlpConfig } from '../../exporters/otlp/config.js';
import { resolveSignal } from '../../exporters/otlp/config.js';
import { repoPath } from '../helpers/deploy-files.js';
import { envOf, parseDockerfile } from '../helpers/dockerfile.js';

interface Service { image?: string; profiles?: string[]; environment?: Record<string, string>; volumes?: string[]; ports?: string[]; command?: string[] }
const compose = YAML.parse(readFileSync(repoPath('docker-compose.yml'), 'utf8')) as { services: Record<string, Service> };

function stackOtlp(env: Record<string, string>): OtlpConfig {
  const image = parseDockerfile(readFileSync(repoPath('Dockerfile'), 'utf8'));
  const imageEnv = envOf(image, Math.max(...image.map((i) => i.stage)));
  const dockhand = compose.services.dockhand!;
  const resolved = Object.fromEntries(Object.entries(dockhand.environment ?? {}).map(([k, v]) => [k, String(v).replace(/\$\{(\w+)(?::[-?]([^}]*))?\}/g, (_a, name: string, fallback?: string) => env[name] || fallback || '')]));
  return loadConfig({ config: repoPath('deploy/dockhand/container.yaml') }, { ...imageEnv, ...resolved }).exporters.otlp as OtlpConfig;
}

test('compose: the collector runs only with the otlp profile, pinned, on loopback, with its config mounted', () => {
  const collector = compose.services['otel-collector']!;
  assert.deepEqual(collector.profiles, ['otlp']);
  assert.match(collector.image!, /^otel\/opentelemetry-collector-contrib:\d+\.\d+\.\d+$/);
  assert.deepEqual(collector.ports, ['127.0.0.1:4318:4318']);
  assert.deepEqual(collector.volumes, ['./deploy/otel-collector/config.yaml:/etc/otelcol/config.yaml:ro']);
  assert.deepEqual(collector.command, ['--config=/etc/otelcol/config.yaml']);
});

test('compose: dockhand ships over OTLP when .env sets OTEL_EXPORTER_OTLP_ENDPOINT, and leaves the exporter off otherwise', () => {
  assert.equal(stackOtlp({ DOCKHAND_ES_PASSWORD: 'y' }).enabled, false);
  const otlp = stackOtlp({ DOCKHAND_ES_PASSWORD: 'y', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector:4318' });
  assert.equal(otlp.enabled, true);
  assert.equal(resolveSignal(otlp, 'logs').push.url, 'http://otel-collector:4318/v1/logs');
});

test('the collector receives OTLP/HTTP on the port dockhand sends to, with a logs and a metrics pipeline', () => {
  const config = YAML.parse(readFileSync(repoPath('deploy/otel-collector/config.yaml'), 'utf8')) as {
    receivers: { otlp: { protocols: { http: { endpoint: string } } } };
    service: { pipelines: Record<string, { receivers: string[]; exporters: string[] }> };
  };
  assert.equal(config.receivers.otlp.protocols.http.endpoint, '0.0.0.0:4318');
  assert.deepEqual(Object.keys(config.service.pipelines).sort(), ['logs', 'metrics']);
  for (const pipeline of Object.values(config.service.pipelines)) assert.deepEqual(pipeline.receivers, ['otlp']);
});

test('the example config loads: OTLP on, protobuf, gzip, events and metrics', () => {
  const config = loadConfig({ config: repoPath('deploy/dockhand/otlp.yaml') }, {});
  const otlp = config.exporters.otlp as OtlpConfig;
  assert.equal(otlp.enabled, true);
  assert.equal(resolveSignal(otlp, 'metrics').push.url, 'http://localhost:4318/v1/metrics');
  assert.deepEqual([otlp.protocol, otlp.compression, otlp.logs.events, otlp.metrics.enabled], ['http/protobuf', 'gzip', true, true]);
});
