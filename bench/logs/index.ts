/**
 * bench/logs: N containers each write M lines and exit; then, one after the other on the same
 * finished data, `docker logs`, a raw API read, dockhand (file sink, Elasticsearch sink) and
 * Logagent read all of it, and each is timed and charged its CPU and memory.
 * `node dist/bench/logs/index.js` prints the markdown section; bench/run.ts puts it in REPORT.md.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BenchContainers } from '../lib/docker.js';
import { summarizeProfile, type ProfileSummary } from '../lib/cpuprofile.js';
import { fixed, int, mib, ratio, table } from '../lib/table.js';
import { measureApi } from './api.js';
import { measureDockerCli } from './docker-cli.js';
import { measureDockhand, type DockhandSink } from './dockhand.js';
import { installLogagent, measureLogagentDocker, measureLogagentFiles, LOGAGENT_VERSION, type LogagentInstall } from './logagent.js';
import { cpuPerMillion, linesPerSecond, megabytesPerSecond, type Measurement } from './measurement.js';
import { LINE_BYTES, prepareWorkload, scenarioLabel, type Scenario, type Workload } from './workload.js';
import { liveDockerCli, liveDockhand, liveLogagent, type LiveMeasurement } from './live.js';

export interface LogsBenchOptions {
  readonly scenarios: readonly Scenario[];
  readonly sinks: readonly DockhandSink[];
  /** Measure the Elasticsearch sink in every scenario, not only the first. */
  readonly elasticsearchEveryScenario: boolean;
  readonly logagent: boolean;
  /** Profile the agent (node --cpu-prof) in an extra, unmeasured run of the first scenario. */
  readonly profile: boolean;
  /** Runs of the ceiling readers and of dockhand → file per scenario (the best is reported). */
  readonly repeat: number;
  /** Scenarios of the live variant (readers running before the containers start). */
  readonly live: readonly Scenario[];
  readonly log: (message: string) => void;
}

export interface ScenarioResult {
  readonly scenario: Scenario;
  readonly workload?: Workload;
  readonly measurements: readonly Measurement[];
  readonly error?: string;
}

export interface LogsBenchResult {
  readonly scenarios: readonly ScenarioResult[];
  readonly logagent?: LogagentInstall;
  readonly logagentError?: string;
  readonly profile?: { readonly scenario: Scenario; readonly measurement: Measurement; readonly summary: ProfileSummary };
  readonly profileError?: string;
  readonly live: readonly LiveResult[];
}

export interface LiveResult {
  readonly scenario: Scenario;
  readonly measurements: readonly LiveMeasurement[];
  readonly errors: readonly string[];
}

/** "1x1000000,10x100000" → scenarios. */
export function parseScenarios(text: string): Scenario[] {
  return text.split(',').map((part) => {
    const m = /^\s*(\d+)\s*x\s*(\d+)\s*$/.exec(part);
    if (!m) throw new Error(`bad scenario "${part}": expected CONTAINERSxLINES, e.g. 10x100000`);
    const containers = Number(m[1]);
    const linesPerContainer = Number(m[2]);
    return { name: `${containers}x${linesPerContainer}`, containers, linesPerContainer };
  });
}

export const DEFAULT_SCENARIOS = '1x1000000,10x100000';
export const DEFAULT_LIVE_SCENARIOS = '10x20000';

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The fastest complete run, noting the others' rates. */
function best(runs: readonly Measurement[]): Measurement {
  if (runs.length === 1) return runs[0]!;
  const complete = runs.filter((m) => m.complete);
  const pool = complete.length > 0 ? complete : runs;
  const top = pool.reduce((a, b) => (linesPerSecond(b) > linesPerSecond(a) ? b : a));
  const others = runs.filter((m) => m !== top).map((m) => `${int(linesPerSecond(m))} lines/s${m.complete ? '' : ' (incomplete)'}`);
  const note = `best of ${runs.length} interleaved runs; the other${others.length > 1 ? 's' : ''}: ${others.join(', ')}`;
  return { ...top, note: top.note ? `${top.note}; ${note}` : note };
}

function failed(contender: string, workload: Workload, error: unknown): Measurement {
  return { contender, detail: '', expectedLines: workload.lines, lines: 0, bytes: 0, seconds: 0, complete: false, note: `failed: ${errorText(error).slice(0, 500)}` };
}

export async function runLogsBench(options: LogsBenchOptions): Promise<LogsBenchResult> {
  const containers = new BenchContainers();
  const onSignal = () => void containers.removeAll().finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let logagent: LogagentInstall | undefined;
  let logagentError: string | undefined;
  const results: ScenarioResult[] = [];
  let profile: LogsBenchResult['profile'];
  let profileError: string | undefined;
  const live: LiveResult[] = [];
  try {
    if (options.logagent) {
      try {
        options.log(`installing @sematext/logagent@${LOGAGENT_VERSION} into a temp folder (reused if already there)`);
        logagent = await installLogagent();
        options.log(`logagent ${logagent.version} ${logagent.reused ? 'reused' : `installed in ${logagent.installSeconds.toFixed(0)} s`} at ${logagent.dir}`);
      } catch (error) {
        logagentError = errorText(error);
        options.log(`logagent install failed: ${logagentError}`);
      }
    }
    for (const [index, scenario] of options.scenarios.entries()) {
      let workload: Workload | undefined;
      const measurements: Measurement[] = [];
      try {
        options.log(`[${scenario.name}] writing ${scenarioLabel(scenario)} (${LINE_BYTES} bytes each)`);
        workload = await prepareWorkload(containers, scenario, { LOGS_ENABLED: 'true' });
        options.log(`[${scenario.name}] written in ${workload.writeSeconds.toFixed(1)} s`);
        const w = workload;
        const step = async (name: string, run: () => Promise<Measurement>) => {
          options.log(`[${scenario.name}] ${name} …`);
          let m: Measurement;
          try {
            m = { ...await run(), loadAverage: os.loadavg()[0]! };
          } catch (error) {
            m = failed(name, w, error);
          }
          options.log(`[${scenario.name}] ${name}: ${int(m.lines)} lines in ${m.seconds.toFixed(2)} s = ${int(linesPerSecond(m))} lines/s${m.note ? ` (${m.note})` : ''}`);
          measurements.push(m);
        };
        // The ceiling and each of dockhand's figures are measured `repeat` times, interleaved, and the
        // best run of each is kept: on a shared machine the best run is the least disturbed one.
        const repeated: { name: string; run: () => Promise<Measurement> }[] = [
          { name: 'docker logs (CLI)', run: () => measureDockerCli(w) },
          { name: 'Docker API, raw HTTP', run: () => measureApi(w) },
          ...(options.sinks.includes('file') ? [{ name: 'dockhand → file', run: () => measureDockhand(w, { sink: 'file', run: containers.run }) }] : []),
          // The ES round trip (and its test server beside the agent) is the slowest part: one scenario shows it.
          ...(options.sinks.includes('elasticsearch') && (index === 0 || options.elasticsearchEveryScenario)
            ? [{ name: 'dockhand → elasticsearch', run: () => measureDockhand(w, { sink: 'elasticsearch', run: containers.run }) }]
            : []),
        ];
        const runs = new Map<string, Measurement[]>();
        for (let round = 0; round < options.repeat; round++) {
          for (const r of repeated) {
            await step(r.name, r.run);
            runs.set(r.name, [...(runs.get(r.name) ?? []), measurements.pop()!]);
          }
        }
        for (const r of repeated) measurements.push(best(runs.get(r.name)!));
        if (logagent) {
          const la = logagent;
          await step('Logagent, Docker input', () => measureLogagentDocker(w, la));
          await step('Logagent, file input', () => measureLogagentFiles(w, la));
        }
        if (options.profile && index === 0) {
          const dir = mkdtempSync(path.join(os.tmpdir(), 'dockhand-bench-profile-'));
          try {
            options.log(`[${scenario.name}] profiling dockhand → file (node --cpu-prof, not counted above) …`);
            const m = await measureDockhand(w, { sink: 'file', run: containers.run, profileDir: dir });
            if (!('profile' in m) || !m.profile) throw new Error('no .cpuprofile written');
            profile = { scenario, measurement: m, summary: summarizeProfile(m.profile as string) };
          } catch (error) {
            profileError = errorText(error);
          } finally {
            rmSync(dir, { recursive: true, force: true });
          }
        }
        results.push({ scenario, workload, measurements });
      } catch (error) {
        results.push({ scenario, ...(workload ? { workload } : {}), measurements, error: errorText(error) });
      } finally {
        if (workload) await containers.remove(workload.ids);
      }
    }
    for (const scenario of options.live) {
      const measurements: LiveMeasurement[] = [];
      const errors: string[] = [];
      const step = async (name: string, run: () => Promise<LiveMeasurement>) => {
        options.log(`[live ${scenario.name}] ${name} …`);
        try {
          const m = await run();
          measurements.push(m);
          options.log(`[live ${scenario.name}] ${name}: ${int(m.lines)} lines, last ${m.seconds.toFixed(2)} s after the start, writers took ${m.writerSeconds.toFixed(2)} s${m.note ? ` (${m.note})` : ''}`);
        } catch (error) {
          errors.push(`${name}: ${errorText(error)}`);
          options.log(`[live ${scenario.name}] ${name} failed: ${errorText(error)}`);
        }
      };
      await step('docker logs --follow', () => liveDockerCli(containers, scenario));
      await step('dockhand → file', () => liveDockhand(containers, scenario));
      if (logagent) {
        const la = logagent;
        await step('Logagent, Docker input', () => liveLogagent(containers, scenario, la));
      }
      live.push({ scenario, measurements, errors });
    }
  } finally {
    await containers.removeAll();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  return { scenarios: results, live, ...(logagent ? { logagent } : {}), ...(logagentError ? { logagentError } : {}), ...(profile ? { profile } : {}), ...(profileError ? { profileError } : {}) };
}

// ---- report ----------------------------------------------------------------------------------

const secs = (n: number | undefined, digits = 2) => (n === undefined ? '–' : n.toFixed(digits));

function scenarioMarkdown(result: ScenarioResult): string {
  const out: string[] = [];
  const s = result.scenario;
  out.push(`### ${scenarioLabel(s)}${result.workload ? ` (${int(result.workload.lines)} lines, ${(result.workload.bytes / 1e6).toFixed(0)} MB of messages)` : ''}`);
  if (result.workload) out.push('', `The containers wrote everything in ${result.workload.writeSeconds.toFixed(1)} s and exited before any reader started; every reader below read the same finished json-file logs.`);
  if (result.error) out.push('', `**This scenario failed:** ${result.error}`);
  const ms = result.measurements;
  if (ms.length === 0) return out.join('\n');
  const base = ms.find((m) => m.contender.startsWith('docker logs') && m.complete);
  const baseRate = base ? linesPerSecond(base) : undefined;
  out.push('', table(
    ['reader', 'lines delivered', 'seconds', 'lines/s', 'MB/s', `÷ docker logs`, 'first line after s', 'lines/s after first line'],
    ms.map((m) => [
      m.contender,
      `${int(m.lines)}${m.complete ? '' : ` of ${int(m.expectedLines)}`}`,
      secs(m.seconds),
      int(linesPerSecond(m)),
      fixed(megabytesPerSecond(m), 1),
      ratio(linesPerSecond(m), baseRate),
      secs(m.firstLineSeconds),
      m.firstLineSeconds !== undefined && m.seconds > m.firstLineSeconds ? int(m.lines / (m.seconds - m.firstLineSeconds)) : '–',
    ]),
  ));
  out.push('', table(
    ['reader', 'CPU s', 'CPU s per 1M lines', 'peak RSS', 'dockerd CPU s', 'sink process CPU s / peak RSS', 'machine busy CPU s (all processes)'],
    ms.map((m) => [
      m.contender,
      secs(m.cpuSeconds),
      fixed(cpuPerMillion(m), 1),
      mib(m.peakRss),
      secs(m.daemonCpuSeconds),
      m.sinkCpuSeconds !== undefined ? `${secs(m.sinkCpuSeconds)} / ${mib(m.sinkPeakRss)}` : '–',
      secs(m.machineBusySeconds, 1),
    ]),
  ));
  const notes = ms.filter((m) => m.note);
  if (notes.length > 0) out.push('', ...notes.map((m) => `- **${m.contender}**: ${m.note}`));
  return out.join('\n');
}

function liveMarkdown(result: LiveResult): string {
  const out = [`### Live: ${scenarioLabel(result.scenario)}, the reader running before the containers start`, '',
    'Each reader gets its own fresh containers (same command, with a 1 s pause before writing so that a reader that attaches '
    + 'on the start event is attached before the first line). "seconds" runs from `docker start` until the last line is in the '
    + 'sink; "behind the writers" is how long after the last container exited that was; "writers took" is how long the '
    + 'containers needed to write everything with that reader attached. CPU is counted from the containers\' start.'];
  const ms = result.measurements;
  if (ms.length > 0) {
    out.push('', table(
      ['reader', 'lines delivered', 'seconds', 'lines/s', 'behind the writers s', 'writers took s', 'CPU s', 'CPU s per 1M lines', 'peak RSS', 'dockerd CPU s', 'machine busy CPU s'],
      ms.map((m) => [
        m.contender,
        `${int(m.lines)}${m.complete ? '' : ` of ${int(m.expectedLines)}`}`,
        secs(m.seconds),
        int(linesPerSecond(m)),
        secs(m.behindSeconds),
        secs(m.writerSeconds),
        secs(m.cpuSeconds),
        fixed(cpuPerMillion(m), 1),
        mib(m.peakRss),
        secs(m.daemonCpuSeconds),
        secs(m.machineBusySeconds, 1),
      ]),
    ));
  }
  const notes = ms.filter((m) => m.note);
  if (notes.length > 0) out.push('', ...notes.map((m) => `- **${m.contender}**: ${m.note}`));
  if (result.errors.length > 0) out.push('', ...result.errors.map((e) => `- failed: ${e}`));
  return out.join('\n');
}

function profileMarkdown(p: NonNullable<LogsBenchResult['profile']>): string {
  const { summary, measurement } = p;
  const out = [
    `### Where dockhand's CPU goes (${scenarioLabel(p.scenario)} → file, \`node --cpu-prof\`)`,
    '',
    `An extra run, profiled (the profiler slows it, so it is not in the tables above): ${int(measurement.lines)} lines in ${secs(measurement.seconds)} s; `
      + `the profile covers ${secs(summary.wallSeconds, 1)} s of the agent's life, ${secs(summary.busySeconds, 1)} s of it on the main thread's CPU `
      + '(self time, with builtins and native code such as JSON.stringify or the HTTP parser charged to the JavaScript function that called them; '
      + 'the libuv threads\' write/fdatasync are not in it).',
    '',
    table(['area (self time)', 'seconds', 'share of busy'], summary.areas.map((a) => [a.name, secs(a.seconds), `${(a.share * 100).toFixed(1)} %`])),
    '',
    table(['function (self time)', 'seconds', 'share of busy'], summary.functions.map((f) => [`\`${f.name}\``, secs(f.seconds), `${(f.share * 100).toFixed(1)} %`])),
  ];
  return out.join('\n');
}

/** Exact commands and configurations, once per contender (from the first scenario that ran it). */
function commandsMarkdown(result: LogsBenchResult): string {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const s of result.scenarios) {
    for (const m of s.measurements) {
      if (seen.has(m.contender) || (!m.command && !m.detail)) continue;
      seen.add(m.contender);
      out.push(`- **${m.contender}**: ${m.detail}${m.command ? `; \`${m.command}\`` : ''}`);
      if (m.config) out.push('', '  ```yaml', ...m.config.trimEnd().split('\n').map((l) => `  ${l}`), '  ```');
    }
  }
  return out.join('\n');
}

/** One line per scenario: dockhand's ratios to `docker logs` against the issue's goal (≥ 0.7). */
function summaryMarkdown(result: LogsBenchResult): string {
  const lines: string[] = [];
  for (const s of result.scenarios) {
    const base = s.measurements.find((m) => m.contender.startsWith('docker logs') && m.complete);
    if (!base) continue;
    const parts = s.measurements.filter((m) => m.contender.startsWith('dockhand') || m.contender.startsWith('Logagent')).map((m) => {
      const r = linesPerSecond(m) / linesPerSecond(base);
      return `${m.contender} **${r.toFixed(2)}**${m.complete ? '' : ' (incomplete)'}`;
    });
    lines.push(`- ${scenarioLabel(s.scenario)} (docker logs: ${int(linesPerSecond(base))} lines/s): ${parts.join(', ')}`);
  }
  if (lines.length === 0) return '';
  return ['Throughput as a share of `docker logs` in the same run (the goal for dockhand is ≥ 0.7):', '', ...lines].join('\n');
}

export function logsBenchMarkdown(result: LogsBenchResult): string {
  const out = ['## Logs: dockhand against the daemon\'s ceiling and a peer', ''];
  out.push(
    'Every reader reads the same finished containers\' logs from the same daemon, one reader at a time; '
    + '`docker logs` is the ceiling (the daemon decoding its own json-file logs and sending them). '
    + 'Times are wall time from the reader\'s start (process spawn included) until the last line is in its sink; '
    + 'for dockhand, "in the sink" means acknowledged by the exporter (written and fdatasync\'ed by the file exporter; '
    + 'stored per item by Elasticsearch). MB/s counts message bytes as the containers wrote them. '
    + 'CPU seconds are the reader\'s own processes (utime+stime from /proc); "machine busy" is every process on the '
    + 'machine in the same window, so other load (other engineers\' tests share this machine and daemon) shows there.',
  );
  const summary = summaryMarkdown(result);
  if (summary) out.push('', summary);
  for (const s of result.scenarios) out.push('', scenarioMarkdown(s));
  for (const l of result.live) out.push('', liveMarkdown(l));
  if (result.logagentError) out.push('', `**Logagent could not be installed:** ${result.logagentError}`);
  if (result.profile) out.push('', profileMarkdown(result.profile));
  if (result.profileError) out.push('', `Profiling failed: ${result.profileError}`);
  out.push('', '### What each reader ran', '', commandsMarkdown(result));
  return out.join('\n');
}

/**
 * `parts` (BENCH_PARTS): `finished` runs the finished-logs scenarios, `live` the live variant; both
 * by default. BENCH_PROFILE: `0` none; `1` (default) or a list holding `file` profiles the file path.
 */
export function optionsFromEnv(log: (message: string) => void = (m) => process.stderr.write(`[bench/logs] ${m}\n`), parts: ReadonlySet<string> = new Set(['finished', 'live'])): LogsBenchOptions {
  const sinks = (process.env.BENCH_SINKS ?? 'file,elasticsearch,otlp,loki').split(',').map((s) => s.trim()).filter(Boolean);
  for (const sink of sinks) if (!['file', 'elasticsearch', 'otlp', 'loki'].includes(sink)) throw new Error(`BENCH_SINKS: unknown sink "${sink}" (file, elasticsearch, otlp, loki)`);
  return {
    scenarios: parts.has('finished') ? parseScenarios(process.env.BENCH_LOGS_SCENARIOS ?? DEFAULT_SCENARIOS) : [],
    sinks: sinks as DockhandSink[],
    elasticsearchEveryScenario: process.env.BENCH_ES_EVERY_SCENARIO === '1',
    logagent: process.env.BENCH_LOGAGENT !== '0',
    profile: (process.env.BENCH_PROFILE ?? '1').split(',').some((p) => p.trim() === '1' || p.trim() === 'file'),
    repeat: Math.max(1, Number(process.env.BENCH_REPEAT ?? 2) || 1),
    live: !parts.has('live') || ['', '0'].includes(process.env.BENCH_LIVE_SCENARIOS ?? 'x') ? [] : parseScenarios(process.env.BENCH_LIVE_SCENARIOS ?? DEFAULT_LIVE_SCENARIOS),
    log,
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const result = await runLogsBench(optionsFromEnv());
  process.stdout.write(`${logsBenchMarkdown(result)}\n`);
}
