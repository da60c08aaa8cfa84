/** Records for the Elasticsearch exporter tests: deterministic ids and nanosecond times, as the collectors make them. */
import type { Ack } from '../../src/pipeline/ack.js';
import type { ContainerMeta, EventRecord, LogRecord, MetricRecord } from '../../src/records.js';

export const container: ContainerMeta = {
  id: 'f'.repeat(64),
  name: 'web-1',
  image: 'nginx:1.27',
  labels: { 'com.docker.compose.project': 'shop', 'com.docker.compose.service': 'web' },
  host: 'docker-host-1',
};

/** 2026-01-02T03:04:05.123456789Z plus `n` microseconds. */
export const BASE_NS = 1_767_323_045_123_456_789n;

export function logRecord(n: number, options: { message?: string; ack?: Ack; truncated?: boolean; stream?: 'stdout' | 'stderr'; time?: bigint; json?: Record<string, unknown> } = {}): LogRecord {
  const time = options.time ?? BASE_NS + BigInt(n) * 1000n;
  return {
    kind: 'log',
    id: `${container.id.slice(0, 12)}-${options.stream ?? 'stdout'}-${time}-0`,
    time,
    stream: options.stream ?? 'stdout',
    message: options.message ?? `line ${n}`,
    container,
    ...(options.truncated ? { truncated: true } : {}),
    ...(options.json ? { json: options.json } : {}),
    ...(options.ack ? { ack: options.ack } : {}),
  };
}

export function logRecords(count: number, options: { prefix?: string; ack?: Ack } = {}): LogRecord[] {
  return Array.from({ length: count }, (_, n) => logRecord(n, { message: `${options.prefix ?? 'line'} ${n}`, ...(options.ack ? { ack: options.ack } : {}) }));
}

export function eventRecord(n: number, ack?: Ack): EventRecord {
  const time = BASE_NS + BigInt(n);
  return {
    kind: 'event',
    id: `container-start-${container.id.slice(0, 12)}-${time}`,
    time,
    type: 'container',
    action: 'start',
    actor: { id: container.id, attributes: { name: 'web-1', image: 'nginx:1.27', 'com.docker.compose.project': 'shop' } },
    scope: 'local',
    container,
    ...(ack ? { ack } : {}),
  };
}

export function metricRecord(n: number): MetricRecord {
  return {
    kind: 'metric',
    time: BASE_NS + BigInt(n) * 1_000_000_000n,
    container,
    source: 'cgroup',
    cpu: { usageSeconds: 1.5, userSeconds: 1, systemSeconds: 0.5, throttledSeconds: 0, throttledPeriods: 0, periods: 10 },
    memory: { usageBytes: 1000, workingSetBytes: 800, rssBytes: 600, cacheBytes: 200, failcnt: 0, limitBytes: 4096 },
    network: [
      { interface: 'eth0', rxBytes: 10, rxPackets: 1, rxErrors: 0, rxDropped: 0, txBytes: 20, txPackets: 2, txErrors: 0, txDropped: 0 },
      { interface: 'eth1', rxBytes: 5, rxPackets: 1, rxErrors: 0, rxDropped: 0, txBytes: 5, txPackets: 1, txErrors: 0, txDropped: 0 },
    ],
    blkio: { readBytes: 1, writeBytes: 2, reads: 3, writes: 4 },
    pids: 7,
  };
}
