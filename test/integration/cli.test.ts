/** The CLI as a user meets it: help, version, --check-config, bad configs (exit 2), an unreachable daemon, `dockhand healthcheck`. */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { AgentProcess, runCli } from '../helpers/agent-process.js';
import { freePort } from '../helpers/ports.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'dh-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

test('--help and --version', async () => {
  const help = await runCli(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--check-config/);
  assert.match(help.stdout, /--listen HOST:PORT/);
  const version = await runCli(['--version']);
  assert.equal(version.code, 0);
  assert.equal(version.stdout.trim(), pkg.version);
});

test('an unknown flag exits 2 and shows the help', async () => {
  const result = await runCli(['--colour']);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /--colour/);
});

test('--check-config prints the effective config as YAML, secrets masked, and exits 0', async () => {
  const file = path.join(dir, 'check.yaml');
  writeFileSync(file, 'exporters:\n  elasticsearch:\n    batch:\n      max_records: ${ES_BATCH:-750}\n');
  const result = await runCli(['--check-config', '-c', file, '--listen', '127.0.0.1:1234'], {
    DOCKHAND_DATA_DIR: '/tmp/x', ELASTICSEARCH_URL: 'http://127.0.0.1:9', ELASTICSEARCH_USERNAME: 'elastic', ELASTICSEARCH_PASSWORD: 'hunter2-secret',
    DOCKHAND_EXPORTERS__ELASTICSEARCH__BATCH__CONCURRENCY: '4',
  });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^# docker endpoint: \S+$/m);
  const printed = YAML.parse(result.stdout) as { listen: string; data_dir: string; exporters: { elasticsearch: { password: string; batch: { max_records: number; concurrency: number } } } };
  assert.equal(printed.listen, '127.0.0.1:1234');
  assert.equal(printed.data_dir, '/tmp/x');
  assert.deepEqual([printed.exporters.elasticsearch.batch.max_records, printed.exporters.elasticsearch.batch.concurrency], [750, 4]);
  assert.equal(printed.exporters.elasticsearch.password, '********');
  assert.doesNotMatch(result.stdout, /hunter2-secret/);
  // What it prints is a config file that loads to the same effective config.
  writeFileSync(file, result.stdout);
  const again = await runCli(['--check-config', '-c', file]);
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(YAML.parse(again.stdout), printed);
});

const badConfigs: [string, string, NodeJS.ProcessEnv, RegExp][] = [
  ['unknown key', 'docker:\n  tls_verfy: true\n', {}, /docker\.tls_verfy: unknown key/],
  ['wrong type', 'shutdown:\n  grace_ms: "ten"\n', {}, /shutdown\.grace_ms: .*expected number/],
  ['bad DOCKER_HOST scheme', '', { DOCKER_HOST: 'ftp://127.0.0.1:1' }, /docker\.host.*unsupported scheme "ftp:\/\/".*\(from env DOCKER_HOST\)/],
  ['unset variable in the file', 'exporters:\n  elasticsearch:\n    namespace: ${DH_TEST_UNSET_NS}\n', { DH_TEST_UNSET_NS: undefined }, /exporters\.elasticsearch\.namespace: DH_TEST_UNSET_NS is not set .*\(in .*\.yaml:3:16\)/],
  ['required variable with a message', 'docker:\n  host: ${DH_TEST_HOST:?set DH_TEST_HOST to the daemon}\n', { DH_TEST_HOST: '' }, /docker\.host: DH_TEST_HOST is not set \(empty\): set DH_TEST_HOST to the daemon/],
  ['misspelt DOCKHAND_ variable', '', { DOCKHAND_EXPORTERS__ELASTICSEARCH__BATCH__MAX_RECORD: '500' }, /exporters\.elasticsearch\.batch\.max_record: unknown key \(from env DOCKHAND_EXPORTERS__ELASTICSEARCH__BATCH__MAX_RECORD\); did you mean DOCKHAND_EXPORTERS__ELASTICSEARCH__BATCH__MAX_RECORDS\?/],
  ['bad list item', 'collectors:\n  logs:\n    include:\n      names: [web, api, 7]\n', {}, /collectors\.logs\.include\.names\[2\]: .*expected string.*got 7 \(from .*\.yaml:4:25\)/],
  ['unreadable cert path', '', { DOCKER_HOST: 'tcp://127.0.0.1:2376', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: '/nonexistent/certs' }, /docker\.cert_path: cannot read \/nonexistent\/certs\/ca\.pem/],
  // Checked when the exporter is built, not by the schema: --check-config must build it too.
  ['unreadable password file', 'exporters:\n  elasticsearch:\n    enabled: true\n    username: elastic\n    password_file: /nonexistent/pw\n', {}, /exporters\.elasticsearch\.password_file: cannot read "\/nonexistent\/pw"/],
];
for (const [name, yaml, env, expected] of badConfigs) {
  test(`bad config (${name}) exits 2 naming the key, for --check-config and for a real start`, async () => {
    const file = path.join(dir, `${name.replace(/\W+/g, '-')}.yaml`);
    writeFileSync(file, yaml);
    for (const args of [['--check-config', '-c', file], ['-c', file, '--listen', '127.0.0.1:0']]) {
      const result = await runCli(args, env);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, expected);
    }
  });
}

test('an empty section (every key commented out) means the defaults', async () => {
  const file = path.join(dir, 'empty-section.yaml');
  writeFileSync(file, 'docker:\n  # host: unix:///var/run/docker.sock\nexporters:\n  elasticsearch:\n    # enabled: true\n');
  const result = await runCli(['--check-config', '-c', file]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal((YAML.parse(result.stdout) as { docker: { request_timeout_ms: number } }).docker.request_timeout_ms, 30_000);
});

test('an unreachable daemon does not crash the agent: /readyz 503 says why, /healthz stays 200', async () => {
  const agent = await AgentProcess.start({ env: { DOCKER_HOST: `unix://${path.join(dir, 'no-such.sock')}` } });
  try {
    await agent.waitListening();
    const ready = await agent.get('/readyz');
    assert.equal(ready.status, 503);
    assert.match(ready.json().not_ready.docker, /no Docker socket there/);
    assert.equal((await agent.get('/healthz')).status, 200);
    // Healthy (the process serves) though not ready: the image's HEALTHCHECK must not flap with the daemon.
    const health = await runCli(['healthcheck', '-c', path.join(agent.dataDir, 'config.yaml')]);
    assert.equal(health.code, 0, health.stdout + health.stderr);
    assert.match(health.stdout, /^healthy: http:\/\/127\.0\.0\.1:\d+\/healthz: HTTP 200/);
    assert.equal(agent.child.exitCode, null, 'still running');
    const stopped = await agent.stop();
    assert.equal(stopped.code, 0);
  } finally {
    await agent.dispose();
  }
});

test('dockhand healthcheck: 1 when nothing answers at the configured address; 2 for a stray argument', async () => {
  const port = await freePort();
  const down = await runCli(['healthcheck'], { DOCKHAND_CONFIG: '', DOCKHAND_LISTEN: `0.0.0.0:${port}` });
  assert.equal(down.code, 1);
  assert.match(down.stdout, new RegExp(`^unhealthy: http://127\\.0\\.0\\.1:${port}/healthz: ECONNREFUSED`));
  const stray = await runCli(['healthcheck', 'now']);
  assert.equal(stray.code, 2);
  assert.match(stray.stderr, /unexpected argument "now"/);
});
