import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { startHttpServer, type AgentView } from '../../src/server/index.js';
import { loadServerTls } from '../../src/server/tls.js';
import { configProblem } from '../helpers/config-problem.js';
import { makeTestPki } from '../helpers/tls-daemon.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);

const agent: AgentView = {
  readiness: () => ({ ready: true, checks: {} }),
  status: () => ({}),
  registries: () => [new Registry()],
  top: async () => ({}),
};

/** A self-signed certificate for 127.0.0.1 with the given common name: `<name>.pem`, `<name>-key.pem`. */
async function selfSigned(dir: string, name: string): Promise<{ cert: string; key: string }> {
  const cert = path.join(dir, `${name}.pem`);
  const key = path.join(dir, `${name}-key.pem`);
  await run('openssl', ['req', '-x509', '-new', '-nodes', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-sha256', '-days', '2',
    '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert]);
  return { cert, key };
}

function capturingLogger() {
  const lines: Record<string, any>[] = [];
  const stream = new Writable({ write(chunk, _enc, done) { lines.push(JSON.parse(String(chunk))); done(); } });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

/** The common name of the certificate a fresh TLS connection is served. */
function servedName(port: number, options: tls.ConnectionOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...options }, () => {
      const name = socket.getPeerCertificate().subject?.CN;
      socket.end();
      resolve(String(name));
    });
    socket.on('error', reject);
  });
}

/** Replaces a file the way secret mounts do: a new file renamed over the old one. */
function replace(target: string, source: string): void {
  copyFileSync(source, `${target}.tmp`);
  renameSync(`${target}.tmp`, target);
}

test('TLS: the server presents the configured certificate; after the files change, new connections get the new one; a broken change keeps the old', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dockhand-tls-'));
  const { logger, lines } = capturingLogger();
  const first = await selfSigned(dir, 'first');
  const second = await selfSigned(dir, 'second');
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  copyFileSync(first.cert, certFile);
  copyFileSync(first.key, keyFile);
  const server = await startHttpServer(agent, { listen: '127.0.0.1:0', tls: loadServerTls({ cert_file: certFile, key_file: keyFile }), reloadCheckMs: 50 }, logger);
  try {
    assert.equal(server.scheme, 'https');
    const port = Number(server.address.split(':').pop());
    assert.equal(await servedName(port), 'first');
    const plain = await fetch(`http://127.0.0.1:${port}/healthz`).then(() => 'answered', () => 'failed');
    assert.equal(plain, 'failed', 'no plain HTTP on a TLS listener');

    replace(keyFile, second.key);
    replace(certFile, second.cert);
    await waitFor(async () => (await servedName(port)) === 'second', { timeoutMs: 10_000, intervalMs: 50, what: 'the new certificate served' });
    assert.ok(lines.some((l) => l.msg === 'reloaded after a change' && l.what === 'server.tls'));

    const refusals = () => lines.filter((l) => l.msg === 'changed files refused; the previous ones stay in use').length;
    const before = refusals();
    writeFileSync(certFile, 'not a certificate\n');
    await waitFor(() => refusals() > before, { timeoutMs: 10_000, what: 'the broken certificate refused' });
    assert.equal(await servedName(port), 'second');
    assert.ok(!JSON.stringify(lines).includes('PRIVATE KEY'), 'no key material in the log');
    await assert.rejects(servedName(port, { maxVersion: 'TLSv1.1', minVersion: 'TLSv1' }), 'TLS 1.1 is refused');
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('min_version TLSv1.3: a TLS 1.2 client is refused, a TLS 1.3 one is served', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dockhand-tls13-'));
  try {
    const { cert, key } = await selfSigned(dir, 'only13');
    const server = await startHttpServer(agent, { listen: '127.0.0.1:0', tls: loadServerTls({ cert_file: cert, key_file: key, min_version: 'TLSv1.3' }) }, pino({ level: 'silent' }));
    try {
      const port = Number(server.address.split(':').pop());
      assert.equal(await servedName(port, { minVersion: 'TLSv1.3' }), 'only13');
      await assert.rejects(servedName(port, { maxVersion: 'TLSv1.2' }), /version|protocol/i);
      const defaultServer = await startHttpServer(agent, { listen: '127.0.0.1:0', tls: loadServerTls({ cert_file: cert, key_file: key }) }, pino({ level: 'silent' }));
      try {
        assert.equal(await servedName(Number(defaultServer.address.split(':').pop()), { maxVersion: 'TLSv1.2' }), 'only13', 'TLS 1.2 by default');
      } finally {
        await defaultServer.close();
      }
    } finally {
      await server.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('mutual TLS: with client_ca_file a client without a certificate, or with one from another CA, is refused; a signed one is served', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dockhand-mtls-'));
  try {
    const pki = await makeTestPki(dir);
    const p = (file: string) => path.join(pki.dir, file);
    const server = await startHttpServer(agent, { listen: '127.0.0.1:0', tls: loadServerTls({ cert_file: p('server-cert.pem'), key_file: p('server-key.pem'), client_ca_file: p('ca.pem') }) }, pino({ level: 'silent' }));
    try {
      const port = Number(server.address.split(':').pop());
      const request = (client: 'client' | 'rogue-client' | undefined): Promise<string> => {
        return new Promise((resolve) => {
          const options = { host: '127.0.0.1', port, path: '/healthz', ca: readFileSync(p('ca.pem')), ...(client ? { cert: readFileSync(p(`${client}-cert.pem`)), key: readFileSync(p(`${client}-key.pem`)) } : {}) };
          https.get(options, (response) => { response.resume(); resolve(String(response.statusCode)); }).on('error', (error) => resolve(`error ${(error as NodeJS.ErrnoException).code ?? error.message}`));
        });
      };
      assert.equal(await request('client'), '200');
      assert.match(await request(undefined), /^error/);
      assert.match(await request('rogue-client'), /^error/);
    } finally {
      await server.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('TLS files at start: missing, mismatched or half-configured are configuration errors naming the key', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dockhand-tls-bad-'));
  try {
    const a = await selfSigned(dir, 'a');
    const b = await selfSigned(dir, 'b');
    const problem = (files: Parameters<typeof loadServerTls>[0]) => configProblem(() => loadServerTls(files));
    assert.equal(loadServerTls({}), undefined);
    assert.match(problem({ cert_file: path.join(dir, 'none.pem'), key_file: a.key }), /^server\.tls\.cert_file: cannot read .*none\.pem: ENOENT/);
    assert.match(problem({ cert_file: a.cert, key_file: path.join(dir, 'none.pem') }), /^server\.tls\.key_file: cannot read/);
    assert.match(problem({ cert_file: a.cert }), /^server\.tls: cert_file is set but key_file is not/);
    assert.match(problem({ key_file: a.key }), /^server\.tls: key_file is set but cert_file is not/);
    assert.match(problem({ client_ca_file: a.cert }), /^server\.tls\.client_ca_file: needs server\.tls\.cert_file/);
    assert.match(problem({ cert_file: a.cert, key_file: b.key }), /^server\.tls\.key_file: .*b-key\.pem is not the private key of .*a\.pem/);
    assert.match(problem({ cert_file: a.key, key_file: a.key }), /^server\.tls\.cert_file: .* is not a PEM certificate/);
    assert.match(problem({ cert_file: a.cert, key_file: a.cert }), /^server\.tls\.key_file: .* is not an unencrypted PEM private key/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
