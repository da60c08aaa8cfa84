/**
 * The `elasticsearch` exporter type: its config section and how it is built. The exporter itself
 * (exporter.ts) and the official client's transport it uses (transport.ts, ~+5 MiB RSS) are loaded
 * only when the exporter is enabled, in start(): an agent shipping to files or Prometheus alone
 * never loads them.
 */
import { defineExporter, type BatchSettings, type Exporter, type ExporterContext, type Health } from '../../src/component.js';
import { RetryableError } from '../../src/errors.js';
import type { AgentRecord, RecordKind } from '../../src/records.js';
import { elasticsearchConfigFromEnv, elasticsearchConfigSchema, exporterShape, resolveSecrets, type ElasticsearchConfig } from './config.js';
import type { ElasticsearchExporter } from './exporter.js';

type Context = Pick<ExporterContext, 'logger' | 'metrics' | 'agentVersion'>;

/** Stands in for the exporter until start() has loaded it; then every call goes to it. */
export class LazyElasticsearchExporter implements Exporter {
  readonly id = 'elasticsearch';
  readonly accepts: ReadonlySet<RecordKind>;
  readonly batching: Partial<BatchSettings>;
  readonly retry: { readonly initialMs: number; readonly maxMs: number };
  private loaded: ElasticsearchExporter | undefined;

  constructor(private readonly config: ElasticsearchConfig, private readonly ctx: Context) {
    ({ accepts: this.accepts, batching: this.batching, retry: this.retry } = exporterShape(config));
    // Secret files are read now, as the exporter itself would: a config a start refuses is refused by --check-config too.
    resolveSecrets(config);
  }

  async start(): Promise<void> {
    const { ElasticsearchExporter } = await import('./exporter.js');
    this.loaded = new ElasticsearchExporter(this.config, this.ctx);
    await this.loaded.start();
  }

  export(batch: readonly AgentRecord[]): Promise<void> {
    if (!this.loaded) return Promise.reject(new RetryableError('Elasticsearch exporter not started'));
    return this.loaded.export(batch);
  }

  async flush(): Promise<void> {
    await this.loaded?.flush();
  }

  whenAnswering(signal: AbortSignal): Promise<void> {
    if (this.loaded) return this.loaded.whenAnswering(signal);
    return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  }

  async stop(): Promise<void> {
    await this.loaded?.stop();
  }

  health(): Health {
    return this.loaded?.health() ?? { healthy: false, reason: 'Elasticsearch exporter not started' };
  }

  status(): Record<string, unknown> {
    return this.loaded?.status() ?? { ready: false };
  }
}

export const elasticsearchExporter = defineExporter({
  type: 'elasticsearch',
  configSchema: elasticsearchConfigSchema,
  isEnabled: (config) => config.enabled,
  create: (config, ctx) => new LazyElasticsearchExporter(config, ctx),
  fromEnv: elasticsearchConfigFromEnv,
});

export { elasticsearchConfigSchema, elasticsearchConfigFromEnv };
export type { ElasticsearchConfig };
