/** Every exporter type, declared explicitly (no side-effect registration). */
import type { ExporterFactory } from '../src/component.js';

export const exporterFactories: readonly ExporterFactory[] = [];
