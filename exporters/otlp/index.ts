/**
 * The `otlp` exporter type: its config section and how it is built. Unlike Elasticsearch's client,
 * the exporter and its encoders are small: loaded with the agent, no lazy stand-in.
 */
import { defineExporter } from '../../src/component.js';
import { otlpConfigFromEnv, otlpConfigSchema } from './config.js';
import { OtlpExporter } from './exporter.js';

export const otlpExporter = defineExporter({
  type: 'otlp',
  configSchema: otlpConfigSchema,
  isEnabled: (config) => config.enabled,
  // Resolves the PEM files the section names: a config a start refuses is refused by --check-config too.
  create: (config, ctx) => new OtlpExporter(config, ctx),
  fromEnv: otlpConfigFromEnv,
});
