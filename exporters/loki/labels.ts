/**
 * Which Loki stream a record goes to: a few low-cardinality labels (named as Loki's Docker driver
 * names them, so common LogQL works: host, compose_project, compose_service, container_name,
 * swarm_stack, swarm_service, stream, service_name), rendered once per container and stream as the
 * `{name="value", …}` text of a push. Everything else about a line (container id, image, record id)
 * goes in structured metadata, never in labels: a label per container id would be a stream per
 * container run, the cardinality Loki warns against. container_name stays a label by default, for
 * compose replicas too: replicas sharing a stream would have one replica's backlog refused as "too far
 * behind" another's newer lines.
 *
 * The labels of a record depend on nothing but the record and the config, so a record sent again
 * after a crash lands in the same stream, where Loki drops it as a duplicate (same timestamp and line
 * as an entry still in the stream's open head block: recent writes, as a replay is).
 */
import type { ContainerMeta, EventRecord, LogRecord } from '../../src/records.js';

/** Loki (Prometheus) label names. */
export const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

const COMPOSE_PROJECT = 'com.docker.compose.project';
const COMPOSE_SERVICE = 'com.docker.compose.service';
const SWARM_STACK = 'com.docker.stack.namespace';
const SWARM_SERVICE = 'com.docker.swarm.service.name';

export interface LabelSettings {
  readonly host: boolean;
  readonly compose: boolean;
  readonly swarm: boolean;
  readonly container_name: 'always' | 'unless_compose' | 'never';
  readonly stream: boolean;
  readonly service_name: boolean;
  readonly static: Readonly<Record<string, string>>;
  readonly from_container_labels: Readonly<Record<string, string>>;
}

export type Labels = Readonly<Record<string, string>>;

/** A stream's labels and their text as pushed. */
export interface StreamKey {
  readonly labels: Labels;
  readonly text: string;
}

/** Any text made a valid label name: invalid characters become `_`, a leading digit gets a `_` before it. */
export function sanitizeLabelName(name: string): string {
  const cleaned = name.replace(/[^a-zA-Z0-9_]/g, '_');
  return /^[0-9]/.test(cleaned) || cleaned === '' ? `_${cleaned}` : cleaned;
}

/**
 * `{a="1", b="2"}`: names sorted, values quoted as PromQL/Go string literals (JSON's escapes are a
 * subset Loki's label parser reads: \" \\ \n \t \uXXXX). Empty values are left out: Loki drops them.
 */
export function labelsText(labels: Labels): string {
  const parts: string[] = [];
  for (const name of Object.keys(labels).sort()) {
    const value = labels[name]!;
    if (value !== '') parts.push(`${name}=${JSON.stringify(value)}`);
  }
  return `{${parts.join(', ')}}`;
}

/** Picks stream labels for log and event records, and caches the rendered text per container. */
export class StreamLabels {
  /** Per container meta object (the inventory hands out one per container state): stdout and stderr keys. */
  private readonly cache = new WeakMap<ContainerMeta, { stdout?: StreamKey; stderr?: StreamKey }>();
  private readonly eventKeys = new Map<string, StreamKey>();
  private readonly fixed: Labels;

  constructor(private readonly settings: LabelSettings) {
    const fixed: Record<string, string> = {};
    for (const [name, value] of Object.entries(settings.static)) fixed[sanitizeLabelName(name)] = value;
    this.fixed = fixed;
  }

  forLog(record: LogRecord): StreamKey {
    let keys = this.cache.get(record.container);
    if (!keys) this.cache.set(record.container, keys = {});
    return keys[record.stream] ??= this.key(this.logLabels(record.container, record.stream));
  }

  /** Events: one stream per event type ({source="docker_events", service_name="docker", event_type="container"}). */
  forEvent(record: EventRecord): StreamKey {
    let key = this.eventKeys.get(record.type);
    if (!key) {
      key = this.key({ ...this.fixed, source: 'docker_events', ...(this.settings.service_name ? { service_name: 'docker' } : {}), event_type: record.type });
      this.eventKeys.set(record.type, key);
    }
    return key;
  }

  /** Whether container_name is a stream label of this container's lines (else it goes in structured metadata). */
  namesContainer(container: ContainerMeta): boolean {
    const mode = this.settings.container_name;
    return mode === 'always' || (mode === 'unless_compose' && !container.labels[COMPOSE_SERVICE]);
  }

  logLabels(container: ContainerMeta, stream: 'stdout' | 'stderr'): Labels {
    const s = this.settings;
    const labels: Record<string, string> = { ...this.fixed };
    const from = container.labels;
    for (const [name, key] of Object.entries(s.from_container_labels)) {
      const value = from[key];
      if (value !== undefined) labels[name] = value;
    }
    if (s.host) labels.host = container.host;
    if (s.compose) {
      if (from[COMPOSE_PROJECT]) labels.compose_project = from[COMPOSE_PROJECT];
      if (from[COMPOSE_SERVICE]) labels.compose_service = from[COMPOSE_SERVICE];
    }
    if (s.swarm) {
      if (from[SWARM_STACK]) labels.swarm_stack = from[SWARM_STACK];
      if (from[SWARM_SERVICE]) labels.swarm_service = from[SWARM_SERVICE];
    }
    const name = containerName(container);
    if (this.namesContainer(container)) labels.container_name = name;
    if (s.stream) labels.stream = stream;
    if (s.service_name) labels.service_name = from[COMPOSE_SERVICE] || from[SWARM_SERVICE] || name;
    return labels;
  }

  private key(labels: Labels): StreamKey {
    return { labels, text: labelsText(labels) };
  }
}

/** The name without the leading `/` the API gives it. */
export function containerName(container: ContainerMeta): string {
  return container.name.startsWith('/') ? container.name.slice(1) : container.name;
}
