/**
 * The `exporters.elasticsearch` config section, the environment variables that feed it, and the
 * secrets it names (read from the section or from files, never logged).
 */
import { z } from 'zod';
import type { BatchSettings } from '../../src/component.js';
import { ConfigError } from '../../src/errors.js';
import { batchSchema, batchSettings, readConfigFile, retrySchema, retrySettings } from '../push/config.js';
import type { RecordKind } from '../../src/records.js';

/** Where the section lives in the whole config, for error messages. */
export const SECTION_PATH = 'exporters.elasticsearch';

// Elasticsearch index and data stream name rules, plus "no dash" for a data stream namespace.
const indexName = z.string().min(1).max(255)
  .regex(/^(?![-_+.])[^A-Z\\/*?"<>| ,#:]+$/, 'expected a lowercase Elasticsearch index name (no \\ / * ? " < > | , # : or space, not starting with - _ + .)');
const namespace = z.string().min(1).max(100)
  .regex(/^[a-z0-9][a-z0-9_.]*$/, 'expected a lowercase data stream namespace without "-" (e.g. default, production)');
const duration = z.string().regex(/^\d+(d|h|m|s|ms)$/, 'expected an Elasticsearch duration such as 30d, 12h');
const byteSize = z.string().regex(/^\d+(b|kb|mb|gb|tb|pb)$/i, 'expected an Elasticsearch byte size such as 50gb');

export const elasticsearchConfigSchema = z.strictObject({
  enabled: z.boolean().default(false).describe('Ship logs and events to Elasticsearch. Setting ELASTICSEARCH_URL turns it on.'),
  urls: z.array(z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' })).min(1).default(['http://localhost:9200'])
    .describe('Elasticsearch nodes (ELASTICSEARCH_URL, comma-separated); requests go round-robin and fail over.'),
  api_key: z.string().min(1).optional().describe('API key, encoded (base64 of id:key) or as id:key (ELASTICSEARCH_API_KEY).'),
  api_key_file: z.string().min(1).optional().describe('File holding the API key, instead of api_key.'),
  username: z.string().min(1).optional().describe('Basic authentication user (ELASTICSEARCH_USERNAME).'),
  password: z.string().optional().describe('Basic authentication password (ELASTICSEARCH_PASSWORD).'),
  password_file: z.string().min(1).optional().describe('File holding the password, instead of password.'),
  ca_file: z.string().min(1).optional().describe('PEM file of the CA that signed the cluster certificate (ELASTICSEARCH_CA).'),
  tls_verify: z.boolean().default(true).describe('Verify the cluster certificate. Turn off only for testing.'),
  compression: z.union([z.literal('auto'), z.boolean()]).default('auto').describe(
    'gzip bulk request bodies: true, false, or auto: on unless every node is on this host or a private network (localhost, a loopback, private '
    + 'or link-local address, a single-label name such as a compose service), where the wire is cheap and gzip would cost the agent ~2 CPU-s per million lines.'),
  mode: z.enum(['data_stream', 'index']).default('data_stream')
    .describe('data_stream: logs-docker.logs-<namespace>, logs-docker.events-<namespace>, metrics-docker.metrics-<namespace>; index: <index_prefix>-yyyy.MM.dd.'),
  namespace: namespace.default('default').describe('Data stream namespace (mode data_stream).'),
  index_prefix: indexName.default('dockhand').describe('Daily index prefix (mode index).'),
  dead_letter_index: indexName.default('dockhand-dead-letter').describe('Where documents Elasticsearch refuses (mapping errors) are kept, with the reason.'),
  template: z.strictObject({
    install: z.boolean().default(true).describe('Install the index templates at start (skipped when already there in this version).'),
    name: indexName.default('dockhand').describe('Name (and prefix) of the templates dockhand installs.'),
    priority: z.number().int().min(0).default(200).describe('Index template priority; above the built-in logs/metrics templates (100).'),
  }).prefault({}),
  lifecycle: z.strictObject({
    type: z.enum(['auto', 'data_stream', 'ilm', 'none']).default('auto').describe(
      'How dockhand\'s data expires. auto: a data stream lifecycle with `retention` where the cluster has it (8.14+), else dockhand\'s ILM policy '
      + '(always for daily indices); data_stream; ilm (dockhand\'s policy, or ilm_policy); none: nothing set by dockhand (the cluster\'s defaults apply).'),
    retention: duration.default('30d').describe('How long documents are kept: the data stream lifecycle\'s data_retention, or the delete phase of dockhand\'s ILM policy.'),
    ilm_policy: indexName.optional().describe('Attach this existing ILM policy (e.g. 30-days@lifecycle) instead of installing dockhand\'s; means type ilm.'),
  }).prefault({}),
  ilm: z.strictObject({
    enabled: z.boolean().optional().describe('Deprecated: true means lifecycle.type: ilm.'),
    policy_name: indexName.default('dockhand').describe('Name of the ILM policy dockhand installs (lifecycle type ilm); an existing policy of that name is left as it is.'),
    rollover_max_age: duration.default('1d').describe('Hot phase rollover age (data streams).'),
    rollover_max_primary_shard_size: byteSize.default('50gb').describe('Hot phase rollover size (data streams).'),
    delete_after: duration.optional().describe('Delete phase of the policy: indices are deleted this long after rollover (or creation, for daily indices); lifecycle.retention when unset.'),
  }).prefault({}),
  batch: batchSchema({
    maxRecords: 1000, maxBytes: 5 * 1024 * 1024, lingerMs: 200, concurrency: 2,
    maxBytesMeaning: 'Most bytes per export batch (records as queued, estimated) and per bulk request (NDJSON, exact); a batch is split to fit.',
  }),
  queue_size: z.number().int().positive().default(20_000).describe('Records queued for this exporter before collectors wait.'),
  request_timeout_ms: z.number().int().positive().default(30_000).describe('Timeout of one request to Elasticsearch.'),
  retry: retrySchema,
  metrics: z.strictObject({
    enabled: z.boolean().default(false).describe('Also ship container metrics (metrics-docker.metrics-<namespace>).'),
  }).prefault({}),
}).superRefine((c, ctx) => {
  const problem = (path: string[], message: string) => ctx.addIssue({ code: 'custom', path, message });
  if (c.api_key !== undefined && c.api_key_file !== undefined) problem(['api_key_file'], 'set api_key or api_key_file, not both');
  if (c.password !== undefined && c.password_file !== undefined) problem(['password_file'], 'set password or password_file, not both');
  const hasApiKey = c.api_key !== undefined || c.api_key_file !== undefined;
  const hasPassword = c.password !== undefined || c.password_file !== undefined;
  if (hasApiKey && c.username !== undefined) problem(['username'], 'use an API key or a username and password, not both');
  if (hasPassword && c.username === undefined) problem(['username'], 'a password needs a username');
  if (c.username !== undefined && !hasPassword) problem(['password'], `user ${JSON.stringify(c.username)} needs a password or password_file`);
  lifecycleProblems(c, problem);
});

export type ElasticsearchConfig = z.output<typeof elasticsearchConfigSchema>;

interface LifecycleSettings {
  readonly lifecycle: { readonly type: 'auto' | 'data_stream' | 'ilm' | 'none'; readonly ilm_policy?: string | undefined };
  readonly ilm: { readonly enabled?: boolean | undefined };
  readonly mode: 'data_stream' | 'index';
}

/**
 * ilm.enabled came before lifecycle: true still means an ILM policy; false, the old default (the
 * shipped default.yaml spelled it out, so copied configs have it), means nothing now: see
 * deprecatedLifecycleKey.
 */
function lifecycleProblems(c: LifecycleSettings, problem: (path: string[], message: string) => void): void {
  const { type, ilm_policy } = c.lifecycle;
  if (c.ilm.enabled === true && type !== 'auto' && type !== 'ilm') problem(['ilm', 'enabled'], `ilm.enabled: true contradicts lifecycle.type: ${type}; remove ilm.enabled`);
  if (ilm_policy !== undefined && type !== 'auto' && type !== 'ilm') problem(['lifecycle', 'ilm_policy'], `an ILM policy contradicts lifecycle.type: ${type}`);
  if (c.mode === 'index' && type === 'data_stream') problem(['lifecycle', 'type'], 'daily indices (mode: index) cannot have a data stream lifecycle: use auto or ilm');
}

/** The warning for a config that still says ilm.enabled, or undefined. */
export function deprecatedLifecycleKey(config: Pick<ElasticsearchConfig, 'ilm' | 'lifecycle'>): string | undefined {
  if (config.ilm.enabled === undefined) return undefined;
  return config.ilm.enabled
    ? `${SECTION_PATH}.ilm.enabled is deprecated: write lifecycle.type: ilm`
    : `${SECTION_PATH}.ilm.enabled: false no longer means "no lifecycle": documents get lifecycle.type ${config.lifecycle.type} (retention ${config.lifecycle.retention}) on the data streams dockhand creates from now on; `
      + 'remove the key, or set lifecycle.type: none to keep them without a lifecycle';
}

/** What the exporter runner needs to know of the exporter before it is loaded: kinds taken, batching, retry backoff. */
export function exporterShape(config: ElasticsearchConfig): { accepts: ReadonlySet<RecordKind>; batching: Partial<BatchSettings>; retry: { readonly initialMs: number; readonly maxMs: number } } {
  return {
    accepts: new Set<RecordKind>(config.metrics.enabled ? ['log', 'event', 'metric'] : ['log', 'event']),
    batching: batchSettings(config.batch, config.queue_size),
    retry: retrySettings(config.retry),
  };
}

/**
 * Whether gzipping bulk bodies pays for `compression: auto`: a 1,000-line body of ~0.7 MB shrinks
 * ~14x, for ~0.6 ms of CPU (zlib level 1, in the libuv pool). Worth it over a real network (a cloud
 * cluster, another site); not to a node on this host or the local network, where the bytes cost
 * less than compressing them.
 */
export function gzipPays(compression: boolean | 'auto', urls: readonly string[]): boolean {
  if (compression !== 'auto') return compression;
  return urls.some((url) => !isNearby(new URL(url).hostname));
}

/** localhost, loopback, private and link-local addresses, and single-label names (a compose service, a /etc/hosts entry). */
function isNearby(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost') || !host.includes('.') && !host.includes(':')) return true;
  const v4 = /^(\d+)\.(\d+)\.\d+\.\d+$/.exec(host);
  if (v4) {
    const [a, b] = [Number(v4[1]), Number(v4[2])];
    return a === 127 || a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 169 && b === 254);
  }
  return host === '::1' || /^f[cd][0-9a-f]{2}:/.test(host) || /^fe[89ab][0-9a-f]:/.test(host);
}
export type ElasticsearchConfigInput = z.input<typeof elasticsearchConfigSchema>;

/**
 * Maps ELASTICSEARCH_URL (comma-separated; enables the exporter), ELASTICSEARCH_API_KEY,
 * ELASTICSEARCH_USERNAME, ELASTICSEARCH_PASSWORD and ELASTICSEARCH_CA (a file path) onto the section.
 * Returns undefined when none is set.
 */
export function elasticsearchConfigFromEnv(env: NodeJS.ProcessEnv): Partial<ElasticsearchConfigInput> | undefined {
  const out: Partial<ElasticsearchConfigInput> = {};
  const urls = env.ELASTICSEARCH_URL?.split(',').map((u) => u.trim()).filter(Boolean);
  if (urls && urls.length > 0) {
    out.enabled = true;
    out.urls = urls;
  }
  if (env.ELASTICSEARCH_API_KEY) out.api_key = env.ELASTICSEARCH_API_KEY;
  if (env.ELASTICSEARCH_USERNAME) out.username = env.ELASTICSEARCH_USERNAME;
  if (env.ELASTICSEARCH_PASSWORD !== undefined && env.ELASTICSEARCH_PASSWORD !== '') out.password = env.ELASTICSEARCH_PASSWORD;
  if (env.ELASTICSEARCH_CA) out.ca_file = env.ELASTICSEARCH_CA;
  return Object.keys(out).length > 0 ? out : undefined;
}

export type Credentials =
  | { readonly kind: 'none' }
  | { readonly kind: 'api_key'; readonly apiKey: string }
  | { readonly kind: 'basic'; readonly username: string; readonly password: string };

export interface ResolvedSecrets {
  readonly credentials: Credentials;
  /** PEM text of the CA, when configured. */
  readonly ca: string | undefined;
  /** Every secret value, so messages from the client can be scrubbed of them. */
  readonly secretValues: readonly string[];
}

/** Reads the secrets the section names (files included). Throws ConfigError naming the key. */
export function resolveSecrets(config: ElasticsearchConfig): ResolvedSecrets {
  const read = (key: string, file: string): string => readConfigFile(`${SECTION_PATH}.${key}`, file);
  let credentials: Credentials = { kind: 'none' };
  const apiKey = config.api_key ?? (config.api_key_file ? read('api_key_file', config.api_key_file) : undefined);
  if (apiKey !== undefined) {
    if (apiKey.trim() === '') throw new ConfigError([`${SECTION_PATH}.api_key_file: the file is empty`]);
    credentials = { kind: 'api_key', apiKey: encodeApiKey(apiKey.trim()) };
  } else if (config.username !== undefined) {
    const password = config.password ?? read('password_file', config.password_file!);
    credentials = { kind: 'basic', username: config.username, password };
  }
  const ca = config.ca_file ? read('ca_file', config.ca_file) : undefined;
  const secretValues = [
    ...(credentials.kind === 'api_key' ? [credentials.apiKey, apiKey!.trim()] : []),
    // The password, and the Authorization header's base64 of user:password that carries it.
    ...(credentials.kind === 'basic' && credentials.password.length > 0
      ? [credentials.password, Buffer.from(`${credentials.username}:${credentials.password}`, 'utf8').toString('base64')]
      : []),
  ];
  return { credentials, ca, secretValues };
}

/** Elasticsearch's "encoded" API key is base64 of id:api_key; accept the id:api_key form too. */
export function encodeApiKey(value: string): string {
  return value.includes(':') ? Buffer.from(value, 'utf8').toString('base64') : value;
}
