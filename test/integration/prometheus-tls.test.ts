/**
 * A real Prometheus (Debian's) scraping the built agent over TLS with basic auth and with a bearer
 * token: `up` is 1 and dockhand's series arrive; with a wrong password or token `up` is 0 and
 * Prometheus reports the 401. Also: a bad TLS file stops the agent at start with exit 2.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { hashPassword } from '../../src/server/password-hash.js';
import { AgentProcess, runCli } from '../helpers/agent-process.js';
import { PrometheusServer, type PromSample } from '../helpers/prometheus.js';
import { makeTestPki, type TestPki } from '../helpers/tls-daemon.js';
import { waitFor } from '../helpers/wait.js';

const QUIET_COLLECTORS = { logs: { enabled: false }, stats: { enabled: false } };

function valueOf(result: PromSample[]): number {
  return Number(result[0]?.value[1] ?? NaN);
}

describe('a real Prometheus scrapes the agent over TLS with authentication', () => {
  let dir: string;
  let pki: TestPki;
  let agent: AgentProcess;
  let target: string;
  const prometheuses: PrometheusServer[] = [];
  const file = (name: string) => path.join(dir, name);

  /** GET over TLS trusting the test CA; the status code, or the error code. */
  function get(pathname: string, authorization?: string): Promise<number | string> {
    const [host, port] = target.split(':');
    return new Promise((resolve) => {
      https.get({ host, port, path: pathname, ca: readFileSync(path.join(pki.dir, 'ca.pem')), headers: authorization ? { authorization } : {} }, (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      }).on('error', (error) => resolve((error as NodeJS.ErrnoException).code ?? error.message));
    });
  }

  async function scraper(settings: readonly string[]): Promise<PrometheusServer> {
    const prometheus = await PrometheusServer.start({
      targets: [target],
      scrapeSettings: ['scheme: https', 'tls_config:', `  ca_file: ${path.join(pki.dir, 'ca.pem')}`, ...settings],
    });
    prometheuses.push(prometheus);
    return prometheus;
  }

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'dockhand-prom-tls-'));
    pki = await makeTestPki(dir);
    writeFileSync(file('users'), `prometheus:${await hashPassword('scrape-pass')}\n`);
    writeFileSync(file('token'), 'scrape-token-0123456789\n');
    writeFileSync(file('password'), 'scrape-pass');
    writeFileSync(file('wrong-password'), 'scrape-pasS');
    writeFileSync(file('wrong-token'), 'scrape-token-0123456788');
    agent = await AgentProcess.start({
      config: {
        collectors: QUIET_COLLECTORS,
        server: {
          tls: { cert_file: path.join(pki.dir, 'server-cert.pem'), key_file: path.join(pki.dir, 'server-key.pem') },
          auth: { basic_users_file: file('users'), bearer_token_file: file('token') },
        },
      },
    });
    await waitFor(() => agent.logs.find((l) => l.msg === 'dockhand started'), { timeoutMs: 30_000, what: `agent started (stderr: ${agent.stderr.slice(-1000)})` });
    target = agent.url.replace(/^http:\/\//, '');
  });

  after(async () => {
    await Promise.all(prometheuses.map((p) => p.stop()));
    await agent?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('the agent serves HTTPS only; /healthz without credentials, /metrics only with them', async () => {
    assert.equal(await get('/healthz'), 200);
    assert.equal(await get('/metrics'), 401);
    assert.equal(await get('/readyz'), 401);
    assert.equal(await get('/metrics', 'Bearer scrape-token-0123456789'), 200);
    assert.equal(await get('/status?top=x', 'Bearer scrape-token-0123456789'), 403, 'top stays off');
    const plain = await fetch(`http://${target}/healthz`).then((r) => r.status, () => 'failed');
    assert.equal(plain, 'failed');
    const started = agent.logs.find((l) => l.msg === 'dockhand started') as { http?: Record<string, unknown> };
    assert.deepEqual(started.http, { tls: true, authentication: true, status_top: false });
    assert.ok(!agent.stderr.includes('scrape-pass') && !agent.stderr.includes('scrape-token'), 'no secret in the log');
  });

  test('basic auth (password_file): up == 1 and dockhand series are stored', async () => {
    const prometheus = await scraper(['basic_auth:', '  username: prometheus', `  password_file: ${file('password')}`]);
    assert.equal(valueOf(await prometheus.waitForQuery('up{job="dockhand"}', (r) => valueOf(r) === 1)), 1);
    const series = await prometheus.waitForQuery('count({__name__=~"dockhand_.+",job="dockhand"})', (r) => valueOf(r) > 0);
    assert.ok(valueOf(series) > 0);
  });

  test('bearer token (authorization.credentials_file): up == 1 and dockhand series are stored', async () => {
    const prometheus = await scraper(['authorization:', `  credentials_file: ${file('token')}`]);
    assert.equal(valueOf(await prometheus.waitForQuery('up{job="dockhand"}', (r) => valueOf(r) === 1)), 1);
    await prometheus.waitForQuery('count({__name__=~"dockhand_.+",job="dockhand"})', (r) => valueOf(r) > 0);
  });

  test('wrong password or wrong token: up == 0, Prometheus reports the 401, no dockhand series', async () => {
    const wrongPassword = await scraper(['basic_auth:', '  username: prometheus', `  password_file: ${file('wrong-password')}`]);
    const wrongToken = await scraper(['authorization:', `  credentials_file: ${file('wrong-token')}`]);
    for (const prometheus of [wrongPassword, wrongToken]) {
      assert.equal(valueOf(await prometheus.waitForQuery('up{job="dockhand"}')), 0);
      const [health] = await prometheus.targets();
      assert.equal(health?.health, 'down');
      assert.match(health?.lastError ?? '', /401/);
      assert.deepEqual(await prometheus.query('count({__name__=~"dockhand_.+",job="dockhand"})'), []);
    }
  });
});

test('a TLS or credential file the agent cannot use stops it at start with exit 2, naming the key', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dockhand-tls-cli-'));
  try {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ tls: { cert_file: path.join(dir, 'missing.pem'), key_file: path.join(dir, 'missing-key.pem') } }, /server\.tls\.cert_file: cannot read .*missing\.pem: ENOENT/],
      [{ auth: { bearer_token_file: path.join(dir, 'no-token') } }, /server\.auth\.bearer_token_file: cannot read/],
    ];
    for (const [server, expected] of cases) {
      const config = path.join(dir, 'config.yaml');
      writeFileSync(config, YAML.stringify({ listen: '127.0.0.1:0', data_dir: dir, server }));
      for (const args of [['--config', config], ['--config', config, '--check-config']]) {
        const result = await runCli(args);
        assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
        assert.match(result.stderr, expected);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
