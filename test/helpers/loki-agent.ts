/**
 * The agent as a process shipping into the Loki test server (LOKI_URL, as a user would enable it),
 * and what the end-to-end tests check on the other side: the entries of one container, numbered
 * lines each present once.
 */
import type { AgentProcess } from './agent-process.js';
import type { LokiTestServer, StoredEntry } from './loki-server.js';
import { startShippingAgent, tallyLines, type LineTally } from './es-agent.js';
import type { StoredDocument } from './es-server.js';

export interface LokiAgentOptions {
  readonly server: LokiTestServer;
  /** Only containers carrying this label (`key=value`) have their logs read. */
  readonly logsLabel: string;
  readonly dataDir?: string;
  /** Overrides for `exporters.loki` in the config file. */
  readonly loki?: Record<string, unknown>;
  readonly env?: NodeJS.ProcessEnv;
}

/** Logs and events only, Loki the only exporter: it alone acknowledges, and the agent's CPU is the log path's. */
export function startLokiAgent(options: LokiAgentOptions): Promise<AgentProcess> {
  return startShippingAgent(options, { LOKI_URL: options.server.url }, { loki: options.loki ?? {} });
}

/** The log entries stored for one container (by its structured metadata container_id). */
export function containerEntries(server: LokiTestServer, containerId: string): StoredEntry[] {
  return server.entries((labels) => labels.source !== EVENTS_SOURCE).filter((e) => e.metadata.container_id === containerId);
}

/** The `source` label of the Docker events streams. */
export const EVENTS_SOURCE = 'docker_events';

/** The actions of the events stored about one container, in time order. */
export function containerEventActions(server: LokiTestServer, containerId: string): string[] {
  return server.entries((labels) => labels.source === EVENTS_SOURCE)
    .filter((e) => e.metadata.container_id === containerId)
    .sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0))
    .map((e) => (JSON.parse(e.line) as { action: string }).action);
}

/** Checks `seq 1 count` on each stream (the `stream` label): every number present, none twice (es-agent's tally, on entries). */
export function tallyEntries(entries: readonly StoredEntry[], count: number): LineTally {
  const asDocuments = entries.map((e) => ({ _source: { message: e.line, stream: e.labels.stream } }) as unknown as StoredDocument);
  return tallyLines(asDocuments, count);
}
