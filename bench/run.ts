/**
 * `npm run bench`: prepares the test environment (bash test/env.sh: dockerd and the busybox image),
 * runs bench/agent (issue 10's live, memory, /metrics and outage figures), bench/logs (finished logs
 * and the live variant against the daemon's ceiling and a peer) and bench/stats, and writes
 * bench/REPORT.md: the machine, issue 10's table against its goals, then every part's figures.
 * Knobs (environment): BENCH_PARTS (finished,live,follow,alone,fleet,outage,page,stats), and those of each
 * part (bench/README.md), BENCH_REPORT (output path).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { logsBenchMarkdown, optionsFromEnv, parseScenarios, runLogsBench, type LogsBenchResult } from './logs/index.js';
import { agentBenchMarkdown, agentOptionsFromEnv, partsFromEnv, runAgentBench, type AgentBenchResult } from './agent/index.js';
import { goalsMarkdown } from './agent/goals.js';
import { now } from './lib/time.js';

const ROOT = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
const log = (message: string) => process.stderr.write(`[bench] ${message}\n`);

function sh(command: string, args: readonly string[]): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 30_000 }).trim();
  } catch {
    return '';
  }
}

/**
 * Runs test/env.sh (it starts dockerd and builds the image if needed) and applies the exports it
 * prints. BENCH_ENV=0 skips it: the daemon that answers and DOCKHAND_TEST_IMAGE are used as they are
 * (on a machine where others run tests against the same daemon).
 */
function prepareEnvironment(): void {
  if (process.env.BENCH_ENV === '0') {
    log('BENCH_ENV=0: test/env.sh skipped');
    return;
  }
  log('bash test/env.sh');
  const out = execFileSync('bash', [path.join(ROOT, 'test', 'env.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 600_000 });
  for (const line of out.split('\n')) {
    const m = /^export ([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) process.env[m[1]!] = m[2]!.replace(/^["']|["']$/g, '');
  }
}

function machineMarkdown(): string {
  const cpuModel = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? os.cpus()[0]?.model ?? '?';
  const memKb = Number(/MemTotal:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0);
  const docker = sh('docker', ['version', '--format', '{{.Server.Version}} (API {{.Server.APIVersion}})']);
  const dockerInfo = sh('docker', ['info', '--format', 'logging driver {{.LoggingDriver}}, storage driver {{.Driver}}, cgroup {{.CgroupVersion}}, {{.Containers}} containers on the daemon at start']);
  const commit = sh('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']);
  const dirty = sh('git', ['-C', ROOT, 'status', '--porcelain', '--untracked-files=no']) ? ' (with uncommitted changes)' : '';
  const version = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  return [
    '## The machine',
    '',
    `- CPUs: ${sh('nproc', [])} (\`nproc\`), ${cpuModel}`,
    `- memory: ${(memKb / 1024 / 1024).toFixed(1)} GiB`,
    `- kernel: ${sh('uname', ['-r'])}`,
    `- dockerd: ${docker}; ${dockerInfo}`,
    `- node: ${process.version}`,
    `- dockhand: ${version}, commit ${commit || '?'}${dirty}`,
    `- load average when the run started: ${os.loadavg().map((l) => l.toFixed(2)).join(', ')} (other work on the machine shows in the "machine busy" columns)`,
  ].join('\n');
}

/** bench/stats (another folder, another owner): run its entry as a child process and take what it prints. */
async function runStatsBench(): Promise<string> {
  const dir = path.join(ROOT, 'dist', 'bench', 'stats');
  const entry = ['index.js', 'stats-round.js'].map((f) => path.join(dir, f)).find((f) => existsSync(f));
  if (!entry) return '## Container stats\n\nbench/stats has no entry (dist/bench/stats/index.js or stats-round.js) in this build: not run.';
  const args = (process.env.BENCH_STATS_ARGS ?? '').split(/\s+/).filter(Boolean);
  const relative = path.relative(ROOT, entry);
  log(`node ${relative} ${args.join(' ')}`);
  const start = now();
  const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
    const child = spawn(process.execPath, [entry, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      text += c;
      process.stderr.write(c);
    });
    const timer = setTimeout(() => child.kill('SIGTERM'), 8 * 60_000);
    child.on('close', (exitCode) => {
      clearTimeout(timer);
      resolve({ code: exitCode, stdout: text });
    });
  });
  // Its `# ` lines are remarks (printed for a terminal), its `## ` lines sections: nest them under this report's heading.
  const body = stdout.trim().split('\n').map((line) => (line.startsWith('# ') ? `${line.slice(2)}  ` : line.startsWith('## ') ? `#${line}` : line)).join('\n');
  return `## Container stats (bench/stats)\n\n${body}\n\n_\`node ${relative}${args.length ? ` ${args.join(' ')}` : ''}\`, ${(now() - start).toFixed(0)} s${code === 0 ? '' : `, **exited ${code}**`}._`;
}

async function main(): Promise<void> {
  const started = new Date();
  const t0 = now();
  prepareEnvironment();
  if (!existsSync(path.join(ROOT, 'dist', 'src', 'main.js'))) throw new Error('dist/src/main.js is missing: build first (npm ci runs the build; or npx tsc -p .)');
  const machine = machineMarkdown();
  const parts = partsFromEnv();
  const options = optionsFromEnv((m) => log(`logs: ${m}`), parts);
  const agentOptions = agentOptionsFromEnv(parseScenarios, options.sinks, parts, (m) => log(`agent: ${m}`));
  let agentResult: AgentBenchResult | undefined;
  let logsResult: LogsBenchResult | undefined;
  const partsOfAgent = ['follow', 'alone', 'fleet', 'outage', 'page'].filter((p) => parts.has(p));
  if (partsOfAgent.length > 0) agentResult = await runAgentBench(agentOptions);
  if (options.scenarios.length > 0 || options.live.length > 0) logsResult = await runLogsBench(options);
  const stats = !parts.has('stats') || process.env.BENCH_STATS === '0' ? '## Container stats\n\nSkipped (BENCH_PARTS / BENCH_STATS).' : await runStatsBench();
  const minutes = (now() - t0) / 60;
  const report = [
    '# dockhand benchmark report',
    '',
    `Generated by \`npm run bench\` on ${started.toISOString()} in ${minutes.toFixed(1)} min. Do not edit: run it again. `
      + 'bench/README.md says what each figure means and how to run a part of it.',
    '',
    '```sh',
    'npm ci            # also builds (the prepare script runs tsc)',
    'npm run bench     # = node dist/bench/run.js: test/env.sh, bench/agent, bench/logs, bench/stats, then this file',
    `# this run: BENCH_PARTS=${[...parts].join(',')} BENCH_LOGS_SCENARIOS=${options.scenarios.map((s) => s.name).join(',')} BENCH_FOLLOW_SCENARIOS=${agentOptions.follow.map((s) => s.name).join(',')} `
      + `BENCH_SINKS=${options.sinks.join(',')} BENCH_LOGAGENT=${options.logagent ? 1 : 0} BENCH_PROFILE=${process.env.BENCH_PROFILE ?? '1'}`
      + `${agentOptions.fleet ? ` BENCH_FLEET_CONTAINERS=${agentOptions.fleet.containers} BENCH_SCRAPES=${agentOptions.fleet.scrapes} BENCH_SCRAPE_S=${agentOptions.fleet.scrapeSeconds}` : ''}${agentOptions.outage ? ` BENCH_OUTAGE_S=${agentOptions.outage.downSeconds}` : ''}`,
    '```',
    '',
    machine,
    '',
    goalsMarkdown(agentResult, logsResult),
    '',
    ...(agentResult ? [agentBenchMarkdown(agentResult), ''] : []),
    ...(logsResult ? [logsBenchMarkdown(logsResult), ''] : []),
    stats,
    '',
  ].join('\n');
  const file = process.env.BENCH_REPORT ? path.resolve(process.env.BENCH_REPORT) : path.join(ROOT, 'bench', 'REPORT.md');
  writeFileSync(file, report);
  log(`wrote ${path.relative(process.cwd(), file) || file} (${minutes.toFixed(1)} min)`);
}

main().then(() => process.exit(0), (error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
