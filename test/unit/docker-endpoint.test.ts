import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, mkdir, writeFile, readFile, rm, copyFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { resolveEndpoint, describeEndpoint, DEFAULT_SOCKET, type DockerEndpoint, type EndpointSettings } from '../../src/docker/endpoint.js';
import { ConfigError } from '../../src/errors.js';
import { makeTestPki, type TestPki } from '../helpers/tls-daemon.js';

let root: string;
let pki: TestPki;

before(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'dockhand-endpoint-'));
  pki = await makeTestPki(root);
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A fresh DOCKER_CONFIG dir, so that the home directory of whoever runs the tests never leaks in. */
async function configDir(): Promise<string> {
  return mkdtemp(path.join(root, 'docker-config-'));
}

interface ContextSpec {
  readonly host: string;
  readonly skipTlsVerify?: boolean;
  /** Files copied into contexts/tls/<hash>/docker/. */
  readonly tlsFrom?: string;
  readonly tlsFiles?: readonly string[];
}

/** Writes a context the way `docker context create` lays it out. */
async function writeContext(dir: string, name: string, spec: ContextSpec): Promise<string> {
  const hash = createHash('sha256').update(name).digest('hex');
  await mkdir(path.join(dir, 'contexts', 'meta', hash), { recursive: true });
  await writeFile(path.join(dir, 'contexts', 'meta', hash, 'meta.json'), JSON.stringify({
    Name: name,
    Metadata: { Description: 'test' },
    Endpoints: { docker: { Host: spec.host, SkipTLSVerify: spec.skipTlsVerify ?? false } },
  }));
  if (spec.tlsFrom) {
    const tlsDir = path.join(dir, 'contexts', 'tls', hash, 'docker');
    await mkdir(tlsDir, { recursive: true });
    for (const file of spec.tlsFiles ?? ['ca.pem', 'cert.pem', 'key.pem']) await copyFile(path.join(spec.tlsFrom, file), path.join(tlsDir, file));
  }
  return hash;
}

async function setCurrentContext(dir: string, name: string): Promise<void> {
  await writeFile(path.join(dir, 'config.json'), JSON.stringify({ auths: {}, currentContext: name }));
}

function configError(settings: EndpointSettings): ConfigError {
  try {
    resolveEndpoint(settings);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected resolveEndpoint to throw a ConfigError');
}

function tcp(endpoint: DockerEndpoint): Extract<DockerEndpoint, { kind: 'tcp' }> {
  assert.equal(endpoint.kind, 'tcp');
  return endpoint as Extract<DockerEndpoint, { kind: 'tcp' }>;
}

describe('DOCKER_HOST', () => {
  test('nothing configured: the local socket', async () => {
    const endpoint = resolveEndpoint({ configDir: await configDir() });
    assert.deepEqual(endpoint, { kind: 'unix', socketPath: DEFAULT_SOCKET, source: 'default socket' });
    assert.equal(describeEndpoint(endpoint), 'unix:///var/run/docker.sock');
  });

  test('unix:// with a path, and unix:// alone meaning the default socket (as the CLI)', async () => {
    assert.deepEqual(resolveEndpoint({ host: 'unix:///run/user/1000/docker.sock' }), { kind: 'unix', socketPath: '/run/user/1000/docker.sock', source: 'DOCKER_HOST' });
    assert.deepEqual(resolveEndpoint({ host: 'unix://' }), { kind: 'unix', socketPath: DEFAULT_SOCKET, source: 'DOCKER_HOST' });
  });

  test('tcp:// host and port, default ports, IPv6, bare host:port', () => {
    assert.deepEqual(resolveEndpoint({ host: 'tcp://10.0.0.5:2375' }), { kind: 'tcp', host: '10.0.0.5', port: 2375, source: 'DOCKER_HOST' });
    assert.equal(tcp(resolveEndpoint({ host: 'tcp://docker.example' })).port, 2375);
    const v6 = tcp(resolveEndpoint({ host: 'tcp://[::1]:2380' }));
    assert.equal(v6.host, '::1');
    assert.equal(v6.port, 2380);
    assert.deepEqual(resolveEndpoint({ host: '127.0.0.1:2375' }), { kind: 'tcp', host: '127.0.0.1', port: 2375, source: 'DOCKER_HOST' });
    assert.equal(tcp(resolveEndpoint({ host: 'tcp://:2999' })).host, 'localhost');
    assert.equal(describeEndpoint(resolveEndpoint({ host: 'tcp://10.0.0.5:2375' })), 'http://10.0.0.5:2375');
  });

  test('bad scheme is a ConfigError naming docker.host, the value and what is expected', () => {
    const error = configError({ host: 'ftp://x' });
    assert.equal(error.problems.length, 1);
    assert.match(error.problems[0]!, /^docker\.host: /);
    assert.match(error.problems[0]!, /"ftp:\/\/x"/);
    assert.match(error.problems[0]!, /expected unix:\/\/ or tcp:\/\//);
    assert.match(configError({ host: 'ssh://me@box' }).message, /^docker\.host: .*unsupported scheme "ssh:\/\/"/);
  });

  test('malformed hosts are ConfigErrors naming docker.host', () => {
    for (const host of ['not a host', 'unix://relative.sock', 'tcp://h:99999', 'tcp://h:0', 'tcp://a/b/c']) {
      assert.match(configError({ host }).message, /^docker\.host: /, host);
    }
  });

  test('DOCKER_TLS_VERIFY + DOCKER_CERT_PATH: TLS with the three files, verified', async () => {
    const endpoint = tcp(resolveEndpoint({ host: 'tcp://127.0.0.1:2376', tlsVerify: true, certPath: pki.clientCertDir }));
    assert.equal(endpoint.port, 2376);
    assert.ok(endpoint.tls);
    assert.equal(endpoint.tls.verify, true);
    assert.equal(endpoint.tls.dir, pki.clientCertDir);
    assert.deepEqual(endpoint.tls.ca, await readFile(path.join(pki.clientCertDir, 'ca.pem')));
    assert.deepEqual(endpoint.tls.cert, await readFile(path.join(pki.clientCertDir, 'cert.pem')));
    assert.deepEqual(endpoint.tls.key, await readFile(path.join(pki.clientCertDir, 'key.pem')));
    assert.equal(describeEndpoint(endpoint), 'https://127.0.0.1:2376');
    assert.doesNotMatch(describeEndpoint(endpoint), /PRIVATE|BEGIN/);
    assert.equal(tcp(resolveEndpoint({ host: 'tcp://h', tlsVerify: true, certPath: pki.clientCertDir })).port, 2376, 'TLS default port');
  });

  test('DOCKER_TLS_VERIFY without DOCKER_CERT_PATH reads the docker config dir, as the CLI (~/.docker)', async () => {
    const dir = await configDir();
    for (const file of ['ca.pem', 'cert.pem', 'key.pem']) await copyFile(path.join(pki.clientCertDir, file), path.join(dir, file));
    const endpoint = tcp(resolveEndpoint({ host: 'tcp://127.0.0.1:2376', tlsVerify: true, configDir: dir }));
    assert.equal(endpoint.tls?.dir, dir);
    assert.deepEqual(endpoint.tls?.ca, await readFile(path.join(dir, 'ca.pem')));
  });

  test('a cert path without DOCKER_TLS_VERIFY does not turn TLS on (as the CLI)', () => {
    const endpoint = tcp(resolveEndpoint({ host: 'tcp://127.0.0.1:2375', tlsVerify: false, certPath: pki.clientCertDir }));
    assert.equal(endpoint.tls, undefined);
  });

  test('only ca.pem (daemon without client-cert auth): TLS with the CA alone', async () => {
    const dir = await configDir();
    await copyFile(path.join(pki.clientCertDir, 'ca.pem'), path.join(dir, 'ca.pem'));
    const endpoint = tcp(resolveEndpoint({ host: 'tcp://h:2376', tlsVerify: true, certPath: dir }));
    assert.ok(endpoint.tls?.ca);
    assert.equal(endpoint.tls?.cert, undefined);
    assert.equal(endpoint.tls?.key, undefined);
  });

  test('unreadable cert path is a ConfigError naming docker.cert_path and the file', async () => {
    const missing = path.join(root, 'no-such-dir');
    const error = configError({ host: 'tcp://127.0.0.1:2376', tlsVerify: true, certPath: missing });
    assert.match(error.message, /^docker\.cert_path: cannot read .*no-such-dir\/ca\.pem: ENOENT/);
    assert.match(error.message, /expected a directory with ca\.pem, cert\.pem and key\.pem/);

    const notADir = path.join(root, 'a-file');
    await writeFile(notADir, 'x');
    assert.match(configError({ host: 'tcp://h:1', tlsVerify: true, certPath: notADir }).message, /^docker\.cert_path: cannot read .*a-file\/ca\.pem: ENOTDIR/);

    // Running as root, chmod cannot make a file unreadable; a directory named ca.pem can.
    const dirAsCa = await configDir();
    await mkdir(path.join(dirAsCa, 'ca.pem'));
    assert.match(configError({ host: 'tcp://h:1', tlsVerify: true, certPath: dirAsCa }).message, /^docker\.cert_path: cannot read .*ca\.pem: EISDIR/);
  });

  test('broken TLS files are ConfigErrors naming docker.cert_path, not handshake failures later', async () => {
    const garbage = await configDir();
    await writeFile(path.join(garbage, 'ca.pem'), 'not a certificate');
    assert.match(configError({ host: 'tcp://h:1', tlsVerify: true, certPath: garbage }).message, /^docker\.cert_path: .*ca\.pem is not a PEM CA certificate/);

    const certOnly = await configDir();
    await copyFile(path.join(pki.clientCertDir, 'ca.pem'), path.join(certOnly, 'ca.pem'));
    await copyFile(path.join(pki.clientCertDir, 'cert.pem'), path.join(certOnly, 'cert.pem'));
    assert.match(configError({ host: 'tcp://h:1', tlsVerify: true, certPath: certOnly }).message, /^docker\.cert_path: .* has cert\.pem but no key\.pem/);

    const mismatched = await configDir();
    await copyFile(path.join(pki.clientCertDir, 'ca.pem'), path.join(mismatched, 'ca.pem'));
    await copyFile(path.join(pki.clientCertDir, 'cert.pem'), path.join(mismatched, 'cert.pem'));
    await copyFile(path.join(pki.untrustedClientCertDir, 'key.pem'), path.join(mismatched, 'key.pem'));
    assert.match(configError({ host: 'tcp://h:1', tlsVerify: true, certPath: mismatched }).message, /^docker\.cert_path: .*key\.pem is not the private key of .*cert\.pem/);
  });
});

describe('contexts', () => {
  test('DOCKER_CONTEXT: found under contexts/meta/<sha256(name)>/meta.json, TLS from contexts/tls/<hash>/docker', async () => {
    const dir = await configDir();
    const hash = await writeContext(dir, 'remote-tls', { host: 'tcp://127.0.0.1:2376', tlsFrom: pki.clientCertDir });
    assert.equal(hash, createHash('sha256').update('remote-tls').digest('hex'));
    const endpoint = tcp(resolveEndpoint({ context: 'remote-tls', configDir: dir }));
    assert.equal(endpoint.host, '127.0.0.1');
    assert.equal(endpoint.port, 2376);
    assert.equal(endpoint.source, 'context remote-tls');
    assert.equal(endpoint.tls?.verify, true);
    assert.equal(endpoint.tls?.dir, path.join(dir, 'contexts', 'tls', hash, 'docker'));
    assert.deepEqual(endpoint.tls?.ca, await readFile(path.join(pki.clientCertDir, 'ca.pem')));
    assert.deepEqual(endpoint.tls?.key, await readFile(path.join(pki.clientCertDir, 'key.pem')));
  });

  test('the lookup is by hash: a meta.json under another name does not shadow the hashed one', async () => {
    const dir = await configDir();
    await writeContext(dir, 'prod', { host: 'tcp://10.1.1.1:2375' });
    // A stray directory whose meta.json claims the same name: the CLI never reads it.
    await mkdir(path.join(dir, 'contexts', 'meta', '0000stray'), { recursive: true });
    await writeFile(path.join(dir, 'contexts', 'meta', '0000stray', 'meta.json'), JSON.stringify({ Name: 'prod', Endpoints: { docker: { Host: 'tcp://6.6.6.6:2375' } } }));
    assert.equal(tcp(resolveEndpoint({ context: 'prod', configDir: dir })).host, '10.1.1.1');
  });

  test('a context without TLS material is plain tcp; a unix context is a socket', async () => {
    const dir = await configDir();
    await writeContext(dir, 'plain', { host: 'tcp://10.2.2.2:2375' });
    await writeContext(dir, 'rootless', { host: 'unix:///run/user/1000/docker.sock' });
    assert.equal(tcp(resolveEndpoint({ context: 'plain', configDir: dir })).tls, undefined);
    assert.deepEqual(resolveEndpoint({ context: 'rootless', configDir: dir }), { kind: 'unix', socketPath: '/run/user/1000/docker.sock', source: 'context rootless' });
  });

  test('currentContext in config.json selects the context', async () => {
    const dir = await configDir();
    await writeContext(dir, 'current-one', { host: 'tcp://10.3.3.3:2375' });
    await setCurrentContext(dir, 'current-one');
    const endpoint = tcp(resolveEndpoint({ configDir: dir }));
    assert.equal(endpoint.host, '10.3.3.3');
    assert.equal(endpoint.source, 'context current-one');
  });

  test('DOCKER_CONTEXT wins over currentContext', async () => {
    const dir = await configDir();
    await writeContext(dir, 'from-config', { host: 'tcp://10.4.4.4:2375' });
    await writeContext(dir, 'from-env', { host: 'tcp://10.5.5.5:2375' });
    await setCurrentContext(dir, 'from-config');
    assert.equal(tcp(resolveEndpoint({ context: 'from-env', configDir: dir })).host, '10.5.5.5');
  });

  test('DOCKER_HOST wins over DOCKER_CONTEXT and currentContext', async () => {
    const dir = await configDir();
    await writeContext(dir, 'ctx', { host: 'tcp://10.6.6.6:2375' });
    await setCurrentContext(dir, 'ctx');
    assert.deepEqual(resolveEndpoint({ host: 'unix:///tmp/other.sock', context: 'ctx', configDir: dir }), { kind: 'unix', socketPath: '/tmp/other.sock', source: 'DOCKER_HOST' });
    assert.equal(resolveEndpoint({ host: 'unix:///tmp/other.sock', configDir: dir }).source, 'DOCKER_HOST');
  });

  test('the "default" context is the local socket, by DOCKER_CONTEXT or by currentContext', async () => {
    const dir = await configDir();
    await writeContext(dir, 'elsewhere', { host: 'tcp://10.7.7.7:2375' });
    await setCurrentContext(dir, 'default');
    assert.deepEqual(resolveEndpoint({ configDir: dir }), { kind: 'unix', socketPath: DEFAULT_SOCKET, source: 'default socket' });
    await setCurrentContext(dir, 'elsewhere');
    assert.deepEqual(resolveEndpoint({ context: 'default', configDir: dir }), { kind: 'unix', socketPath: DEFAULT_SOCKET, source: 'default socket' });
  });

  test('SkipTLSVerify: TLS without verification, with or without stored material', async () => {
    const dir = await configDir();
    await writeContext(dir, 'insecure', { host: 'tcp://10.8.8.8:2376', skipTlsVerify: true });
    const bare = tcp(resolveEndpoint({ context: 'insecure', configDir: dir }));
    assert.deepEqual(bare.tls, { verify: false });
    assert.equal(describeEndpoint(bare), 'https://10.8.8.8:2376');

    await writeContext(dir, 'insecure-with-cert', { host: 'tcp://10.8.8.8:2376', skipTlsVerify: true, tlsFrom: pki.clientCertDir });
    const withCert = tcp(resolveEndpoint({ context: 'insecure-with-cert', configDir: dir }));
    assert.equal(withCert.tls?.verify, false);
    assert.ok(withCert.tls?.cert && withCert.tls.key, 'the client cert is still presented');
  });

  test('a context with only a client cert (no ca.pem) verifies against the system CAs, as the CLI', async () => {
    const dir = await configDir();
    await writeContext(dir, 'public-ca', { host: 'tcp://10.9.9.9:2376', tlsFrom: pki.clientCertDir, tlsFiles: ['cert.pem', 'key.pem'] });
    const endpoint = tcp(resolveEndpoint({ context: 'public-ca', configDir: dir }));
    assert.equal(endpoint.tls?.verify, true);
    assert.equal(endpoint.tls?.ca, undefined);
    assert.ok(endpoint.tls?.cert);
  });

  test('unknown context names: ConfigError naming docker.context (and where the name came from)', async () => {
    const dir = await configDir();
    const byEnv = configError({ context: 'nope', configDir: dir });
    assert.match(byEnv.message, /^docker\.context: no context named "nope"/);
    assert.ok(byEnv.message.includes(createHash('sha256').update('nope').digest('hex')), 'names the meta.json path it looked for');
    await setCurrentContext(dir, 'gone');
    assert.match(configError({ configDir: dir }).message, /^docker\.context \(currentContext in .*config\.json\): no context named "gone"/);
  });

  test('broken stores: config.json and meta.json that are not JSON, a context without Host, a bad Host scheme', async () => {
    const dir = await configDir();
    await writeFile(path.join(dir, 'config.json'), '{ nope');
    assert.match(configError({ configDir: dir }).message, /^docker\.config_dir: .*config\.json is not valid JSON/);

    const dir2 = await configDir();
    const hash = createHash('sha256').update('broken').digest('hex');
    await mkdir(path.join(dir2, 'contexts', 'meta', hash), { recursive: true });
    await writeFile(path.join(dir2, 'contexts', 'meta', hash, 'meta.json'), '{');
    assert.match(configError({ context: 'broken', configDir: dir2 }).message, /^docker\.context: .*meta\.json is not valid JSON/);

    await writeContext(dir2, 'hostless', { host: '' });
    assert.match(configError({ context: 'hostless', configDir: dir2 }).message, /^docker\.context: context "hostless" .* has no Endpoints\.docker\.Host/);

    await writeContext(dir2, 'ssh', { host: 'ssh://user@box' });
    assert.match(configError({ context: 'ssh', configDir: dir2 }).message, /^docker\.context: "ssh:\/\/user@box" uses the unsupported scheme/);
  });

  test('a broken stored ca.pem in a context is a ConfigError naming docker.context', async () => {
    const dir = await configDir();
    const hash = await writeContext(dir, 'bad-ca', { host: 'tcp://h:2376', tlsFrom: pki.clientCertDir });
    await writeFile(path.join(dir, 'contexts', 'tls', hash, 'docker', 'ca.pem'), '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    assert.match(configError({ context: 'bad-ca', configDir: dir }).message, /^docker\.context: .*ca\.pem is not a PEM CA certificate/);
  });
});
