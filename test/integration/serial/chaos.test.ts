/**
 * The chaos test's short run (issue 9, item 6): 16 containers (plain lines, unterminated last
 * lines, multiline stack traces, JSON with one hostile line, TTY, 200 KB lines; run once, by
 * restart policy, `docker start`ed again) on a private dockerd,
 * while at least 20 faults hit: the agent SIGKILLed, the daemon killed and restarted, the
 * Elasticsearch test server down, answering 429s, refusing whole requests with 400, rejecting a
 * share of the items. Afterwards every written line must be in Elasticsearch and in the file sink
 * exactly once, alone, with the daemon's timestamp. The seed is printed: `npm run chaos -- --seed N`
 * (with the options printed beside it) replays the scenario. DOCKHAND_CHAOS_SEED fixes the seed.
 * Runs alone (serial/): it kills a daemon of its own.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { freshSeed } from '../../chaos/prng.js';
import { runChaos } from '../../chaos/harness.js';
import { formatReport, replayCommand } from '../../chaos/report.js';
import { FAULT_KINDS, LIFECYCLES, WORKLOADS } from '../../chaos/scenario.js';

/**
 * `rm` (`--rm`) and `rmafter` (`docker rm` the moment a run exits) are left to `npm run chaos`: under
 * backpressure from an Elasticsearch fault the drain that reads a run's unterminated last words can
 * lose the race to the removal — a known limit (README, delivery guarantees), counted in
 * dockhand_logs_run_ends_unread_total and logged, which the long run reports (seed 100: 1 of 6,681
 * records). Without faults, test/integration/logs-runs.test.ts proves `--rm`'s last line is shipped.
 */
const SHORT_RUN_LIFECYCLES = LIFECYCLES.filter((lifecycle) => lifecycle !== 'rm' && lifecycle !== 'rmafter');

test('chaos, short run: no line lost, none duplicated, none merged over ≥ 20 kill/fault cycles', { timeout: 420_000 }, async (t) => {
  const seed = process.env.DOCKHAND_CHAOS_SEED ? Number(process.env.DOCKHAND_CHAOS_SEED) : freshSeed();
  const options = {
    seed, containers: 16, cycles: 22, durationMs: 110_000, catchUpMs: 60_000,
    sinks: ['es', 'file'] as const, workloads: WORKLOADS, lifecycles: SHORT_RUN_LIFECYCLES, faults: FAULT_KINDS, hostile: true,
    keep: false, verbose: false,
    log: (line: string) => t.diagnostic(line),
  };
  t.diagnostic(`chaos seed ${seed} (replay: ${replayCommand(options)})`);
  const result = await runChaos(options);
  const report = formatReport(result);
  for (const line of report.split('\n')) t.diagnostic(line);
  // The diagnostics above hold the examples; the assertion says which classes failed.
  const summary = report.split('\n').filter((line) => !line.startsWith('      ')).slice(0, 60).join('\n');
  assert.ok(result.cycles.length >= 20, `only ${result.cycles.length} fault cycles were done\n${summary}`);
  for (const check of result.checks) {
    assert.deepEqual({ sink: check.sink, lost: check.counts.lost, duplicated: check.counts.duplicated, merged: check.counts.merged },
      { sink: check.sink, lost: 0, duplicated: 0, merged: 0 }, summary);
  }
  assert.ok(result.ok, `the run is not clean\n${summary}`);
});
