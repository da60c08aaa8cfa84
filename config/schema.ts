/**
 * The whole configuration, one typed schema. Unknown keys are rejected everywhere; every key has a
 * default so an empty file (or none) is a working configuration. Collector and exporter sections
 * come from their own folders through the explicit lists in collectors/index.ts and exporters/index.ts.
 */
import { z } from 'zod';
import { collectorFactories } from '../collectors/index.js';
import { exporterFactories } from '../exporters/index.js';
import { cronSchedule } from '../src/util/cron-schedule.js';
import { TLS_VERSIONS } from '../src/server/tls.js';

const hostPort = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:9487').refine((v) => {
  const port = Number(v.slice(v.lastIndexOf(':') + 1));
  return port >= 0 && port < 65536;
}, 'port must be 0-65535');


export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

function sectionsOf(factories: readonly { type: string; configSchema: z.ZodType }[]) {
  return z.strictObject(Object.fromEntries(factories.map((f) => [f.type, f.configSchema.prefault({})]))).prefault({});
}

export const configSchema = z.strictObject({
  listen: hostPort.default('127.0.0.1:9487').describe('Address of the HTTP server (/healthz /readyz /metrics /status).'),
  server: z.strictObject({
    tls: z.strictObject({
      cert_file: z.string().min(1).optional().describe('PEM certificate (chain) of the HTTP server; with key_file the server speaks HTTPS only (TLS min_version and up). Re-read when the file changes.'),
      key_file: z.string().min(1).optional().describe('Unencrypted PEM private key of cert_file. Re-read when the file changes.'),
      client_ca_file: z.string().min(1).optional().describe('PEM CA bundle: when set, clients must present a certificate it signed (mutual TLS).'),
      min_version: z.enum(TLS_VERSIONS).default('TLSv1.2').describe('Oldest TLS version the server accepts.'),
    }).prefault({}),
    auth: z.strictObject({
      basic_users_file: z.string().min(1).optional().describe('File of user:$scrypt$… lines (made by hash-password): every endpoint but open_paths then needs basic auth. Re-read when the file changes.'),
      bearer_token_file: z.string().min(1).optional().describe('File holding one bearer token: every endpoint but open_paths then needs Authorization: Bearer <token>. Re-read when the file changes.'),
      open_paths: z.array(z.enum(['/healthz', '/readyz', '/metrics', '/status'])).default(['/healthz']).describe('Endpoints served without credentials when auth is on (/healthz: the image HEALTHCHECK calls it without any).'),
    }).prefault({}),
    allowed_hosts: z.array(z.string().min(1)).default([]).describe('Without server.auth, /ui/ and /status answer only when the Host header is an IP address, localhost, this machine\'s name or one of these names (others get 403): a guard against DNS rebinding. /healthz, /readyz and /metrics answer to any name.'),
    status_top: z.boolean().default(false).describe('Serve /status?top=<container>: runs ps in the daemon and returns every process\'s full command line (arguments, secrets included). Refused (403) unless true.'),
  }).prefault({}),
  data_dir: z.string().min(1).default('./data').describe('Where checkpoints and the file sink live.'),
  log: z.strictObject({
    level: z.enum(LOG_LEVELS).default('info').describe('Log level of the agent itself.'),
    format: z.enum(['json', 'pretty']).default('json').describe('json for machines, pretty for people.'),
  }).prefault({}),
  docker: z.strictObject({
    host: z.string().optional().describe('Daemon address (DOCKER_HOST): unix:///var/run/docker.sock or tcp://host:port.'),
    tls_verify: z.boolean().default(false).describe('Verify the daemon against ca.pem (DOCKER_TLS_VERIFY).'),
    cert_path: z.string().optional().describe('Directory with ca.pem, cert.pem, key.pem (DOCKER_CERT_PATH).'),
    context: z.string().optional().describe('Docker context name (DOCKER_CONTEXT); else currentContext of config.json.'),
    config_dir: z.string().optional().describe('Docker CLI config directory (DOCKER_CONFIG), default ~/.docker.'),
    reconnect_initial_ms: z.number().int().positive().default(500).describe('First reconnect delay; doubles up to reconnect_max_ms, with jitter.'),
    reconnect_max_ms: z.number().int().positive().default(30_000).describe('Longest reconnect delay.'),
    request_timeout_ms: z.number().int().positive().default(30_000).describe('Timeout of non-streaming API calls.'),
  }).prefault({}),
  labels: z.strictObject({
    allow: z.array(z.string()).default([
      'com.docker.compose.project',
      'com.docker.compose.service',
      'com.docker.compose.container-number',
      'com.docker.stack.namespace',
      'com.docker.swarm.service.name',
      'com.docker.swarm.task.name',
      'com.docker.swarm.node.id',
    ]).describe('Container labels (globs) copied onto records and metrics; nothing else is shipped.'),
  }).prefault({}),
  inventory: z.strictObject({
    resync_schedule: cronSchedule().default('*/5 * * * *').describe('node-cron schedule of the full container re-sync that heals missed events.'),
  }).prefault({}),
  pipeline: z.strictObject({
    queue_size: z.number().int().positive().default(20_000).describe('Log records each exporter\'s log lane holds before the log streams wait (events and metrics have lanes of their own, below).'),
    queue_bytes: z.number().int().min(65_536).default(16 * 1024 * 1024).describe('Log record bytes (message plus ~256 bytes a record, estimated) each exporter\'s log lane holds before the log streams wait, whichever of this and queue_size comes first: long lines fill it long before 20,000 of them.'),
    when_full: z.enum(['block', 'drop_newest']).default('block').describe('When a log lane is full: block pauses the Docker log streams (nothing lost); drop_newest drops and counts.'),
    events: z.strictObject({
      memory_records: z.number().int().positive().default(100).describe('Events each exporter holds in memory; beyond, they spill to <data_dir>/spill/<exporter>/event (never waiting). Kept below the 256 events the daemon can replay, so a crash loses none.'),
      spill_max_bytes: z.number().int().positive().default(256 * 1024 * 1024).describe('Spilled, undelivered event bytes per exporter at most; beyond, new events are dropped (dockhand_records_dropped_total{reason="spill_full"}).'),
    }).prefault({}),
    metrics: z.strictObject({
      queue_size: z.number().int().positive().default(10_000).describe('Metric (and engine) samples each exporter queues; when full the oldest are dropped (dockhand_records_dropped_total{reason="oldest_sample"}): a newer sample supersedes them.'),
    }).prefault({}),
  }).prefault({}),
  shutdown: z.strictObject({
    grace_ms: z.number().int().nonnegative().default(10_000).describe('How long SIGTERM waits for queues to drain before exiting.'),
  }).prefault({}),
  collectors: sectionsOf(collectorFactories),
  exporters: sectionsOf(exporterFactories),
});

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
