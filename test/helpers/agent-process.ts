/**
 * Runs the built agent (dist/src/main.js) as a child process, as a user would: a temp data dir,
 * a YAML config written by the test, a free port. Collects its JSON log lines for assertions.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { AGENT_ENV, AGENT_NODE_FLAGS } from '../../src/node-flags.js';
import { freePort } from './ports.js';
import { waitFor } from './wait.js';

export const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));

export interface AgentProcessOptions {
  /** Config object written as YAML (merged over listen/data_dir chosen here). */
  readonly config?: Record<string, unknown>;
  readonly env?: NodeJS.ProcessEnv;
  readonly args?: readonly string[];
  /** Reuse a data dir (to restart an agent where the last one stopped). */
  readonly dataDir?: string;
}

export class AgentProcess {
  readonly logs: Record<string, unknown>[] = [];
  stderr = '';
  stdout = '';
  private exitPromise: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(readonly child: ChildProcess, readonly url: string, readonly dataDir: string, private readonly ownsDataDir: boolean) {
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => { this.stdout += chunk; });
    let partial = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
      partial += chunk;
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        try {
          this.logs.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          // not a log line (a stack trace, a pretty line): kept in stderr
        }
      }
    });
    this.exitPromise = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  }

  static async start(options: AgentProcessOptions = {}): Promise<AgentProcess> {
    const dataDir = options.dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'dockhand-agent-'));
    const port = await freePort();
    const configFile = path.join(dataDir, 'config.yaml');
    writeFileSync(configFile, YAML.stringify({ listen: `127.0.0.1:${port}`, data_dir: dataDir, ...options.config }));
    const child = spawn(process.execPath, [...AGENT_NODE_FLAGS, MAIN, '--config', configFile, ...(options.args ?? [])], {
      env: { ...process.env, ...AGENT_ENV, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new AgentProcess(child, `http://127.0.0.1:${port}`, dataDir, options.dataDir === undefined);
  }

  get exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return this.exitPromise;
  }

  async get(pathname: string): Promise<{ status: number; body: string; json: () => any }> {
    const response = await fetch(`${this.url}${pathname}`);
    const body = await response.text();
    return { status: response.status, body, json: () => JSON.parse(body) };
  }

  /** Waits until the HTTP server answers at all. */
  async waitListening(timeoutMs = 20_000): Promise<void> {
    await waitFor(async () => (await this.get('/healthz')).status === 200, { timeoutMs, what: `agent /healthz (stderr: ${this.stderr.slice(-500)})` });
  }

  /** Waits until /readyz says 200. */
  async waitReady(timeoutMs = 30_000): Promise<void> {
    await waitFor(async () => (await this.get('/readyz')).status === 200, { timeoutMs, what: `agent /readyz 200 (stderr: ${this.stderr.slice(-1000)})` });
  }

  async metrics(): Promise<string> {
    return (await this.get('/metrics')).body;
  }

  /** SIGTERM and wait for the exit. */
  async stop(timeoutMs = 20_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const result = await this.exitPromise;
    clearTimeout(timer);
    return result;
  }

  /** SIGKILL: a crash, nothing flushed. */
  async kill(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exitPromise;
  }

  /** Stops the process if needed and removes the data dir it created. */
  async dispose(): Promise<void> {
    await this.stop();
    if (this.ownsDataDir) rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** Runs the CLI to completion (for --help, --check-config, bad configs). */
export function runCli(args: readonly string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 20_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...AGENT_NODE_FLAGS, MAIN, ...args], { env: { ...process.env, ...AGENT_ENV, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => { stdout += c; });
    child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`dockhand ${args.join(' ')} did not exit within ${timeoutMs} ms`)); }, timeoutMs);
    child.on('exit', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}
