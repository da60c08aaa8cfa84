/**
 * The `exporters.loki` config section, the environment variables that feed it, and the secrets it
 * names (read from the section or from files, never logged).
 */
import { z } from 'zod';
import { ConfigError } from '../../src/errors.js';
import { batchSchema, batchSettings, readConfigFile, resolveTls, retrySchema, retrySettings, tlsClientSchema } from '../push/config.js';
import type { PushTarget } from '../push/http-push.js';
import type { BatchSettings } from '../../src/component.js';
import type { RecordKind } from '../../src/records.js';
import { LABEL_NAME } from './labels.js';

export const SECTION_PATH = 'exporters.loki';
export const PUSH_PATH = '/loki/api/v1/push';

export const lokiConfigSchema = z.strictObject({
  enabled: z.boolean().default(false).describe('Ship logs and events to Loki. Setting LOKI_URL turns it on.'),
  url: z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' }).default(`http://localhost:3100${PUSH_PATH}`)
    .describe(`Loki's push endpoint (LOKI_URL); a URL without a path gets ${PUSH_PATH}.`),
  tenant_id: z.string().min(1).optional().describe('Sent as X-Scope-OrgID, for a multi-tenant Loki (LOKI_TENANT_ID).'),
  username: z.string().min(1).optional().describe('Basic authentication user (LOKI_USERNAME).'),
  password: z.string().optional().describe('Basic authentication password (LOKI_PASSWORD).'),
  password_file: z.string().min(1).optional().describe('File holding the password, instead of password.'),
  bearer_token: z.string().min(1).optional().describe('Sent as Authorization: Bearer (LOKI_BEARER_TOKEN).'),
  bearer_token_file: z.string().min(1).optional().describe('File holding the bearer token, instead of bearer_token.'),
  headers: z.record(z.string(), z.string()).default({}).describe('Extra HTTP headers sent with every push (never logged).'),
  tls: tlsClientSchema,
  encoding: z.enum(['protobuf', 'json']).default('protobuf').describe('protobuf: snappy-compressed protobuf, as Loki\'s own clients send; json: the JSON push body.'),
  compression: z.enum(['gzip', 'none']).default('gzip').describe('Of JSON bodies (protobuf bodies are always snappy, as Loki requires).'),
  request_timeout_ms: z.number().int().positive().default(30_000).describe('Timeout of one push request.'),
  labels: z.strictObject({
    host: z.boolean().default(true).describe('Stream label host: the Docker host\'s name.'),
    compose: z.boolean().default(true).describe('Stream labels compose_project and compose_service, from the compose labels (which labels.allow must let through).'),
    swarm: z.boolean().default(true).describe('Stream labels swarm_stack and swarm_service, from the swarm labels (which labels.allow must let through).'),
    container_name: z.enum(['always', 'unless_compose', 'never']).default('always')
      .describe('Stream label container_name: always (the default: each container its own streams, as Loki\'s Docker driver does), only for containers compose does not name a service of (unless_compose: replicas share a stream, and one replica\'s backlog more than an hour behind another\'s lines is refused as too far behind), or never (same trap).'),
    stream: z.boolean().default(true).describe('Stream label stream: stdout or stderr.'),
    service_name: z.boolean().default(true).describe('Stream label service_name (Loki 3 derives one otherwise): the compose or swarm service, else the container name.'),
    static: z.record(z.string(), z.string()).default({}).describe('Fixed stream labels on every stream, e.g. {env: prod}.'),
    from_container_labels: z.record(z.string(), z.string().min(1)).default({})
      .describe('Stream labels from container labels: Loki label name -> container label key (labels.allow must let the key through). Keep them low-cardinality.'),
  }).prefault({}),
  max_line_bytes: z.number().int().nonnegative().default(256 * 1024).describe(
    'Longest line (UTF-8 bytes) pushed: Loki refuses a whole push with a longer line (its limits_config.max_line_size, 256 KB by default). Longer lines go to the dead-letter file alone and the rest of the batch is pushed; 0: no limit.'),
  structured_metadata: z.boolean().default(true).describe(
    'Send container_id, container_image and the record id as structured metadata (Loki 3 with allow_structured_metadata). Turned off for the run, with a warning, when Loki refuses it.'),
  events: z.boolean().default(true).describe('Also ship Docker events, to the stream {service_name="docker", source="docker_events", event_type=…}.'),
  batch: batchSchema({
    maxRecords: 1000, maxBytes: 1024 * 1024, lingerMs: 200, concurrency: 2,
    maxBytesMeaning: 'Most bytes per export batch (records as queued, estimated): one push request each.',
  }),
  queue_size: z.number().int().positive().default(20_000).describe('Records queued for this exporter before collectors wait.'),
  retry: retrySchema,
}).superRefine((c, ctx) => {
  const problem = (path: string[], message: string) => ctx.addIssue({ code: 'custom', path, message });
  if (c.password !== undefined && c.password_file !== undefined) problem(['password_file'], 'set password or password_file, not both');
  if (c.bearer_token !== undefined && c.bearer_token_file !== undefined) problem(['bearer_token_file'], 'set bearer_token or bearer_token_file, not both');
  const hasPassword = c.password !== undefined || c.password_file !== undefined;
  const hasBearer = c.bearer_token !== undefined || c.bearer_token_file !== undefined;
  if (hasPassword && c.username === undefined) problem(['username'], 'a password needs a username');
  if (c.username !== undefined && !hasPassword) problem(['password'], `user ${JSON.stringify(c.username)} needs a password or password_file`);
  if (hasBearer && c.username !== undefined) problem(['bearer_token'], 'use a bearer token or a username and password, not both');
  for (const group of ['static', 'from_container_labels'] as const) {
    for (const name of Object.keys(c.labels[group])) {
      if (!LABEL_NAME.test(name)) problem(['labels', group, name], 'expected a Loki label name: letters, digits and _, not starting with a digit');
      else if (name.startsWith('__')) problem(['labels', group, name], 'names starting with __ are reserved by Loki');
    }
  }
  for (const name of Object.keys(c.headers)) {
    if (/^(authorization|x-scope-orgid|content-type|content-encoding|content-length)$/i.test(name)) problem(['headers', name], 'set by dockhand: use tenant_id, username/password or bearer_token');
  }
});

export type LokiConfig = z.output<typeof lokiConfigSchema>;
export type LokiConfigInput = z.input<typeof lokiConfigSchema>;

/**
 * Maps LOKI_URL (enables the exporter), LOKI_TENANT_ID, LOKI_USERNAME, LOKI_PASSWORD and
 * LOKI_BEARER_TOKEN onto the section. Returns undefined when none is set.
 */
export function lokiConfigFromEnv(env: NodeJS.ProcessEnv): Partial<LokiConfigInput> | undefined {
  const out: Partial<LokiConfigInput> = {};
  const url = env.LOKI_URL?.trim();
  if (url) {
    out.enabled = true;
    out.url = url;
  }
  if (env.LOKI_TENANT_ID) out.tenant_id = env.LOKI_TENANT_ID;
  if (env.LOKI_USERNAME) out.username = env.LOKI_USERNAME;
  if (env.LOKI_PASSWORD !== undefined && env.LOKI_PASSWORD !== '') out.password = env.LOKI_PASSWORD;
  if (env.LOKI_BEARER_TOKEN) out.bearer_token = env.LOKI_BEARER_TOKEN;
  return Object.keys(out).length > 0 ? out : undefined;
}

/** What the exporter runner needs of the exporter: kinds taken, batching, retry backoff. */
export function exporterShape(config: LokiConfig): { accepts: ReadonlySet<RecordKind>; batching: Partial<BatchSettings>; retry: { readonly initialMs: number; readonly maxMs: number } } {
  return {
    accepts: new Set<RecordKind>(config.events ? ['log', 'event'] : ['log']),
    batching: batchSettings(config.batch, config.queue_size),
    retry: retrySettings(config.retry),
  };
}

/** The push URL: a URL given without a path (http://loki:3100) means the standard push path. */
export function pushUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.pathname === '/' || parsed.pathname === '') parsed.pathname = PUSH_PATH;
  return parsed.href;
}

export interface ResolvedTarget {
  readonly target: PushTarget;
  readonly auth: 'none' | 'basic' | 'bearer';
  /** Every secret value, to scrub from messages. */
  readonly secrets: readonly string[];
}

/** Reads the secrets and PEMs the section names and builds the push target. Throws ConfigError naming the key. */
export function resolveTarget(config: LokiConfig): ResolvedTarget {
  const headers: Record<string, string> = { ...config.headers };
  const secrets: string[] = Object.values(config.headers).filter((v) => v.length >= 4);
  let auth: ResolvedTarget['auth'] = 'none';
  if (config.username !== undefined) {
    const password = config.password ?? readConfigFile(`${SECTION_PATH}.password_file`, config.password_file!);
    const credentials = Buffer.from(`${config.username}:${password}`, 'utf8').toString('base64');
    headers.authorization = `Basic ${credentials}`;
    // A receiver may echo the token alone, without "Basic ".
    secrets.push(credentials);
    if (password.length > 0) secrets.push(password);
    auth = 'basic';
  }
  const token = config.bearer_token ?? (config.bearer_token_file ? readConfigFile(`${SECTION_PATH}.bearer_token_file`, config.bearer_token_file) : undefined);
  if (token !== undefined) {
    if (token.trim() === '') throw new ConfigError([`${SECTION_PATH}.bearer_token_file: the file is empty`]);
    headers.authorization = `Bearer ${token.trim()}`;
    secrets.push(token.trim());
    auth = 'bearer';
  }
  if (config.tenant_id !== undefined) headers['x-scope-orgid'] = config.tenant_id;
  if (headers.authorization) secrets.push(headers.authorization);
  // Credentials in the URL's user info are sent as basic auth by Node: never echoed either.
  const { username: urlUser, password: urlPassword } = new URL(config.url);
  if (urlPassword) {
    const plain = decodeURIComponent(urlPassword);
    secrets.push(urlPassword, plain, Buffer.from(`${decodeURIComponent(urlUser)}:${plain}`, 'utf8').toString('base64'));
  }
  return {
    target: { url: pushUrl(config.url), headers, tls: resolveTls(`${SECTION_PATH}.tls`, config.tls), timeoutMs: config.request_timeout_ms },
    auth,
    secrets,
  };
}
