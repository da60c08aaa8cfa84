/**
 * The `loki` exporter type: its config section and how it is built. The exporter (exporter.ts) is
 * small and loads nothing heavy, so it is built at once; secret files are read at construction, so
 * --check-config refuses what a start would.
 */
import { defineExporter, type ExporterContext } from '../../src/component.js';
import { lokiConfigFromEnv, lokiConfigSchema, type LokiConfig } from './config.js';
import { LokiExporter } from './exporter.js';

export const lokiExporter = defineExporter({
  type: 'loki',
  configSchema: lokiConfigSchema,
  isEnabled: (config) => config.enabled,
  create: (config: LokiConfig, ctx: ExporterContext) => new LokiExporter(config, ctx),
  fromEnv: lokiConfigFromEnv,
});

export { lokiConfigSchema, lokiConfigFromEnv };
export type { LokiConfig };
