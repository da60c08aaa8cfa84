/** The CLI as a user meets it: help, version, --check-config, bad configs (exit 2), an unreachable daemon. */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AgentProcess, runCli } from '../helpers/agent-process.js';

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

test('--check-config prints the effective config with secrets masked and exits 0', async () => {
  const result = await runCli(['--check-config', '--listen', '127.0.0.1:1234'], {
    DOCKHAND_DATA_DIR: '/tmp/x', ELASTICSEARCH_URL: 'http://127.0.0.1:9', ELASTICSEARCH_USERNAME: 'elastic', ELASTICSEARCH_PASSWORD: 'hunter2-secret',
  });
  assert.equal(result.code, 0, result.stderr);
  const printed = JSON.parse(result.stdout) as { config: { listen: string; data_dir: string } };
  assert.equal(printed.config.listen, '127.0.0.1:1234');
  assert.equal(printed.config.data_dir, '/tmp/x');
  assert.doesNotMatch(result.stdout, /hunter2-secret/);
  assert.match(result.stdout, /"password": "\*{8}"/);
});

const badConfigs: [string, string, NodeJS.ProcessEnv, RegExp][] = [
  ['unknown key', 'docker:\n  tls_verfy: true\n', {}, /docker\.tls_verfy: unknown key/],
  ['wrong type', 'shutdown:\n  grace_ms: "ten"\n', {}, /shutdown\.grace_ms: .*expected number/],
  ['bad DOCKER_HOST scheme', '', { DOCKER_HOST: 'ftp://127.0.0.1:1' }, /docker\.host.*unsupported scheme "ftp:\/\/"/],
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

test('an unreachable daemon does not crash the agent: /readyz 503 says why, /healthz stays 200', async () => {
  const agent = await AgentProcess.start({ env: { DOCKER_HOST: `unix://${path.join(dir, 'no-such.sock')}` } });
  try {
    await agent.waitListening();
    const ready = await agent.get('/readyz');
    assert.equal(ready.status, 503);
    assert.match(ready.json().not_ready.docker, /no Docker socket there/);
    assert.equal((await agent.get('/healthz')).status, 200);
    assert.equal(agent.child.exitCode, null, 'still running');
    const stopped = await agent.stop();
    assert.equal(stopped.code, 0);
  } finally {
    await agent.dispose();
  }
});
