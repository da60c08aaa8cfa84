/**
 * The live variant: the reader is running first, then the containers start and write at full speed
 * (after a 1 s pause, so that a reader that attaches on the start event is attached before the first
 * line). Measured: lines delivered (loss shows here), time from the containers' start until the last
 * line is in the sink, how far behind the writers that is, how long the writers took with that reader
 * attached (a reader can slow the application down), and the reader's CPU while following.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BenchContainers } from '../lib/docker.js';
import { dockerdPid, MachineWindow, ProcessSampler } from '../lib/proc.js';
import { CountingSink, FileLineCounter } from '../lib/sink.js';
import { now, pollProgress, sleep } from '../lib/time.js';
import { AgentUnderTest } from './dockhand.js';
import { dockerLogs } from './docker-cli.js';
import { startLogagent, waitInitialized, type LogagentInstall } from './logagent.js';
import type { Measurement } from './measurement.js';
import { dockerSocket } from './api.js';
import { LINE_BYTES, writerCommand, type Scenario } from './workload.js';

export interface LiveMeasurement extends Measurement {
  /** Seconds the containers took from start to exit while this reader followed them. */
  readonly writerSeconds: number;
  /** Seconds from the last container's exit until the last line was in the sink. */
  readonly behindSeconds: number;
}

interface Writers {
  readonly ids: readonly string[];
  readonly names: readonly string[];
  readonly lines: number;
}

async function createWriters(containers: BenchContainers, scenario: Scenario, reader: string): Promise<Writers> {
  const ids: string[] = [];
  const names: string[] = [];
  for (let i = 0; i < scenario.containers; i++) {
    const name = `live-${reader}-${scenario.name}-${i}`;
    ids.push(await containers.create(name, writerCommand(scenario.linesPerContainer, 1), { 'dockhand.bench.scenario': `live-${scenario.name}`, LOGS_ENABLED: 'true' }));
    names.push(`dh-bench-${name}-${containers.run}`);
  }
  return { ids, names, lines: scenario.containers * scenario.linesPerContainer };
}

/** Starts the writers; resolves when they have all exited, with the time they did. */
async function runWriters(containers: BenchContainers, writers: Writers): Promise<{ started: number; exited: Promise<number> }> {
  const started = now();
  await containers.startAll(writers.ids);
  const exited = containers.waitAll(writers.ids).then(() => now());
  return { started, exited };
}

function result(base: Omit<LiveMeasurement, 'bytes' | 'behindSeconds' | 'seconds' | 'writerSeconds'>, started: number, lastLineAt: number, exitedAt: number): LiveMeasurement {
  return {
    ...base,
    bytes: base.lines * LINE_BYTES,
    seconds: lastLineAt - started,
    writerSeconds: exitedAt - started,
    behindSeconds: Math.max(0, lastLineAt - exitedAt),
  };
}

/** `docker logs --follow` for each container, started right after the containers. */
export async function liveDockerCli(containers: BenchContainers, scenario: Scenario): Promise<LiveMeasurement> {
  const writers = await createWriters(containers, scenario, 'cli');
  try {
    const window = new MachineWindow(dockerdPid());
    const { started, exited } = await runWriters(containers, writers);
    const sinks: CountingSink[] = [];
    const samplers: ProcessSampler[] = [];
    const ends = writers.ids.map((id) => new Promise<number>((resolve, reject) => {
      const sink = new CountingSink();
      sinks.push(sink);
      const child = spawn('docker', ['logs', '--follow', id], { stdio: ['ignore', 'pipe', 'inherit'] });
      samplers.push(new ProcessSampler(child.pid!, 50));
      child.stdout.pipe(sink);
      child.on('error', reject);
      child.on('close', () => resolve(now()));
    }));
    const lastLineAt = Math.max(...(await Promise.all(ends)));
    const exitedAt = await exited;
    const machine = window.end();
    const cpu = samplers.reduce((n, s) => n + s.stop().cpu, 0);
    const lines = sinks.reduce((n, s) => n + s.lines, 0);
    // Whether what follow missed was in the daemon's log all along: read it again, without --follow.
    const held = lines === writers.lines ? lines : (await Promise.all(writers.ids.map((id) => dockerLogs(id, false)))).reduce((n, r) => n + r.lines, 0);
    return result({
      contender: 'docker logs --follow (CLI)',
      detail: `${writers.ids.length} × \`docker logs --follow\`, started with the containers`,
      expectedLines: writers.lines,
      lines,
      cpuSeconds: cpu,
      peakRss: samplers.reduce((n, s) => n + s.peakRss, 0),
      daemonCpuSeconds: machine.daemon,
      machineBusySeconds: machine.busy,
      complete: lines === writers.lines,
      ...(lines !== writers.lines ? { note: `${lines} of ${writers.lines} lines: \`docker logs --follow\` ended when the containers exited before it had sent everything, though the daemon holds ${held} (a plain \`docker logs\` afterwards returns them)` } : {}),
    }, started, lastLineAt, exitedAt);
  } finally {
    await containers.remove(writers.ids);
  }
}

/** dockhand → file, ready before the containers start. */
export async function liveDockhand(containers: BenchContainers, scenario: Scenario): Promise<LiveMeasurement> {
  const writers = await createWriters(containers, scenario, 'dockhand');
  const under = await AgentUnderTest.start({ sink: 'file', run: containers.run });
  try {
    const deadline = Date.now() + 60_000;
    while (!(await under.ready())) {
      if (!under.agent.alive || Date.now() > deadline) throw new Error(`agent not ready: ${under.agent.stderr.slice(-1000)}`);
      await sleep(50);
    }
    const cpuBefore = under.agent.sampler.lastCpu;
    const window = new MachineWindow(dockerdPid());
    const { started, exited } = await runWriters(containers, writers);
    const progress = await pollProgress(() => under.delivered(writers.lines), { target: writers.lines, intervalMs: 100, timeoutMs: 180_000, stallMs: 20_000 });
    under.agent.sampler.sample();
    const exitedAt = await exited;
    const machine = window.end();
    const held = await under.held();
    await under.stop();
    const notes: string[] = [];
    if (!progress.complete) notes.push(`${progress.reason}: ${progress.count} of ${writers.lines} acknowledged`);
    if (held !== writers.lines) notes.push(`the sink holds ${held} lines, expected ${writers.lines}`);
    return result({
      contender: 'dockhand → file',
      detail: 'agent running and ready (/readyz) before the containers start; logs collector → file exporter (fdatasync per batch)',
      expectedLines: writers.lines,
      lines: progress.count,
      cpuSeconds: under.agent.sampler.lastCpu - cpuBefore,
      peakRss: under.agent.sampler.peakRss,
      daemonCpuSeconds: machine.daemon,
      machineBusySeconds: machine.busy,
      complete: progress.complete && held === writers.lines,
      ...(notes.length > 0 ? { note: notes.join('; ') } : {}),
    }, started, progress.at, exitedAt);
  } finally {
    await under.dispose();
    await containers.remove(writers.ids);
  }
}

/** Logagent's Docker input (attach), initialized before the containers start. */
export async function liveLogagent(containers: BenchContainers, scenario: Scenario, install: LogagentInstall): Promise<LiveMeasurement> {
  const writers = await createWriters(containers, scenario, 'logagent');
  const work = mkdtempSync(path.join(os.tmpdir(), 'dockhand-bench-logagent-live-'));
  const names = writers.names.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
  const { process: la, out } = startLogagent(install, work, {
    input: { docker: { module: 'docker-logs', socket: dockerSocket(), MATCH_BY_NAME: `^/?(${names})$` } },
  });
  try {
    await waitInitialized(la);
    const cpuBefore = la.sampler.lastCpu;
    const window = new MachineWindow(dockerdPid());
    const { started, exited } = await runWriters(containers, writers);
    const counter = new FileLineCounter(out);
    // It may never get everything: stop once the writers are done and nothing moved for 10 s.
    let exitedAt: number | undefined;
    void exited.then((t) => { exitedAt = t; });
    let last = -1;
    let lastMoved = now();
    let lastLineAt = started;
    let stopReason = '';
    for (;;) {
      const n = await counter.poll();
      const t = now();
      if (n !== last) {
        last = n;
        lastMoved = t;
        if (n > 0) lastLineAt = t;
      }
      if (n >= writers.lines) break;
      if (exitedAt !== undefined && t - lastMoved > 10) {
        stopReason = 'nothing more arrived in the 10 s after the containers exited';
        break;
      }
      if (t - started > 180) {
        stopReason = 'the bench stopped waiting 180 s after the start';
        break;
      }
      if (!la.alive) throw new Error(`logagent exited: ${la.stderr.slice(-1000)}`);
      await sleep(100);
    }
    la.sampler.sample();
    const done = await exited;
    const machine = window.end();
    return result({
      contender: `Logagent ${install.version}, Docker input`,
      detail: '`docker-logs` input (attach), initialized before the containers start → output-files',
      expectedLines: writers.lines,
      lines: last,
      cpuSeconds: la.sampler.lastCpu - cpuBefore,
      peakRss: la.sampler.peakRss,
      daemonCpuSeconds: machine.daemon,
      machineBusySeconds: machine.busy,
      complete: last === writers.lines,
      ...(last !== writers.lines ? { note: `${last} of ${writers.lines} lines (${((1 - last / writers.lines) * 100).toFixed(1)} % lost); ${stopReason}` } : {}),
    }, started, lastLineAt, done);
  } finally {
    await la.stop();
    rmSync(work, { recursive: true, force: true });
    await containers.remove(writers.ids);
  }
}
