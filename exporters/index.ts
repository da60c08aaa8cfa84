/** Every exporter type, declared explicitly (no side-effect registration). */
import type { ExporterFactory } from '../src/component.js';
import { prometheusExporterFactory } from './prometheus/index.js';
import { fileExporterFactory } from './file/index.js';
import { elasticsearchExporter } from './elasticsearch/index.js';
import { otlpExporter } from './otlp/index.js';
import { lokiExporter } from './loki/index.js';

export const exporterFactories: readonly ExporterFactory[] = [
  prometheusExporterFactory,
  fileExporterFactory,
  elasticsearchExporter,
  otlpExporter,
  lokiExporter,
];
