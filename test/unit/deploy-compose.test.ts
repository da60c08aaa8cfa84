/**
 * docker-compose.yml, the example stack. It cannot run here (no registry), so: its structure, the
 * configuration the agent would really load inside it (through the real config loader), the mounts
 * and ports, the Elasticsearch setup script and role, and `docker compose config` when a compose CLI
 * is installed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import YAML from 'yaml';
import { loadConfig } from '../../config/loader.js';
import { elasticsearchConfigSchema } from '../../exporters/elasticsearch/config.js';
import { exporterFactories } from '../../exporters/index.js';
import { dataStreamName } from '../../exporters/elasticsearch/documents.js';
import { globMatcher } from '../../src/util/glob.js';
import { envOf, parseDockerfile } from '../helpers/dockerfile.js';
import { repoPath, runTool } from '../helpers/deploy-files.js';

interface Service {
  image?: string;
  build?: string | { context: string };
  read_only?: boolean;
  cap_drop?: string[];
  security_opt?: string[];
  group_add?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  command?: string[];
  depends_on?: string[] | Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
}
interface Compose { services: Record<string, Service>; volumes?: Record<string, unknown> }

const compose = YAML.parse(readFileSync(repoPath('docker-compose.yml'), 'utf8')) as Compose;
const service = (name: string): Service => {
  const s = compose.services[name];
  assert.ok(s, `service ${name}`);
  return s;
};

/** The values the compose file's ${…} references get in these tests, as a .env would give them. */
const ENV = { DOCKER_GID: '998', ELASTIC_PASSWORD: 'elastic-pass-1', KIBANA_PASSWORD: 'kibana-pass-1', DOCKHAND_ES_PASSWORD: 'dockhand-pass-1', GRAFANA_PASSWORD: 'grafana-pass-1' };

/** Compose's interpolation: ${VAR}, ${VAR:-default}, ${VAR:?error}. */
function interpolate(value: string, env: Record<string, string | undefined>): string {
  return value.replace(/\$\{([A-Za-z_]\w*)(?::([-?])([^}]*))?\}/g, (_all, name: string, op: string | undefined, rest: string | undefined) => {
    const v = env[name];
    if (v !== undefined && v !== '') return v;
    if (op === '-') return rest ?? '';
    throw new Error(`${name} is required: ${rest}`);
  });
}

const mountOf = (s: Service, target: string) => s.volumes?.map((v) => v.split(':')).find((parts) => parts[1] === target);

test('the stack has dockhand, Elasticsearch, Kibana and Prometheus (plus Grafana and a one-shot setup)', () => {
  assert.deepEqual(Object.keys(compose.services).sort(), ['dockhand', 'elasticsearch', 'grafana', 'kibana', 'loki', 'otel-collector', 'prometheus', 'setup']);
  assert.deepEqual(Object.keys(compose.volumes ?? {}).sort(), ['dockhand-data', 'es-data', 'grafana-data', 'kibana-data', 'loki-data', 'prometheus-data']);
});

test('dockhand: built from this Dockerfile, read-only, the socket\'s group, and the sidecar mounts', () => {
  const dockhand = service('dockhand');
  assert.equal(dockhand.build, '.');
  assert.equal(dockhand.read_only, true);
  assert.deepEqual(dockhand.cap_drop, ['ALL'], 'no Linux capability');
  assert.deepEqual(dockhand.security_opt, ['no-new-privileges:true']);
  assert.equal(dockhand.group_add?.length, 1);
  assert.equal(interpolate(dockhand.group_add![0]!, ENV), ENV.DOCKER_GID);
  assert.throws(() => interpolate(dockhand.group_add![0]!, {}), /DOCKER_GID is required: .*stat -c %g/, 'a missing DOCKER_GID stops compose with the command that finds it');
  assert.deepEqual(mountOf(dockhand, '/var/run/docker.sock'), ['/var/run/docker.sock', '/var/run/docker.sock', 'ro']);
  assert.deepEqual(mountOf(dockhand, '/host/sys/fs/cgroup'), ['/sys/fs/cgroup', '/host/sys/fs/cgroup', 'ro']);
  assert.deepEqual(mountOf(dockhand, '/host/proc'), ['/proc', '/host/proc', 'ro']);
  const image = parseDockerfile(readFileSync(repoPath('Dockerfile'), 'utf8'));
  const imageEnv = envOf(image, Math.max(...image.map((i) => i.stage)));
  assert.deepEqual(mountOf(dockhand, imageEnv.DOCKHAND_DATA_DIR!), ['dockhand-data', imageEnv.DOCKHAND_DATA_DIR]);
  assert.deepEqual(dockhand.ports, [`127.0.0.1:9487:${imageEnv.DOCKHAND_LISTEN!.split(':')[1]}`]);
});

test('dockhand inside the stack loads a config that ships to the stack\'s Elasticsearch as the dockhand user and reads the /host mounts', (t) => {
  if (!exporterFactories.some((f) => f.type === 'elasticsearch')) {
    t.skip('the elasticsearch exporter is not in exporters/index.ts yet: ELASTICSEARCH_URL does nothing until it is');
    return;
  }
  const dockhand = service('dockhand');
  const image = parseDockerfile(readFileSync(repoPath('Dockerfile'), 'utf8'));
  const imageEnv = envOf(image, Math.max(...image.map((i) => i.stage)));
  const env = { ...imageEnv, ...Object.fromEntries(Object.entries(dockhand.environment ?? {}).map(([k, v]) => [k, interpolate(String(v), ENV)])) };
  const config = loadConfig({ config: repoPath('deploy/dockhand/container.yaml') }, env);
  const es = (config.exporters as Record<string, { enabled: boolean; urls: string[]; username?: string; password?: string }>).elasticsearch;
  assert.ok(es, 'an elasticsearch exporter section');
  assert.equal(es.enabled, true, 'ELASTICSEARCH_URL enables the exporter');
  assert.deepEqual(es.urls, ['http://elasticsearch:9200']);
  assert.equal(es.username, 'dockhand');
  assert.equal(es.password, ENV.DOCKHAND_ES_PASSWORD);
  assert.equal(config.listen, '0.0.0.0:9487');
  const stats = (config.collectors as Record<string, { cgroup_root: string; proc_root: string }>).stats!;
  assert.ok(mountOf(dockhand, stats.cgroup_root), `${stats.cgroup_root} is mounted`);
  assert.ok(mountOf(dockhand, stats.proc_root), `${stats.proc_root} is mounted`);
});

test('Elasticsearch: single node, security on with the password from the environment, Kibana and setup of the same version', () => {
  const es = service('elasticsearch');
  assert.equal(es.environment?.['discovery.type'], 'single-node');
  assert.equal(es.environment?.['xpack.security.enabled'], 'true');
  assert.equal(interpolate(es.environment!.ELASTIC_PASSWORD!, ENV), ENV.ELASTIC_PASSWORD);
  assert.throws(() => interpolate(es.environment!.ELASTIC_PASSWORD!, {}), /ELASTIC_PASSWORD is required/, 'no default password');
  const version = (s: Service) => interpolate(s.image!, ENV).split(':').at(-1);
  assert.match(version(es)!, /^\d+\.\d+\.\d+$/);
  assert.equal(version(service('kibana')), version(es));
  assert.equal(version(service('setup')), version(es));
  assert.equal(service('kibana').environment?.ELASTICSEARCH_HOSTS, 'http://elasticsearch:9200');
  assert.equal(service('kibana').environment?.ELASTICSEARCH_USERNAME, 'kibana_system');
  assert.ok(es.healthcheck?.test.join(' ').includes('$$ELASTIC_PASSWORD'), 'the healthcheck reads the password inside the container ($$ escapes compose)');
});

test('Prometheus mounts the scrape config and the alert rules beside it, and scrapes the dockhand service', () => {
  const prometheus = service('prometheus');
  assert.deepEqual(mountOf(prometheus, '/etc/prometheus/prometheus.yml'), ['./deploy/prometheus/prometheus.yml', '/etc/prometheus/prometheus.yml', 'ro']);
  assert.deepEqual(mountOf(prometheus, '/etc/prometheus/alerts.yml'), ['./deploy/prometheus/alerts.yml', '/etc/prometheus/alerts.yml', 'ro']);
  assert.ok(prometheus.command?.includes('--config.file=/etc/prometheus/prometheus.yml'));
  const scrape = YAML.parse(readFileSync(repoPath('deploy/prometheus/prometheus.yml'), 'utf8')) as { scrape_configs: { static_configs: { targets: string[] }[] }[] };
  const target = scrape.scrape_configs[0]!.static_configs[0]!.targets[0]!;
  assert.ok(compose.services[target.split(':')[0]!], `${target} names a compose service`);
});

test('every bind-mounted file exists, every port is published on loopback only, every image is pinned', () => {
  for (const [name, s] of Object.entries(compose.services)) {
    for (const volume of s.volumes ?? []) {
      const source = volume.split(':')[0]!;
      if (source.startsWith('./')) assert.ok(existsSync(repoPath(source)), `${name}: ${source} does not exist`);
    }
    for (const port of s.ports ?? []) assert.match(port, /^127\.0\.0\.1:\d+:\d+$/, `${name}: ${port}`);
    if (s.image && !s.build) {
      const image = interpolate(s.image, ENV);
      assert.match(image, /:[\w.-]+$/, `${name}: ${image} has a tag`);
      assert.doesNotMatch(image, /:latest$/, `${name}: ${image} is pinned`);
    }
  }
});

test('setup.sh parses, and the dockhand role covers every data stream and index the exporter writes by default', async () => {
  const syntax = await runTool('bash', ['-n', repoPath('deploy/elasticsearch/setup.sh')]);
  assert.equal(syntax.code, 0, syntax.output);
  const script = readFileSync(repoPath('deploy/elasticsearch/setup.sh'), 'utf8');
  const role = JSON.parse(/_security\/role\/dockhand_writer" -d '([\s\S]*?)'/.exec(script)![1]!) as { cluster: string[]; indices: { names: string[]; privileges: string[] }[] };
  const matches = globMatcher(role.indices.flatMap((i) => i.names));
  const defaults = elasticsearchConfigSchema.parse({});
  for (const index of [dataStreamName('log', 'default'), dataStreamName('event', 'default'), dataStreamName('metric', 'default'), defaults.dead_letter_index, `${defaults.index_prefix}-2026.01.01`]) {
    assert.ok(matches(index), `the role does not cover ${index}`);
  }
  for (const privilege of ['create_doc', 'auto_configure']) assert.ok(role.indices[0]!.privileges.includes(privilege), privilege);
  for (const privilege of ['manage_index_templates', 'manage_ilm']) assert.ok(role.cluster.includes(privilege), `${privilege}: the exporter installs templates (and ILM when enabled)`);
  const setup = service('setup');
  assert.deepEqual(setup.command, ['bash', '/setup/setup.sh']);
  assert.deepEqual(mountOf(setup, '/setup/setup.sh'), ['./deploy/elasticsearch/setup.sh', '/setup/setup.sh', 'ro']);
  assert.deepEqual(mountOf(setup, '/setup/dockhand-saved-objects.ndjson'), ['./deploy/kibana/dockhand-saved-objects.ndjson', '/setup/dockhand-saved-objects.ndjson', 'ro']);
});

/** `docker compose` (v2 plugin) or `docker-compose` (v1), whichever is installed. */
async function composeCli(): Promise<string[] | undefined> {
  if ((await runTool('docker', ['compose', 'version'])).code === 0) return ['docker', 'compose'];
  if ((await runTool('docker-compose', ['version'])).code === 0) return ['docker-compose'];
  return undefined;
}

test('docker compose config accepts the file, and refuses it without the required variables', async (t) => {
  const cli = await composeCli();
  if (!cli) {
    t.skip('no docker compose CLI on this machine (the structure tests above still ran)');
    return;
  }
  const args = [...cli.slice(1), '--project-directory', repoPath('.'), '-f', repoPath('docker-compose.yml'), 'config'];
  const ok = await runTool(cli[0]!, args, { env: ENV });
  assert.equal(ok.code, 0, ok.output);
  const resolved = YAML.parse(ok.output) as Compose;
  assert.equal(resolved.services.dockhand?.environment?.ELASTICSEARCH_PASSWORD, ENV.DOCKHAND_ES_PASSWORD);
  const missing = await runTool(cli[0]!, args, { env: { DOCKER_GID: '', ELASTIC_PASSWORD: '', KIBANA_PASSWORD: '', DOCKHAND_ES_PASSWORD: '', GRAFANA_PASSWORD: '' } });
  assert.notEqual(missing.code, 0);
  assert.match(missing.output, /DOCKER_GID|ELASTIC_PASSWORD|KIBANA_PASSWORD|DOCKHAND_ES_PASSWORD|GRAFANA_PASSWORD/);
});
