import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, maskSecrets } from '../../config/loader.js';
import { ConfigError } from '../../src/errors.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'dh-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));
function file(name: string, text: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}
function problems(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
    return error.problems.join('\n');
  }
  assert.fail('expected a ConfigError');
}

test('defaults alone are a working config', () => {
  const config = loadConfig({}, {});
  assert.equal(config.listen, '127.0.0.1:9487');
  assert.equal(config.data_dir, './data');
  assert.equal(config.log.level, 'info');
  assert.equal(config.shutdown.grace_ms, 10_000);
  assert.equal(config.pipeline.when_full, 'block');
});

test('later sources win: defaults → file → env → flags', () => {
  const f = file('layers.yaml', 'listen: 0.0.0.0:1000\ndata_dir: /from-file\nlog:\n  level: warn\n');
  const fromFile = loadConfig({ config: f }, {});
  assert.equal(fromFile.listen, '0.0.0.0:1000');
  assert.equal(fromFile.log.level, 'warn');
  const fromEnv = loadConfig({ config: f }, { DOCKHAND_LISTEN: '127.0.0.1:2000', DOCKHAND_LOG_LEVEL: 'error' });
  assert.equal(fromEnv.listen, '127.0.0.1:2000');
  assert.equal(fromEnv.data_dir, '/from-file');
  assert.equal(fromEnv.log.level, 'error');
  const fromFlags = loadConfig({ config: f, listen: '127.0.0.1:3000', dataDir: '/flag', debug: true }, { DOCKHAND_LISTEN: '127.0.0.1:2000', DOCKHAND_LOG_LEVEL: 'error' });
  assert.equal(fromFlags.listen, '127.0.0.1:3000');
  assert.equal(fromFlags.data_dir, '/flag');
  assert.equal(fromFlags.log.level, 'debug');
});

test('DOCKHAND_CONFIG names the file when --config is absent', () => {
  const f = file('envfile.yaml', 'data_dir: /via-env\n');
  assert.equal(loadConfig({}, { DOCKHAND_CONFIG: f }).data_dir, '/via-env');
});

test('docker env vars map onto docker.*', () => {
  const config = loadConfig({}, { DOCKER_HOST: 'tcp://127.0.0.1:2376', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: '/certs', DOCKER_CONTEXT: 'ctx', DOCKER_CONFIG: '/cfg' });
  assert.deepEqual(
    [config.docker.host, config.docker.tls_verify, config.docker.cert_path, config.docker.context, config.docker.config_dir],
    ['tcp://127.0.0.1:2376', true, '/certs', 'ctx', '/cfg'],
  );
  assert.equal(loadConfig({}, { DOCKER_TLS_VERIFY: '0' }).docker.tls_verify, false);
});

test('an unknown key is rejected, naming its path and the allowed keys', () => {
  const message = problems(() => loadConfig({ config: file('unknown.yaml', 'docker:\n  hots: tcp://x:1\n') }, {}));
  assert.match(message, /docker\.hots: unknown key/);
  assert.match(message, /allowed here: .*host/);
  assert.match(problems(() => loadConfig({ config: file('top.yaml', 'colour: blue\n') }, {})), /^colour: unknown key/);
});

test('a wrong type names the key path, the value and what was expected', () => {
  const message = problems(() => loadConfig({ config: file('type.yaml', 'shutdown:\n  grace_ms: soon\n') }, {}));
  assert.match(message, /shutdown\.grace_ms: .*expected number.*got "soon"/);
});

test('a bad value from the environment says where it came from', () => {
  const message = problems(() => loadConfig({}, { DOCKHAND_LISTEN: 'nowhere' }));
  assert.match(message, /listen: .*host:port.*got "nowhere" \(from env DOCKHAND_LISTEN\)/);
  assert.match(problems(() => loadConfig({}, { DOCKHAND_LOG_LEVEL: 'loud' })), /log\.level: .*got "loud"/);
});

test('a bad cron schedule is a config error naming the key', () => {
  assert.match(problems(() => loadConfig({ config: file('cron.yaml', 'inventory:\n  resync_schedule: every now and then\n') }, {})), /inventory\.resync_schedule: expected a cron expression/);
});

test('unreadable and malformed files are config errors', () => {
  assert.match(problems(() => loadConfig({ config: path.join(dir, 'absent.yaml') }, {})), /cannot read the config file .*ENOENT/);
  assert.match(problems(() => loadConfig({ config: file('bad.yaml', 'listen: [unclosed\n') }, {})), /not valid YAML/);
  assert.match(problems(() => loadConfig({ config: file('list.yaml', '- a\n- b\n') }, {})), /must hold a mapping/);
});

test('maskSecrets hides secret values at any depth and keeps the rest', () => {
  const masked = maskSecrets({ exporters: { es: { password: 'hunter2', api_key: 'k', username: 'elastic', urls: ['http://x'] } } });
  assert.deepEqual(masked, { exporters: { es: { password: '********', api_key: '********', username: 'elastic', urls: ['http://x'] } } });
});

test('the file sink is on by default, off when Elasticsearch is enabled, and an explicit setting wins', async () => {
  const { fileExporterFactory } = await import('../../exporters/file/index.js');
  const enabled = (env: NodeJS.ProcessEnv, yaml?: string) => {
    const config = loadConfig(yaml ? { config: file('file-sink.yaml', yaml) } : {}, env);
    const sections = config.exporters as Record<string, unknown>;
    return fileExporterFactory.isEnabled(sections.file as never, sections);
  };
  assert.equal(enabled({}), true);
  assert.equal(enabled({ ELASTICSEARCH_URL: 'http://127.0.0.1:9200' }), false);
  assert.equal(enabled({ ELASTICSEARCH_URL: 'http://127.0.0.1:9200' }, 'exporters:\n  file:\n    enabled: true\n'), true);
  assert.equal(enabled({}, 'exporters:\n  file:\n    enabled: false\n'), false);
});

test('maskSecrets hides the password of a URL with user info', () => {
  assert.deepEqual(maskSecrets({ urls: ['http://elastic:hunter2@es:9200/', 'https://es2:9200', 'http://token@es3'] }), { urls: ['http://elastic:********@es:9200/', 'https://es2:9200', 'http://token@es3'] });
});

test('a secret that fails validation is not repeated in the error', () => {
  const typed = problems(() => loadConfig({ config: file('secret-type.yaml', 'exporters:\n  elasticsearch:\n    username: elastic\n    password: 123456789\n') }, {}));
  assert.match(typed, /exporters\.elasticsearch\.password: .*expected string/);
  assert.doesNotMatch(typed, /123456789/);
  const listed = problems(() => loadConfig({ config: file('secret-list.yaml', 'exporters:\n  elasticsearch:\n    api_key: [s3cr3t-key]\n') }, {}));
  assert.match(listed, /exporters\.elasticsearch\.api_key: /);
  assert.doesNotMatch(listed, /s3cr3t-key/);
});
