/**
 * A recording pass-through in front of the real daemon: a unix socket whose connections are piped
 * byte for byte to /var/run/docker.sock, while the request lines the client sends are noted (with
 * their time). The daemon answers everything itself; the proxy only counts what was asked, e.g.
 * how often the agent asks for one container's logs. `delay` can hold chosen requests back (a slow
 * daemon), e.g. inspects, so a short-lived container is gone before the agent sees it.
 */
import net from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export interface ProxiedRequest {
  readonly method: string;
  readonly url: string;
  /** Date.now() when the request line was seen. */
  readonly at: number;
}

export interface DockerProxy {
  /** For the agent's docker.host. */
  readonly host: string;
  readonly requests: ProxiedRequest[];
  /** Milliseconds to hold a request before passing it on (0: at once); may change while the proxy runs. */
  delay: (request: ProxiedRequest) => number;
  close(): Promise<void>;
}

const REQUEST_LINE = /^(GET|HEAD|POST|PUT|DELETE) (\S+) HTTP\/1\.[01]$/;

export async function startDockerProxy(daemonSocket = '/var/run/docker.sock'): Promise<DockerProxy> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dockhand-proxy-'));
  const socketPath = path.join(dir, 'docker.sock');
  const requests: ProxiedRequest[] = [];
  const sockets = new Set<net.Socket>();
  const proxy = { delay: (_request: ProxiedRequest): number => 0 };
  const server = net.createServer((client) => {
    const upstream = net.connect(daemonSocket);
    sockets.add(client);
    sockets.add(upstream);
    // Request lines may straddle chunks: what follows the last line end waits for the next chunk.
    let partial = '';
    // Chunks go on in order; a held request holds what follows it on the same connection.
    let forwarded: Promise<void> = Promise.resolve();
    client.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString('latin1')).split('\r\n');
      partial = (lines.pop() ?? '').slice(-4096);
      let hold = 0;
      for (const line of lines) {
        const match = REQUEST_LINE.exec(line);
        if (!match) continue;
        const request = { method: match[1]!, url: match[2]!, at: Date.now() };
        requests.push(request);
        hold = Math.max(hold, proxy.delay(request));
      }
      forwarded = forwarded
        .then(() => (hold > 0 ? new Promise<void>((resolve) => setTimeout(resolve, hold)) : undefined))
        .then(() => { upstream.write(chunk); });
    });
    client.on('end', () => void forwarded.then(() => upstream.end()));
    upstream.pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', close);
    upstream.on('close', close);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  return {
    host: `unix://${socketPath}`,
    requests,
    get delay() {
      return proxy.delay;
    },
    set delay(fn) {
      proxy.delay = fn;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
