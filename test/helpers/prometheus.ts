/**
 * A real Prometheus (Debian's /usr/bin/prometheus) for tests: a temp config scraping the given
 * targets every second, a free loopback port, its HTTP query API, and a clean stop. Also runs
 * `promtool check metrics` over an exposition text.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports.js';
import { waitFor } from './wait.js';

export const PROMETHEUS_BIN = process.env.PROMETHEUS_BIN ?? '/usr/bin/prometheus';
export const PROMTOOL_BIN = process.env.PROMTOOL_BIN ?? '/usr/bin/promtool';

export interface PromSample {
  readonly metric: Record<string, string>;
  readonly value: [number, string];
}

export interface PrometheusOptions {
  /** host:port of each scrape target. */
  readonly targets: readonly string[];
  readonly metricsPath?: string;
  readonly scrapeIntervalSeconds?: number;
  /** More settings of the job, as YAML lines at the job's indentation (`scheme: https`, `tls_config:` …). */
  readonly scrapeSettings?: readonly string[];
}

export class PrometheusServer {
  private output = '';
  private exited: Promise<void>;

  private constructor(private readonly child: ChildProcess, readonly url: string, private readonly dir: string) {
    child.stdout!.setEncoding('utf8').on('data', (c: string) => { this.output += c; });
    child.stderr!.setEncoding('utf8').on('data', (c: string) => { this.output += c; });
    this.exited = new Promise((resolve) => child.on('exit', () => resolve()));
  }

  static async start(options: PrometheusOptions): Promise<PrometheusServer> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'dockhand-prom-'));
    const interval = `${options.scrapeIntervalSeconds ?? 1}s`;
    const config = [
      'global:',
      `  scrape_interval: ${interval}`,
      `  scrape_timeout: ${interval}`,
      'scrape_configs:',
      '  - job_name: dockhand',
      `    metrics_path: ${options.metricsPath ?? '/metrics'}`,
      ...(options.scrapeSettings ?? []).map((line) => `    ${line}`),
      '    static_configs:',
      `      - targets: [${options.targets.map((t) => `'${t}'`).join(', ')}]`,
      '',
    ].join('\n');
    await writeFile(path.join(dir, 'prometheus.yml'), config);
    const port = await freePort();
    const child = spawn(PROMETHEUS_BIN, [
      `--config.file=${path.join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    const server = new PrometheusServer(child, `http://127.0.0.1:${port}`, dir);
    try {
      await waitFor(async () => {
        if (child.exitCode !== null) throw new Error(`prometheus exited ${child.exitCode}: ${server.output.slice(-2000)}`);
        return (await fetch(`${server.url}/-/ready`)).ok;
      }, { timeoutMs: 30_000, intervalMs: 100, what: 'prometheus /-/ready' });
    } catch (error) {
      await server.stop();
      throw error;
    }
    return server;
  }

  /** An instant query; throws with Prometheus' own error text when the query fails. */
  async query(expr: string): Promise<PromSample[]> {
    const response = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await response.json()) as { status: string; error?: string; data?: { resultType: string; result: PromSample[] } };
    if (body.status !== 'success') throw new Error(`prometheus query ${expr}: ${body.error ?? response.status}`);
    return body.data!.result;
  }

  /** Waits until `expr` returns a result that `accept` likes (default: any sample). */
  async waitForQuery(expr: string, accept: (result: PromSample[]) => boolean = (r) => r.length > 0, timeoutMs = 30_000): Promise<PromSample[]> {
    let last: PromSample[] = [];
    try {
      return await waitFor(async () => {
        last = await this.query(expr);
        return accept(last) ? last : undefined;
      }, { timeoutMs, intervalMs: 250, what: `prometheus query ${expr}` });
    } catch (error) {
      throw new Error(`${(error as Error).message}; last result ${JSON.stringify(last)}`);
    }
  }

  /** Health of each scrape target as Prometheus sees it. */
  async targets(): Promise<{ health: string; lastError: string; scrapeUrl: string }[]> {
    const body = (await (await fetch(`${this.url}/api/v1/targets`)).json()) as { data: { activeTargets: { health: string; lastError: string; scrapeUrl: string }[] } };
    return body.data.activeTargets;
  }

  get log(): string {
    return this.output;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
      await this.exited;
      clearTimeout(timer);
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}

export interface PromtoolResult {
  /** 0: no problem; 1: the text could not be parsed; 3: lint problems. */
  readonly code: number;
  readonly output: string;
}

/** `promtool check metrics` reading the exposition text on stdin. */
export function promtoolCheckMetrics(exposition: string): Promise<PromtoolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(PROMTOOL_BIN, ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => { output += c; });
    child.stderr.setEncoding('utf8').on('data', (c: string) => { output += c; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, output }));
    child.stdin.end(exposition);
  });
}
