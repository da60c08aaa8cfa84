/**
 * `npm run bench`: prepares the test environment (bash test/env.sh: dockerd and the busybox image),
 * runs bench/logs and then bench/stats, and writes bench/REPORT.md with the machine, the commands
 * and the figures. Knobs (environment): BENCH_LOGS_SCENARIOS (default 1x1000000,10x100000),
 * BENCH_SINKS (file,elasticsearch), BENCH_LOGAGENT=0, BENCH_PROFILE=0, BENCH_STATS=0,
 * BENCH_STATS_ARGS (e.g. "20 100"), BENCH_REPORT (output path).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { logsBenchMarkdown, optionsFromEnv, runLogsBench } from './logs/index.js';
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

/** Runs test/env.sh (it starts dockerd and builds the image if needed) and applies the exports it prints. */
function prepareEnvironment(): void {
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
  const options = optionsFromEnv((m) => log(`logs: ${m}`));
  const logs = logsBenchMarkdown(await runLogsBench(options));
  const stats = process.env.BENCH_STATS === '0' ? '## Container stats\n\nSkipped (BENCH_STATS=0).' : await runStatsBench();
  const minutes = (now() - t0) / 60;
  const report = [
    '# dockhand benchmark report',
    '',
    `Generated by \`npm run bench\` on ${started.toISOString()} in ${minutes.toFixed(1)} min. Do not edit: run it again. `
      + 'bench/README.md says what each figure means and how to run a part of it.',
    '',
    '```sh',
    'npm ci            # also builds (the prepare script runs tsc)',
    'npm run bench     # = node dist/bench/run.js: test/env.sh, bench/logs, bench/stats, then this file',
    `# this run: BENCH_LOGS_SCENARIOS=${options.scenarios.map((s) => s.name).join(',')} BENCH_SINKS=${options.sinks.join(',')} BENCH_LOGAGENT=${options.logagent ? 1 : 0} BENCH_PROFILE=${options.profile ? 1 : 0}`,
    '```',
    '',
    machine,
    '',
    logs,
    '',
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
