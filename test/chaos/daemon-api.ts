/**
 * The few Docker API calls the harness drives containers with, straight over the private daemon's
 * socket: cheaper than a docker CLI process per poll, and a broken connection (a daemon kill) is
 * just an error to retry after.
 */
import http from 'node:http';

export interface ContainerStatus {
  readonly status: string;
  readonly running: boolean;
  readonly restarting: boolean;
  readonly exitCode: number;
  readonly startedAt: string;
}

export class DaemonApi {
  constructor(private readonly socket: string) {}

  request(method: string, path: string, timeoutMs = 30_000): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = http.request({ socketPath: this.socket, method, path, headers: { host: 'docker' }, timeout: timeoutMs }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => { body += chunk; });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end();
    });
  }

  async ping(): Promise<boolean> {
    try {
      return (await this.request('GET', '/_ping', 2000)).status === 200;
    } catch {
      return false;
    }
  }

  /** undefined when the container is gone. */
  async inspect(ref: string): Promise<(ContainerStatus & { id: string }) | undefined> {
    const { status, body } = await this.request('GET', `/containers/${encodeURIComponent(ref)}/json`);
    if (status === 404) return undefined;
    if (status !== 200) throw new Error(`inspect ${ref}: HTTP ${status} ${body.slice(0, 200)}`);
    const info = JSON.parse(body) as { Id: string; State: { Status: string; Running: boolean; Restarting: boolean; ExitCode: number; StartedAt: string } };
    return { id: info.Id, status: info.State.Status, running: info.State.Running, restarting: info.State.Restarting, exitCode: info.State.ExitCode, startedAt: info.State.StartedAt };
  }

  /** Blocks until the container is not running (or removed, with condition `removed`). */
  async wait(id: string, condition: 'not-running' | 'removed' = 'not-running'): Promise<void> {
    const { status, body } = await this.request('POST', `/containers/${id}/wait?condition=${condition}`, 24 * 3600_000);
    if (status === 404 && condition === 'removed') return;
    if (status !== 200) throw Object.assign(new Error(`wait ${id}: HTTP ${status} ${body.slice(0, 200)}`), { status });
  }

  async start(id: string): Promise<void> {
    const { status, body } = await this.request('POST', `/containers/${id}/start`);
    if (status !== 204 && status !== 304) throw new Error(`start ${id}: HTTP ${status} ${body.slice(0, 200)}`);
  }

  async remove(id: string): Promise<void> {
    const { status, body } = await this.request('DELETE', `/containers/${id}?v=1&force=1`);
    if (status !== 204 && status !== 404) throw new Error(`remove ${id}: HTTP ${status} ${body.slice(0, 200)}`);
  }
}
