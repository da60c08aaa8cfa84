/** Runs api-reader.js as its own process (so its CPU is its own) and measures it. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dockerdPid, MachineWindow } from '../lib/proc.js';
import { now } from '../lib/time.js';
import type { Measurement } from './measurement.js';
import { LINE_BYTES, type Workload } from './workload.js';

const READER = fileURLToPath(new URL('./api-reader.js', import.meta.url));

/** The daemon's unix socket, as the CLI would find it (DOCKER_HOST=unix://… or the default). */
export function dockerSocket(): string {
  const host = process.env.DOCKER_HOST;
  if (host?.startsWith('unix://')) return host.slice('unix://'.length);
  return '/var/run/docker.sock';
}

export async function measureApi(workload: Workload): Promise<Measurement> {
  const window = new MachineWindow(dockerdPid());
  const start = now();
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, [READER, dockerSocket(), ...workload.ids], { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => { text += c; });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`api-reader exited ${code}`))));
  });
  const seconds = now() - start;
  const machine = window.end();
  const result = JSON.parse(out) as { lines: number; bytes: number; cpuSeconds: number; peakRss: number };
  return {
    contender: 'Docker API, raw HTTP (Node)',
    detail: `${workload.ids.length} × \`GET /containers/{id}/logs?stdout=1&stderr=1&timestamps=1\` in parallel over the unix socket, frames parsed and counted`,
    expectedLines: workload.lines,
    lines: result.lines,
    bytes: result.lines * LINE_BYTES,
    seconds,
    cpuSeconds: result.cpuSeconds,
    peakRss: result.peakRss,
    daemonCpuSeconds: machine.daemon,
    machineBusySeconds: machine.busy,
    complete: result.lines === workload.lines,
    command: `node dist/bench/logs/api-reader.js ${dockerSocket()} <id>…`,
    ...(result.lines !== workload.lines ? { note: `counted ${result.lines} of ${workload.lines} lines` } : {}),
  };
}
