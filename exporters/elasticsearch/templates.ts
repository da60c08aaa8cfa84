/**
 * The index templates (and optional ILM policy) dockhand installs so its documents get ECS mappings:
 * nanosecond `@timestamp` (date_nanos), keywords for ids and names, `flattened` for free-form maps
 * (event attributes, parsed JSON bodies) so one container's fields never break another's.
 * Installation is idempotent: a template already at this version is left alone, an existing ILM
 * policy is never overwritten (operators tune them).
 */
import type { Logger } from '../../src/telemetry/logger.js';
import type { ElasticsearchConfig } from './config.js';
import { DATASETS, dataStreamName, type ShippedKind } from './documents.js';
import { describeFailure, type EsConnection, type Failure } from './connection.js';

/** Bump when the mappings change: older installed templates are then replaced. */
export const TEMPLATE_VERSION = 1;

interface Resource {
  readonly kind: 'ilm_policy' | 'component_template' | 'index_template';
  readonly name: string;
  readonly path: string;
  readonly body: Record<string, unknown>;
}

export type InstallOutcome =
  | { readonly status: 'installed'; readonly changed: readonly string[] }
  | { readonly status: 'forbidden' | 'failed'; readonly changed: readonly string[]; readonly failure: Failure; readonly resource: string };

const keyword = { type: 'keyword', ignore_above: 1024 } as const;
const long = { type: 'long' } as const;
const double = { type: 'double' } as const;
const unindexedKeyword = { type: 'keyword', index: false, doc_values: false } as const;

function longs(...names: string[]): Record<string, unknown> {
  return Object.fromEntries(names.map((n) => [n, long]));
}

/** ECS fields of every dockhand document, shared by all templates through one component template. */
export function ecsMappings(): Record<string, unknown> {
  return {
    dynamic_templates: [
      { container_labels: { path_match: 'container.labels.*', match_mapping_type: 'string', mapping: keyword } },
      { strings_as_keyword: { match_mapping_type: 'string', mapping: keyword } },
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
          source: keyword,
          event: { properties: { type: keyword, action: keyword, scope: keyword, actor: { properties: { id: keyword, attributes: { type: 'flattened' } } } } },
          cpu: { properties: { usage_seconds: double, user_seconds: double, system_seconds: double, throttled_seconds: double, ...longs('throttled_periods', 'periods', 'quota_micros', 'period_micros') } },
          memory: { properties: longs('usage_bytes', 'working_set_bytes', 'rss_bytes', 'cache_bytes', 'fail_count', 'limit_bytes') },
          network: { properties: longs('rx_bytes', 'rx_packets', 'rx_errors', 'rx_dropped', 'tx_bytes', 'tx_packets', 'tx_errors', 'tx_dropped') },
          diskio: { properties: longs('read_bytes', 'write_bytes', 'reads', 'writes') },
          pids: long,
        },
      },
      dockhand: { properties: { dead_letter: { properties: { index: keyword, id: keyword, status: { type: 'short' } } } } },
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
  return {
    policy: {
      _meta: { managed_by: 'dockhand', description: 'dockhand logs, events and metrics' },
      phases: { hot, ...(ilm.delete_after ? { delete: { min_age: ilm.delete_after, actions: { delete: {} } } } : {}) },
    },
  };
}

/** Everything to install for this config, in dependency order. */
export function templatePlan(config: ElasticsearchConfig): Resource[] {
  const name = config.template.name;
  const meta = { managed_by: 'dockhand', template_version: TEMPLATE_VERSION };
  const settings = config.ilm.enabled ? { 'index.lifecycle.name': config.ilm.policy_name } : {};
  const component = `${name}@mappings`;
  const resources: Resource[] = [];
  if (config.ilm.enabled) {
    resources.push({ kind: 'ilm_policy', name: config.ilm.policy_name, path: `/_ilm/policy/${encodeURIComponent(config.ilm.policy_name)}`, body: ilmPolicy(config) });
  }
  resources.push({
    kind: 'component_template', name: component, path: `/_component_template/${encodeURIComponent(component)}`,
    body: { template: { mappings: ecsMappings() }, version: TEMPLATE_VERSION, _meta: meta },
  });
  const indexTemplate = (templateName: string, patterns: string[], extra: Record<string, unknown>, description: string): Resource => ({
    kind: 'index_template', name: templateName, path: `/_index_template/${encodeURIComponent(templateName)}`,
    body: {
      index_patterns: patterns, priority: config.template.priority, composed_of: [component],
      template: { settings }, version: TEMPLATE_VERSION, _meta: { ...meta, description }, ...extra,
    },
  });
  if (config.mode === 'data_stream') {
    const kinds: ShippedKind[] = config.metrics.enabled ? ['log', 'event', 'metric'] : ['log', 'event'];
    for (const kind of kinds) {
      // Every namespace of the dataset: `logs-docker.logs-*`.
      const pattern = dataStreamName(kind, '*');
      resources.push(indexTemplate(`${name}-${DATASETS[kind]}`, [pattern], { data_stream: {} }, `dockhand ${DATASETS[kind]} data streams`));
    }
  } else {
    resources.push(indexTemplate(name, [`${config.index_prefix}-*`], {}, 'dockhand daily indices'));
  }
  resources.push({
    kind: 'index_template', name: `${name}-dead-letter`, path: `/_index_template/${encodeURIComponent(`${name}-dead-letter`)}`,
    body: {
      index_patterns: [config.dead_letter_index],
      // Above the daily-index template, whose pattern may cover the dead-letter index name too.
      priority: config.template.priority + 100,
      template: { mappings: deadLetterMappings() },
      version: TEMPLATE_VERSION,
      _meta: { ...meta, description: 'documents Elasticsearch refused, with the reason' },
    },
  });
  return resources;
}

/**
 * Installs what is missing or older. Throws (for the caller to retry) when the cluster cannot be
 * reached; a cluster that forbids it, or refuses a template, gives an outcome to warn about instead.
 */
export async function installTemplates(connection: EsConnection, resources: readonly Resource[], logger: Logger, scrub: (text: string) => string, signal?: AbortSignal): Promise<InstallOutcome> {
  const changed: string[] = [];
  for (const resource of resources) {
    try {
      if (await isCurrent(connection, resource, signal)) continue;
      await connection.request({ method: 'PUT', path: resource.path, body: resource.body }, signal ? { signal } : {});
      changed.push(resource.name);
      logger.info({ [resource.kind]: resource.name, version: TEMPLATE_VERSION }, `installed Elasticsearch ${resource.kind.replace('_', ' ')}`);
    } catch (error) {
      const failure = describeFailure(error, scrub);
      if (failure.status === 403) return { status: 'forbidden', changed, failure, resource: resource.name };
      if (failure.status !== undefined && failure.status >= 400 && failure.status < 500 && failure.status !== 401 && failure.status !== 408 && failure.status !== 429) {
        return { status: 'failed', changed, failure, resource: resource.name };
      }
      throw error;
    }
  }
  return { status: 'installed', changed };
}

async function isCurrent(connection: EsConnection, resource: Resource, signal?: AbortSignal): Promise<boolean> {
  const response = await connection.request<Record<string, unknown>>({ method: 'GET', path: resource.path }, { ignore: [404], ...(signal ? { signal } : {}) });
  if (response.statusCode === 404) return false;
  if (resource.kind === 'ilm_policy') return true;
  const body = response.body;
  const installed = resource.kind === 'index_template'
    ? (body.index_templates as { index_template?: { version?: number } }[] | undefined)?.[0]?.index_template
    : (body.component_templates as { component_template?: { version?: number } }[] | undefined)?.[0]?.component_template;
  return typeof installed?.version === 'number' && installed.version >= TEMPLATE_VERSION;
}
