/**
 * Container metric samples as an OTLP ExportMetricsServiceRequest, following the semantic
 * conventions for container metrics (names and units checked in test/unit/otlp-semconv.test.ts
 * against @opentelemetry/semantic-conventions):
 *
 * | metric                  | OTLP type                              | unit  | attributes                                   |
 * |-------------------------|----------------------------------------|-------|----------------------------------------------|
 * | container.cpu.time      | Sum, cumulative, monotonic             | s     | cpu.mode user / kernel                       |
 * | container.cpu.usage     | Gauge (from two samples)               | {cpu} |                                              |
 * | container.memory.usage  | Sum, cumulative, not monotonic         | By    |                                              |
 * | container.network.io    | Sum, cumulative, monotonic             | By    | network.interface.name, network.io.direction |
 * | container.disk.io       | Sum, cumulative, monotonic             | By    | disk.io.direction (, system.device)          |
 * | container.uptime        | Gauge                                  | s     |                                              |
 *
 * Cumulative sums start at the container's start (start_time_unix_nano): a restarted container
 * begins a new series, as its cgroup counters begin again. The conventions list
 * container.memory.usage as a Counter; memory goes down, so it is sent as a non-monotonic Sum (the
 * shape of an UpDownCounter), which no backend mistakes for a counter reset.
 */
import type { ContainerMeta, MetricRecord } from '../../src/records.js';
import { containerResource, writeAttributes, writeResource, writeScope, type Attributes } from './attributes.js';
import type { OtlpWriter } from './wire.js';

const CUMULATIVE = 2;

export interface MetricsEncoding {
  readonly agentVersion: string;
  /** The container's start, ns since the epoch; undefined when unknown. */
  startedAt(containerId: string): bigint | undefined;
  /** The sample of the same container before this one (for container.cpu.usage), or undefined. */
  previous(record: MetricRecord): MetricRecord | undefined;
}

interface Point {
  readonly attributes: Attributes;
  readonly value: number;
  /** as_int (bytes, counts) or as_double (seconds, ratios). */
  readonly integer: boolean;
  readonly timeNs: bigint;
  readonly startNs: bigint | undefined;
}

type Kind = { readonly type: 'sum'; readonly monotonic: boolean } | { readonly type: 'gauge' };

interface MetricSpec {
  readonly name: string;
  readonly unit: string;
  readonly description: string;
  readonly kind: Kind;
  points(record: MetricRecord, before: MetricRecord | undefined, startNs: bigint | undefined): Point[];
}

const MONOTONIC: Kind = { type: 'sum', monotonic: true };

export const METRIC_SPECS: readonly MetricSpec[] = [
  {
    name: 'container.cpu.time', unit: 's', kind: MONOTONIC, description: 'CPU time consumed by the container on all CPU cores, by mode.',
    points: (r, _before, start) => [
      { attributes: [['cpu.mode', 'user']], value: r.cpu.userSeconds, integer: false, timeNs: r.time, startNs: start },
      { attributes: [['cpu.mode', 'kernel']], value: r.cpu.systemSeconds, integer: false, timeNs: r.time, startNs: start },
    ],
  },
  {
    name: 'container.cpu.usage', unit: '{cpu}', kind: { type: 'gauge' }, description: 'CPUs the container used on average since the previous sample.',
    points: (r, before) => {
      const seconds = before ? Number(r.time - before.time) / 1e9 : 0;
      if (!before || !(seconds > 0) || r.cpu.usageSeconds < before.cpu.usageSeconds) return [];
      return [{ attributes: [], value: (r.cpu.usageSeconds - before.cpu.usageSeconds) / seconds, integer: false, timeNs: r.time, startNs: undefined }];
    },
  },
  {
    name: 'container.memory.usage', unit: 'By', kind: { type: 'sum', monotonic: false }, description: 'Memory usage of the container, page cache included.',
    points: (r, _before, start) => [{ attributes: [], value: r.memory.usageBytes, integer: true, timeNs: r.time, startNs: start }],
  },
  {
    name: 'container.network.io', unit: 'By', kind: MONOTONIC, description: 'Bytes received and sent, by interface.',
    points: (r, _before, start) => r.network.flatMap((n) => [
      { attributes: [['network.interface.name', n.interface], ['network.io.direction', 'receive']], value: n.rxBytes, integer: true, timeNs: r.time, startNs: start },
      { attributes: [['network.interface.name', n.interface], ['network.io.direction', 'transmit']], value: n.txBytes, integer: true, timeNs: r.time, startNs: start },
    ] as Point[]),
  },
  {
    name: 'container.disk.io', unit: 'By', kind: MONOTONIC, description: 'Bytes read and written on block devices.',
    points: (r, _before, start) => {
      const devices = r.blkio.devices;
      if (!devices || devices.length === 0) {
        return [
          { attributes: [['disk.io.direction', 'read']], value: r.blkio.readBytes, integer: true, timeNs: r.time, startNs: start },
          { attributes: [['disk.io.direction', 'write']], value: r.blkio.writeBytes, integer: true, timeNs: r.time, startNs: start },
        ];
      }
      return devices.flatMap((d) => [
        { attributes: [['disk.io.direction', 'read'], ['system.device', d.device]], value: d.readBytes, integer: true, timeNs: r.time, startNs: start },
        { attributes: [['disk.io.direction', 'write'], ['system.device', d.device]], value: d.writeBytes, integer: true, timeNs: r.time, startNs: start },
      ] as Point[]);
    },
  },
  {
    name: 'container.uptime', unit: 's', kind: { type: 'gauge' }, description: 'Time the container has been running.',
    points: (r, _before, start) => (start === undefined ? [] : [{ attributes: [], value: Number(r.time - start) / 1e9, integer: false, timeNs: r.time, startNs: undefined }]),
  },
];

/** ExportMetricsServiceRequest { resource_metrics = 1 }: one ResourceMetrics per container. */
export function writeMetricsRequest(w: OtlpWriter, records: readonly MetricRecord[], settings: MetricsEncoding): void {
  const byContainer = new Map<string, { container: ContainerMeta; records: MetricRecord[] }>();
  for (const record of records) {
    let group = byContainer.get(record.container.id);
    if (!group) byContainer.set(record.container.id, group = { container: record.container, records: [] });
    group.records.push(record);
  }
  w.repeated(1, 'resourceMetrics', (item) => {
    for (const { container, records: samples } of byContainer.values()) {
      item((rm) => {
        writeResource(rm, 1, container, () => containerResource(container));
        rm.repeated(2, 'scopeMetrics', (scope) => scope((sm) => {
          writeScope(sm, 1, settings.agentVersion);
          sm.repeated(2, 'metrics', (metric) => writeMetrics(metric, samples, settings));
        }));
      });
    }
  });
}

/** One Metric per spec with points in this container's samples. */
function writeMetrics(metric: (fill: (w: OtlpWriter) => void) => void, samples: readonly MetricRecord[], settings: MetricsEncoding): void {
  const startNs = settings.startedAt(samples[0]!.container.id);
  const sorted = [...samples].sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
  for (const spec of METRIC_SPECS) {
    const points = sorted.flatMap((sample, i) => spec.points(sample, i > 0 ? sorted[i - 1] : settings.previous(sample), startNs !== undefined && startNs <= sample.time ? startNs : undefined));
    if (points.length === 0) continue;
    metric((m) => {
      m.string(1, 'name', spec.name);
      m.string(2, 'description', spec.description);
      m.string(3, 'unit', spec.unit);
      if (spec.kind.type === 'gauge') {
        m.message(5, 'gauge', (g) => writePoints(g, points));
      } else {
        const monotonic = spec.kind.monotonic;
        m.message(7, 'sum', (s) => {
          writePoints(s, points);
          s.uint32(2, 'aggregationTemporality', CUMULATIVE);
          if (monotonic) s.bool(3, 'isMonotonic', true);
        });
      }
    });
  }
}

/** NumberDataPoint { start_time_unix_nano = 2, time_unix_nano = 3, as_double = 4, as_int = 6 (sfixed64), attributes = 7 }. */
function writePoints(w: OtlpWriter, points: readonly Point[]): void {
  w.repeated(1, 'dataPoints', (item) => {
    for (const p of points) {
      item((dp) => {
        writeAttributes(dp, 7, p.attributes);
        if (p.startNs !== undefined) dp.fixed64(2, 'startTimeUnixNano', p.startNs);
        dp.fixed64(3, 'timeUnixNano', p.timeNs);
        if (p.integer) dp.fixed64(6, 'asInt', BigInt(Math.round(p.value)));
        else dp.double(4, 'asDouble', p.value);
      });
    }
  });
}
