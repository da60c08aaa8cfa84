/** A long-lived child process under measurement: spawned, sampled from /proc, stopped. */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import http from 'node:http';
import { ProcessSampler } from './proc.js';

export class MeasuredProcess {
  readonly sampler: ProcessSampler;
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(readonly child: ChildProcess, readonly name: string) {
    this.sampler = new ProcessSampler(child.pid!, 100);
    child.stdout?.setEncoding('utf8').on('data', (c: string) => { this.stdout = (this.stdout + c).slice(-200_000); });
    child.stderr?.setEncoding('utf8').on('data', (c: string) => { this.stderr = (this.stderr + c).slice(-200_000); });
    this.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  }

  static spawn(name: string, command: string, args: readonly string[], options: SpawnOptions = {}): MeasuredProcess {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    if (child.pid === undefined) throw new Error(`could not start ${name} (${command})`);
    return new MeasuredProcess(child, name);
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Waits for the first stdout line that is JSON and returns it parsed. */
  async firstJsonLine<T>(timeoutMs = 20_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const line of this.stdout.split('\n')) {
        if (line.startsWith('{')) {
          try {
            return JSON.parse(line) as T;
          } catch {
            // partial line: wait for more
          }
        }
      }
      if (!this.alive) throw new Error(`${this.name} exited before saying anything: ${this.stderr.slice(-2000)}`);
      if (Date.now() > deadline) throw new Error(`${this.name} said nothing within ${timeoutMs} ms: ${this.stderr.slice(-2000)}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** SIGTERM, then SIGKILL after `timeoutMs`; resolves with how it ended. */
  async stop(timeoutMs = 20_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.alive) this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const result = await this.exited;
    clearTimeout(timer);
    this.sampler.stop();
    return result;
  }
}

/**
 * The end of a test server's child-process main (bench/logs/*-server-main.ts): listens on the
 * control port, prints `{"url": …, "control": …}` for the parent (MeasuredProcess.firstJsonLine),
 * and closes both on SIGTERM or SIGINT.
 */
export async function serveChild(url: string, control: import('node:http').Server, close: () => Promise<void>): Promise<void> {
  await new Promise<void>((resolve) => control.listen(0, '127.0.0.1', resolve));
  const { port } = control.address() as import('node:net').AddressInfo;
  process.stdout.write(`${JSON.stringify({ url, control: `http://127.0.0.1:${port}` })}\n`);
  const stop = () => {
    control.close();
    void close().finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

/**
 * The control port of a count-only test server's child main: `GET /count` (what the server holds,
 * counted on its side) and `GET /stats` (its counters), both JSON.
 */
export function countingControl(count: () => number, stats: () => unknown): import('node:http').Server {
  return http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://control').pathname;
    req.resume();
    const json = (body: unknown, status = 200) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (path === '/count') return json({ count: count() });
    if (path === '/stats') return json(stats());
    json({ error: 'not found' }, 404);
  });
}
