/**
 * An HTTP server on a unix socket that records every connection and request it gets. It answers
 * the few GETs a connection needs (/_ping, /version, /info, /containers/json) so that tests can see
 * reads arrive, and so prove that refused writes never did. It is our own test instrument, not a
 * Docker mock: the real daemon is used wherever its behaviour is what is being tested.
 */
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export interface RecordedRequest {
  readonly method: string;
  readonly url: string;
}

export interface ApiRecorder {
  readonly socketPath: string;
  readonly requests: RecordedRequest[];
  /** TCP-level connections accepted: a request refused in-process never opens one. */
  readonly connections: () => number;
  /** What /version reports as ApiVersion; a non-string makes /version answer something that is not Docker. */
  apiVersion: string | null;
  /** Milliseconds to hold each response to a path matching the key, e.g. {'/_ping': 60_000}. */
  readonly delays: Map<string, number>;
  close(): Promise<void>;
}

export async function startApiRecorder(apiVersion = '1.41'): Promise<ApiRecorder> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dockhand-recorder-'));
  const socketPath = path.join(dir, 'api.sock');
  const requests: RecordedRequest[] = [];
  let connections = 0;
  const delays = new Map<string, number>();
  const recorder: ApiRecorder = {
    socketPath,
    requests,
    connections: () => connections,
    apiVersion,
    delays,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };

  const json = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };

  const server = http.createServer((req, res) => {
    const method = req.method ?? '?';
    const url = req.url ?? '?';
    requests.push({ method, url });
    const route = url.replace(/^\/v\d+\.\d+/, '').replace(/\?.*$/, '');
    const delay = [...delays].find(([prefix]) => route.startsWith(prefix))?.[1] ?? 0;
    const answer = () => {
      if (method !== 'GET' && method !== 'HEAD') return json(res, 405, { message: 'the recorder only answers reads' });
      if (route === '/_ping') {
        res.writeHead(200, { 'content-type': 'text/plain', 'api-version': recorder.apiVersion ?? '' });
        return res.end('OK');
      }
      if (route === '/version') {
        if (typeof recorder.apiVersion !== 'string') {
          res.writeHead(200, { 'content-type': 'text/html' });
          return res.end('<html>hello</html>');
        }
        return json(res, 200, { ApiVersion: recorder.apiVersion, Version: '99.0.0-recorder', Os: 'linux', KernelVersion: '6.0.0' });
      }
      if (route === '/info') return json(res, 200, { Name: 'api-recorder', Driver: 'overlay2', CgroupDriver: 'systemd', CgroupVersion: '2', DockerRootDir: '/recorder', OperatingSystem: 'Recorder OS' });
      if (route === '/containers/json') return json(res, 200, []);
      return json(res, 404, { message: `no such thing: ${route}` });
    };
    if (delay > 0) {
      const timer = setTimeout(answer, delay);
      res.on('close', () => clearTimeout(timer));
    } else {
      answer();
    }
  });
  server.on('connection', () => {
    connections++;
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  return recorder;
}
