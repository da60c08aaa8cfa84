/**
 * The Loki exporter against the Loki test server and, opt-in, a real Loki (3.x, with
 * allow_structured_metadata as its default):
 *   LOKI_TEST_URL=http://localhost:3100 [LOKI_TEST_TENANT=…] node --test dist/test/unit/loki-exporter.test.js
 * The same expectations on both: a batch is stored and read back with its labels and Docker
 * timestamps; the same batch pushed again (a replay after a crash) leaves every entry once; an entry
 * too far behind its stream is a PermanentError naming Loki's reason. Each run writes streams with a
 * label of its own (dockhand_test_run).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { ContainerMeta, LogRecord } from '../../src/records.js';
import { PermanentError } from '../../src/errors.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { SelfMetrics } from '../../src/telemetry/metrics.js';
import { lokiConfigSchema } from '../../exporters/loki/config.js';
import { LokiExporter } from '../../exporters/loki/exporter.js';
import { LokiTestServer } from '../helpers/loki-server.js';

interface Line {
  readonly time: bigint;
  readonly line: string;
}

interface Target {
  readonly url: string;
  readonly tenant?: string | undefined;
  /** The entries of the streams carrying dockhand_test_run=`run`, as Loki returns them. */
  query(run: string): Promise<Line[]>;
  close(): Promise<void>;
}

function lokiSuite(name: string, open: () => Promise<Target | undefined>): void {
  const cases: [string, (target: Target, run: string) => Promise<void>][] = [
    ['a batch is stored: its lines at their Docker timestamps', async (target, run) => {
      const exporter = exporterFor(target, run);
      const records = batch(run, 0, 50);
      await exporter.export(records);
      const stored = await eventually(() => target.query(run), (lines) => lines.length >= 50);
      assert.deepEqual(sorted(stored), sorted(records.map((r) => ({ time: r.time, line: r.message }))));
    }],
    ['the same batch pushed again (a replay after a crash) leaves each entry once', async (target, run) => {
      const exporter = exporterFor(target, run);
      const records = batch(run, 0, 40);
      await exporter.export(records);
      await exporter.export(records);
      await exporter.export(records.slice(10, 30));
      const stored = await eventually(() => target.query(run), (lines) => lines.length >= 40);
      assert.equal(stored.length, 40, 'no entry twice');
    }],
    ['an entry too far behind its stream is refused for good, with Loki\'s reason', async (target, run) => {
      const exporter = exporterFor(target, run);
      await exporter.export(batch(run, 0, 5));
      const old = batch(run, -2 * 3600, 3);
      await assert.rejects(exporter.export(old), (error: Error) => error instanceof PermanentError && /HTTP 400.*too far behind/s.test(error.message));
      assert.deepEqual((exporter.status().entries as { rejected: Record<string, number> }).rejected, { too_far_behind: 3 });
    }],
  ];
  for (const [title, body] of cases) {
    test(`${name}: ${title}`, async (t) => {
      const target = await open();
      if (!target) {
        t.skip('LOKI_TEST_URL not set');
        return;
      }
      try {
        await body(target, `r${randomBytes(4).toString('hex')}`);
      } finally {
        for (const exporter of opened.splice(0)) await exporter.stop();
        await target.close();
      }
    });
  }
}

lokiSuite('test server', async () => {
  const server = await LokiTestServer.start();
  return {
    url: server.url,
    query: async (run) => server.entries((labels) => labels.dockhand_test_run === run).map((e) => ({ time: e.time, line: e.line })),
    close: () => server.close(),
  };
});

lokiSuite('real Loki', async () => {
  const url = process.env.LOKI_TEST_URL;
  if (!url) return undefined;
  const tenant = process.env.LOKI_TEST_TENANT;
  return { url, tenant, query: (run) => queryLoki(url, tenant, run), close: async () => undefined };
});

const container: ContainerMeta = { id: 'e'.repeat(64), name: 'loki-suite', image: 'busybox:latest', labels: {}, host: 'suite-host' };

/** `count` lines a millisecond apart, starting `offsetSeconds` from now (nanoseconds kept, as Docker stamps them). */
function batch(run: string, offsetSeconds: number, count: number): LogRecord[] {
  const start = (BigInt(Date.now()) + BigInt(offsetSeconds) * 1000n) * 1_000_000n + 123n;
  return Array.from({ length: count }, (_, i) => ({
    kind: 'log' as const, id: `${run}-${offsetSeconds}-${i}`, time: start + BigInt(i) * 1_000_000n, stream: 'stdout' as const, message: `${run} line ${offsetSeconds} ${i}`, container,
  }));
}

const opened: LokiExporter[] = [];

function exporterFor(target: Target, run: string): LokiExporter {
  const config = lokiConfigSchema.parse({
    enabled: true, url: target.url, ...(target.tenant ? { tenant_id: target.tenant } : {}), labels: { static: { dockhand_test_run: run } },
  });
  const exporter = new LokiExporter(config, { logger: silentLogger(), metrics: new SelfMetrics({ defaultMetrics: false }) });
  void exporter.start();
  opened.push(exporter);
  return exporter;
}

function sorted(lines: readonly Line[]): Line[] {
  return [...lines].sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : a.line.localeCompare(b.line)));
}

/** Loki makes pushed entries queryable within a moment, not at once. */
async function eventually(query: () => Promise<Line[]>, done: (lines: Line[]) => boolean): Promise<Line[]> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const lines = await query();
    if (done(lines) || Date.now() > deadline) return lines;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function queryLoki(url: string, tenant: string | undefined, run: string): Promise<Line[]> {
  const now = Date.now();
  const params = new URLSearchParams({
    query: `{dockhand_test_run="${run}"}`, start: String((now - 3 * 3600_000) * 1e6), end: String((now + 600_000) * 1e6), limit: '5000', direction: 'forward',
  });
  const response = await fetch(new URL(`/loki/api/v1/query_range?${params}`, url), { headers: tenant ? { 'X-Scope-OrgID': tenant } : {} });
  assert.equal(response.status, 200, await response.clone().text());
  const body = await response.json() as { data: { result: { values: [string, string][] }[] } };
  return body.data.result.flatMap((stream) => stream.values.map(([time, line]) => ({ time: BigInt(time), line })));
}

test('test server, as Loki: a replay is dropped only while its entries are in the stream\'s open head block (256 KiB of lines); a later repeat is stored twice', async () => {
  const server = await LokiTestServer.start();
  const run = `r${randomBytes(4).toString('hex')}`;
  try {
    const exporter = exporterFor({ url: server.url, query: async () => [], close: async () => undefined }, run);
    const first = batch(run, -60, 10);
    await exporter.export(first);
    await exporter.export(first.slice(5));
    assert.equal(server.counters.duplicates, 5, 'a recent replay is dropped');
    // 300 KiB of newer lines in the same stream: the head block holding `first` is cut.
    const filler = batch(run, -30, 300).map((r) => ({ ...r, message: `${r.message} ${'f'.repeat(1024)}` }));
    await exporter.export(filler);
    await exporter.export(first);
    const mine = server.entries((labels) => labels.dockhand_test_run === run);
    assert.equal(mine.length, 10 + 300 + 10, 'the late replay is stored again');
  } finally {
    for (const exporter of opened.splice(0)) await exporter.stop();
    await server.close();
  }
});
