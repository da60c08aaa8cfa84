/**
 * What the agent knows about every container: built from `GET /containers/json?all=1` (and an
 * inspect per container) at start and after every reconnect, kept current by events, and
 * re-synced on a schedule. Records take their ContainerMeta from here, never from a per-record call.
 */
import { EventEmitter } from 'node:events';
import type Docker from 'dockerode';
import type { DockerClient } from './client.js';
import type { ContainerMeta } from '../records.js';
import type { Logger } from '../telemetry/logger.js';
import { globMatcher } from '../util/glob.js';

export type ContainerRunState = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';
export type HealthStatus = 'healthy' | 'unhealthy' | 'starting' | 'none';

export interface ContainerState {
  readonly meta: ContainerMeta;
  readonly imageId: string;
  readonly state: ContainerRunState;
  readonly health: HealthStatus;
  readonly restartCount: number;
  readonly exitCode: number;
  readonly oomKilled: boolean;
  /** OOM events seen by this agent for this container (a counter). */
  readonly oomEvents: number;
  /** Epoch seconds, 0 when never started. */
  readonly startedAt: number;
  readonly finishedAt: number;
  readonly createdAt: number;
  readonly tty: boolean;
  /** Init process pid on the host, 0 when not running. */
  readonly pid: number;
  /** Epoch seconds at which the agent last confirmed this state. */
  readonly lastSeen: number;
  /** The container's cgroup, as cAdvisor names it in its `id` label: /docker/<id>, /system.slice/docker-<id>.scope. */
  readonly cgroupPath: string;
  /** All labels, for filters inside the agent; only meta.labels (allow-listed) is ever shipped. */
  readonly allLabels: Readonly<Record<string, string>>;
}

/** The read-only face of the inventory that exporters may see. */
export interface InventoryView {
  list(): readonly ContainerState[];
  get(id: string): ContainerState | undefined;
  /** Epoch seconds up to which every state is known current: now while events are followed live, else 0. */
  currentAsOf(): number;
}

export const IGNORE_LABEL = 'dockhand.enable';

/**
 * Attribute keys the daemon itself sets on events (as opposed to the object's labels, which it
 * copies in beside them). Labels pass only when allow-listed; these always pass.
 */
export const DAEMON_ATTRIBUTES: ReadonlySet<string> = new Set([
  'name', 'image', 'exitCode', 'signal', 'execID', 'container', 'type', 'driver', 'destination',
  'propagation', 'read/write', 'imageID', 'id', 'reason', 'oldName', 'cpushares', 'memory',
  'cpuset', 'blkio', 'restartPolicy',
]);

/** What the inventory asks of the daemon: the client's list and inspect. */
export type InventorySource = Pick<DockerClient, 'listContainers' | 'inspectContainer'>;

/**
 * Inventory events: `added`, `updated`, `removed` with the ContainerState (`added` and `updated` also
 * with the state before and whether the state is an inspect's answer of this moment, not a change
 * applied to an older one); `vanished` (see vanished()).
 */
export class Inventory extends EventEmitter implements InventoryView {
  private readonly containers = new Map<string, ContainerState>();
  private readonly oomCounts = new Map<string, number>();
  private readonly vanishedIds = new Set<string>();
  /** Whether a container label may be shipped (labels.allow). */
  readonly labelAllowed: (key: string) => boolean;
  hostName = 'unknown';
  /** The daemon's cgroup driver (from /info): decides how container cgroups are named. */
  cgroupDriver = 'cgroupfs';
  private live = false;

  constructor(labelAllowList: readonly string[], private readonly logger: Logger) {
    super();
    this.labelAllowed = globMatcher(labelAllowList);
  }

  list(): readonly ContainerState[] {
    return [...this.containers.values()];
  }

  get(id: string): ContainerState | undefined {
    return this.containers.get(id);
  }

  /** Set by the events collector: while it follows the stream, no change goes unseen. */
  setLive(live: boolean): void {
    this.live = live;
  }

  currentAsOf(): number {
    return this.live ? Date.now() / 1000 : 0;
  }

  get size(): number {
    return this.containers.size;
  }

  /** Containers labelled dockhand.enable=false are invisible to the whole agent. */
  static isIgnored(labels: Readonly<Record<string, string>> | undefined): boolean {
    return labels?.[IGNORE_LABEL] === 'false';
  }

  /** Lists every container and inspects each; containers gone since the last look are removed. */
  async sync(docker: InventorySource): Promise<void> {
    const listed = await docker.listContainers({ all: true });
    const seen = new Set<string>();
    for (const summary of listed) {
      if (Inventory.isIgnored(summary.Labels)) continue;
      seen.add(summary.Id);
      await this.refresh(docker, summary.Id);
    }
    for (const id of [...this.containers.keys()]) {
      if (!seen.has(id)) this.remove(id);
    }
  }

  /** Inspects one container and records what it says; a container gone by then is removed. */
  async refresh(docker: InventorySource, id: string): Promise<ContainerState | undefined> {
    let inspect: Docker.ContainerInspectInfo;
    try {
      inspect = await docker.inspectContainer(id);
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) {
        this.remove(id);
        return undefined;
      }
      throw error;
    }
    if (Inventory.isIgnored(inspect.Config?.Labels ?? undefined)) {
      this.remove(id);
      return undefined;
    }
    const previous = this.containers.get(id);
    const state = this.fromInspect(inspect, previous?.meta);
    this.containers.set(id, state);
    this.emit(previous ? 'updated' : 'added', state, previous, true);
    return state;
  }

  remove(id: string): void {
    const previous = this.containers.get(id);
    if (!previous) return;
    this.containers.delete(id);
    this.oomCounts.delete(id);
    this.emit('removed', previous);
  }

  /**
   * A container that ran but was gone before an inspect saw it running (`docker run --rm` of a short job):
   * `vanished` carries what its event said of it (name, image, labels), once per id.
   */
  vanished(id: string, attributes: Readonly<Record<string, string>>): void {
    if (this.vanishedIds.has(id)) return;
    this.vanishedIds.add(id);
    if (this.vanishedIds.size > 1024) this.vanishedIds.delete(this.vanishedIds.values().next().value!);
    const labels: Record<string, string> = {};
    for (const [key, value] of Object.entries(attributes)) if (!DAEMON_ATTRIBUTES.has(key)) labels[key] = value;
    this.emit('vanished', { meta: { id, name: attributes.name ?? id.slice(0, 12), image: attributes.image ?? '' }, allLabels: labels });
  }

  /** Counts an `oom` event (cAdvisor-style container_oom_events_total). */
  countOom(id: string): void {
    this.oomCounts.set(id, (this.oomCounts.get(id) ?? 0) + 1);
    const current = this.containers.get(id);
    if (current) this.containers.set(id, { ...current, oomEvents: this.oomCounts.get(id)! });
  }

  /** Sets the health status reported by a `health_status: …` event without waiting for an inspect. */
  setHealth(id: string, health: HealthStatus): void {
    const current = this.containers.get(id);
    if (current && current.health !== health) {
      const next = { ...current, health, lastSeen: Date.now() / 1000 };
      this.containers.set(id, next);
      this.emit('updated', next, current, false);
    }
  }

  /** ContainerMeta for an id: from the inventory, or a minimal one for a container we never saw. */
  meta(id: string): ContainerMeta {
    return this.containers.get(id)?.meta ?? { id, name: id.slice(0, 12), image: '', labels: {}, host: this.hostName };
  }

  allowedLabels(labels: Readonly<Record<string, string>> | null | undefined): Record<string, string> {
    const out: Record<string, string> = {};
    if (!labels) return out;
    for (const [key, value] of Object.entries(labels)) if (this.labelAllowed(key)) out[key] = value;
    return out;
  }

  /**
   * `previousMeta` is kept when nothing in it changed: exporters cache what they derive from a
   * ContainerMeta (label text, JSON) by its identity, and every event and re-sync inspects again.
   */
  private fromInspect(inspect: Docker.ContainerInspectInfo, previousMeta: ContainerMeta | undefined): ContainerState {
    const labels = inspect.Config?.Labels ?? {};
    const state = inspect.State as Docker.ContainerInspectInfo['State'] & { Health?: { Status?: string } };
    const meta: ContainerMeta = {
      id: inspect.Id,
      name: inspect.Name.replace(/^\//, ''),
      image: inspect.Config?.Image ?? inspect.Image,
      labels: this.allowedLabels(labels),
      host: this.hostName,
    };
    return {
      meta: previousMeta && sameMeta(previousMeta, meta) ? previousMeta : meta,
      imageId: inspect.Image,
      state: (state.Status as ContainerRunState) ?? 'created',
      health: toHealth(state.Health?.Status),
      restartCount: inspect.RestartCount ?? 0,
      exitCode: state.ExitCode ?? 0,
      oomKilled: state.OOMKilled ?? false,
      oomEvents: this.oomCounts.get(inspect.Id) ?? 0,
      startedAt: toEpochSeconds(state.StartedAt),
      finishedAt: toEpochSeconds(state.FinishedAt),
      createdAt: toEpochSeconds(inspect.Created),
      cgroupPath: containerCgroupPath(inspect.Id, this.cgroupDriver, inspect.HostConfig?.CgroupParent),
      tty: inspect.Config?.Tty ?? false,
      pid: state.Pid ?? 0,
      lastSeen: Date.now() / 1000,
      allLabels: { ...labels },
    };
  }
}

function sameMeta(a: ContainerMeta, b: ContainerMeta): boolean {
  if (a.id !== b.id || a.name !== b.name || a.image !== b.image || a.host !== b.host) return false;
  const keys = Object.keys(a.labels);
  return keys.length === Object.keys(b.labels).length && keys.every((key) => a.labels[key] === b.labels[key]);
}

/**
 * Where dockerd puts a container's cgroup: `<parent or /docker>/<id>` with the cgroupfs driver;
 * with systemd, `docker-<id>.scope` under the parent slice (default system.slice), whose name
 * `a-b.slice` nests as /a.slice/a-b.slice.
 */
export function containerCgroupPath(id: string, driver: string, parent?: string | null): string {
  if (driver !== 'systemd') return `${(parent || '/docker').replace(/\/+$/, '')}/${id}`;
  const slice = parent || 'system.slice';
  const parts = slice.replace(/\.slice$/, '').split('-');
  const nested = parts.map((_, i) => `/${parts.slice(0, i + 1).join('-')}.slice`).join('');
  return `${nested}/docker-${id}.scope`;
}

function toHealth(status: string | undefined): HealthStatus {
  return status === 'healthy' || status === 'unhealthy' || status === 'starting' ? status : 'none';
}

/** Docker writes 0001-01-01T00:00:00Z for "never". */
export function toEpochSeconds(text: string | undefined): number {
  if (!text || text.startsWith('0001-')) return 0;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? 0 : ms / 1000;
}
