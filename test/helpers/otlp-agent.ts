/**
 * The agent as a process shipping into the OTLP test receiver, enabled as a user would
 * (OTEL_EXPORTER_OTLP_ENDPOINT), and what the end-to-end tests check on the other side.
 */
import { AgentProcess } from './agent-process.js';
import type { LineTally } from './es-agent.js';
import type { OtlpTestServer, ReceivedLog } from './otlp-server.js';

export interface OtlpAgentOptions {
  readonly server: OtlpTestServer;
  /** Only containers carrying this label (`key=value`) have their logs read. */
  readonly logsLabel: string;
  readonly dataDir?: string;
  /** Overrides for `exporters.otlp` in the config file. */
  readonly otlp?: Record<string, unknown>;
  /** Run the stats collector (container metrics) too. */
  readonly stats?: boolean;
  readonly env?: NodeJS.ProcessEnv;
}

/** Events and logs (and stats when asked), OTLP the only exporter that acknowledges. */
export function startOtlpAgent(options: OtlpAgentOptions): Promise<AgentProcess> {
  return AgentProcess.start({
    ...(options.dataDir ? { dataDir: options.dataDir } : {}),
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: options.server.url, ...options.env },
    config: {
      collectors: {
        stats: options.stats ? { enabled: true, interval_ms: 1000 } : { enabled: false },
        engine: { enabled: false },
        logs: { include: { labels: [options.logsLabel] } },
      },
      exporters: {
        file: { enabled: false },
        prometheus: { enabled: false },
        otlp: options.otlp ?? {},
      },
    },
  });
}

/** Checks `seq 1 count` on each stream among distinct records (by log.record.uid): every number present once. */
export function tallyOtlpLines(logs: readonly ReceivedLog[], count: number): LineTally {
  const seen = new Map<string, number>();
  const unexpected: string[] = [];
  const uids = new Set<string>();
  let total = 0;
  for (const log of logs) {
    const uid = String(log.attributes['log.record.uid']);
    if (uids.has(uid)) continue;
    uids.add(uid);
    total++;
    const stream = String(log.attributes['log.iostream']);
    const n = Number(log.body);
    if (!Number.isInteger(n) || n < 1 || n > count || (stream !== 'stdout' && stream !== 'stderr')) {
      unexpected.push(`${stream}:${String(log.body)}`);
      continue;
    }
    const key = `${stream}:${n}`;
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  const missing: string[] = [];
  const twice: string[] = [];
  for (const stream of ['stdout', 'stderr']) {
    for (let n = 1; n <= count; n++) {
      const times = seen.get(`${stream}:${n}`) ?? 0;
      if (times === 0) missing.push(`${stream}:${n}`);
      else if (times > 1) twice.push(`${stream}:${n}`);
    }
  }
  return { missing, twice, unexpected, total };
}
