import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { exporterFactories } from '../../exporters/index.js';
import { elasticsearchConfigSchema } from '../../exporters/elasticsearch/config.js';
import { SelfMetrics } from '../../src/telemetry/metrics.js';
import { createLogger } from '../../src/telemetry/logger.js';

const dist = fileURLToPath(new URL('../../', import.meta.url));

/** Every module a compiled file loads through static imports (dynamic import() not followed); packages by name. */
function staticGraph(entry: string): Set<string> {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|^\s*import\s+['"]([^'"]+)['"]/gm)) {
      const spec = (match[1] ?? match[2])!;
      if (spec.startsWith('.')) visit(path.resolve(path.dirname(file), spec));
      else seen.add(spec);
    }
  };
  visit(entry);
  return seen;
}

test('the Elasticsearch client is loaded only when the exporter starts: nothing the agent loads at start-up imports it', () => {
  const atStart = staticGraph(path.join(dist, 'src/main.js'));
  assert.ok(atStart.has(path.join(dist, 'exporters/elasticsearch/index.js')), 'the exporter type is declared');
  assert.equal([...atStart].some((m) => m.startsWith('@elastic/')), false, [...atStart].filter((m) => m.includes('elastic')).join(', '));
  assert.equal(atStart.has(path.join(dist, 'exporters/elasticsearch/exporter.js')), false);
  // The walk does see where it is loaded: the exporter's transport module, which requires the client's own transport.
  assert.ok(staticGraph(path.join(dist, 'exporters/elasticsearch/exporter.js')).has(path.join(dist, 'exporters/elasticsearch/transport.js')));
  assert.match(readFileSync(path.join(dist, 'exporters/elasticsearch/transport.js'), 'utf8'), /resolve\('@elastic\/elasticsearch'\)/);
});

test('the declared exporter knows its kinds and batching before it is loaded, and loads on start', async (t) => {
  const factory = exporterFactories.find((f) => f.type === 'elasticsearch')!;
  const config = elasticsearchConfigSchema.parse({ enabled: true, urls: ['http://127.0.0.1:9'], metrics: { enabled: true }, batch: { concurrency: 3 } });
  const exporter = factory.create(config, { logger: createLogger({ level: 'silent', format: 'json' }), metrics: new SelfMetrics(), agentVersion: '0.1.0-test', dataDir: '/nonexistent', inventory: undefined as never });
  t.after(() => exporter.stop());
  assert.deepEqual([...exporter.accepts].sort(), ['event', 'log', 'metric']);
  assert.equal(exporter.batching?.concurrency, 3);
  assert.deepEqual(exporter.health(), { healthy: false, reason: 'Elasticsearch exporter not started' });
  await assert.rejects(exporter.export([]), /not started/);
  await exporter.start(); // nothing listens on port 9: started, not ready
  assert.match(exporter.health().reason ?? '', /Elasticsearch not reachable/);
  assert.equal(exporter.status?.().ready, false);
});
