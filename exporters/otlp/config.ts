/**
 * The `exporters.otlp` config section, the standard OTEL_EXPORTER_OTLP_* environment variables
 * that feed it (as the OpenTelemetry SDKs and the Collector read them), and what it resolves to:
 * one push target per signal (logs, metrics).
 */
import { z } from 'zod';
import type { BatchSettings } from '../../src/component.js';
import { ConfigError } from '../../src/errors.js';
import type { RecordKind } from '../../src/records.js';
import { batchSchema, batchSettings, readConfigFile, resolveTls, retrySchema, retrySettings, tlsClientSchema } from '../push/config.js';
import type { PushTarget } from '../push/http-push.js';

export const SECTION_PATH = 'exporters.otlp';

const url = z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' });
const headers = z.record(z.string().min(1), z.string());
const protocol = z.enum(['http/protobuf', 'http/json', 'grpc']);
const compression = z.enum(['gzip', 'none']);
const timeoutMs = z.number().int().positive();

/** What a signal may set for itself, over the section's own values (OTEL_EXPORTER_OTLP_LOGS_* …). */
function signalSchema(signal: 'logs' | 'metrics') {
  return {
    endpoint: url.optional().describe(`Full URL ${signal} are POSTed to, used as it is (OTEL_EXPORTER_OTLP_${signal.toUpperCase()}_ENDPOINT); <endpoint>/v1/${signal} otherwise.`),
    headers: headers.optional().describe(`Headers for ${signal} requests only, over \`headers\`.`),
    protocol: protocol.optional().describe('Protocol of this signal, over `protocol`.'),
    compression: compression.optional().describe('Compression of this signal, over `compression`.'),
    timeout_ms: timeoutMs.optional().describe('Request timeout of this signal, over `timeout_ms`.'),
    ca_file: z.string().min(1).optional().describe('CA of this signal\'s server, over `tls.ca_file`.'),
  };
}

export const otlpConfigSchema = z.strictObject({
  enabled: z.boolean().default(false).describe('Ship logs and events (and container metrics, with metrics.enabled) over OTLP/HTTP. Setting OTEL_EXPORTER_OTLP_ENDPOINT turns it on.'),
  endpoint: url.default('http://localhost:4318').describe('Base URL of the OTLP/HTTP receiver (OTEL_EXPORTER_OTLP_ENDPOINT): logs go to <endpoint>/v1/logs, metrics to <endpoint>/v1/metrics.'),
  protocol: protocol.default('http/protobuf').describe('http/protobuf or http/json (OTEL_EXPORTER_OTLP_PROTOCOL); grpc is not supported: use the receiver\'s HTTP port (4318).'),
  headers: headers.default({}).describe('Headers sent with every request (OTEL_EXPORTER_OTLP_HEADERS, k=v,k2=v2 URL-encoded), e.g. an authorization; their values are never logged.'),
  compression: compression.default('gzip').describe('gzip or none (OTEL_EXPORTER_OTLP_COMPRESSION).'),
  timeout_ms: timeoutMs.default(10_000).describe('Timeout of one export request (OTEL_EXPORTER_OTLP_TIMEOUT).'),
  tls: tlsClientSchema.describe('TLS client settings for https:// endpoints (OTEL_EXPORTER_OTLP_CERTIFICATE, _CLIENT_CERTIFICATE, _CLIENT_KEY).'),
  logs: z.strictObject({
    ...signalSchema('logs'),
    events: z.boolean().default(true).describe('Also ship Docker events, as log records with an event name.'),
  }).prefault({}),
  metrics: z.strictObject({
    enabled: z.boolean().default(false).describe('Also ship container metrics (container.cpu.time, container.memory.usage …) to the metrics endpoint.'),
    ...signalSchema('metrics'),
  }).prefault({}),
  batch: batchSchema({ maxRecords: 1000, maxBytes: 4 * 1024 * 1024, lingerMs: 200, concurrency: 2 }),
  queue_size: z.number().int().positive().default(20_000).describe('Records queued for this exporter before collectors wait.'),
  retry: retrySchema,
}).superRefine((c, ctx) => {
  const grpc = (path: string[]) => ctx.addIssue({ code: 'custom', path, message: 'grpc is not supported: use http/protobuf or http/json (the receiver\'s OTLP/HTTP port, 4318 by default)' });
  if (c.protocol === 'grpc') grpc(['protocol']);
  if (c.logs.protocol === 'grpc') grpc(['logs', 'protocol']);
  if (c.metrics.protocol === 'grpc') grpc(['metrics', 'protocol']);
});

export type OtlpConfig = z.output<typeof otlpConfigSchema>;
type OtlpConfigInput = z.input<typeof otlpConfigSchema>;

export type Signal = 'logs' | 'metrics';
export type Encoding = 'protobuf' | 'json';

/** Where and how one signal is sent. */
export interface SignalTarget {
  readonly signal: Signal;
  readonly push: PushTarget;
  readonly encoding: Encoding;
  readonly gzip: boolean;
}

/** The URL of a signal: its own endpoint as it is, else the base endpoint with /v1/<signal> appended (one slash between). */
export function signalUrl(config: Pick<OtlpConfig, 'endpoint' | 'logs' | 'metrics'>, signal: Signal): string {
  const own = config[signal].endpoint;
  if (own !== undefined) return own;
  return `${config.endpoint.replace(/\/+$/, '')}/v1/${signal}`;
}

/** Resolves a signal's settings (reading the PEM files they name): ConfigError naming the key when one cannot be read. */
export function resolveSignal(config: OtlpConfig, signal: Signal): SignalTarget {
  const own = config[signal];
  const tls = resolveTls(`${SECTION_PATH}.tls`, config.tls);
  const ca = own.ca_file !== undefined ? readConfigFile(`${SECTION_PATH}.${signal}.ca_file`, own.ca_file) : tls.ca;
  const protocol = own.protocol ?? config.protocol;
  return {
    signal,
    push: { url: signalUrl(config, signal), headers: { ...config.headers, ...own.headers }, tls: { ...tls, ca }, timeoutMs: own.timeout_ms ?? config.timeout_ms },
    encoding: protocol === 'http/json' ? 'json' : 'protobuf',
    gzip: (own.compression ?? config.compression) === 'gzip',
  };
}

/** What the exporter runner needs to know before start: kinds taken, batching, retry backoff. */
export function exporterShape(config: OtlpConfig): { accepts: ReadonlySet<RecordKind>; batching: Partial<BatchSettings>; retry: { readonly initialMs: number; readonly maxMs: number } } {
  const kinds: RecordKind[] = ['log'];
  if (config.logs.events) kinds.push('event');
  if (config.metrics.enabled) kinds.push('metric');
  return { accepts: new Set(kinds), batching: batchSettings(config.batch, config.queue_size), retry: retrySettings(config.retry) };
}

/**
 * Parses a header list as OTEL_EXPORTER_OTLP_HEADERS has it: `k=v,k2=v2`, W3C Baggage style, each
 * key and value URL-decoded and trimmed. `variable` names the variable in errors (never its value).
 */
export function parseHeaderList(text: string, variable: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [index, item] of text.split(',').entries()) {
    if (item.trim() === '') continue;
    const eq = item.indexOf('=');
    const key = eq > 0 ? decode(item.slice(0, eq).trim()) : undefined;
    const value = eq > 0 ? decode(item.slice(eq + 1).trim()) : undefined;
    if (!key || value === undefined) throw new ConfigError([`${variable}: entry ${index + 1} is not key=value (expected k=v,k2=v2, URL-encoded)`]);
    out[key] = value;
  }
  return out;
}

function decode(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

/** A number from a variable, or the text as it is (the schema then says what is wrong, naming the key and the variable). */
function numberOrText(text: string): number | string {
  return /^\s*\d+\s*$/.test(text) ? Number(text) : text;
}

const ENV = 'OTEL_EXPORTER_OTLP_';

/** The settings one prefix of variables gives (OTEL_EXPORTER_OTLP_, OTEL_EXPORTER_OTLP_LOGS_ …), with the TLS files apart. */
function fromPrefix(env: NodeJS.ProcessEnv, prefix: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const value = (name: string) => {
    const v = env[prefix + name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  const endpoint = value('ENDPOINT');
  if (endpoint !== undefined) out.endpoint = endpoint;
  const headerList = value('HEADERS');
  if (headerList !== undefined) out.headers = parseHeaderList(headerList, `${prefix}HEADERS`);
  const proto = value('PROTOCOL');
  if (proto !== undefined) out.protocol = proto;
  const comp = value('COMPRESSION');
  if (comp !== undefined) out.compression = comp;
  const timeout = value('TIMEOUT');
  if (timeout !== undefined) out.timeout_ms = numberOrText(timeout);
  return out;
}

/**
 * Maps the OTEL_EXPORTER_OTLP_* variables onto the section: ENDPOINT (enables the exporter),
 * HEADERS, PROTOCOL, COMPRESSION, TIMEOUT (ms), CERTIFICATE, CLIENT_CERTIFICATE, CLIENT_KEY, and
 * their LOGS_ / METRICS_ variants (a METRICS_ENDPOINT also turns metrics on). Undefined when none is set.
 */
export function otlpConfigFromEnv(env: NodeJS.ProcessEnv): Partial<OtlpConfigInput> | undefined {
  const out: Record<string, unknown> = fromPrefix(env, ENV);
  const tls: Record<string, string> = {};
  const file = (name: string) => env[ENV + name]?.trim() || undefined;
  if (file('CERTIFICATE')) tls.ca_file = file('CERTIFICATE')!;
  if (file('CLIENT_CERTIFICATE')) tls.cert_file = file('CLIENT_CERTIFICATE')!;
  if (file('CLIENT_KEY')) tls.key_file = file('CLIENT_KEY')!;
  if (Object.keys(tls).length > 0) out.tls = tls;
  for (const signal of ['logs', 'metrics'] as const) {
    const own = fromPrefix(env, `${ENV}${signal.toUpperCase()}_`);
    const ca = env[`${ENV}${signal.toUpperCase()}_CERTIFICATE`]?.trim();
    if (ca) own.ca_file = ca;
    if (signal === 'metrics' && own.endpoint !== undefined) own.enabled = true;
    if (Object.keys(own).length > 0) out[signal] = own;
  }
  if (out.endpoint !== undefined || (out.logs as { endpoint?: string } | undefined)?.endpoint !== undefined || (out.metrics as { endpoint?: string } | undefined)?.endpoint !== undefined) out.enabled = true;
  return Object.keys(out).length > 0 ? out as Partial<OtlpConfigInput> : undefined;
}
