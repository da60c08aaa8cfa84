/**
 * What dockhand installs in Elasticsearch so its documents get ECS mappings and a lifecycle, composed
 * with Elastic's managed templates the way Fleet's integrations are:
 *
 *   logs-docker.logs-* (priority 200) = logs@mappings, logs@settings, dockhand@mappings, logs@custom,
 *                                        logs-docker.logs@custom, ecs@mappings
 *
 * (likewise events, and metrics with metrics@* and dockhand-metrics@mappings). Elastic's components
 * come first, dockhand's own mappings over them, the users' `@custom` hooks over dockhand's, so
 * everything a user sets in `logs@custom` applies to dockhand's data streams too. A cluster without
 * the managed components (older 8.x, or `stack.templates.enabled: false`) gets dockhand@settings, an
 * equivalent of logs@settings, instead. `index.mode` is left to the cluster (LogsDB on 9.x logs-*-*).
 *
 * The lifecycle is in the index template itself: a data stream lifecycle with a retention where the
 * cluster has it (8.14+), with `index.lifecycle.prefer_ilm: false` (logs@settings attaches the
 * built-in ILM policy, which never deletes and would otherwise win), else an ILM policy with a delete
 * phase. Installation is idempotent: what is installed in this version with the same body is left
 * alone, an existing ILM policy is never overwritten (operators tune them).
 */
import { createHash } from 'node:crypto';
import type { Logger } from '../../src/telemetry/logger.js';
import type { ElasticsearchConfig } from './config.js';
import { DATASETS, dataStreamName, type ShippedKind } from './documents.js';
import { describeFailure, type EsConnection, type Failure } from './connection.js';

/** Bump when the mappings change: older installed templates are then replaced. */
export const TEMPLATE_VERSION = 2;

/** Elastic's managed component templates dockhand composes with, where the cluster has them (8.11+ names). */
export const MANAGED_COMPONENTS = ['logs@mappings', 'logs@settings', 'metrics@mappings', 'metrics@settings', 'ecs@mappings'] as const;

/** What the cluster offers that the plan depends on. */
export interface ClusterFacts {
  /** version.number from `GET /`. */
  readonly version: string;
  /** The MANAGED_COMPONENTS this cluster has. */
  readonly managed: ReadonlySet<string>;
}

export type Lifecycle =
  | { readonly kind: 'data_stream'; readonly retention: string }
  | { readonly kind: 'ilm'; readonly policy: string; readonly installed: boolean }
  | { readonly kind: 'none' };

interface Resource {
  readonly kind: 'ilm_policy' | 'component_template' | 'index_template';
  readonly name: string;
  readonly path: string;
  readonly body: Record<string, unknown>;
}

export type InstallOutcome =
  | { readonly status: 'installed'; readonly changed: readonly string[]; readonly lifecycle: Lifecycle; readonly managed: readonly string[] }
  | { readonly status: 'forbidden' | 'failed'; readonly changed: readonly string[]; readonly failure: Failure; readonly resource: string };

const keyword = { type: 'keyword', ignore_above: 1024 } as const;
const long = { type: 'long' } as const;
const double = { type: 'double' } as const;
const unindexedKeyword = { type: 'keyword', index: false, doc_values: false } as const;

function longs(...names: string[]): Record<string, unknown> {
  return Object.fromEntries(names.map((n) => [n, long]));
}

/**
 * ECS fields of every dockhand document, shared by all templates through one component template.
 * Where the cluster has `ecs@mappings` (composed after this), unknown strings are left to its dynamic
 * templates (ip, match_only_text, …): a catch-all here would match first and make every one a keyword.
 */
export function ecsMappings(clusterHasEcsMappings = false): Record<string, unknown> {
  return {
    dynamic_templates: [
      { container_labels: { path_match: 'container.labels.*', match_mapping_type: 'string', mapping: keyword } },
      ...(clusterHasEcsMappings ? [] : [{ strings_as_keyword: { match_mapping_type: 'string', mapping: keyword } }]),
    ],
    properties: {
      '@timestamp': { type: 'date_nanos' },
      message: { type: 'match_only_text' },
      stream: keyword,
      container: {
        properties: { id: keyword, name: keyword, image: { properties: { name: keyword } }, labels: { type: 'object', dynamic: true } },
      },
      host: { properties: { name: keyword } },
      event: { properties: { kind: keyword, module: keyword, dataset: keyword, action: keyword, original: unindexedKeyword } },
      agent: { properties: { type: keyword, version: keyword } },
      ecs: { properties: { version: keyword } },
      log: { properties: { flags: keyword } },
      data_stream: { properties: { type: { type: 'constant_keyword' }, dataset: { type: 'constant_keyword' }, namespace: { type: 'constant_keyword' } } },
      json: { type: 'flattened' },
      error: { properties: { type: keyword, message: { type: 'match_only_text' } } },
      docker: {
        properties: {
          event: { properties: { type: keyword, action: keyword, scope: keyword, actor: { properties: { id: keyword, attributes: { type: 'flattened' } } } } },
        },
      },
      dockhand: { properties: { dead_letter: { properties: { index: keyword, id: keyword, status: { type: 'short' } } } } },
    },
  };
}

const pct = { type: 'scaled_float', scaling_factor: 1000 } as const;

/**
 * The fields of metric documents, explicitly typed (metrics@mappings' dynamic templates would map an
 * unknown number as an unindexed float): ECS `container.*`, Metricbeat's `docker.*` (fractions as
 * scaled_float, as Metricbeat's template has them) and dockhand's own `docker.*_bytes` figures.
 */
export function metricMappings(): Record<string, unknown> {
  return {
    properties: {
      container: {
        properties: {
          cpu: { properties: { usage: pct } },
          memory: { properties: { usage: pct } },
          network: { properties: { ingress: { properties: { bytes: long } }, egress: { properties: { bytes: long } } } },
          disk: { properties: { read: { properties: { bytes: long } }, write: { properties: { bytes: long } } } },
        },
      },
      metricset: { properties: { name: keyword, period: long } },
      service: { properties: { type: keyword } },
      docker: {
        properties: {
          source: keyword,
          cpu: {
            properties: {
              usage_seconds: double, user_seconds: double, system_seconds: double, throttled_seconds: double, ...longs('throttled_periods', 'periods', 'quota_micros', 'period_micros'),
              total: { properties: { pct, norm: { properties: { pct } } } },
              kernel: { properties: { pct, norm: { properties: { pct } }, ticks: long } },
              user: { properties: { pct, norm: { properties: { pct } }, ticks: long } },
            },
          },
          memory: {
            properties: {
              ...longs('usage_bytes', 'working_set_bytes', 'rss_bytes', 'cache_bytes', 'fail_count', 'limit_bytes', 'limit'),
              usage: { properties: { total: long, pct } },
              rss: { properties: { total: long, pct } },
              fail: { properties: { count: long } },
            },
          },
          network: {
            properties: {
              ...longs('rx_bytes', 'rx_packets', 'rx_errors', 'rx_dropped', 'tx_bytes', 'tx_packets', 'tx_errors', 'tx_dropped'),
              inbound: { properties: longs('bytes', 'packets', 'errors', 'dropped') },
              outbound: { properties: longs('bytes', 'packets', 'errors', 'dropped') },
              in: { properties: { bytes: double, packets: double, errors: double, dropped: double } },
              out: { properties: { bytes: double, packets: double, errors: double, dropped: double } },
            },
          },
          diskio: {
            properties: {
              ...longs('read_bytes', 'write_bytes', 'reads', 'writes'),
              read: { properties: longs('ops', 'bytes') },
              write: { properties: longs('ops', 'bytes') },
              summary: { properties: longs('ops', 'bytes') },
            },
          },
          pids: long,
        },
      },
    },
  };
}

/** The dead-letter index takes anything: only the fields to find and fix a document are indexed. */
function deadLetterMappings(): Record<string, unknown> {
  return {
    dynamic: false,
    properties: {
      '@timestamp': { type: 'date_nanos' },
      message: { type: 'match_only_text' },
      error: { properties: { type: keyword, message: { type: 'match_only_text' } } },
      event: { properties: { kind: keyword, dataset: keyword, original: unindexedKeyword } },
      dockhand: { properties: { dead_letter: { properties: { index: keyword, id: keyword, status: { type: 'short' } } } } },
      container: { properties: { id: keyword, name: keyword } },
      host: { properties: { name: keyword } },
      agent: { properties: { type: keyword, version: keyword } },
    },
  };
}

function ilmPolicy(config: ElasticsearchConfig): Record<string, unknown> {
  const { ilm } = config;
  // Daily indices have no write alias to roll over: only data streams get a rollover action.
  const hot = config.mode === 'data_stream'
    ? { min_age: '0ms', actions: { rollover: { max_age: ilm.rollover_max_age, max_primary_shard_size: ilm.rollover_max_primary_shard_size } } }
    : { min_age: '0ms', actions: {} };
  const deleteAfter = ilm.delete_after ?? config.lifecycle.retention;
  return {
    policy: {
      _meta: { managed_by: 'dockhand', description: 'dockhand logs, events and metrics' },
      phases: { hot, delete: { min_age: deleteAfter, actions: { delete: {} } } },
    },
  };
}

/** Major.minor at least `major`.`minor`. */
export function versionAtLeast(version: string, major: number, minor: number): boolean {
  const [a = 0, b = 0] = version.split('.').map((part) => Number.parseInt(part, 10));
  return a > major || (a === major && b >= minor);
}

/** Data stream lifecycles are generally available from 8.14. */
const supportsDataStreamLifecycle = (cluster: ClusterFacts) => versionAtLeast(cluster.version, 8, 14);
/** `ignore_missing_component_templates` (what lets a template name `@custom` hooks nobody created) came in 8.7. */
const supportsMissingComponents = (cluster: ClusterFacts) => versionAtLeast(cluster.version, 8, 7);

/** The lifecycle the config asks for, on this cluster. */
export function chooseLifecycle(config: ElasticsearchConfig, cluster: ClusterFacts): Lifecycle {
  const { type, ilm_policy, retention } = config.lifecycle;
  if (type === 'none') return { kind: 'none' };
  if (ilm_policy !== undefined) return { kind: 'ilm', policy: ilm_policy, installed: false };
  const ilm: Lifecycle = { kind: 'ilm', policy: config.ilm.policy_name, installed: true };
  if (type === 'ilm' || config.ilm.enabled === true) return ilm;
  if (type === 'data_stream') return { kind: 'data_stream', retention };
  return config.mode === 'data_stream' && supportsDataStreamLifecycle(cluster) ? { kind: 'data_stream', retention } : ilm;
}

/** What the index template itself carries: only what must win over every component (the lifecycle). */
function lifecycleTemplate(lifecycle: Lifecycle): Record<string, unknown> {
  switch (lifecycle.kind) {
    case 'data_stream':
      return { settings: { 'index.lifecycle.prefer_ilm': false }, lifecycle: { data_retention: lifecycle.retention } };
    case 'ilm':
      return { settings: { 'index.lifecycle.name': lifecycle.policy } };
    case 'none':
      return {};
  }
}

/** logs@settings' equivalent, for clusters without it (and for daily indices, which its rollover policy does not fit). */
function ownSettings(): Record<string, unknown> {
  return {
    settings: { 'index.codec': 'best_compression', 'index.mapping.ignore_malformed': true },
    mappings: { date_detection: false },
  };
}

interface Composition {
  readonly composed_of: string[];
  readonly ignore_missing_component_templates?: string[];
}

/** Fleet's order: Elastic's base components, dockhand's, the users' @custom hooks, ecs@mappings. */
function composition(base: readonly string[], own: readonly string[], hooks: readonly string[], cluster: ClusterFacts): Composition {
  const usedHooks = supportsMissingComponents(cluster) ? hooks : [];
  const ecs = cluster.managed.has('ecs@mappings') ? ['ecs@mappings'] : [];
  return {
    composed_of: [...base, ...own, ...usedHooks, ...ecs],
    ...(usedHooks.length > 0 ? { ignore_missing_component_templates: [...usedHooks] } : {}),
  };
}

export function componentNames(config: ElasticsearchConfig): { mappings: string; metrics: string; settings: string } {
  const name = config.template.name;
  return { mappings: `${name}@mappings`, metrics: `${name}-metrics@mappings`, settings: `${name}@settings` };
}

function dataStreamComposition(kind: ShippedKind, config: ElasticsearchConfig, cluster: ClusterFacts): Composition {
  const own = componentNames(config);
  const type = kind === 'metric' ? 'metrics' : 'logs';
  const managed = cluster.managed.has(`${type}@mappings`) && cluster.managed.has(`${type}@settings`);
  const base = managed ? [`${type}@mappings`, `${type}@settings`] : [own.settings];
  const mappings = kind === 'metric' ? [own.mappings, own.metrics] : [own.mappings];
  return composition(base, mappings, [`${type}@custom`, `${type}-${DATASETS[kind]}@custom`], cluster);
}

/** Everything to install for this config on this cluster, in dependency order. */
export function templatePlan(config: ElasticsearchConfig, cluster: ClusterFacts): Resource[] {
  const name = config.template.name;
  const own = componentNames(config);
  const lifecycle = chooseLifecycle(config, cluster);
  const meta = { managed_by: 'dockhand', template_version: TEMPLATE_VERSION };
  const resources: Resource[] = [];
  if (lifecycle.kind === 'ilm' && lifecycle.installed) {
    resources.push({ kind: 'ilm_policy', name: lifecycle.policy, path: `/_ilm/policy/${encodeURIComponent(lifecycle.policy)}`, body: ilmPolicy(config) });
  }
  const component = (componentName: string, template: Record<string, unknown>, description: string): Resource => ({
    kind: 'component_template', name: componentName, path: `/_component_template/${encodeURIComponent(componentName)}`,
    body: withFingerprint({ template, version: TEMPLATE_VERSION, _meta: { ...meta, description } }),
  });
  resources.push(
    component(own.settings, ownSettings(), 'dockhand: logs@settings\' equivalent where the cluster lacks it, and for daily indices'),
    component(own.mappings, { mappings: ecsMappings(cluster.managed.has('ecs@mappings')) }, 'dockhand: ECS fields of every dockhand document'),
    component(own.metrics, { mappings: metricMappings() }, 'dockhand: container metric fields (ECS container.*, Metricbeat docker.*)'),
  );
  const lifecycleBody = lifecycleTemplate(lifecycle);
  const indexTemplate = (templateName: string, patterns: string[], parts: Composition, extra: Record<string, unknown>, description: string): Resource => ({
    kind: 'index_template', name: templateName, path: `/_index_template/${encodeURIComponent(templateName)}`,
    body: withFingerprint({
      index_patterns: patterns, priority: config.template.priority, ...parts,
      template: lifecycleBody, version: TEMPLATE_VERSION, _meta: { ...meta, description }, ...extra,
    }),
  });
  if (config.mode === 'data_stream') {
    const kinds: ShippedKind[] = config.metrics.enabled ? ['log', 'event', 'metric'] : ['log', 'event'];
    for (const kind of kinds) {
      // Every namespace of the dataset: `logs-docker.logs-*`.
      const pattern = dataStreamName(kind, '*');
      resources.push(indexTemplate(`${name}-${DATASETS[kind]}`, [pattern], dataStreamComposition(kind, config, cluster), { data_stream: {} }, `dockhand ${DATASETS[kind]} data streams`));
    }
  } else {
    const parts = composition([own.settings], [own.mappings, own.metrics], [`${name}@custom`], cluster);
    resources.push(indexTemplate(name, [`${config.index_prefix}-*`], parts, {}, 'dockhand daily indices'));
  }
  resources.push({
    kind: 'index_template', name: `${name}-dead-letter`, path: `/_index_template/${encodeURIComponent(`${name}-dead-letter`)}`,
    body: withFingerprint({
      index_patterns: [config.dead_letter_index],
      // Above the daily-index template, whose pattern may cover the dead-letter index name too.
      priority: config.template.priority + 100,
      template: { mappings: deadLetterMappings() },
      version: TEMPLATE_VERSION,
      _meta: { ...meta, description: 'documents Elasticsearch refused, with the reason' },
    }),
  });
  return resources;
}

/**
 * `_meta.fingerprint`: a digest of the body, so a template of this version whose body differs (another
 * retention, a cluster that gained the managed components) is replaced, and an identical one left alone.
 */
function withFingerprint(body: Record<string, unknown>): Record<string, unknown> {
  const fingerprint = createHash('sha256').update(JSON.stringify(body)).digest('hex').slice(0, 16);
  return { ...body, _meta: { ...(body._meta as Record<string, unknown>), fingerprint } };
}

/** Which of Elastic's managed components the cluster has: one GET each, 404 meaning absent. */
export async function clusterFacts(connection: EsConnection, version: string, signal?: AbortSignal): Promise<ClusterFacts> {
  const managed = new Set<string>();
  for (const name of MANAGED_COMPONENTS) {
    const response = await connection.request({ method: 'GET', path: `/_component_template/${encodeURIComponent(name)}` }, { ignore: [404], ...(signal ? { signal } : {}) });
    if (response.statusCode !== 404) managed.add(name);
  }
  return { version, managed };
}

/**
 * Installs what is missing or older, for what the cluster offers. Throws (for the caller to retry)
 * when the cluster cannot be reached; a cluster that forbids it, or refuses a template, gives an
 * outcome to warn about instead.
 */
export async function installTemplates(connection: EsConnection, config: ElasticsearchConfig, version: string, logger: Logger, scrub: (text: string) => string, signal?: AbortSignal): Promise<InstallOutcome> {
  const changed: string[] = [];
  let resource = 'component templates';
  try {
    const cluster = await clusterFacts(connection, version, signal);
    const lifecycle = chooseLifecycle(config, cluster);
    for (const planned of templatePlan(config, cluster)) {
      resource = planned.name;
      if (await isCurrent(connection, planned, signal)) continue;
      await connection.request({ method: 'PUT', path: planned.path, body: planned.body }, signal ? { signal } : {});
      changed.push(planned.name);
      logger.info({ [planned.kind]: planned.name, version: TEMPLATE_VERSION }, `installed Elasticsearch ${planned.kind.replace('_', ' ')}`);
    }
    return { status: 'installed', changed, lifecycle, managed: [...cluster.managed] };
  } catch (error) {
    const failure = describeFailure(error, scrub);
    if (failure.status === 403) return { status: 'forbidden', changed, failure, resource };
    if (failure.status !== undefined && failure.status >= 400 && failure.status < 500 && failure.status !== 401 && failure.status !== 408 && failure.status !== 429) {
      return { status: 'failed', changed, failure, resource };
    }
    throw error;
  }
}

async function isCurrent(connection: EsConnection, resource: Resource, signal?: AbortSignal): Promise<boolean> {
  const response = await connection.request<Record<string, unknown>>({ method: 'GET', path: resource.path }, { ignore: [404], ...(signal ? { signal } : {}) });
  if (response.statusCode === 404) return false;
  if (resource.kind === 'ilm_policy') return true;
  const body = response.body;
  type Installed = { version?: number; _meta?: { fingerprint?: unknown } };
  const installed: Installed | undefined = resource.kind === 'index_template'
    ? (body.index_templates as { index_template?: Installed }[] | undefined)?.[0]?.index_template
    : (body.component_templates as { component_template?: Installed }[] | undefined)?.[0]?.component_template;
  if (typeof installed?.version !== 'number') return false;
  // A newer dockhand installed it: leave it to that version.
  if (installed.version > TEMPLATE_VERSION) return true;
  return installed.version === TEMPLATE_VERSION && installed._meta?.fingerprint === (resource.body._meta as { fingerprint: string }).fingerprint;
}
