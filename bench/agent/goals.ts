/**
 * Issue 10's table, filled from one `npm run bench`: each figure beside its goal, whether it is met,
 * and the 1-minute load average when it was measured (the machine is shared).
 */
import { fixed, int, mib, table } from '../lib/table.js';
import type { LogsBenchResult } from '../logs/index.js';
import { linesPerSecond } from '../logs/measurement.js';
import { agentRate, bestOfEach, cpuPerMillionLines, followerCpuPerMillionLines, followerRate, type LiveFollowResult } from '../logs/live-follow.js';
import { scenarioLabel } from '../logs/workload.js';
import type { AgentBenchResult } from './index.js';
import { slowestCycle } from './outage.js';

interface Row {
  readonly figure: string;
  readonly measured: string;
  readonly goal: string;
  /** undefined: not measured in this run (or no goal). */
  readonly met: boolean | undefined;
  readonly load?: number;
}

const MIB = 1024 * 1024;
const verdict = (met: boolean | undefined, hasGoal = true) => (!hasGoal ? '' : met === undefined ? 'not measured' : met ? 'yes' : '**no**');

function liveRow(r: LiveFollowResult | undefined, figure: string, goal?: number): Row {
  if (!r) return { figure, measured: '–', goal: goal ? `≥ ${goal}` : '–', met: undefined };
  const ratio = agentRate(r) / followerRate(r);
  return {
    figure,
    measured: `${ratio.toFixed(2)} (${int(agentRate(r) / 1000)}k vs ${int(followerRate(r) / 1000)}k lines/s)`,
    goal: goal ? `≥ ${goal}` : '–',
    met: goal && r.agent.complete && r.follower.lines > 0 ? ratio >= goal : goal ? false : undefined,
    load: r.loadAverage,
  };
}

export function goalRows(agent: AgentBenchResult | undefined, logs: LogsBenchResult | undefined): Row[] {
  const rows: Row[] = [];
  const follow = bestOfEach(agent?.follow ?? []);
  const live = (sink: string, containers: number, lines: number) => follow.find((r) => r.sink === sink && r.scenario.containers === containers && r.scenario.linesPerContainer === lines);
  const burstEs = live('elasticsearch', 1, 300_000) ?? follow.find((r) => r.sink === 'elasticsearch');
  const burstFile = live('file', 1, 300_000) ?? follow.find((r) => r.sink === 'file');
  const tenEs = live('elasticsearch', 10, 30_000);
  const burstLabel = (r: LiveFollowResult | undefined) => (r ? scenarioLabel(r.scenario) : '1 × 300,000 lines');

  rows.push(liveRow(burstEs, `live, → Elasticsearch, ÷ raw API following the same generator (${burstLabel(burstEs)})`, 0.9));
  if (tenEs) rows.push(liveRow(tenEs, `live, → Elasticsearch, ÷ raw API following the same generators (${scenarioLabel(tenEs.scenario)})`, 0.9));

  const finished = logs?.scenarios[0];
  const base = finished?.measurements.find((m) => m.contender.startsWith('docker logs') && m.complete);
  const es = finished?.measurements.find((m) => m.contender === 'dockhand → Elasticsearch');
  if (finished && base && es) {
    const ratio = linesPerSecond(es) / linesPerSecond(base);
    rows.push({
      figure: `finished logs, → Elasticsearch, ÷ \`docker logs\` (${scenarioLabel(finished.scenario)})`,
      measured: `${ratio.toFixed(2)} (${int(linesPerSecond(es) / 1000)}k vs ${int(linesPerSecond(base) / 1000)}k lines/s)`,
      goal: '≥ 0.9',
      met: es.complete ? ratio >= 0.9 : false,
      ...(es.loadAverage !== undefined ? { load: es.loadAverage } : {}),
    });
  } else rows.push({ figure: 'finished logs, → Elasticsearch, ÷ `docker logs`', measured: '–', goal: '≥ 0.9', met: undefined });

  const cpuRow = (r: LiveFollowResult | undefined, sink: string, goal: number): Row => {
    const v = r ? cpuPerMillionLines(r) : undefined;
    return {
      figure: `agent CPU per million lines → ${sink} (live ${burstLabel(r)}, agent process only)`,
      measured: v === undefined ? '–' : `${v.toFixed(1)} s (the raw API follower beside it: ${fixed(followerCpuPerMillionLines(r!), 1)} s)`,
      goal: `≤ ${goal} s`,
      met: v === undefined ? undefined : v <= goal,
      ...(r ? { load: r.loadAverage } : {}),
    };
  };
  rows.push(cpuRow(burstEs, 'Elasticsearch', 6));
  rows.push(cpuRow(burstFile, 'file', 4));
  if (burstEs?.server) {
    rows.push({
      figure: '… the test server\'s own CPU in that run (apart, not the agent\'s)',
      measured: `${burstEs.server.cpuSeconds.toFixed(1)} s (${((burstEs.server.cpuSeconds / burstEs.agent.lines) * 1e6).toFixed(1)} s per 1M lines)`,
      goal: '–',
      met: undefined,
      load: burstEs.loadAverage,
    });
  }
  const alone = agent?.serverAlone;
  if (alone) {
    const fastest = Math.max(0, ...(agent?.follow ?? []).filter((r) => r.sink === 'elasticsearch').map(agentRate));
    rows.push({
      figure: '… the test server alone, fed the agent\'s bulk bodies as fast as it takes them (not the bottleneck)',
      measured: `${int(alone.docsPerSecond)} docs/s${fastest > 0 ? ` (${(alone.docsPerSecond / fastest).toFixed(1)}× the agent's rate)` : ''}`,
      goal: '≥ 2× the agent\'s rate',
      met: fastest > 0 ? alone.docsPerSecond >= 2 * fastest : undefined,
      load: alone.loadAverage,
    });
  }

  rows.push({
    figure: `peak RSS during the ${burstEs ? int(burstEs.written / 1000) : '300'}k burst (→ Elasticsearch)`,
    measured: burstEs ? mib(burstEs.agent.peakRss) : '–',
    goal: '≤ 150 MiB',
    met: burstEs ? burstEs.agent.peakRss <= 150 * MIB : undefined,
    ...(burstEs ? { load: burstEs.loadAverage } : {}),
  });
  const fleet = agent?.fleet;
  rows.push({
    figure: `idle RSS, Elasticsearch configured, no containers${fleet ? ` (after ${fleet.settleSeconds} s)` : ''}`,
    measured: fleet ? mib(fleet.idle.rss) : '–',
    goal: '≤ 80 MiB',
    met: fleet ? fleet.idle.rss <= 80 * MIB : undefined,
    ...(fleet ? { load: fleet.idle.loadAverage } : {}),
  });
  rows.push({
    figure: `RSS with ${fleet?.containers ?? 100} idle containers followed`,
    measured: fleet ? mib(fleet.followed.rss) : '–',
    goal: '≤ 120 MiB',
    met: fleet ? fleet.followed.rss <= 120 * MIB : undefined,
    ...(fleet ? { load: fleet.followed.loadAverage } : {}),
  });
  const scrape = fleet?.scrape;
  rows.push({
    figure: `GET /metrics p99 at ${fleet?.containers ?? 100} containers${scrape ? ` (${int(scrape.scrapes)} scrapes while shipping)` : ''}`,
    measured: scrape ? `${scrape.p99Ms.toFixed(1)} ms (p50 ${scrape.p50Ms.toFixed(1)}, max ${scrape.maxMs.toFixed(1)})` : '–',
    goal: '< 20 ms',
    met: scrape ? scrape.p99Ms < 20 && scrape.scrapes >= 1000 : undefined,
    ...(scrape ? { load: scrape.loadAverage } : {}),
  });
  const outage = agent?.outage;
  const slowest = outage ? slowestCycle(outage) : undefined;
  rows.push({
    figure: `resume after an Elasticsearch outage ends${outage ? ` (down ${outage.downSeconds} s; the slowest of ${outage.cycles.length} cycles): first bulk request after` : ''}`,
    measured: slowest
      ? (slowest.firstBulkSeconds !== undefined
        ? `${slowest.firstBulkSeconds.toFixed(2)} s (backlog stored after ${slowest.backlogSeconds?.toFixed(2) ?? '–'} s; all cycles: ${outage!.cycles.map((c) => c.firstBulkSeconds?.toFixed(1) ?? 'never').join(', ')} s)`
        : 'no request after it came back')
      : '–',
    goal: '≤ 2 s',
    met: slowest ? slowest.firstBulkSeconds !== undefined && slowest.firstBulkSeconds <= 2 : undefined,
    ...(slowest ? { load: slowest.loadAverage } : {}),
  });

  const checks = [
    ...(agent?.follow ?? []).map((r) => ({ name: `live ${r.scenario.name} → ${r.sink}`, missing: r.check.missing, twice: r.check.duplicates, resends: r.check.resendsCaught ?? 0 })),
    ...(outage ? [{ name: 'outage', missing: outage.missing, twice: outage.duplicates, resends: outage.resendsCaught }] : []),
  ];
  if (checks.length > 0) {
    const bad = checks.filter((c) => c.missing > 0 || c.twice > 0);
    const resends = checks.reduce((n, c) => n + c.resends, 0);
    rows.push({
      figure: 'lines delivered = lines written, each once (every live and outage run, counted on the sink\'s side)',
      measured: bad.length === 0 ? `yes, in ${checks.length} run${checks.length === 1 ? '' : 's'}${resends > 0 ? ` (${int(resends)} resends caught by _id)` : ''}` : bad.map((c) => `${c.name}: ${c.missing} missing, ${c.twice} twice`).join('; '),
      goal: 'all, once',
      met: bad.length === 0,
    });
  }
  return rows;
}

export function goalsMarkdown(agent: AgentBenchResult | undefined, logs: LogsBenchResult | undefined): string {
  const rows = goalRows(agent, logs);
  const judged = rows.filter((r) => r.goal !== '–');
  const met = judged.filter((r) => r.met === true).length;
  return [
    '## Issue 10\'s figures in this run',
    '',
    `${met} of ${judged.length} goals met${judged.some((r) => r.met === undefined) ? ' (some not measured: see BENCH_PARTS)' : ''}. `
      + 'Sections below give every figure\'s conditions; "load avg" is the machine\'s 1-minute load average when the figure was taken (2 cores, shared).',
    '',
    table(['figure', 'this run', 'goal', 'met', 'load avg'], rows.map((r) => [r.figure, r.measured, r.goal, verdict(r.met, r.goal !== '–'), r.load === undefined ? '–' : r.load.toFixed(1)])),
  ].join('\n');
}

