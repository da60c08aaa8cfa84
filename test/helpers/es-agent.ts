/**
 * The agent as a process shipping into the Elasticsearch test server (ELASTICSEARCH_URL, as a user
 * would enable it), plus what the end-to-end tests check on the other side: numbered lines each
 * present once, the daemon's own view of logs and events, counters from /metrics, CPU of a process.
 */
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { AgentProcess } from './agent-process.js';
import type { EsTestServer, StoredDocument } from './es-server.js';
import { parseRfc3339Nano } from '../../src/records.js';

const run = promisify(execFile);

export const LOGS_STREAM = 'logs-docker.logs-default';
export const EVENTS_STREAM = 'logs-docker.events-default';
export const DEAD_LETTERS = 'dockhand-dead-letter';

export interface EsAgentOptions {
  readonly server: EsTestServer;
  /** Only containers carrying this label (`key=value`) have their logs read. */
  readonly logsLabel: string;
  readonly dataDir?: string;
  /** Overrides for `exporters.elasticsearch` in the config file. */
  readonly elasticsearch?: Record<string, unknown>;
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * Events and logs only (no stats, engine, file sink or Prometheus exporter), so Elasticsearch is the
 * only exporter that acknowledges and every CPU second measured is the log path's.
 */
export function startEsAgent(options: EsAgentOptions): Promise<AgentProcess> {
  return startShippingAgent(options, { ELASTICSEARCH_URL: options.server.url }, { elasticsearch: options.elasticsearch ?? {} });
}

/**
 * The agent reading only the logs of containers labelled `logsLabel`, with events, shipping to the
 * exporter `env` turns on (as a user would) and `exporters` configures; no stats, engine, file sink
 * or Prometheus exporter.
 */
export function startShippingAgent(
  options: { readonly logsLabel: string; readonly dataDir?: string | undefined; readonly env?: NodeJS.ProcessEnv | undefined },
  env: NodeJS.ProcessEnv,
  exporters: Record<string, unknown>,
): Promise<AgentProcess> {
  return AgentProcess.start({
    ...(options.dataDir ? { dataDir: options.dataDir } : {}),
    env: { ...env, ...options.env },
    config: {
      collectors: {
        stats: { enabled: false },
        engine: { enabled: false },
        logs: { include: { labels: [options.logsLabel] } },
      },
      exporters: { file: { enabled: false }, prometheus: { enabled: false }, ...exporters },
    },
  });
}

/**
 * A container command: `blocks` times, `block` numbered lines on stdout and the same on stderr, then
 * `restMs` of rest. `filter` is a shell pipe stage applied to each block (to mark some lines).
 */
export function numberedWriter(blocks: number, block: number, filter = '', restMs = 100): string[] {
  const seq = (fd: string) => `seq $((i*${block}+1)) $((i*${block}+${block}))${filter}${fd}`;
  return ['sh', '-c', `i=0; while [ $i -lt ${blocks} ]; do ${seq('')}; ${seq(' >&2')}; i=$((i+1)); usleep ${restMs * 1000}; done`];
}

interface LogSource {
  readonly message: string;
  readonly stream: 'stdout' | 'stderr';
  readonly '@timestamp': string;
  readonly container: { readonly id: string; readonly name: string; readonly image: { readonly name: string } };
}

export function logDocuments(server: EsTestServer, containerId: string): StoredDocument[] {
  return server.documents(LOGS_STREAM).filter((d) => (d._source as unknown as LogSource).container?.id === containerId);
}

export interface LineTally {
  /** `stream:n` of sequence numbers 1..count missing. */
  readonly missing: string[];
  /** `stream:n` stored more than once (under different ids). */
  readonly twice: string[];
  /** Messages that are not a number in range. */
  readonly unexpected: string[];
  readonly total: number;
}

/** Checks `seq 1 count` on each stream: every number present, none twice. */
export function tallyLines(docs: readonly StoredDocument[], count: number, streams: readonly ('stdout' | 'stderr')[] = ['stdout', 'stderr'], parse: (message: string) => number = Number): LineTally {
  const seen = new Map<string, number>();
  const unexpected: string[] = [];
  for (const doc of docs) {
    const source = doc._source as unknown as LogSource;
    const n = parse(source.message);
    if (!Number.isInteger(n) || n < 1 || n > count || !streams.includes(source.stream)) {
      unexpected.push(`${source.stream}:${source.message}`);
      continue;
    }
    const key = `${source.stream}:${n}`;
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  const missing: string[] = [];
  const twice: string[] = [];
  for (const stream of streams) {
    for (let n = 1; n <= count; n++) {
      const times = seen.get(`${stream}:${n}`) ?? 0;
      if (times === 0) missing.push(`${stream}:${n}`);
      else if (times > 1) twice.push(`${stream}:${n}`);
    }
  }
  return { missing, twice, unexpected, total: docs.length };
}

export function describeTally(tally: LineTally): string {
  const some = (list: string[]) => `${list.length} (${list.slice(0, 8).join(', ')}${list.length > 8 ? ', …' : ''})`;
  return `${tally.total} documents; missing ${some(tally.missing)}; twice ${some(tally.twice)}; unexpected ${some(tally.unexpected)}`;
}

/** `docker logs --timestamps` of a container: `stream:message` → the daemon's timestamp in ns. */
export async function daemonTimestamps(containerId: string, host?: string): Promise<Map<string, bigint>> {
  const env = host ? { ...process.env, DOCKER_HOST: host } : process.env;
  const { stdout, stderr } = await run('docker', ['logs', '--timestamps', containerId], { env, maxBuffer: 512 * 1024 * 1024 });
  const out = new Map<string, bigint>();
  for (const [stream, text] of [['stdout', stdout], ['stderr', stderr]] as const) {
    for (const line of text.split('\n')) {
      if (!line) continue;
      const space = line.indexOf(' ');
      const time = parseRfc3339Nano(line.slice(0, space));
      if (time === undefined) throw new Error(`docker logs line without a timestamp: ${line.slice(0, 80)}`);
      out.set(`${stream}:${line.slice(space + 1)}`, time);
    }
  }
  return out;
}

export interface DaemonEvent {
  readonly timeNano: bigint;
  readonly type: string;
  readonly action: string;
  readonly actorId: string;
  readonly attributes: Record<string, string>;
}

export interface EventWatch {
  /** Events seen so far, in the daemon's order. */
  readonly events: DaemonEvent[];
  stop(): void;
}

/**
 * The daemon's own record of events, as `docker events` streams them from (a second before) now on.
 * Live, because the daemon replays only its last 256 events: on a shared daemon that other tests keep
 * busy, a later `docker events --since` may no longer list them.
 */
export function watchDaemonEvents(filters: readonly string[] = [], host?: string): EventWatch {
  const env = host ? { ...process.env, DOCKER_HOST: host } : process.env;
  const since = String(Math.floor(Date.now() / 1000) - 1);
  const child = spawn('docker', ['events', '--since', since, '--format', '{{json .}}', ...filters.flatMap((f) => ['--filter', f])], { env, stdio: ['ignore', 'pipe', 'ignore'] });
  const events: DaemonEvent[] = [];
  let partial = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) if (line) events.push(parseDaemonEvent(line));
  });
  return { events, stop: () => { if (child.exitCode === null && child.signalCode === null) child.kill(); } };
}

function parseDaemonEvent(line: string): DaemonEvent {
  const e = JSON.parse(line) as { timeNano: number | string; Type: string; Action: string; Actor: { ID: string; Attributes?: Record<string, string> } };
  // timeNano is beyond 2^53 as a JSON number: take the digits from the text.
  const nano = /"timeNano":(\d+)/.exec(line)?.[1] ?? String(e.timeNano);
  return { timeNano: BigInt(nano), type: e.Type, action: e.Action, actorId: e.Actor.ID, attributes: e.Actor.Attributes ?? {} };
}

interface EventSource {
  readonly '@timestamp': string;
  readonly docker: { readonly event: { readonly type: string; readonly action: string; readonly actor: { readonly id: string; readonly attributes: Record<string, string> } } };
}

/** `time/type/action/actor` of an event document, to set beside the daemon's own list. */
export function eventKey(doc: StoredDocument): string {
  const source = doc._source as unknown as EventSource;
  const e = source.docker.event;
  return `${parseRfc3339Nano(source['@timestamp'])}/${e.type}/${e.action}/${e.actor.id}`;
}

export function daemonEventKey(e: DaemonEvent): string {
  return `${e.timeNano}/${e.type}/${e.action}/${e.actorId}`;
}

/** A sample's value from Prometheus text, by metric name and optional exact label set text. */
export function metricValue(text: string, name: string, labels = ''): number {
  const escaped = `${name}${labels ? `{${labels}}` : ''}`.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const match = new RegExp(`^${escaped} (\\S+)$`, 'm').exec(text);
  return match ? Number(match[1]) : 0;
}

/** User plus system CPU seconds a process has used so far (Linux /proc). */
export function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after the command name.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
