/**
 * The log stream over TCP+TLS: its own tls.connect (not node:https), with the endpoint's CA, client
 * certificate and verify setting, against a TLS server that demands a client certificate (as a
 * dockerd with --tlsverify does) and answers a logs request as dockerd does. The errors a wrong CA
 * or an untrusted client certificate give are the ones describeDockerError explains.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DockerClient } from '../../src/docker/client.js';
import { describeDockerError } from '../../src/docker/connection.js';
import { resolveEndpoint, type DockerEndpoint } from '../../src/docker/endpoint.js';
import { FrameDemuxer } from '../../collectors/logs/demux.js';
import { frame } from './logs-frames.js';
import { makeTestPki, type TestPki } from '../helpers/tls-daemon.js';

let scratch: string;
let pki: TestPki;
let server: tls.Server;
let port: number;
const requests: string[] = [];

const FRAMES = [frame(1, '2026-11-30T01:19:02.446854573Z over tls\n'), frame(2, '2026-11-30T01:19:02.446962203Z and stderr\n')];
const ANSWER = Buffer.concat([
  Buffer.from('HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nTransfer-Encoding: chunked\r\n\r\n'),
  ...FRAMES.flatMap((f) => [Buffer.from(`${f.length.toString(16)}\r\n`), f, Buffer.from('\r\n')]),
  Buffer.from('0\r\n\r\n'),
]);

before(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'dockhand-client-tls-'));
  pki = await makeTestPki(scratch);
  const file = (name: string) => readFile(path.join(pki.dir, name));
  server = tls.createServer({ key: await file('server-key.pem'), cert: await file('server-cert.pem'), ca: await file('ca.pem'), requestCert: true, rejectUnauthorized: true }, (socket) => {
    socket.on('error', () => undefined);
    let text = '';
    socket.on('data', (data) => {
      text += data.toString('latin1');
      if (!text.includes('\r\n\r\n')) return;
      requests.push(text.split('\r\n', 1)[0]!);
      socket.end(ANSWER);
    });
  });
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as { port: number }).port;
});

after(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(scratch, { recursive: true, force: true });
});

async function readLogs(endpoint: DockerEndpoint): Promise<string[]> {
  const stream = await new DockerClient(endpoint, { apiVersion: '1.41' }).logs('abc', { stdout: true }, AbortSignal.timeout(10_000));
  const frames: string[] = [];
  const demuxer = new FrameDemuxer();
  const end = await new Promise((resolve) => stream.read({
    bytes: (buf, start, stop) => demuxer.push(buf, { frame: (s, b, from, to) => frames.push(`${s} ${b.toString('utf8', from, to)}`) }, start, stop),
    end: resolve,
  }));
  assert.equal(end, undefined, 'ended as the framing says');
  return frames;
}

test('verified TLS with a client certificate (DOCKER_CERT_PATH): the frames arrive whole', async () => {
  const frames = await readLogs(resolveEndpoint({ host: `tcp://127.0.0.1:${port}`, tlsVerify: true, certPath: pki.clientCertDir }));
  assert.deepEqual(frames, ['1 2026-11-30T01:19:02.446854573Z over tls\n', '2 2026-11-30T01:19:02.446962203Z and stderr\n']);
  assert.equal(requests.at(-1), 'GET /v1.41/containers/abc/logs?stdout=true HTTP/1.1');
});

test('a wrong CA is refused with the certificate error describeDockerError names; without verification it is read', async () => {
  const wrongCa = resolveEndpoint({ host: `tcp://127.0.0.1:${port}`, tlsVerify: true, certPath: pki.wrongCaCertDir });
  await assert.rejects(readLogs(wrongCa), (error: unknown) => {
    assert.match(describeDockerError(error, wrongCa), /^TLS: the daemon's certificate is not signed by the configured CA/);
    return true;
  });
  assert.ok(wrongCa.kind === 'tcp' && wrongCa.tls);
  const skipVerify: DockerEndpoint = { ...wrongCa, tls: { ...wrongCa.tls, verify: false } };
  assert.equal((await readLogs(skipVerify)).length, 2);
});

test('a client certificate the server does not trust: the stream fails, as a TLS error, not a silent end', async () => {
  const untrusted = resolveEndpoint({ host: `tcp://127.0.0.1:${port}`, tlsVerify: true, certPath: pki.untrustedClientCertDir });
  await assert.rejects(readLogs(untrusted), (error: unknown) => {
    const text = describeDockerError(error, untrusted);
    // dockerd (Go) sends TLS 1.3's certificate_required alert (test/integration/docker-tls.test.ts sees it);
    // a node server just closes after the handshake: either way a failure, never a stream that ended well.
    assert.match(text, /^TLS: the daemon rejected the client certificate|closed the connection before the end of the response head/, text);
    return true;
  });
});
