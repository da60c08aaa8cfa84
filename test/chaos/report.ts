/** The closing report of a chaos run: seed and replay command first, then figures, then every failure class with examples. */
import { CATEGORIES, failureClasses, failures } from './checker.js';
import type { ChaosResult } from './harness.js';
import { FAULT_KINDS, LIFECYCLES, WORKLOADS, type ScenarioOptions } from './scenario.js';

const n = (x: number) => x.toLocaleString('en-US');

export function replayCommand(o: ScenarioOptions & { sinks: readonly string[] }): string {
  const parts = [`--seed ${o.seed}`, `--containers ${o.containers}`, `--cycles ${o.cycles}`, `--duration ${Math.round(o.durationMs / 1000)}`, `--sinks ${o.sinks.join(',')}`];
  if (o.workloads.length !== WORKLOADS.length) parts.push(`--workloads ${o.workloads.join(',')}`);
  if (o.lifecycles.length !== LIFECYCLES.length) parts.push(`--lifecycles ${o.lifecycles.join(',')}`);
  if (o.faults.length !== FAULT_KINDS.length) parts.push(`--faults ${o.faults.join(',')}`);
  if (!o.hostile) parts.push('--no-hostile');
  return `npm run chaos -- ${parts.join(' ')}`;
}

/** Faults that overlap [written − 1 s, written + 5 s]: the agent reads and ships a line shortly after it is written. */
function nearFaults(result: ChaosResult, timeNs: bigint): string[] {
  const at = Number(timeNs / 1_000_000n) - result.t0Ms;
  return result.cycles.filter((c) => c.atMs <= at + 5000 && c.atMs + c.downMs >= at - 1000).map((c) => c.kind);
}

function when(result: ChaosResult, timeNs: bigint | undefined): string {
  if (timeNs === undefined) return '';
  const near = nearFaults(result, timeNs);
  return `[written t+${((Number(timeNs / 1_000_000n) - result.t0Ms) / 1000).toFixed(1)} s${near.length ? `, near ${[...new Set(near)].join('+')}` : ''}] `;
}

function nearTally(result: ChaosResult, times: readonly bigint[]): string {
  const tally = new Map<string, number>();
  for (const t of times) {
    const near = [...new Set(nearFaults(result, t))];
    const key = near.length ? near.sort().join('+') : 'no fault';
    tally.set(key, (tally.get(key) ?? 0) + 1);
  }
  return [...tally].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ');
}

export function formatReport(result: ChaosResult, examples = 3): string {
  const o = result.options;
  const out: string[] = [];
  out.push(`chaos seed ${result.seed}: ${result.ok ? 'PASS' : 'FAIL'} (replay: ${replayCommand({ ...o, sinks: result.sinks })})`);
  const byKind = new Map<string, number>();
  for (const c of result.cycles) byKind.set(c.kind, (byKind.get(c.kind) ?? 0) + 1);
  out.push(`faults: ${result.cycles.length} cycles done (${[...byKind].map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}) of ${result.scenario.faults.length} planned`);
  const combos = new Map<string, number>();
  for (const c of result.scenario.containers) combos.set(`${c.workload}/${c.lifecycle}`, (combos.get(`${c.workload}/${c.lifecycle}`) ?? 0) + 1);
  out.push(`containers: ${result.scenario.containers.length} (${[...combos].map(([k, v]) => (v > 1 ? `${k}×${v}` : k)).join(', ')})`);
  out.push(`written: ${n(result.runsSeen)} runs, ${n(result.linesWritten)} lines, ${n(result.recordsWritten)} records owed; ${result.cutRuns.length} run/stream(s) cut by a daemon kill${result.cutRuns.length ? ` (${result.cutRuns.slice(0, 6).join(', ')}${result.cutRuns.length > 6 ? ', …' : ''})` : ''}`);
  for (const check of result.checks) {
    const counts = CATEGORIES.map((c) => `${c} ${n(check.counts[c])}`).join(', ');
    out.push(`sink ${check.sink}: ${n(check.stored)} stored, ${n(check.exact)} of ${n(check.written)} exactly; ${counts}${check.poisonDeadLettered ? `; hostile line in the dead letters: ${check.poisonDeadLettered}` : ''}`);
    if (check.missingAfterLastStored > 0) out.push(`  ${n(check.missingAfterLastStored)} records written after the newest one this sink holds are missing: it stopped storing`);
  }
  if (result.tornFileLines) out.push(`file sink: ${result.tornFileLines} torn line(s) (not JSON)`);
  const failing = result.checks.filter((c) => failures(c) > 0);
  if (failing.length > 0) {
    out.push('failures by cause (category — workload/lifecycle — where):');
    for (const check of failing) {
      for (const cls of failureClasses(check, examples)) {
        out.push(`  [${check.sink}] ${cls.category} ${n(cls.count)} — ${cls.cause} — ${cls.where} (written near: ${nearTally(result, cls.times)})`);
        for (const e of cls.examples) out.push(`      ${when(result, e.timeNs)}${e.detail}`);
      }
    }
  }
  if (result.agentCrashes.length) out.push(`agent exits nobody asked for: ${result.agentCrashes.length}`, ...result.agentCrashes.slice(0, 3).map((c) => `  ${c.slice(0, 600)}`));
  if (result.anomalies.length) out.push(`harness anomalies: ${result.anomalies.length}`, ...result.anomalies.slice(0, 10).map((a) => `  ${a.slice(0, 400)}`));
  if (result.excused.length) out.push(`not counted (a kill came before their lines were stored, and they were removed): ${result.excused.join(', ')}`);
  out.push(`took ${Math.round(result.elapsedMs / 1000)} s${result.kept ? `; work dir kept: ${result.workDir} (truth/ holds the daemon's logs, agent/ the agent's data, logs/ its output)` : ''}`);
  return out.join('\n');
}
