/**
 * docker-compose.secure.yml, the example stack's TLS + token variant: dockhand's config in it loads,
 * keeps the image config's settings, and Prometheus scrapes with the settings dockhand serves
 * (https, the certificate dockhand presents, the token file dockhand checks). The default stack
 * stays plain HTTP.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { loadConfig } from '../../config/loader.js';
import { envOf, parseDockerfile } from '../helpers/dockerfile.js';
import { repoPath, runTool } from '../helpers/deploy-files.js';

interface Service { volumes?: string[]; healthcheck?: { test: string[] } }
interface ScrapeJob {
  job_name: string;
  scheme?: string;
  tls_config?: { ca_file?: string; server_name?: string };
  authorization?: { credentials_file?: string };
  static_configs: { targets: string[] }[];
}
interface PrometheusConfig { global: unknown; rule_files: string[]; scrape_configs: ScrapeJob[] }

const yamlOf = <T>(file: string): T => YAML.parse(readFileSync(repoPath(file), 'utf8')) as T;
const override = yamlOf<{ services: Record<string, Service> }>('docker-compose.secure.yml');
const base = yamlOf<{ services: Record<string, Service> }>('docker-compose.yml');
const mounts = (s: Service | undefined) => (s?.volumes ?? []).map((v) => v.split(':'));
/** The host path mounted at `target` (or at the directory holding it), and the path inside the mount. */
function hostPathOf(s: Service | undefined, target: string): string | undefined {
  for (const [source, inside] of mounts(s)) {
    if (inside === target) return source;
    if (inside && target.startsWith(`${inside}/`)) return `${source}/${target.slice(inside.length + 1)}`;
  }
  return undefined;
}

const image = parseDockerfile(readFileSync(repoPath('Dockerfile'), 'utf8'));
const imageEnv = envOf(image, Math.max(...image.map((i) => i.stage)));

test('the secure override mounts its config where the image reads it; it loads and keeps the image config\'s settings', () => {
  const dockhand = override.services.dockhand;
  assert.equal(hostPathOf(dockhand, imageEnv.DOCKHAND_CONFIG!), './deploy/dockhand/secure.yaml');
  const secure = loadConfig({ config: repoPath('deploy/dockhand/secure.yaml') }, imageEnv);
  const plain = loadConfig({ config: repoPath('deploy/dockhand/container.yaml') }, imageEnv);
  assert.deepEqual({ ...secure, server: plain.server }, plain, 'only server differs from the image config');
  assert.ok(secure.server.tls.cert_file && secure.server.tls.key_file && secure.server.auth.bearer_token_file);
  assert.equal(secure.server.status_top, false);
  for (const file of [secure.server.tls.cert_file, secure.server.tls.key_file, secure.server.auth.bearer_token_file]) {
    assert.match(hostPathOf(dockhand, file!) ?? '', /^\.\/dockhand-secrets\//, `${file} is mounted from ./dockhand-secrets`);
  }
  assert.equal(dockhand?.healthcheck, undefined, 'the image\'s dockhand healthcheck reads server.tls itself: no override');
});

test('Prometheus in the secure override scrapes with dockhand\'s settings: https, dockhand\'s certificate, the same token file', () => {
  const secure = loadConfig({ config: repoPath('deploy/dockhand/secure.yaml') }, imageEnv);
  const prometheus = override.services.prometheus;
  assert.equal(hostPathOf(prometheus, '/etc/prometheus/prometheus.yml'), './deploy/prometheus/prometheus-secure.yml');
  const config = yamlOf<PrometheusConfig>('deploy/prometheus/prometheus-secure.yml');
  const plain = yamlOf<PrometheusConfig>('deploy/prometheus/prometheus.yml');
  assert.deepEqual([config.global, config.rule_files], [plain.global, plain.rule_files]);
  const job = config.scrape_configs.find((j) => j.job_name === 'dockhand')!;
  assert.equal(job.scheme, 'https');
  assert.deepEqual(job.static_configs, plain.scrape_configs[0]!.static_configs);
  const dockhand = override.services.dockhand;
  assert.equal(hostPathOf(prometheus, job.tls_config!.ca_file!), hostPathOf(dockhand, secure.server.tls.cert_file!), 'Prometheus trusts the certificate dockhand presents');
  assert.equal(hostPathOf(prometheus, job.authorization!.credentials_file!), hostPathOf(dockhand, secure.server.auth.bearer_token_file!), 'Prometheus sends the token dockhand checks');
  assert.equal(job.tls_config!.server_name, job.static_configs[0]!.targets[0]!.split(':')[0], 'the name verified is the service name');
  assert.match(readFileSync(repoPath('docker-compose.secure.yml'), 'utf8'), /subjectAltName=DNS:dockhand/, 'the certificate recipe names the service');
});

test('the default stack stays plain HTTP without credentials, and points at the override', () => {
  const job = yamlOf<PrometheusConfig>('deploy/prometheus/prometheus.yml').scrape_configs[0]!;
  assert.equal(job.scheme, undefined);
  assert.equal(job.authorization, undefined);
  assert.equal(hostPathOf(base.services.dockhand, imageEnv.DOCKHAND_CONFIG!), undefined, 'the image config is used as is');
  assert.match(readFileSync(repoPath('docker-compose.yml'), 'utf8'), /docker-compose\.secure\.yml/);
});

test('docker compose config accepts the base file with the secure override', async (t) => {
  const cli = (await runTool('docker', ['compose', 'version'])).code === 0 ? ['docker', 'compose'] : (await runTool('docker-compose', ['version'])).code === 0 ? ['docker-compose'] : undefined;
  if (!cli) {
    t.skip('no docker compose CLI on this machine (the structure tests above still ran)');
    return;
  }
  const env = { DOCKER_GID: '998', ELASTIC_PASSWORD: 'a', KIBANA_PASSWORD: 'b', DOCKHAND_ES_PASSWORD: 'c', GRAFANA_PASSWORD: 'd' };
  const result = await runTool(cli[0]!, [...cli.slice(1), '--project-directory', repoPath('.'), '-f', repoPath('docker-compose.yml'), '-f', repoPath('docker-compose.secure.yml'), 'config'], { env });
  assert.equal(result.code, 0, result.output);
  // v2 prints volumes as objects, v1 as source:target:mode strings.
  const resolved = YAML.parse(result.output) as { services: Record<string, { volumes: (string | { target: string; source: string })[] }> };
  const promConfigs = resolved.services.prometheus!.volumes
    .map((v) => (typeof v === 'string' ? { source: v.split(':')[0]!, target: v.split(':')[1]! } : v))
    .filter((v) => v.target === '/etc/prometheus/prometheus.yml');
  assert.equal(promConfigs.length, 1, JSON.stringify(promConfigs));
  const promConfig = promConfigs[0];
  assert.match(promConfig?.source ?? '', /prometheus-secure\.yml$/, 'the override replaces the scrape config mount');
});
