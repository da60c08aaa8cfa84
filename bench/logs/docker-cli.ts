/**
 * The daemon's ceiling as users see it: `docker logs <id>` for every container at once, output into
 * a counting sink. CPU comes from bash's `times` (the CLI's exact user+system), peak RSS from /proc.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { CountingSink } from '../lib/sink.js';
import { dockerdPid, MachineWindow, ProcessSampler } from '../lib/proc.js';
import { now } from '../lib/time.js';
import type { Measurement } from './measurement.js';
import { LINE_BYTES, type Workload } from './workload.js';

interface CliRun {
  readonly lines: number;
  readonly cpu: number;
  readonly peakRss: number;
  readonly firstLineAt: number | undefined;
}

function parseTimes(text: string): number {
  // `times` prints the shell's own user/system, then its children's: "0m1.234s 0m0.456s".
  const lines = text.trim().split('\n');
  const children = lines[lines.length - 1] ?? '';
  let total = 0;
  for (const [, m, s] of children.matchAll(/(\d+)m([\d.]+)s/g)) total += Number(m) * 60 + Number(s);
  return total;
}

export function dockerLogs(id: string, timestamps: boolean): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const sink = new CountingSink();
    let firstLineAt: number | undefined;
    const child = spawn('bash', ['-c', `docker logs ${timestamps ? '--timestamps ' : ''}"$1" 2>&1; times >&3`, 'bench', id], { stdio: ['ignore', 'pipe', 'inherit', 'pipe'] });
    let sampler: ProcessSampler | undefined;
    // The CLI is bash's child: find it once, for its peak RSS.
    const findChild = setInterval(() => {
      if (sampler) return;
      try {
        const pids = childPids(child.pid!);
        if (pids[0]) sampler = new ProcessSampler(pids[0], 50);
      } catch {
        // not started yet
      }
    }, 10);
    let times = '';
    (child.stdio[3] as import('node:stream').Readable).setEncoding('utf8').on('data', (c: string) => { times += c; });
    child.stdout!.once('data', () => { firstLineAt = now(); });
    child.stdout!.pipe(sink);
    child.on('error', reject);
    child.on('close', (code) => {
      clearInterval(findChild);
      const mem = sampler?.stop();
      if (code !== 0) return reject(new Error(`docker logs ${id} exited ${code}`));
      resolve({ lines: sink.lines, cpu: parseTimes(times), peakRss: mem?.peakRss ?? 0, firstLineAt });
    });
  });
}

function childPids(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
}

export async function measureDockerCli(workload: Workload, timestamps = false): Promise<Measurement> {
  const window = new MachineWindow(dockerdPid());
  const start = now();
  const runs = await Promise.all(workload.ids.map((id) => dockerLogs(id, timestamps)));
  const seconds = now() - start;
  const machine = window.end();
  const lines = runs.reduce((n, r) => n + r.lines, 0);
  const firsts = runs.map((r) => r.firstLineAt).filter((t): t is number => t !== undefined);
  return {
    contender: timestamps ? 'docker logs --timestamps (CLI)' : 'docker logs (CLI)',
    detail: `${workload.ids.length} × \`docker logs${timestamps ? ' --timestamps' : ''}\` in parallel → counting sink`,
    expectedLines: workload.lines,
    lines,
    bytes: lines * LINE_BYTES,
    seconds,
    firstLineSeconds: firsts.length > 0 ? Math.min(...firsts) - start : undefined,
    cpuSeconds: runs.reduce((n, r) => n + r.cpu, 0),
    peakRss: runs.reduce((n, r) => n + r.peakRss, 0),
    daemonCpuSeconds: machine.daemon,
    machineBusySeconds: machine.busy,
    complete: lines === workload.lines,
    command: `docker logs${timestamps ? ' --timestamps' : ''} <id> > counting sink   (one per container, all at once)`,
    ...(lines !== workload.lines ? { note: `counted ${lines} of ${workload.lines} lines` } : {}),
  };
}
