/**
 * The peer on the same runtime: Sematext Logagent (Node.js), installed at bench time into a temp
 * folder (never into the project), shipping the same containers' logs into a counting sink (its
 * `output-files` plugin, NDJSON; the lines of that file are counted as they grow).
 *
 * Its Docker input (`docker-logs`, built on docker-loghose) attaches to containers
 * (`POST /containers/{id}/attach?stream=1`): attach delivers only what a running container writes
 * after the attach, so it cannot read the finished logs every other contender reads. That is
 * measured as it is (and shown), and the same data is then read the one way it can: its file input
 * tailing the daemon's json-file logs from byte 0.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import YAML from 'yaml';
import { MeasuredProcess } from '../lib/child.js';
import { logPath } from '../lib/docker.js';
import { dockerdPid, MachineWindow } from '../lib/proc.js';
import { FileLineCounter } from '../lib/sink.js';
import { now, pollProgress, sleep } from '../lib/time.js';
import type { Measurement } from './measurement.js';
import { dockerSocket } from './api.js';
import { LINE_BYTES, type Workload } from './workload.js';

const exec = promisify(execFile);

/** The version measured; pinned so that a report can be reproduced (BENCH_LOGAGENT_VERSION overrides). */
export const LOGAGENT_VERSION = process.env.BENCH_LOGAGENT_VERSION ?? '3.2.0';

export interface LogagentInstall {
  readonly bin: string;
  readonly version: string;
  readonly dir: string;
  readonly installSeconds: number;
  readonly reused: boolean;
}

/** `npm install --prefix <tmp> @sematext/logagent@<version>`, reused when a previous bench left it there. */
export async function installLogagent(): Promise<LogagentInstall> {
  const dir = process.env.BENCH_LOGAGENT_DIR ?? path.join(os.tmpdir(), `dockhand-bench-logagent-${LOGAGENT_VERSION}`);
  const pkg = path.join(dir, 'node_modules', '@sematext', 'logagent', 'package.json');
  const bin = path.join(dir, 'node_modules', '@sematext', 'logagent', 'bin', 'logagent.js');
  const installed = () => existsSync(pkg) && existsSync(bin) ? (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version : undefined;
  if (installed() === LOGAGENT_VERSION) return { bin, version: LOGAGENT_VERSION, dir, installSeconds: 0, reused: true };
  mkdirSync(dir, { recursive: true });
  const start = now();
  await exec('npm', ['install', '--prefix', dir, `@sematext/logagent@${LOGAGENT_VERSION}`, '--no-audit', '--no-fund', '--loglevel=error'], { maxBuffer: 16 * 1024 * 1024, timeout: 300_000 });
  const version = installed();
  if (!version) throw new Error(`npm install of @sematext/logagent@${LOGAGENT_VERSION} into ${dir} left no ${bin}`);
  return { bin, version, dir, installSeconds: now() - start, reused: false };
}

export interface LogagentConfig {
  readonly input: Record<string, unknown>;
  readonly tailFromStart?: boolean;
}

/** Starts Logagent with `input` and an `output-files` sink; returns the process and the sink file. */
export function startLogagent(install: LogagentInstall, work: string, config: LogagentConfig): { process: MeasuredProcess; out: string; config: string } {
  const out = path.join(work, 'out.ndjson');
  const file = path.join(work, 'logagent.yml');
  mkdirSync(path.join(work, 'buffer'), { recursive: true });
  const text = YAML.stringify({
    options: {
      printStats: 60,
      suppress: true,
      geoipEnabled: false,
      diskBufferDir: path.join(work, 'buffer'),
      ...(config.tailFromStart ? { tailStartPosition: 0 } : {}),
    },
    input: config.input,
    output: { counting: { module: 'output-files', fileName: out, size: '100G', interval: '1d' } },
  });
  writeFileSync(file, text);
  // Its own launcher line (bin/logagent.js is a sh/node polyglot that adds --max-old-space-size=300): run it as users do.
  const process_ = MeasuredProcess.spawn('logagent', install.bin, ['--config', file], {
    cwd: work,
    env: { ...process.env, DOCKER_HOST: `unix://${dockerSocket()}`, LOGS_TOKEN: '', LOGSENE_TOKEN: '' },
  });
  return { process: process_, out, config: text.replaceAll(work, '<tmp>') };
}

export async function waitInitialized(la: MeasuredProcess, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!la.stderr.includes('Logagent initialized') && !la.stdout.includes('Logagent initialized')) {
    if (!la.alive) throw new Error(`logagent exited: ${la.stderr.slice(-2000)}`);
    if (Date.now() > deadline) throw new Error(`logagent not initialized within ${timeoutMs} ms: ${la.stderr.slice(-2000)}`);
    await sleep(50);
  }
}

/**
 * Logagent's Docker input on the finished containers: it is given the same containers (by name) and
 * `waitSeconds` after it reports itself initialized; whatever reaches its sink is counted.
 */
export async function measureLogagentDocker(workload: Workload, install: LogagentInstall, waitSeconds = 5): Promise<Measurement> {
  const work = mkdtempSync(path.join(os.tmpdir(), 'dockhand-bench-logagent-docker-'));
  const names = workload.names.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
  const { process: la, out, config } = startLogagent(install, work, {
    input: { docker: { module: 'docker-logs', socket: dockerSocket(), MATCH_BY_NAME: `^/?(${names})$` } },
  });
  try {
    const start = now();
    await waitInitialized(la);
    await sleep(waitSeconds * 1000);
    const lines = await new FileLineCounter(out).poll();
    la.sampler.sample();
    return {
      contender: `Logagent ${install.version}, Docker input`,
      detail: '`docker-logs` input (docker-loghose: attach to running containers) → output-files',
      expectedLines: workload.lines,
      lines,
      bytes: lines * LINE_BYTES,
      seconds: now() - start,
      cpuSeconds: la.sampler.cpu,
      peakRss: la.sampler.peakRss,
      complete: lines === workload.lines,
      command: 'logagent --config <tmp>/logagent.yml',
      config: config.replace(/\^\/\?\(.*\)\$/, '^/?(<bench container names>)$'),
      note: lines === workload.lines ? 'read everything' : `${lines} of ${workload.lines} lines after ${waitSeconds} s: its Docker input attaches (POST /containers/{id}/attach), which streams only what a running container writes after the attach; finished containers' logs are out of its reach`,
    };
  } finally {
    await la.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

export function logagentBudgetMs(): number {
  return Number(process.env.BENCH_LOGAGENT_BUDGET_S ?? 30) * 1000;
}

/**
 * Logagent's file input reading the daemon's json-file logs of the same containers from byte 0, for
 * at most `budgetMs` (it is far slower than the others: the bench's time budget stops it, and its
 * rate over what it delivered by then is what is reported).
 */
export async function measureLogagentFiles(workload: Workload, install: LogagentInstall, budgetMs = logagentBudgetMs()): Promise<Measurement> {
  const work = mkdtempSync(path.join(os.tmpdir(), 'dockhand-bench-logagent-files-'));
  const files = await Promise.all(workload.ids.map((id) => logPath(id)));
  const window = new MachineWindow(dockerdPid());
  const start = now();
  const { process: la, out, config } = startLogagent(install, work, { input: { files }, tailFromStart: true });
  try {
    const counter = new FileLineCounter(out);
    let firstLineAt: number | undefined;
    const progress = await pollProgress(async () => {
      if (!la.alive) throw new Error(`logagent exited: ${la.stderr.slice(-2000)}`);
      return counter.poll();
    }, { target: workload.lines, intervalMs: 100, timeoutMs: budgetMs, stallMs: 20_000, onCount: (n, t) => { if (n > 0 && firstLineAt === undefined) firstLineAt = t; } });
    la.sampler.sample();
    const machine = window.end();
    return {
      contender: `Logagent ${install.version}, file input`,
      detail: 'file input tailing the daemon\'s json-file logs from byte 0 (not the Docker API) → output-files (no fsync)',
      expectedLines: workload.lines,
      lines: progress.count,
      bytes: progress.count * LINE_BYTES,
      seconds: progress.at - start,
      ...(firstLineAt !== undefined ? { firstLineSeconds: firstLineAt - start } : {}),
      cpuSeconds: la.sampler.cpu,
      peakRss: la.sampler.peakRss,
      daemonCpuSeconds: machine.daemon,
      machineBusySeconds: machine.busy,
      complete: progress.complete,
      command: 'logagent --config <tmp>/logagent.yml',
      config: files.reduce((text, file, i) => text.replace(file, `/var/lib/docker/containers/<id ${i + 1}>/<id ${i + 1}>-json.log`), config),
      ...(progress.complete ? {} : { note: `${progress.reason === `timed out after ${Math.round(budgetMs / 1000)} s` ? `stopped by the bench's time budget (${Math.round(budgetMs / 1000)} s, BENCH_LOGAGENT_BUDGET_S)` : progress.reason}: ${progress.count} of ${workload.lines} lines by then; the rate shown is over those (its rate falls as the files it reads grow; its launcher caps the V8 heap at 300 MB, NODE_OPTIONS replaces that cap)` }),
    };
  } finally {
    await la.stop();
    rmSync(work, { recursive: true, force: true });
  }
}
