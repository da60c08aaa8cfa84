/**
 * The test server alone: a fresh count-only server in its own process, and es-load.js posting the
 * agent's own bulk request (taken from the live run) to it as fast as it answers. Its ceiling in
 * documents per second, beside the agent's rate, shows whether the server could have been the
 * bottleneck of the Elasticsearch figures.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MeasuredProcess } from '../lib/child.js';
import type { BulkSample, EsServerStats } from './es-server-main.js';

const ES_SERVER = fileURLToPath(new URL('./es-server-main.js', import.meta.url));
const LOAD = fileURLToPath(new URL('./es-load.js', import.meta.url));

export interface ServerAloneResult {
  readonly requests: number;
  readonly concurrency: number;
  readonly docsPerRequest: number;
  /** Request body bytes as sent (gzipped when the agent gzips). */
  readonly bytesPerRequest: number;
  readonly gzip: boolean;
  readonly seconds: number;
  /** Documents the server created (new `_id`s) over the run. */
  readonly created: number;
  readonly docsPerSecond: number;
  readonly serverCpuSeconds: number;
  /** Server CPU seconds per wall second: near 1 means its one thread was saturated. */
  readonly serverCpuShare: number;
  readonly generatorCpuSeconds: number;
  readonly statuses: Record<string, number>;
  readonly loadAverage: number;
}

export async function measureServerAlone(sample: BulkSample, requests = 300, concurrency = 4): Promise<ServerAloneResult> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dockhand-bench-es-load-'));
  const server = MeasuredProcess.spawn('Elasticsearch test server', process.execPath, [ES_SERVER, '--count-only']);
  try {
    const { url, control } = await server.firstJsonLine<{ url: string; control: string }>();
    const sampleFile = path.join(dir, 'sample.json');
    writeFileSync(sampleFile, JSON.stringify(sample));
    let cpuAtStart = server.sampler.lastCpu;
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, [LOAD, url, sampleFile, String(requests), String(concurrency)], { stdio: ['ignore', 'pipe', 'inherit'] });
      let text = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => {
        // The bodies are built before the first request: the server's CPU counts from "start" on.
        if (!text.includes('start\n') && (text + c).includes('start\n')) {
          server.sampler.sample();
          cpuAtStart = server.sampler.lastCpu;
        }
        text += c;
      });
      child.on('error', reject);
      child.on('close', (code) => {
        if (code === 0) resolve(text);
        else reject(new Error(`es-load exited ${code}`));
      });
    });
    server.sampler.sample();
    const load = JSON.parse(out.split('\n').find((l) => l.startsWith('{')) ?? '') as { docs: number; docsPerRequest: number; bytesPerRequest: number; startedAt: number; endedAt: number; statuses: Record<string, number>; cpuSeconds: number };
    const stats = await (await fetch(`${control}/stats`)).json() as EsServerStats;
    const seconds = (load.endedAt - load.startedAt) / 1000;
    const serverCpuSeconds = server.sampler.lastCpu - cpuAtStart;
    return {
      requests,
      concurrency,
      docsPerRequest: load.docsPerRequest,
      bytesPerRequest: load.bytesPerRequest,
      gzip: sample.gzip,
      seconds,
      created: stats.created,
      docsPerSecond: seconds > 0 ? stats.created / seconds : 0,
      serverCpuSeconds,
      serverCpuShare: seconds > 0 ? serverCpuSeconds / seconds : 0,
      generatorCpuSeconds: load.cpuSeconds,
      statuses: load.statuses,
      loadAverage: os.loadavg()[0]!,
    };
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
