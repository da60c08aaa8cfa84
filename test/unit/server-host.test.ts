/** The DNS rebinding guard: without auth, /ui/* and /status answer only to known Host names. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { buildHttpApp, type AgentView, type HttpAccess } from '../../src/server/index.js';
import { loadAuthenticator } from '../../src/server/auth.js';
import { allowedHostNames, hostOf, isAllowedHost } from '../../src/server/host-check.js';
import type { SseClient } from '../../src/ui/sse.js';
import type { LivePageView } from '../../src/ui/routes.js';

function pageView(): LivePageView {
  const clients: SseClient[] = [];
  return {
    containers: () => ({ containers: [] }),
    pipeline: async () => ({ lanes: {} }),
    followEvents: (client) => { clients.push(client); },
    followTail: (_id, client) => { clients.push(client); client.send('log', { message: 'DB_PASSWORD=hunter2' }); return true; },
    knowsContainer: (id) => id === 'c1',
    closeStreams: () => clients.forEach((client) => client.close()),
  };
}

function agentView(): AgentView {
  return {
    readiness: () => ({ ready: true, checks: {} }),
    status: () => ({ version: 'x' }),
    registries: () => [new Registry()],
    top: async () => ({}),
    page: pageView(),
  };
}

/** Status code of a GET with this Host header over a real socket (the live tail is a stream: only its head is read). */
function statusWithHost(port: number, pathname: string, host: string, headers: http.OutgoingHttpHeaders = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = http.get({ host: '127.0.0.1', port, path: pathname, headers: { ...headers, host } }, (response) => {
      resolve(response.statusCode ?? 0);
      response.destroy();
    });
    request.on('error', reject);
  });
}

async function withServer(access: HttpAccess, run: (port: number) => Promise<void>): Promise<void> {
  const app = buildHttpApp(agentView(), access);
  await app.listen({ host: '127.0.0.1', port: 0 });
  try {
    await run((app.server.address() as AddressInfo).port);
  } finally {
    await app.close();
  }
}

test('hostOf: the name without port, brackets, case or trailing dot', () => {
  assert.equal(hostOf('Attacker.Example:9487'), 'attacker.example');
  assert.equal(hostOf('localhost.'), 'localhost');
  assert.equal(hostOf('[::1]:9487'), '::1');
  assert.equal(hostOf('127.0.0.1'), '127.0.0.1');
  assert.equal(hostOf(undefined), undefined);
});

test('isAllowedHost: IP literals, localhost, the machine name and configured names; nothing else', () => {
  const allowed = allowedHostNames(['Agent.Internal'], 'box1');
  for (const host of ['127.0.0.1:9487', '10.1.2.3', '[::1]:9487', '[fe80::1]', 'localhost:9487', 'LOCALHOST', 'box1:9487', 'agent.internal:9487']) assert.equal(isAllowedHost(host, allowed), true, host);
  for (const host of [undefined, '', 'attacker.example', 'attacker.example:9487', 'localhost.attacker.example', '127.0.0.1.nip.io', 'box1.attacker.example']) assert.equal(isAllowedHost(host, allowed), false, String(host));
});

test('without auth, a foreign Host gets 403 naming server.allowed_hosts on /ui/* and /status; /healthz, /readyz and /metrics answer', async () => {
  await withServer({}, async (port) => {
    for (const pathname of ['/ui/api/tail?container=c1', '/ui/api/containers', '/ui/api/pipeline', '/ui/api/events', '/ui/', '/', '/status']) {
      assert.equal(await statusWithHost(port, pathname, 'attacker.example'), 403, pathname);
      assert.equal(await statusWithHost(port, pathname, `attacker.example:${port}`), 403, `${pathname} with port`);
    }
    for (const pathname of ['/healthz', '/readyz', '/metrics']) assert.equal(await statusWithHost(port, pathname, 'attacker.example'), 200, pathname);
  });
  const app = buildHttpApp(agentView());
  const refused = await app.inject({ url: '/status', headers: { host: 'attacker.example' } });
  assert.equal(refused.statusCode, 403);
  assert.match(refused.json().error, /Host "attacker\.example" is not allowed.*server\.allowed_hosts.*server\.auth/);
  await app.close();
});

test('without auth, 127.0.0.1, localhost, the machine name and a configured name are served', async () => {
  await withServer({ allowedHosts: ['dockhand.internal'] }, async (port) => {
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, `${os.hostname()}:${port}`, 'dockhand.internal', `DOCKHAND.internal:${port}`]) {
      assert.equal(await statusWithHost(port, '/ui/api/tail?container=c1', host), 200, `tail via ${host}`);
      assert.equal(await statusWithHost(port, '/status', host), 200, `status via ${host}`);
    }
    assert.equal(await statusWithHost(port, '/status', 'other.internal'), 403, 'only the listed names');
  });
});

test('with auth, no Host check: credentials decide', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dockhand-host-'));
  try {
    writeFileSync(path.join(dir, 'token'), 'abc123\n');
    await withServer({ auth: loadAuthenticator({ bearer_token_file: path.join(dir, 'token') }) }, async (port) => {
      const bearer = { authorization: 'Bearer abc123' };
      assert.equal(await statusWithHost(port, '/ui/api/tail?container=c1', 'attacker.example', bearer), 200);
      assert.equal(await statusWithHost(port, '/status', 'attacker.example', bearer), 200);
      assert.equal(await statusWithHost(port, '/status', 'attacker.example'), 401, 'no credentials: 401, not 403');
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
