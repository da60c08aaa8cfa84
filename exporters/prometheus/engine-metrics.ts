/**
 * Engine-level metrics from the latest EngineRecord (sampled on a schedule by the engine
 * collector): `docker_engine_info`, object counts, and the four `docker system df` rows.
 * Nothing is fetched at scrape time.
 */
import type { Registry } from 'prom-client';
import type { EngineRecord } from '../../src/records.js';
import { ComputedMetric } from './computed-metric.js';
import { NO_LABELS, type LabelSet } from './exposition.js';

interface Sample {
  readonly labels: LabelSet;
  readonly value: number;
}

type Family = readonly [name: string, help: string, values: (r: EngineRecord) => Iterable<Sample>];

const one = (value: (r: EngineRecord) => number) => function* (r: EngineRecord): Iterable<Sample> {
  yield { labels: NO_LABELS, value: value(r) };
};

const perDfRow = (value: (row: NonNullable<EngineRecord['disk']>[number]) => number) => function* (r: EngineRecord): Iterable<Sample> {
  for (const row of r.disk ?? []) yield { labels: { type: row.type }, value: value(row) };
};

export const ENGINE_FAMILIES: readonly Family[] = [
  ['docker_engine_info', 'Docker engine identity: constant 1 labelled with version, api_version, os, kernel, storage_driver, cgroup_version.',
    function* (r) {
      yield {
        labels: {
          version: r.info.version,
          api_version: r.info.apiVersion,
          os: r.info.os,
          kernel: r.info.kernel,
          storage_driver: r.info.storageDriver,
          cgroup_version: r.info.cgroupVersion,
        },
        value: 1,
      };
    }],
  ['docker_engine_containers', 'Containers known to the engine, by state (running, paused, stopped).',
    function* (r) {
      yield { labels: { state: 'running' }, value: r.containers.running };
      yield { labels: { state: 'paused' }, value: r.containers.paused };
      yield { labels: { state: 'stopped' }, value: r.containers.stopped };
    }],
  ['docker_engine_images', 'Images stored by the engine.', one((r) => r.images)],
  ['docker_engine_volumes', 'Volumes known to the engine.', one((r) => r.volumes)],
  ['docker_engine_networks', 'Networks known to the engine.', one((r) => r.networks)],
  ['docker_engine_sample_timestamp_seconds', 'When the engine figures were sampled, since unix epoch in seconds.', one((r) => Number(r.time / 1_000_000n) / 1000)],
  ['docker_system_df_objects', 'Objects counted by docker system df, by type (images, containers, volumes, build_cache).', perDfRow((row) => row.count)],
  ['docker_system_df_active_objects', 'Objects in use, by type, as docker system df ACTIVE.', perDfRow((row) => row.active)],
  ['docker_system_df_size_bytes', 'Disk space used, by type, as docker system df SIZE.', perDfRow((row) => row.sizeBytes)],
  ['docker_system_df_reclaimable_bytes', 'Disk space a prune could free, by type, as docker system df RECLAIMABLE.', perDfRow((row) => row.reclaimableBytes)],
];

export const ENGINE_METRIC_NAMES: readonly string[] = ENGINE_FAMILIES.map(([name]) => name);

export class EngineMetrics {
  private latest: EngineRecord | undefined;

  update(record: EngineRecord): void {
    if (this.latest && this.latest.time > record.time) return;
    this.latest = record;
  }

  get current(): EngineRecord | undefined {
    return this.latest;
  }

  register(registry: Registry): ComputedMetric[] {
    return ENGINE_FAMILIES.map(([name, help, values]) =>
      new ComputedMetric(name, help, 'gauge', {
        items: () => (this.latest ? [this.latest] : []),
        series: (records: readonly EngineRecord[], write) => {
          for (const record of records) for (const sample of values(record)) write(sample.labels, sample.value);
        },
      }).register(registry));
  }
}
