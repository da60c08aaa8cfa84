/**
 * `npm run chaos [-- options]`: a seeded chaos run against a private dockerd (needs root, dockerd,
 * and the busybox test image on the shared daemon, as test/env.sh prepares them). Prints the seed
 * first, the report last; exits 0 when nothing was lost, duplicated or merged, 1 when something
 * was, 2 when the harness itself failed.
 */
import { parseArgs } from 'node:util';
import { freshSeed } from './prng.js';
import { runChaos, type Sink } from './harness.js';
import { formatReport, replayCommand } from './report.js';
import { FAULT_KINDS, LIFECYCLES, WORKLOADS, type FaultKind, type Lifecycle, type Workload } from './scenario.js';

const USAGE = `usage: npm run chaos -- [--seed N] [--cycles N] [--containers N] [--duration S] [--catch-up S]
       [--sinks es,file] [--workloads ${WORKLOADS.join(',')}] [--lifecycles ${LIFECYCLES.join(',')}]
       [--faults ${FAULT_KINDS.join(',')}] [--no-hostile] [--keep] [--verbose]`;

function list<T extends string>(value: string | undefined, all: readonly T[], what: string): T[] {
  if (value === undefined) return [...all];
  const items = value.split(',').map((s) => s.trim()).filter(Boolean);
  for (const item of items) if (!all.includes(item as T)) throw new Error(`unknown ${what} ${JSON.stringify(item)}; one of ${all.join(', ')}`);
  return items as T[];
}

function int(value: string | undefined, fallback: number, what: string): number {
  if (value === undefined) return fallback;
  const x = Number(value);
  if (!Number.isInteger(x) || x < 0) throw new Error(`--${what} must be a whole number, got ${JSON.stringify(value)}`);
  return x;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      seed: { type: 'string' }, cycles: { type: 'string' }, containers: { type: 'string' }, duration: { type: 'string' },
      'catch-up': { type: 'string' }, sinks: { type: 'string' }, workloads: { type: 'string' }, lifecycles: { type: 'string' },
      faults: { type: 'string' }, 'no-hostile': { type: 'boolean' }, keep: { type: 'boolean' }, verbose: { type: 'boolean' }, help: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const options = {
    seed: int(values.seed, freshSeed(), 'seed'),
    cycles: int(values.cycles, 100, 'cycles'),
    containers: int(values.containers, 40, 'containers'),
    durationMs: int(values.duration, 400, 'duration') * 1000,
    catchUpMs: int(values['catch-up'], 180, 'catch-up') * 1000,
    sinks: list<Sink>(values.sinks, ['es', 'file'], 'sink'),
    workloads: list<Workload>(values.workloads, WORKLOADS, 'workload'),
    lifecycles: list<Lifecycle>(values.lifecycles, LIFECYCLES, 'lifecycle'),
    faults: list<FaultKind>(values.faults, FAULT_KINDS, 'fault'),
    hostile: !values['no-hostile'],
    keep: Boolean(values.keep),
    verbose: Boolean(values.verbose),
    log: (line: string) => console.log(line),
  };
  console.log(`chaos: seed ${options.seed} (replay: ${replayCommand(options)})`);
  const result = await runChaos(options);
  console.log(formatReport(result, 5));
  return result.ok ? 0 : 1;
}

main().then((code) => { process.exitCode = code; }, (error: unknown) => {
  console.error(`chaos: the harness failed: ${(error as Error).stack ?? String(error)}`);
  process.exitCode = 2;
});
