/**
 * The Loki parts of deploy/ and docker-compose.yml: the `loki` profile, the agent's config inside the
 * stack with and without LOKI_URL (through the real config loader), the Grafana datasource, and
 * the example config.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { loadConfig } from '../../config/loader.js';
import { repoPath } from '../helpers/deploy-files.js';
import { envOf, parseDockerfile } from '../helpers/dockerfile.js';

interface Service { image?: string; profiles?: string[]; environment?: Record<string, string>; volumes?: string[]; ports?: string[]; command?: string[] }
const compose = YAML.parse(readFileSync(repoPath('docker-compose.yml'), 'utf8')) as { services: Record<string, Service> };

type LokiSection = { enabled: boolean; url: string; tenant_id?: string; structured_metadata: boolean; labels: { static: Record<string, string> } };

function stackConfig(env: Record<string, string>) {
  const image = parseDockerfile(readFileSync(repoPath('Dockerfile'), 'utf8'));
  const imageEnv = envOf(image, Math.max(...image.map((i) => i.stage)));
  const dockhand = compose.services.dockhand!;
  const resolved = Object.fromEntries(Object.entries(dockhand.environment ?? {}).map(([k, v]) => [k, String(v).replace(/\$\{(\w+)(?::[-?]([^}]*))?\}/g, (_a, name: string, fallback?: string) => env[name] || fallback || '')]));
  return loadConfig({ config: repoPath('deploy/dockhand/container.yaml') }, { ...imageEnv, ...resolved });
}

test('compose: Loki runs only with the loki profile, pinned, on loopback, with its data in a volume', () => {
  const loki = compose.services.loki!;
  assert.deepEqual(loki.profiles, ['loki']);
  assert.match(loki.image!, /^grafana\/loki:3\.\d+\.\d+$/);
  assert.deepEqual(loki.ports, ['127.0.0.1:3100:3100']);
  assert.deepEqual(loki.volumes, ['loki-data:/loki']);
  for (const name of ['dockhand', 'elasticsearch', 'setup', 'kibana', 'prometheus', 'grafana']) assert.equal(compose.services[name]!.profiles, undefined, `${name} runs without a profile`);
});

test('compose: dockhand ships to Loki when .env sets LOKI_URL, and leaves the exporter off otherwise', () => {
  const without = stackConfig({ ELASTIC_PASSWORD: 'x', DOCKHAND_ES_PASSWORD: 'y' });
  assert.equal((without.exporters as Record<string, LokiSection>).loki!.enabled, false);
  const withLoki = stackConfig({ DOCKHAND_ES_PASSWORD: 'y', LOKI_URL: 'http://loki:3100' });
  const loki = (withLoki.exporters as Record<string, LokiSection>).loki!;
  assert.equal(loki.enabled, true);
  assert.equal(loki.url, 'http://loki:3100');
});

test('grafana: a Loki datasource pointing at the profile\'s service', () => {
  const file = YAML.parse(readFileSync(repoPath('deploy/grafana/provisioning/datasources/loki.yml'), 'utf8')) as { datasources: { type: string; url: string; uid: string }[] };
  assert.deepEqual(file.datasources.map((d) => [d.type, d.url, d.uid]), [['loki', 'http://loki:3100', 'loki']]);
});

test('the example config loads: Loki on, a static label, structured metadata', () => {
  const config = loadConfig({ config: repoPath('deploy/dockhand/loki.yaml') }, {});
  const loki = (config.exporters as Record<string, LokiSection>).loki!;
  assert.equal(loki.enabled, true);
  assert.equal(loki.url, 'http://localhost:3100');
  assert.deepEqual(loki.labels.static, { env: 'production' });
  assert.equal((config.exporters as Record<string, { enabled?: boolean }>).file!.enabled, undefined, 'the file sink steps aside by itself');
});
