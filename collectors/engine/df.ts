/**
 * `GET /system/df` turned into the four rows `docker system df` prints, with the CLI's arithmetic:
 * images: size = all layers, reclaimable = size − what images used by containers hold alone;
 * containers: size = writable layers, reclaimable = those of stopped containers;
 * volumes: reclaimable = volumes no container references; build cache: shared entries counted once, not at all when shared.
 */
import type { EngineDiskUsage } from '../../src/records.js';

export interface SystemDf {
  LayersSize?: number;
  Images?: { Size?: number; SharedSize?: number; Containers?: number }[] | null;
  Containers?: { SizeRw?: number; State?: string }[] | null;
  Volumes?: { UsageData?: { Size?: number; RefCount?: number } | null }[] | null;
  BuildCache?: { Size?: number; InUse?: boolean; Shared?: boolean }[] | null;
}

export function diskUsageFromDf(df: SystemDf): EngineDiskUsage[] {
  const images = df.Images ?? [];
  const containers = df.Containers ?? [];
  const volumes = df.Volumes ?? [];
  const cache = df.BuildCache ?? [];

  const imagesSize = df.LayersSize ?? 0;
  let imagesUsed = 0;
  for (const image of images) {
    // -1 means "not computed"; the CLI skips those too.
    if ((image.Containers ?? 0) > 0 && (image.Size ?? -1) >= 0 && (image.SharedSize ?? -1) >= 0) imagesUsed += image.Size! - image.SharedSize!;
  }

  const containerSize = (c: { SizeRw?: number }) => Math.max(0, c.SizeRw ?? 0);
  const volumeSize = (v: { UsageData?: { Size?: number } | null }) => Math.max(0, v.UsageData?.Size ?? 0);
  const running = containers.filter((c) => c.State === 'running');
  const referenced = volumes.filter((v) => (v.UsageData?.RefCount ?? 0) > 0);
  const unshared = cache.filter((b) => !b.Shared);

  return [
    {
      type: 'images',
      count: images.length,
      active: images.filter((i) => (i.Containers ?? 0) > 0).length,
      sizeBytes: imagesSize,
      reclaimableBytes: Math.max(0, imagesSize - imagesUsed),
    },
    {
      type: 'containers',
      count: containers.length,
      active: running.length,
      sizeBytes: sum(containers.map(containerSize)),
      reclaimableBytes: sum(containers.filter((c) => c.State !== 'running').map(containerSize)),
    },
    {
      type: 'volumes',
      count: volumes.length,
      active: referenced.length,
      sizeBytes: sum(volumes.map(volumeSize)),
      reclaimableBytes: sum(volumes.filter((v) => (v.UsageData?.RefCount ?? 0) === 0).map(volumeSize)),
    },
    {
      type: 'build_cache',
      count: cache.length,
      active: cache.filter((b) => b.InUse).length,
      sizeBytes: sum(unshared.map((b) => Math.max(0, b.Size ?? 0))),
      reclaimableBytes: sum(unshared.filter((b) => !b.InUse).map((b) => Math.max(0, b.Size ?? 0))),
    },
  ];
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
