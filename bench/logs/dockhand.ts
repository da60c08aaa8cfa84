/**
 * dockhand end to end: the built agent (dist/src/main.js) as a child process with a temp data dir and
 * only what the measurement needs (the logs collector, plus the events collector that keeps the
 * container inventory; stats, engine and the Prometheus exporter off), shipping into the file
 * exporter (fdatasync per batch, the default) or into the Elasticsearch test server in its own
 * process. Done when the exporter has acknowledged every line (`dockhand_records_out_total`, asked once
 * the sink's own files or the test server hold them all).
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { MeasuredProcess } from '../lib/child.js';
import { dockerdPid, MachineWindow } from '../lib/proc.js';
import { FileLineCounter } from '../lib/sink.js';
import { now, pollProgress, sleep } from '../lib/time.js';
import { RUN_LABEL } from '../lib/docker.js';
import { freePort } from '../../test/helpers/ports.js';
import { AGENT_ENV, AGENT_NODE_FLAGS, agentEnvAssignments } from '../../src/node-flags.js';
import type { Measurement } from './measurement.js';
import type { BulkSample, EsServerStats } from './es-server-main.js';
import { LINE_BYTES, type Workload } from './workload.js';

export const AGENT_MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));
const ES_SERVER = fileURLToPath(new URL('./es-server-main.js', import.meta.url));
const LOKI_SERVER = fileURLToPath(new URL('./loki-server-main.js', import.meta.url));
const OTLP_SERVER = fileURLToPath(new URL('./otlp-server-main.js', import.meta.url));

export type DockhandSink = 'file' | 'elasticsearch' | 'otlp' | 'loki';

/** Where the Elasticsearch exporter puts log lines by default (data stream mode, namespace "default"). */
const LOGS_DATA_STREAM = 'logs-docker.logs-*';

export interface DockhandRun {
  readonly sink: DockhandSink;
  /** The bench run label value: the agent reads only these containers (others share the daemon). */
  readonly run: string;
  /** Write a V8 CPU profile of the agent (node --cpu-prof) into this folder. */
  readonly profileDir?: string;
  /**
   * `logs` (the default): only what shipping logs needs (the events collector keeps the inventory;
   * stats, engine and the Prometheus exporter off). `all`: every collector and the Prometheus
   * exporter at their defaults, as a new user runs it (the logs still read only the run's containers).
   */
  readonly collectors?: 'logs' | 'all';
  readonly timeoutMs?: number;
}

export interface DockhandMeasurement extends Measurement {
  /** The .cpuprofile written, when profiling. */
  readonly profile?: string;
}

/** BENCH_AGENT_CONFIG: YAML (or JSON) merged over the agent's bench config, to compare settings (`{exporters: {elasticsearch: {batch: {concurrency: 4}}}}`). */
function agentConfigOverride(): Record<string, unknown> {
  const text = process.env.BENCH_AGENT_CONFIG;
  return text ? YAML.parse(text) as Record<string, unknown> : {};
}

function mergeDeep(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const held = out[key];
    out[key] = isPlainObject(held) && isPlainObject(value) ? mergeDeep(held, value) : value;
  }
  return out;
}

const isPlainObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The Node.js flags the agent runs with: its own list (src/node-flags.ts), or BENCH_AGENT_NODE_FLAGS to compare others. */
export function agentNodeFlags(): string[] {
  const override = process.env.BENCH_AGENT_NODE_FLAGS;
  return override === undefined ? [...AGENT_NODE_FLAGS] : override.split(' ').filter(Boolean);
}

/** The agent's environment without anything that would change its configuration behind the bench's back. */
function agentEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(DOCKHAND_|ELASTICSEARCH_|OTEL_|LOKI_|NODE_OPTIONS$)/.test(key)) continue;
    env[key] = value;
  }
  return { ...env, ...AGENT_ENV };
}

/** Sums a counter over the series whose labels include all of `labels`. */
export function counterValue(metricsText: string, name: string, labels: Record<string, string>): number {
  let total = 0;
  for (const line of metricsText.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const open = line.indexOf('{');
    const close = line.lastIndexOf('}');
    const labelText = open >= 0 && open < close ? line.slice(open + 1, close) : '';
    const have = Object.fromEntries([...labelText.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) total += Number(line.slice((close >= 0 ? close : line.indexOf(' ')) + 1).trim().split(' ')[0]);
  }
  return total;
}

/** The agent (and its ES test server, if any) started for one measurement. */
export class AgentUnderTest {
  private constructor(
    readonly agent: MeasuredProcess,
    /** The sink's test server in its own process: Elasticsearch's, OTLP's or Loki's (the same control API for counts and stats). */
    readonly es: MeasuredProcess | undefined,
    readonly esUrl: string | undefined,
    readonly esControl: string | undefined,
    readonly port: number,
    readonly dataDir: string,
    readonly sink: DockhandSink,
    readonly command: string,
    readonly config: string,
  ) {}

  /** Starts the ES test server first when needed (not timed), then the agent; returns at once. */
  static async start(options: DockhandRun, onSpawn?: () => void): Promise<AgentUnderTest> {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'dockhand-bench-agent-'));
    let es: MeasuredProcess | undefined;
    try {
      let esUrl: string | undefined;
      let esControl: string | undefined;
      if (options.sink === 'elasticsearch') {
        es = MeasuredProcess.spawn('Elasticsearch test server', process.execPath, [ES_SERVER, '--count-only']);
        ({ url: esUrl, control: esControl } = await es.firstJsonLine<{ url: string; control: string }>());
      } else if (options.sink === 'otlp') {
        es = MeasuredProcess.spawn('OTLP test server', process.execPath, [OTLP_SERVER]);
        ({ url: esUrl, control: esControl } = await es.firstJsonLine<{ url: string; control: string }>());
      } else if (options.sink === 'loki') {
        es = MeasuredProcess.spawn('Loki test server', process.execPath, [LOKI_SERVER]);
        ({ url: esUrl, control: esControl } = await es.firstJsonLine<{ url: string; control: string }>());
      }
      const port = await freePort();
      const config = {
        listen: `127.0.0.1:${port}`,
        data_dir: dataDir,
        log: { level: 'warn' },
        collectors: {
          logs: { history: 'all', include: { labels: [`${RUN_LABEL}=${options.run}`] } },
          ...(options.collectors === 'all' ? {} : { stats: { enabled: false }, engine: { enabled: false } }),
        },
        exporters: {
          prometheus: { enabled: options.collectors === 'all' },
          file: options.sink === 'file' ? { enabled: true, kinds: ['log'], sync: true, max_bytes: 16 * 1024 ** 3 } : { enabled: false },
          ...(options.sink === 'elasticsearch' ? { elasticsearch: { enabled: true, urls: [esUrl] } } : {}),
          ...(options.sink === 'otlp' ? { otlp: { enabled: true, endpoint: esUrl } } : {}),
          ...(options.sink === 'loki' ? { loki: { enabled: true, url: esUrl } } : {}),
        },
      };
      const configFile = path.join(dataDir, 'config.yaml');
      const configText = YAML.stringify(mergeDeep(config, agentConfigOverride()));
      writeFileSync(configFile, configText);
      const nodeArgs = [...agentNodeFlags(), ...(options.profileDir ? ['--cpu-prof', '--cpu-prof-dir', options.profileDir] : [])];
      onSpawn?.();
      const agent = MeasuredProcess.spawn('dockhand', process.execPath, [...nodeArgs, AGENT_MAIN, '--config', configFile], { env: agentEnv() });
      return new AgentUnderTest(agent, es, esUrl, esControl, port, dataDir, options.sink,
        `${agentEnvAssignments()} node ${nodeArgs.length > 0 ? `${nodeArgs.join(' ')} ` : ''}dist/src/main.js --config <tmp>/config.yaml`,
        configText.replaceAll(dataDir, '<tmp>').replace(/127\.0\.0\.1:\d+/g, '127.0.0.1:<free port>').replace(options.run, '<run>'));
    } catch (error) {
      await es?.stop();
      rmSync(dataDir, { recursive: true, force: true });
      throw error;
    }
  }

  /**
   * Log lines delivered: for the file sink, what the exporter acknowledged (written and synced;
   * `dockhand_records_out_total`); for Elasticsearch, the documents its logs data stream holds,
   * counted by the server: what a user would find there (the daemon's events go to another stream).
   */
  async delivered(target: number): Promise<number> {
    if (!this.agent.alive) throw new Error(`the agent exited: ${this.agent.stderr.slice(-2000)}`);
    if (this.sink !== 'file') return this.held();
    // Counted in the sink's files while short of the target (as Elasticsearch's count is taken on the
    // server's side): asking the agent's /metrics ten times a second costs the agent measured CPU.
    const written = await this.written();
    return written < target ? written : this.acknowledged();
  }

  private readonly fileCounters = new Map<string, FileLineCounter>();

  /** Lines the file sink has written so far, read incrementally from its NDJSON files. */
  private async written(): Promise<number> {
    const dir = path.join(this.dataDir, 'records');
    let lines = 0;
    for (const name of readdirSync(dir).filter((n) => n.endsWith('.ndjson'))) {
      let counter = this.fileCounters.get(name);
      if (!counter) this.fileCounters.set(name, counter = new FileLineCounter(path.join(dir, name)));
      lines += await counter.poll();
    }
    return lines;
  }

  /**
   * How often delivered() is asked while a run is timed: a test server counts as it stores, and
   * asking it costs the agent nothing, so it is asked every 20 ms (a run's end is seen within that);
   * the file sink's files are read, which costs the machine, every 100 ms.
   */
  get pollIntervalMs(): number {
    return this.sink === 'file' ? 100 : 20;
  }

  /** Log lines the exporter has acknowledged (stored), from the agent's /metrics. */
  async acknowledged(): Promise<number> {
    if (!this.agent.alive) throw new Error(`the agent exited: ${this.agent.stderr.slice(-2000)}`);
    const response = await fetch(`http://127.0.0.1:${this.port}/metrics`);
    return counterValue(await response.text(), 'dockhand_records_out_total', { component: this.sink, kind: 'log' });
  }

  async metrics(): Promise<string> {
    return (await fetch(`http://127.0.0.1:${this.port}/metrics`)).text();
  }

  /** Waits for /readyz 200 (the agent exiting or 60 s passing is an error). */
  async waitReady(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await this.ready())) {
      if (!this.agent.alive || Date.now() > deadline) throw new Error(`agent not ready: ${this.agent.stderr.slice(-1000)}`);
      await sleep(50);
    }
  }

  /** The test server's counters (Elasticsearch sink only). */
  async esStats(): Promise<EsServerStats> {
    return await (await fetch(`${this.esControl}/stats`)).json() as EsServerStats;
  }

  /** POST to the test server's control port (`/refuse`, `/accept`); answers its JSON. */
  async esControlPost<T>(what: string): Promise<T> {
    return await (await fetch(`${this.esControl}${what}`, { method: 'POST' })).json() as T;
  }

  /** The largest bulk request the test server received, as the agent sent it. */
  async esSample(): Promise<BulkSample | undefined> {
    const response = await fetch(`${this.esControl}/sample`);
    return response.status === 200 ? await response.json() as BulkSample : undefined;
  }

  async ready(): Promise<boolean> {
    try {
      return (await fetch(`http://127.0.0.1:${this.port}/readyz`)).status === 200;
    } catch {
      return false;
    }
  }

  /** What the sink holds, counted on the sink's side, not the agent's. */
  async held(): Promise<number> {
    if (this.sink === 'file') return this.written();
    // The Loki server counts its log streams whatever the index asked.
    const answer = await (await fetch(`${this.esControl}/count?index=${encodeURIComponent(LOGS_DATA_STREAM)}`)).json() as { count: number };
    return answer.count;
  }

  /** SIGTERM; throws when the agent does not exit 0. */
  async stop(): Promise<void> {
    const stopped = await this.agent.stop();
    if (stopped.code !== 0) throw new Error(`the agent exited ${stopped.code ?? stopped.signal}: ${this.agent.stderr.slice(-2000)}`);
  }

  async dispose(): Promise<void> {
    if (this.agent.alive) await this.agent.stop();
    await this.es?.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

export async function measureDockhand(workload: Workload, options: DockhandRun): Promise<DockhandMeasurement> {
  let window: MachineWindow | undefined;
  let start = 0;
  let esCpuAtStart = 0;
  const under = await AgentUnderTest.start(options, () => {
    window = new MachineWindow(dockerdPid());
    start = now();
  });
  try {
    esCpuAtStart = under.es?.sampler.lastCpu ?? 0;
    let firstLineAt: number | undefined;
    const progress = await pollProgress(() => under.delivered(workload.lines), {
      target: workload.lines,
      intervalMs: under.pollIntervalMs,
      timeoutMs: options.timeoutMs ?? 180_000,
      stallMs: 30_000,
      onCount: (n, t) => { if (n > 0 && firstLineAt === undefined) firstLineAt = t; },
    });
    under.agent.sampler.sample();
    under.es?.sampler.sample();
    const machine = window!.end();
    const cpuSeconds = under.agent.sampler.cpu;
    const peakRss = under.agent.sampler.peakRss;
    const held = await under.held();
    await under.stop();
    const profile = options.profileDir ? readdirSync(options.profileDir).filter((n) => n.endsWith('.cpuprofile')).map((n) => path.join(options.profileDir!, n)).pop() : undefined;

    const notes: string[] = [];
    if (!progress.complete) notes.push(`${progress.reason}: ${progress.count} of ${workload.lines} acknowledged`);
    if (held !== workload.lines) notes.push(`the sink holds ${held} lines, expected ${workload.lines}`);
    return {
      contender: options.sink === 'file' ? 'dockhand → file' : 'dockhand → Elasticsearch',
      detail: options.sink === 'file'
        ? 'agent process: logs collector (history: all) → file exporter (NDJSON, fdatasync per batch)'
        : 'agent process: logs collector (history: all) → Elasticsearch exporter (its defaults) → ES test server in count-only mode (separate process)',
      expectedLines: workload.lines,
      lines: progress.count,
      bytes: progress.count * LINE_BYTES,
      seconds: progress.at - start,
      ...(firstLineAt !== undefined ? { firstLineSeconds: firstLineAt - start } : {}),
      cpuSeconds,
      peakRss,
      daemonCpuSeconds: machine.daemon,
      ...(under.es ? { sinkCpuSeconds: under.es.sampler.lastCpu - esCpuAtStart, sinkPeakRss: under.es.sampler.peakRss } : {}),
      machineBusySeconds: machine.busy,
      complete: progress.complete && held === workload.lines,
      command: under.command,
      config: under.config,
      ...(notes.length > 0 ? { note: notes.join('; ') } : {}),
      ...(profile ? { profile } : {}),
    };
  } finally {
    await under.dispose();
  }
}
