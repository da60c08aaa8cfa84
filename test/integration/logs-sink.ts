/**
 * Shared by the log integration tests: the real agent (child process) with the logs and events
 * collectors and the file exporter, restricted to one test file's containers, and the two sides of
 * every comparison — what the file sink holds and what `docker logs` says the container wrote.
 */
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { AgentProcess } from '../helpers/agent-process.js';
import type { TestContainers } from '../helpers/containers.js';
import { TEST_WRITE_DELAY_ENV } from '../../exporters/file/index.js';

const exec = promisify(execFile);

export interface SinkLog {
  id: string;
  stream: 'stdout' | 'stderr';
  message: string;
  time_ns: string;
  truncated?: boolean;
  json?: Record<string, unknown>;
  container: { id: string; name: string; image: string };
}

export interface SinkAgentOptions {
  dataDir?: string;
  env?: NodeJS.ProcessEnv;
  logs?: Record<string, unknown>;
  file?: Record<string, unknown>;
  /** A slow sink: the file exporter waits this long before each batch (a test hook, not a config key). */
  sinkWriteDelayMs?: number;
  config?: Record<string, unknown>;
}

/** Starts the agent reading only `containers`' logs, with `overrides` merged into its config. */
export function startAgent(containers: Pick<TestContainers, 'runLabel' | 'run'>, options: SinkAgentOptions = {}): Promise<AgentProcess> {
  const env = { ...options.env, ...(options.sinkWriteDelayMs ? { [TEST_WRITE_DELAY_ENV]: String(options.sinkWriteDelayMs) } : {}) };
  return AgentProcess.start({
    ...(options.dataDir ? { dataDir: options.dataDir } : {}),
    env,
    config: {
      log: { level: 'info' },
      collectors: {
        stats: { enabled: false },
        engine: { enabled: false },
        logs: { include: { labels: [`${containers.runLabel}=${containers.run}`] }, ...options.logs },
      },
      exporters: { file: { ...options.file } },
      ...options.config,
    },
  });
}

/** Every log record in the agent's file sink (all rotated files, oldest first). */
export function readSink(dataDir: string): SinkLog[] {
  const dir = path.join(dataDir, 'records');
  if (!existsSync(dir)) return [];
  const out: SinkLog[] = [];
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.ndjson')).sort()) {
    for (const line of readFileSync(path.join(dir, name), 'utf8').split('\n')) {
      if (!line.startsWith('{"id":') || !line.includes('"kind":"log"')) continue;
      out.push(JSON.parse(line) as SinkLog);
    }
  }
  return out;
}

export function sinkLines(records: readonly SinkLog[], containerId: string, stream?: 'stdout' | 'stderr'): string[] {
  return records.filter((r) => r.container.id === containerId && (!stream || r.stream === stream)).map((r) => r.message);
}

/** What the daemon holds for the container, per stream, as the docker CLI prints it. */
export async function dockerLogs(id: string): Promise<{ stdout: string[]; stderr: string[] }> {
  const { stdout, stderr } = await exec('docker', ['logs', id], { maxBuffer: 1024 * 1024 * 1024, encoding: 'utf8' });
  return { stdout: splitLines(stdout), stderr: splitLines(stderr) };
}

function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

/** Ids that occur more than once. */
export function duplicates(records: readonly SinkLog[]): string[] {
  const seen = new Set<string>();
  const twice: string[] = [];
  for (const r of records) {
    if (seen.has(r.id)) twice.push(r.id);
    seen.add(r.id);
  }
  return twice;
}

/** A metric's value from /metrics text, summed over label sets matching `labelFilter`. */
export function metricValue(text: string, name: string, labelFilter = ''): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    if (labelFilter && !rest.includes(labelFilter)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** Resident set size of a process in bytes (Linux). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  return match ? Number(match[1]) * 1024 : 0;
}
