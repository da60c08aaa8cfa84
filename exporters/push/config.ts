/**
 * Config pieces every exporter shares: the retry block (with its own check), the batch block, a
 * TLS client block, and reading the secret files they name. As the OpenTelemetry Collector's
 * configretry: one definition, reused by every exporter.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { BatchSettings } from '../../src/component.js';
import { ConfigError, errorMessage } from '../../src/errors.js';
import type { RetrySettings } from '../../src/pipeline/exporter-runner.js';
import type { PushTls } from './http-push.js';

export const retrySchema = z.strictObject({
  initial_ms: z.number().int().positive().default(200).describe('First retry delay; doubles, with jitter.'),
  max_ms: z.number().int().positive().default(30_000).describe('Longest retry delay.'),
}).superRefine((retry, ctx) => {
  if (retry.initial_ms > retry.max_ms) ctx.addIssue({ code: 'custom', path: ['initial_ms'], message: 'must not exceed retry.max_ms' });
}).prefault({});

export type RetryConfig = z.output<typeof retrySchema>;

export function retrySettings(retry: RetryConfig): RetrySettings {
  return { initialMs: retry.initial_ms, maxMs: retry.max_ms };
}

export interface BatchDefaults {
  readonly maxRecords: number;
  readonly maxBytes: number;
  readonly lingerMs: number;
  readonly concurrency: number;
  /** Says what max_bytes bounds for this exporter. */
  readonly maxBytesMeaning?: string;
}

export function batchSchema(defaults: BatchDefaults) {
  return z.strictObject({
    max_records: z.number().int().positive().default(defaults.maxRecords).describe('Most records per export batch.'),
    max_bytes: z.number().int().positive().default(defaults.maxBytes).describe(defaults.maxBytesMeaning ?? 'Most bytes per export batch (records as queued, estimated).'),
    linger_ms: z.number().int().nonnegative().default(defaults.lingerMs).describe('How long a partial batch waits for more records (one of a tenth of max_records or more, or any right after a full batch, as at the end of a burst, goes out sooner once none has come for 25 ms).'),
    concurrency: z.number().int().min(1).max(64).default(defaults.concurrency).describe('Requests in flight at once.'),
  }).prefault({});
}

export type BatchConfig = z.output<ReturnType<typeof batchSchema>>;

export function batchSettings(batch: BatchConfig, queueSize: number): Partial<BatchSettings> {
  return { maxRecords: batch.max_records, maxBytes: batch.max_bytes, lingerMs: batch.linger_ms, concurrency: batch.concurrency, queueSize };
}

export const tlsClientSchema = z.strictObject({
  ca_file: z.string().min(1).optional().describe('PEM file of the CA that signed the server certificate (the system CAs otherwise).'),
  cert_file: z.string().min(1).optional().describe('PEM client certificate, for mutual TLS (with key_file).'),
  key_file: z.string().min(1).optional().describe('PEM key of the client certificate.'),
  insecure_skip_verify: z.boolean().default(false).describe('Do not verify the server certificate. Only for testing.'),
}).superRefine((tls, ctx) => {
  if ((tls.cert_file === undefined) !== (tls.key_file === undefined)) {
    ctx.addIssue({ code: 'custom', path: [tls.cert_file === undefined ? 'cert_file' : 'key_file'], message: 'cert_file and key_file go together' });
  }
}).prefault({});

export type TlsClientConfig = z.output<typeof tlsClientSchema>;

/** Reads a file a config key names (a secret, a PEM), without its final newline; ConfigError naming the key otherwise. */
export function readConfigFile(keyPath: string, file: string): string {
  try {
    return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (error) {
    throw new ConfigError([`${keyPath}: cannot read ${JSON.stringify(file)}: ${errorMessage(error)}`]);
  }
}

/** The PEMs a TLS block names, read. `sectionPath` is the block's place in the config, for errors. */
export function resolveTls(sectionPath: string, tls: TlsClientConfig): PushTls {
  const read = (key: 'ca_file' | 'cert_file' | 'key_file') => {
    const file = tls[key];
    return file === undefined ? undefined : readConfigFile(`${sectionPath}.${key}`, file);
  };
  return { ca: read('ca_file'), cert: read('cert_file'), key: read('key_file'), verify: !tls.insecure_skip_verify };
}
