/**
 * Container labels on Prometheus series, as cAdvisor writes them: `id`, `name`, `image`, and every
 * allow-listed Docker label as `container_label_<key>` with each character outside [a-zA-Z0-9_]
 * replaced by `_`. Shared by every metric family about a container so their series join.
 */
import type { ContainerMeta } from '../../src/records.js';
import type { LabelSet } from './exposition.js';

export const CONTAINER_LABEL_PREFIX = 'container_label_';

/** `com.docker.compose.project` → `container_label_com_docker_compose_project`. */
export function containerLabelName(key: string): string {
  return CONTAINER_LABEL_PREFIX + key.replace(/[^a-zA-Z0-9_]/g, '_');
}

/**
 * The label set identifying a container. meta.labels is already allow-listed by the inventory;
 * two keys that sanitise to the same name keep the value of the first in sorted order, so the
 * result never depends on map order.
 */
export function containerLabels(meta: ContainerMeta): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(meta.labels).sort()) {
    const name = containerLabelName(key);
    if (!(name in out)) out[name] = meta.labels[key]!;
  }
  out.id = meta.id;
  out.name = meta.name;
  out.image = meta.image;
  return out;
}

const labelSets = new WeakMap<ContainerMeta, { readonly cgroupPath: string; readonly labels: LabelSet }>();

/**
 * A container's labels with `id` set to its cgroup path (cAdvisor's `id`), as one frozen object per
 * ContainerMeta (the inventory replaces the meta whenever the container changes), so the state and
 * the resource series of a container share it and its text is formatted once, not per scrape.
 */
export function containerLabelSet(meta: ContainerMeta, cgroupPath: string): LabelSet {
  const cached = labelSets.get(meta);
  if (cached?.cgroupPath === cgroupPath) return cached.labels;
  const labels: LabelSet = Object.freeze({ ...containerLabels(meta), id: cgroupPath });
  labelSets.set(meta, { cgroupPath, labels });
  return labels;
}
