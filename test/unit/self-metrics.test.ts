import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { closeSync, openSync } from 'node:fs';
import { SelfMetrics } from '../../src/telemetry/metrics.js';

/** Longer than the agent's (1 s), so that a loaded machine does not void the test. */
const WINDOW_MS = 2000;

/** Blocks the event loop, as a long synchronous task does. */
function block(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) { /* busy */ }
}

/** The value of the unlabelled series `name` on a scrape. */
async function served(metrics: SelfMetrics, name: string): Promise<number> {
  const line = (await metrics.registry.metrics()).split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(line, `${name} is served`);
  return Number(line.split(' ')[1]);
}

const lagMax = (metrics: SelfMetrics) => served(metrics, 'nodejs_eventloop_lag_max_seconds');
const openFds = (metrics: SelfMetrics) => served(metrics, 'process_open_fds');

test('event loop lag figures: a scrape within the window of the last one shows that window; the delay is counted in the next', async () => {
  const metrics = new SelfMetrics({ defaultMetricsMinWindowMs: WINDOW_MS });
  await sleep(50);
  const windowStart = performance.now();
  const first = await lagMax(metrics);
  assert.ok(first < 0.2, `no long block yet (${first} s)`);

  await sleep(50);
  block(250);
  for (let i = 0; i < 5; i++) await sleep(20); // the delay histogram records the block as its timer turns
  assert.ok(performance.now() - windowStart < WINDOW_MS, 'still within the window (a very slow machine would void this test)');
  assert.equal(await lagMax(metrics), first, 'the same window: figures unchanged');

  await sleep(WINDOW_MS - (performance.now() - windowStart) + 20);
  const next = await lagMax(metrics);
  assert.ok(next >= 0.2, `the block is in the next window, not lost (${next} s)`);
});

test('process figures (open fds and the like) are collected at most once a window: a scrape within it shows the last ones, the next window the new ones', async () => {
  const metrics = new SelfMetrics({ defaultMetricsMinWindowMs: WINDOW_MS });
  const windowStart = performance.now();
  const before = await openFds(metrics);
  const fds = Array.from({ length: 20 }, () => openSync('/dev/null', 'r'));
  try {
    assert.equal(await openFds(metrics), before, 'the same window: the fds opened since are not listed yet');
    assert.ok(performance.now() - windowStart < WINDOW_MS, 'still within the window (a very slow machine would void this test)');
    await sleep(WINDOW_MS - (performance.now() - windowStart) + 20);
    const after = await openFds(metrics);
    assert.ok(after >= before + 20, `the next window lists them (${before} → ${after})`);
  } finally {
    for (const fd of fds) closeSync(fd);
  }
});

test('without default metrics there are no nodejs_ or process_ series', async () => {
  const text = await new SelfMetrics({ defaultMetrics: false }).registry.metrics();
  assert.doesNotMatch(text, /^(nodejs|process)_/m);
});
