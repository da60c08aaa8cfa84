/**
 * Live, side by side: the agent runs first (until /readyz says 200), then the generators start and,
 * in the same run, a raw API follower (`api-reader.js --follow`: `GET /containers/{id}/logs?follow=1`
 * for each container as soon as it is started) reads the same containers. The agent's lines/s over
 * the follower's lines/s is the figure: both are timed from the same `docker start` to the last
 * line in their sink. Checks afterwards that the sink holds every line written, each once.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchContainers } from '../lib/docker.js';
import { dockerdPid, MachineWindow } from '../lib/proc.js';
import { now, pollProgress } from '../lib/time.js';
import { dockerSocket } from './api.js';
import { AgentUnderTest, type DockhandSink } from './dockhand.js';
import type { BulkSample, EsServerStats } from './es-server-main.js';
import { writerCommand, type Scenario } from './workload.js';

const READER = fileURLToPath(new URL('./api-reader.js', import.meta.url));

export interface FollowerResult {
  readonly lines: number;
  /** From `docker start` to its last line. */
  readonly seconds: number;
  readonly firstLineSeconds?: number;
  readonly cpuSeconds: number;
  /** Lines that came from the drain read after a follow stream ended (dockerd 20.10 ends them early). */
  readonly drained: number;
  readonly complete: boolean;
}

/** Lines written against what the sink holds, counted on the sink's side. */
export interface DeliveryCheck {
  readonly written: number;
  /** Distinct lines in the sink (Elasticsearch: documents stored, deduplicated by `_id`). */
  readonly delivered: number;
  readonly missing: number;
  /** Lines held more than once (file: the same container and sequence number twice; Elasticsearch: more documents than lines). */
  readonly duplicates: number;
  /** Elasticsearch: `create`s of an `_id` already stored, answered 409 (resends the dedup caught; not duplicates). */
  readonly resendsCaught?: number;
}

export interface LiveFollowResult {
  readonly scenario: Scenario;
  readonly sink: DockhandSink;
  readonly written: number;
  readonly agent: {
    readonly lines: number;
    readonly seconds: number;
    readonly firstLineSeconds?: number;
    readonly cpuSeconds: number;
    /** VmHWM over the agent's life (start-up included). */
    readonly peakRss: number;
    readonly complete: boolean;
    readonly note?: string;
  };
  readonly follower: FollowerResult;
  /** The generators' run time with both readers attached. */
  readonly writerSeconds: number;
  readonly server?: { readonly cpuSeconds: number; readonly peakRss: number; readonly stats: EsServerStats };
  readonly check: DeliveryCheck;
  readonly daemonCpuSeconds?: number;
  readonly machineBusySeconds: number;
  readonly wallSeconds: number;
  /** From `docker start` to the agent's last line, on the monotonic clock (seconds; a profile's window). */
  readonly window: { readonly from: number; readonly to: number };
  /** 1-minute load average when the run ended. */
  readonly loadAverage: number;
  readonly sample?: BulkSample;
  readonly profile?: string;
  readonly config: string;
}

export const agentRate = (r: LiveFollowResult) => (r.agent.seconds > 0 ? r.agent.lines / r.agent.seconds : 0);
export const followerRate = (r: LiveFollowResult) => (r.follower.seconds > 0 ? r.follower.lines / r.follower.seconds : 0);
/**
 * Of repeated runs, the one per scenario and sink whose raw follower was fastest (complete runs
 * first): on a shared machine that is the least disturbed run. Not the best ratio: when the machine
 * is saturated both readers crawl behind a starved daemon and their ratio nears 1.
 */
export function bestOfEach(results: readonly LiveFollowResult[]): LiveFollowResult[] {
  const best = new Map<string, LiveFollowResult>();
  for (const r of results) {
    const key = `${r.scenario.name} ${r.sink}`;
    const held = best.get(key);
    if (!held || (r.agent.complete && !held.agent.complete) || (r.agent.complete === held.agent.complete && followerRate(r) > followerRate(held))) best.set(key, r);
  }
  return [...best.values()];
}

export const cpuPerMillionLines = (r: LiveFollowResult) => (r.agent.lines > 0 ? (r.agent.cpuSeconds / r.agent.lines) * 1e6 : undefined);
/** The raw follower's own CPU (its process, start-up included) per million lines it read: what reading the stream alone costs. */
export const followerCpuPerMillionLines = (r: LiveFollowResult) => (r.follower.lines > 0 ? (r.follower.cpuSeconds / r.follower.lines) * 1e6 : undefined);

interface FollowerOutput { lines: number; cpuSeconds: number; drained: number; firstLineAt?: number; lastLineAt?: number }

/**
 * Starts the raw follower on containers not started yet; resolves once it has subscribed to their
 * start events, with the promise of its counts (when every stream and its drain read ended).
 */
async function startFollower(ids: readonly string[]): Promise<{ done: Promise<FollowerOutput> }> {
  const child = spawn(process.execPath, [READER, '--follow', dockerSocket(), ...ids], { stdio: ['ignore', 'pipe', 'inherit'] });
  let text = '';
  let onReady: (() => void) | undefined;
  const ready = new Promise<void>((resolve) => { onReady = resolve; });
  child.stdout.setEncoding('utf8').on('data', (c: string) => {
    text += c;
    if (text.includes('{"ready":true}\n')) onReady?.();
  });
  const done = new Promise<FollowerOutput>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`api-reader --follow exited ${code}`));
      try {
        resolve(JSON.parse(text.split('\n').filter((l) => l.startsWith('{') && !l.includes('"ready"')).pop() ?? ''));
      } catch (error) {
        reject(error as Error);
      }
    });
  });
  done.catch(() => undefined); // awaited by the caller; not an unhandled rejection meanwhile
  await Promise.race([ready, done.then(() => { throw new Error('api-reader --follow ended before it was ready'); }), new Promise((_, reject) => setTimeout(() => reject(new Error('api-reader --follow not ready in 20 s')), 20_000).unref())]);
  return { done };
}

/** Distinct (container, sequence number) pairs in the file sink's NDJSON files, and how many came twice. */
function checkFileSink(dataDir: string, written: number): DeliveryCheck {
  const dir = path.join(dataDir, 'records');
  const seen = new Set<string>();
  let total = 0;
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.ndjson') && n.startsWith('records'))) {
    for (const line of readFileSync(path.join(dir, name), 'utf8').split('\n')) {
      if (!line) continue;
      const sequence = /"message":"(\d{8}) /.exec(line)?.[1];
      const container = /[0-9a-f]{64}/.exec(line)?.[0];
      if (!sequence || !container) continue;
      total++;
      seen.add(`${container.slice(0, 16)} ${sequence}`);
    }
  }
  return { written, delivered: seen.size, missing: Math.max(0, written - seen.size), duplicates: total - seen.size };
}

function checkElasticsearch(held: number, written: number, stats: EsServerStats): DeliveryCheck {
  return { written, delivered: held, missing: Math.max(0, written - held), duplicates: Math.max(0, held - written), resendsCaught: stats.duplicates };
}

export interface LiveFollowOptions {
  readonly sink: DockhandSink;
  /** Profile the agent (node --cpu-prof) into this folder. */
  readonly profileDir?: string;
  /** Prefix of the containers' names (runs must not collide). */
  readonly tag: string;
  readonly log?: (message: string) => void;
}

export async function liveFollow(containers: BenchContainers, scenario: Scenario, options: LiveFollowOptions): Promise<LiveFollowResult> {
  const ids: string[] = [];
  for (let i = 0; i < scenario.containers; i++) {
    ids.push(await containers.create(`${options.tag}-${options.sink}-${scenario.name}-${i}`, writerCommand(scenario.linesPerContainer), { 'dockhand.bench.scenario': `live-follow-${scenario.name}`, LOGS_ENABLED: 'true' }));
  }
  const written = scenario.containers * scenario.linesPerContainer;
  const under = await AgentUnderTest.start({ sink: options.sink, run: containers.run, ...(options.profileDir ? { profileDir: options.profileDir } : {}) });
  try {
    await under.waitReady();
    const agentCpuBefore = under.agent.sampler.lastCpu;
    const serverCpuBefore = under.es?.sampler.lastCpu ?? 0;
    const follower = await startFollower(ids);
    const window = new MachineWindow(dockerdPid());
    const started = now();
    const epochAtStart = Date.now();
    await containers.startAll(ids);
    const followed = follower.done;
    const exited = containers.waitAll(ids).then(() => now());
    let firstLineAt: number | undefined;
    const progress = await pollProgress(() => under.delivered(written), {
      target: written,
      intervalMs: under.pollIntervalMs,
      timeoutMs: 300_000,
      stallMs: 30_000,
      onCount: (n, t) => { if (n > 0 && firstLineAt === undefined) firstLineAt = t; },
    });
    under.agent.sampler.sample();
    under.es?.sampler.sample();
    const agentCpu = under.agent.sampler.lastCpu - agentCpuBefore;
    const serverCpu = (under.es?.sampler.lastCpu ?? 0) - serverCpuBefore;
    const raw = await followed;
    const exitedAt = await exited;
    const machine = window.end();
    const wallSeconds = now() - started;
    const loadAverage = os.loadavg()[0]!;
    const stats = under.es ? await under.esStats() : undefined;
    const sample = under.es ? await under.esSample() : undefined;
    const held = await under.held();
    await under.stop();
    const check = options.sink === 'file' ? checkFileSink(under.dataDir, written) : checkElasticsearch(held, written, stats!);
    const profile = options.profileDir ? readdirSync(options.profileDir).filter((n) => n.endsWith('.cpuprofile')).map((n) => path.join(options.profileDir!, n)).pop() : undefined;
    const rawSeconds = raw.lastLineAt !== undefined ? (raw.lastLineAt - epochAtStart) / 1000 : 0;
    return {
      scenario,
      sink: options.sink,
      written,
      agent: {
        lines: progress.count,
        seconds: progress.at - started,
        ...(firstLineAt !== undefined ? { firstLineSeconds: firstLineAt - started } : {}),
        cpuSeconds: agentCpu,
        peakRss: under.agent.sampler.peakRss,
        complete: progress.complete && check.missing === 0 && check.duplicates === 0,
        ...(progress.complete ? {} : { note: `${progress.reason}: ${progress.count} of ${written}` }),
      },
      follower: {
        lines: raw.lines,
        seconds: rawSeconds,
        ...(raw.firstLineAt !== undefined ? { firstLineSeconds: (raw.firstLineAt - epochAtStart) / 1000 } : {}),
        cpuSeconds: raw.cpuSeconds,
        drained: raw.drained,
        complete: raw.lines === written,
      },
      writerSeconds: exitedAt - started,
      ...(under.es ? { server: { cpuSeconds: serverCpu, peakRss: under.es.sampler.peakRss, stats: stats! } } : {}),
      check,
      ...(machine.daemon !== undefined ? { daemonCpuSeconds: machine.daemon } : {}),
      machineBusySeconds: machine.busy,
      wallSeconds,
      window: { from: started, to: progress.at },
      loadAverage,
      ...(sample ? { sample } : {}),
      ...(profile ? { profile } : {}),
      config: under.config,
    };
  } finally {
    await under.dispose();
    await containers.remove(ids);
  }
}
