/** `dockhand healthcheck`'s probe: the URL it asks, and its answers for 200, an error status, TLS, silence. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { checkHealth, healthzUrl } from '../../src/healthcheck.js';

test('the URL: the loopback for a wildcard listen address, https when the server has a certificate', () => {
  assert.equal(healthzUrl({ listen: '0.0.0.0:9487' }), 'http://127.0.0.1:9487/healthz');
  assert.equal(healthzUrl({ listen: '[::]:9487' }), 'http://[::1]:9487/healthz');
  assert.equal(healthzUrl({ listen: '10.0.0.5:80' }), 'http://10.0.0.5:80/healthz');
  assert.equal(healthzUrl({ listen: '0.0.0.0:9487', server: { tls: { cert_file: '/run/cert.pem' } } }), 'https://127.0.0.1:9487/healthz');
});

async function listening(server: http.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

test('healthy on 200 only; a server that never answers is unhealthy within the timeout', async () => {
  let status = 200;
  const server = http.createServer((request, response) => {
    if (request.url === '/healthz') response.writeHead(status).end();
    // anything else: no answer at all
  });
  const port = await listening(server);
  try {
    assert.deepEqual(await checkHealth(`http://127.0.0.1:${port}/healthz`), { healthy: true, detail: `http://127.0.0.1:${port}/healthz: HTTP 200` });
    status = 503;
    assert.equal((await checkHealth(`http://127.0.0.1:${port}/healthz`)).healthy, false);
    const started = Date.now();
    const silent = await checkHealth(`http://127.0.0.1:${port}/silent`, 300);
    assert.equal(silent.healthy, false);
    assert.match(silent.detail, /no answer within 300 ms/);
    assert.ok(Date.now() - started < 2000, 'gave up at the timeout');
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

test('over TLS with a self-signed certificate: healthy (liveness, not identity)', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dh-health-tls-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '1', '-subj', '/CN=elsewhere.example'], { cwd: dir, stdio: 'ignore' });
    const server = https.createServer({ cert: readFileSync(path.join(dir, 'cert.pem')), key: readFileSync(path.join(dir, 'key.pem')) }, (_request, response) => response.writeHead(200).end());
    const port = await listening(server);
    try {
      assert.equal((await checkHealth(healthzUrl({ listen: `0.0.0.0:${port}`, server: { tls: { cert_file: 'cert.pem' } } }))).healthy, true);
      assert.equal((await checkHealth(healthzUrl({ listen: `0.0.0.0:${port}` }))).healthy, false, 'plain HTTP to a TLS port is no answer');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
