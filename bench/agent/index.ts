/**
 * The agent against issue 10's figures: live runs side by side with the raw API follower (file and
 * Elasticsearch), the test server alone, a CPU profile of the Elasticsearch path, idle and
 * N-container RSS with /metrics scrapes, and the resume after an Elasticsearch outage.
 * `node dist/bench/agent/index.js` prints the markdown section (same knobs as npm run bench).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { summarizeProfile, type ProfileSummary } from '../lib/cpuprofile.js';
import { BenchContainers } from '../lib/docker.js';
import { fixed, int, mib, table } from '../lib/table.js';
import type { DockhandSink } from '../logs/dockhand.js';
import { measureServerAlone, type ServerAloneResult } from '../logs/es-alone.js';
import { agentRate, bestOfEach, cpuPerMillionLines, followerCpuPerMillionLines, followerRate, liveFollow, type LiveFollowResult } from '../logs/live-follow.js';
import { scenarioLabel, type Scenario } from '../logs/workload.js';
import { measureFleet, type FleetResult } from './fleet.js';
import { measureOutage, slowestCycle, type OutageResult } from './outage.js';
import { bestPageRuns, measurePage, pageRate, type PageResult, type PageRun } from './page.js';

export interface AgentBenchOptions {
  /** Live side-by-side scenarios (agent and raw follower on the same generators). */
  readonly follow: readonly Scenario[];
  /** Rounds of the live side-by-side runs (interleaved); the best of each is used in the goals. */
  readonly followRepeat: number;
  readonly sinks: readonly DockhandSink[];
  readonly serverAlone: { readonly requests: number; readonly concurrency: number } | undefined;
  /** Profile the agent in an extra live run of the first follow scenario into Elasticsearch. */
  readonly profileElasticsearch: boolean;
  readonly fleet: { readonly containers: number; readonly scrapes: number; readonly scrapeSeconds: number; readonly settleSeconds: number } | undefined;
  readonly outage: { readonly downSeconds: number; readonly cycles: number } | undefined;
  /** Shipping with and without the live page's traffic (BENCH_PAGE_LINES, BENCH_PAGE_REPEAT). */
  readonly page: { readonly lines: number; readonly repeat: number } | undefined;
  readonly log: (message: string) => void;
}

export interface ElasticsearchProfile {
  readonly run: LiveFollowResult;
  /** The burst only: from `docker start` to the last line stored. */
  readonly burst: ProfileSummary;
}

export interface AgentBenchResult {
  readonly follow: readonly LiveFollowResult[];
  readonly serverAlone?: ServerAloneResult;
  readonly profile?: ElasticsearchProfile;
  readonly fleet?: FleetResult;
  readonly outage?: OutageResult;
  readonly page?: PageResult;
  readonly errors: readonly string[];
}

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));

export async function runAgentBench(options: AgentBenchOptions): Promise<AgentBenchResult> {
  const containers = new BenchContainers();
  const onSignal = () => void containers.removeAll().finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const follow: LiveFollowResult[] = [];
  const errors: string[] = [];
  let serverAlone: ServerAloneResult | undefined;
  let profile: ElasticsearchProfile | undefined;
  let fleet: FleetResult | undefined;
  let outage: OutageResult | undefined;
  let page: PageResult | undefined;
  const attempt = async (name: string, run: () => Promise<void>) => {
    options.log(`${name} …`);
    try {
      await run();
    } catch (error) {
      errors.push(`${name}: ${errorText(error)}`);
      options.log(`${name} failed: ${errorText(error)}`);
    }
  };
  try {
    for (let round = 1; round <= options.followRepeat; round++) for (const scenario of options.follow) {
      for (const sink of options.sinks) {
        await attempt(`live ${scenario.name} → ${sink}, raw API follower beside (round ${round} of ${options.followRepeat})`, async () => {
          const r = await liveFollow(containers, scenario, { sink, tag: 'follow' });
          follow.push(r);
          options.log(`live ${scenario.name} → ${sink}: agent ${int(agentRate(r))} lines/s, raw follow ${int(followerRate(r))} lines/s (${(agentRate(r) / followerRate(r)).toFixed(2)}), agent CPU ${fixed(cpuPerMillionLines(r), 1)} s per 1M lines, peak RSS ${mib(r.agent.peakRss)}; load ${r.loadAverage.toFixed(1)}`);
        });
      }
    }
    if (options.serverAlone) {
      const { requests, concurrency } = options.serverAlone;
      await attempt('the Elasticsearch test server alone', async () => {
        let sample = follow.find((r) => r.sample)?.sample;
        if (!sample) {
          // No Elasticsearch run above: one small live run gives the agent's bulk request.
          const r = await liveFollow(containers, { name: '1x20000', containers: 1, linesPerContainer: 20_000 }, { sink: 'elasticsearch', tag: 'sample' });
          sample = r.sample;
        }
        if (!sample) throw new Error('the test server kept no bulk request to replay');
        serverAlone = await measureServerAlone(sample, requests, concurrency);
        options.log(`server alone: ${int(serverAlone.docsPerSecond)} docs/s, its CPU ${serverAlone.serverCpuSeconds.toFixed(2)} s over ${serverAlone.seconds.toFixed(2)} s`);
      });
    }
    if (options.profileElasticsearch && options.follow[0]) {
      const scenario = options.follow[0];
      await attempt(`profiling the agent, live ${scenario.name} → elasticsearch (node --cpu-prof, an extra run)`, async () => {
        const dir = mkdtempSync(path.join(os.tmpdir(), 'dockhand-bench-profile-es-'));
        try {
          const run = await liveFollow(containers, scenario, { sink: 'elasticsearch', tag: 'profile', profileDir: dir });
          if (!run.profile) throw new Error('no .cpuprofile written');
          profile = { run, burst: summarizeProfile(run.profile, 20, run.window) };
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      });
    }
    if (options.fleet) {
      const fleetOptions = { ...options.fleet, log: (m: string) => options.log(`fleet: ${m}`) };
      await attempt(`idle RSS, ${options.fleet.containers} idle containers, /metrics scrapes`, async () => { fleet = await measureFleet(containers, fleetOptions); });
    }
    if (options.outage) {
      const outageOptions = { ...options.outage, log: (m: string) => options.log(`outage: ${m}`) };
      await attempt(`Elasticsearch down ${options.outage.downSeconds} s, ${options.outage.cycles} times`, async () => { outage = await measureOutage(containers, outageOptions); });
    }
    if (options.page) {
      const pageOptions = { ...options.page, log: (m: string) => options.log(`page: ${m}`) };
      await attempt(`shipping ${options.page.lines} lines with and without the live page open`, async () => { page = await measurePage(containers, pageOptions); });
    }
  } finally {
    await containers.removeAll();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  return { follow, errors, ...(serverAlone ? { serverAlone } : {}), ...(profile ? { profile } : {}), ...(fleet ? { fleet } : {}), ...(outage ? { outage } : {}), ...(page ? { page } : {}) };
}

// ---- report ----------------------------------------------------------------------------------

const s2 = (n: number | undefined) => (n === undefined ? '–' : n.toFixed(2));
const load = (n: number) => n.toFixed(1);

function checkText(r: LiveFollowResult): string {
  const c = r.check;
  const resends = c.resendsCaught ? `, ${int(c.resendsCaught)} resends caught by _id` : '';
  return `${int(c.delivered)} of ${int(c.written)}: ${c.missing === 0 && c.duplicates === 0 ? 'all, once' : `**${int(c.missing)} missing, ${int(c.duplicates)} twice**`}${resends}`;
}

/** Grouped by scenario and sink, in the order they first ran (repeats side by side). */
function inRunOrder(results: readonly LiveFollowResult[]): LiveFollowResult[] {
  const key = (r: LiveFollowResult) => `${r.scenario.name} ${r.sink}`;
  const order = [...new Set(results.map(key))];
  return [...results].sort((a, b) => order.indexOf(key(a)) - order.indexOf(key(b)));
}

function followMarkdown(results: readonly LiveFollowResult[]): string {
  const out = [
    '### Live, side by side with the raw API follower',
    '',
    'The agent runs first (until `/readyz` answers 200), then the generators start (busybox awk, 100-byte lines, '
    + 'as fast as the daemon takes them) and, in the same run, a raw API follower (`bench/logs/api-reader.ts --follow`: '
    + '`GET /containers/{id}/logs?follow=1` from each container\'s start event, then a drain read when the stream ends, '
    + 'as dockerd 20.10 ends follow streams early) reads the same containers. Both are timed from the `docker start` '
    + 'to the last line in their sink (for the agent: stored by Elasticsearch / acknowledged by the file exporter). '
    + 'Both readers share the 2 cores with the daemon, the writers and the test server. '
    + 'CPU is counted from the `docker start` to the agent\'s last line (the raw follower\'s: its whole process, start-up included, ~0.1 s); peak RSS is the agent\'s VmHWM. '
    + 'Runs are repeated, interleaved (BENCH_FOLLOW_REPEAT); ★ marks the run of each scenario and sink whose raw follower was fastest (the least disturbed), '
    + 'the one issue 10\'s table uses. On a saturated machine both readers crawl behind a starved daemon and the ratio nears 1: read it with the lines/s and the load average.',
    '',
    table(
      ['run', 'agent lines/s', 'raw follow lines/s', '÷ raw', 'agent s', 'raw s (drained lines)', 'writers s', 'agent CPU s', 'CPU s per 1M lines', 'raw follower CPU s per 1M lines', 'agent peak RSS', 'test server CPU s / peak RSS', 'dockerd CPU s', 'machine busy CPU s', 'delivered (sink side)', 'load avg'],
      inRunOrder(results).map((r) => [
        `${scenarioLabel(r.scenario)} → ${r.sink}${results.length > bestOfEach(results).length && bestOfEach(results).includes(r) ? ' ★' : ''}`,
        int(agentRate(r)),
        `${int(followerRate(r))}${r.follower.complete ? '' : ` (${int(r.follower.lines)} of ${int(r.written)})`}`,
        followerRate(r) > 0 ? (agentRate(r) / followerRate(r)).toFixed(2) : '–',
        `${s2(r.agent.seconds)}${r.agent.note ? ` (${r.agent.note})` : ''}`,
        `${s2(r.follower.seconds)} (${int(r.follower.drained)})`,
        s2(r.writerSeconds),
        s2(r.agent.cpuSeconds),
        fixed(cpuPerMillionLines(r), 1),
        fixed(followerCpuPerMillionLines(r), 1),
        mib(r.agent.peakRss),
        r.server ? `${s2(r.server.cpuSeconds)} / ${mib(r.server.peakRss)}` : '–',
        s2(r.daemonCpuSeconds),
        fixed(r.machineBusySeconds, 1),
        checkText(r),
        load(r.loadAverage),
      ]),
    ),
  ];
  const loki = results.find((r) => r.server && r.sink === 'loki');
  if (loki?.server) {
    const st = loki.server.stats;
    out.push('', `The Loki test server (count-only: protobuf decoded with the official push.proto and snappyjs, entries deduplicated by stream, timestamp and line, not kept) saw, in the ${scenarioLabel(loki.scenario)} run: `
      + `${int(st.bulkRequests)} push requests, ${int(st.itemsReceived)} entries (events included, ${int(st.itemsReceived / Math.max(1, st.bulkRequests))} a push), ${int(st.duplicates)} dropped as duplicates.`);
  }
  const otlp = results.find((r) => r.server && r.sink === 'otlp');
  if (otlp?.server) {
    const st = otlp.server.stats;
    out.push('', `The OTLP test receiver (count-only: protobuf decoded with the official definitions, log records counted, not kept) saw, in the ${scenarioLabel(otlp.scenario)} run: `
      + `${int(st.bulkRequests)} export requests, ${int(st.itemsReceived)} log records (events included, ${int(st.itemsReceived / Math.max(1, st.bulkRequests))} a request), `
      + `${(st.bytesReceived / 1e6).toFixed(1)} MB on the wire (gzip; ${int(st.itemsReceived > 0 ? st.bytesReceived / st.itemsReceived : 0)} bytes per record).`);
  }
  const es = results.find((r) => r.server && r.sink === 'elasticsearch');
  if (es?.server) {
    const st = es.server.stats;
    out.push('', `The test server (count-only: documents counted and deduplicated by \`_id\`, sources not parsed) saw, in the ${scenarioLabel(es.scenario)} run: `
      + `${int(st.bulkRequests)} bulk requests, ${int(st.itemsReceived)} items (events included), ${(st.bytesReceived / 1e6).toFixed(0)} MB of NDJSON after decompression `
      + `(${int(st.itemsReceived > 0 ? st.bytesReceived / st.itemsReceived : 0)} bytes per document), at most ${st.maxConcurrentBulk} bulk request${st.maxConcurrentBulk === 1 ? '' : 's'} in flight.`);
  }
  return out.join('\n');
}

function serverAloneMarkdown(s: ServerAloneResult, follow: readonly LiveFollowResult[]): string {
  const fastest = Math.max(0, ...follow.filter((r) => r.sink === 'elasticsearch').map(agentRate));
  return [
    '### The Elasticsearch test server alone',
    '',
    `A fresh count-only test server in its own process; a load generator (\`bench/logs/es-load.ts\`, its own process) posts the largest bulk request the agent sent `
    + `in the live run (same body, query string and headers, ${s.gzip ? 'gzipped' : 'not compressed'}; each copy with its own \`_id\`s), ${s.concurrency} in flight, as fast as the server answers.`,
    '',
    table(['requests × documents', 'body bytes (as sent)', 'seconds', 'documents created', 'docs/s', 'server CPU s (share of one core)', 'generator CPU s', 'answers', 'load avg'], [[
      `${int(s.requests)} × ${int(s.docsPerRequest)}`,
      int(s.bytesPerRequest),
      s2(s.seconds),
      int(s.created),
      int(s.docsPerSecond),
      `${s2(s.serverCpuSeconds)} (${(s.serverCpuShare * 100).toFixed(0)} %)`,
      s2(s.generatorCpuSeconds),
      Object.entries(s.statuses).map(([k, v]) => `${v} × ${k}`).join(', '),
      load(s.loadAverage),
    ]]),
    '',
    fastest > 0
      ? `Its ceiling is ${(s.docsPerSecond / fastest).toFixed(1)}× the agent's fastest live rate into it (${int(fastest)} lines/s)${s.docsPerSecond >= 2 * fastest ? ': the server is not what limits the Elasticsearch figures.' : ': **close to the agent\'s rate, so the server may limit the Elasticsearch figures.**'}`
      : '',
  ].join('\n');
}

function profileMarkdown(p: ElasticsearchProfile): string {
  const { burst, run } = p;
  const gc = burst.areas.find((a) => a.name === '(garbage collector)');
  return [
    `### Where the agent's CPU goes on the Elasticsearch path (live ${scenarioLabel(run.scenario)}, \`node --cpu-prof\`)`,
    '',
    `An extra live run into Elasticsearch, profiled (not in the tables above: the profiler slows it): ${int(run.agent.lines)} lines at ${int(agentRate(run))} lines/s. `
    + `Only the burst is counted (from the \`docker start\` to the last line stored, ${s2(burst.wallSeconds)} s): the main thread was busy ${s2(burst.busySeconds)} s of it `
    + `(**${burst.wallSeconds > 0 ? ((burst.busySeconds / burst.wallSeconds) * 100).toFixed(0) : '–'} %**; the rest it waited)${gc ? `, garbage collection ${(gc.share * 100).toFixed(1)} % of the busy time` : ''}. `
    + 'Self time; builtins and native code are charged to the JavaScript function that called them; zlib and the file system run on libuv threads, outside this.',
    '',
    table(['area (self time)', 'seconds', 'share of busy'], burst.areas.map((a) => [a.name, s2(a.seconds), `${(a.share * 100).toFixed(1)} %`])),
    '',
    table(['function (self time)', 'seconds', 'share of busy'], burst.functions.map((f) => [`\`${f.name}\``, s2(f.seconds), `${(f.share * 100).toFixed(1)} %`])),
  ].join('\n');
}

function fleetMarkdown(f: FleetResult): string {
  const out = [
    '### Memory and /metrics, the agent as a new user runs it',
    '',
    'Every collector and the Prometheus exporter at their defaults, Elasticsearch configured (the count-only test server); '
    + `the logs collector reads only the run's containers. RSS is VmRSS once start-up settled for ${f.settleSeconds} s (two agents: one with no container of the run, one started among the running containers); `
    + 'the stats collector also samples the other containers of the shared daemon (counted beside).',
    '',
    table(['state', 'RSS', 'peak RSS so far', 'other containers on the daemon', 'load avg'], [
      ['idle: ready, no container of the run', mib(f.idle.rss), mib(f.idle.peakRss), String(f.idle.otherContainers), load(f.idle.loadAverage)],
      [`${f.containers} idle containers (sleeping) running, a fresh agent started among them: logs followed and stats on /metrics (${f.followSeconds.toFixed(1)} s after its start)`, mib(f.followed.rss), mib(f.followed.peakRss), String(f.followed.otherContainers), load(f.followed.loadAverage)],
    ]),
  ];
  if (f.scrape) {
    const s = f.scrape;
    out.push('', `GET /metrics back to back over HTTP (one keep-alive connection, each body read into buffers kept from scrape to scrape and kept as bytes, as Prometheus does), ${int(s.scrapes)} scrapes in ${s2(s.seconds)} s, with the ${f.containers} containers and a writer container whose lines were shipped meanwhile `
      + `(${int(s.linesShipped)} lines stored in Elasticsearch during the scrapes); the body: ${(s.bodyBytes / 1024).toFixed(0)} KiB, ${int(s.seriesLines)} series.`, '',
    table(['scrapes', 'p50 ms', 'p99 ms', 'max ms', 'mean ms', 'load avg'], [[int(s.scrapes), s2(s.p50Ms), s2(s.p99Ms), s2(s.maxMs), s2(s.meanMs), load(s.loadAverage)]]));
  }
  if (f.errors.length > 0) out.push('', ...f.errors.map((e) => `- failed: ${e}`));
  return out.join('\n');
}

function outageMarkdown(o: OutageResult): string {
  const slowest = slowestCycle(o);
  return [
    '### Resume after an Elasticsearch outage',
    '',
    `The agent ships into the count-only test server. Each cycle, a container writes ${int(30_000)} lines at ~4,000 lines/s (pausing 0.1 s every 500 lines); `
    + `once 1,000 of them are stored, the server refuses connections (listener and every connection closed) for ${o.downSeconds} s, then listens again on the same port ("back"). `
    + 'Times from "back", stamped by the server as its counters move; the backlog is every line written so far. '
    + 'Where the outage ends within the agent\'s retry backoff is chance: issue 10\'s table takes the slowest cycle.',
    '',
    table(['cycle', 'stored when it went down', 'first bulk request after s', 'first document stored after s', 'backlog stored after s', 'load avg'], o.cycles.map((c, i) => [
      `${i + 1}${c === slowest && o.cycles.length > 1 ? ' (slowest)' : ''}`,
      int(c.storedBeforeOutage),
      s2(c.firstBulkSeconds),
      s2(c.firstStoredSeconds),
      s2(c.backlogSeconds),
      load(c.loadAverage),
    ])),
    '',
    `Delivered: ${int(o.delivered)} of ${int(o.written)}: ${o.missing === 0 && o.duplicates === 0 ? 'all, once' : `**${int(o.missing)} missing, ${int(o.duplicates)} twice**`}`
    + `${o.resendsCaught ? `, ${int(o.resendsCaught)} resends caught by _id` : ''}.${o.note ? ` ${o.note}.` : ''}`,
  ].join('\n');
}

function pageMarkdown(p: PageResult): string {
  const best = bestPageRuns(p);
  const bestRatio = best.without && best.with ? pageRate(best.with) / pageRate(best.without) : undefined;
  const medianWithout = medianRate(p.runs, false);
  const medianWith = medianRate(p.runs, true);
  const ratio = medianWithout && medianWith ? medianWith / medianWithout : undefined;
  return [
    '### Shipping with the live page open',
    '',
    `The agent ships one container writing ${int(p.linesPerRun)} lines (100 bytes, as fast as the daemon takes them) to the file exporter (fdatasync per batch), `
    + 'timed from the `docker start` to the last line acknowledged; once without a page, once with a page\'s traffic: the live tail of that container read over SSE, '
    + 'the events stream, and `/ui/api/containers` and `/ui/api/pipeline` polled each second (a plain client in the bench process, not a browser). '
    + 'Runs alternate (BENCH_PAGE_REPEAT rounds); the medians of each kind are compared (a run lasts ~1.5 s, so the fastest of each kind is '
    + 'one undisturbed moment and swings by 10 % from one bench to the next; it is shown too, ★). Goal: within 5 %.',
    '',
    table(['run', 'lines/s', 'seconds', 'agent CPU s', 'tail lines received', 'JSON polls', 'load avg'], p.runs.map((r) => [
      `${r.withPage ? 'with the page' : 'without'}${r === best.with || r === best.without ? ' ★' : ''}${r.complete ? '' : ' (incomplete)'}`,
      int(pageRate(r)),
      s2(r.seconds),
      s2(r.agentCpuSeconds),
      r.withPage ? `${int(r.tailLines ?? 0)}${r.tailDropped ? ` (dropped: ${r.tailDropped})` : ''}` : '–',
      r.withPage ? String(r.polls ?? 0) : '–',
      load(r.loadAverage),
    ])),
    '',
    ratio === undefined ? 'No complete pair of runs: no ratio.'
      : `With the page, median of the runs: **${(ratio * 100).toFixed(1)} %** of the throughput without (${int(medianWith!)} vs ${int(medianWithout!)} lines/s)${ratio >= 0.95 ? ': within 5 %.' : ': **more than 5 % slower**.'}`,
    '',
    `Fastest run of each kind: ${bestRatio === undefined ? '–' : `${(bestRatio * 100).toFixed(1)} % (${int(pageRate(best.with!))} vs ${int(pageRate(best.without!))} lines/s)`}. `
    + `Agent CPU per 1M lines, mean of the runs (steadier than lines/s on a shared machine): ${fixed(meanCpuPerMillion(p.runs, false), 2)} s without, ${fixed(meanCpuPerMillion(p.runs, true), 2)} s with the page.`,
  ].join('\n');
}

function medianRate(runs: readonly PageRun[], withPage: boolean): number | undefined {
  const rates = runs.filter((r) => r.withPage === withPage && r.complete).map(pageRate).sort((x, y) => x - y);
  if (rates.length === 0) return undefined;
  const middle = Math.floor(rates.length / 2);
  return rates.length % 2 ? rates[middle] : (rates[middle - 1]! + rates[middle]!) / 2;
}

function meanCpuPerMillion(runs: readonly PageRun[], withPage: boolean): number | undefined {
  const of = runs.filter((r) => r.withPage === withPage && r.lines > 0);
  return of.length === 0 ? undefined : (of.reduce((sum, r) => sum + r.agentCpuSeconds / r.lines, 0) / of.length) * 1e6;
}

export function agentBenchMarkdown(result: AgentBenchResult): string {
  const out: string[] = ['## The agent: live side by side, the test server alone, memory, /metrics, outage'];
  if (result.follow.length > 0) out.push('', followMarkdown(result.follow));
  if (result.serverAlone) out.push('', serverAloneMarkdown(result.serverAlone, result.follow));
  if (result.profile) out.push('', profileMarkdown(result.profile));
  if (result.fleet) out.push('', fleetMarkdown(result.fleet));
  if (result.outage) out.push('', outageMarkdown(result.outage));
  if (result.page) out.push('', pageMarkdown(result.page));
  if (result.errors.length > 0) out.push('', '**Failed parts:**', '', ...result.errors.map((e) => `- ${e}`));
  return out.join('\n');
}

// ---- options ---------------------------------------------------------------------------------

export const DEFAULT_FOLLOW_SCENARIOS = '1x300000,10x30000';

function numberFromEnv(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  return Number.isFinite(value) ? value : fallback;
}

export function agentOptionsFromEnv(parse: (text: string) => Scenario[], sinks: readonly DockhandSink[], parts: ReadonlySet<string>, log: (m: string) => void): AgentBenchOptions {
  const followText = process.env.BENCH_FOLLOW_SCENARIOS ?? DEFAULT_FOLLOW_SCENARIOS;
  const profile = (process.env.BENCH_PROFILE ?? '1').split(',').map((s) => s.trim());
  const outageSeconds = numberFromEnv('BENCH_OUTAGE_S', 10);
  return {
    follow: parts.has('follow') && !['', '0'].includes(followText) ? parse(followText) : [],
    followRepeat: Math.max(1, numberFromEnv('BENCH_FOLLOW_REPEAT', 2)),
    sinks,
    serverAlone: parts.has('alone') && sinks.includes('elasticsearch') ? { requests: numberFromEnv('BENCH_SERVER_ALONE_REQUESTS', 300), concurrency: numberFromEnv('BENCH_SERVER_ALONE_CONCURRENCY', 4) } : undefined,
    profileElasticsearch: parts.has('follow') && sinks.includes('elasticsearch') && (profile.includes('1') || profile.includes('elasticsearch')),
    fleet: parts.has('fleet')
      ? { containers: numberFromEnv('BENCH_FLEET_CONTAINERS', 100), scrapes: Math.max(1, numberFromEnv('BENCH_SCRAPES', 1000)), scrapeSeconds: numberFromEnv('BENCH_SCRAPE_S', 12), settleSeconds: numberFromEnv('BENCH_SETTLE_S', 10) }
      : undefined,
    outage: parts.has('outage') && outageSeconds > 0 ? { downSeconds: outageSeconds, cycles: Math.max(1, numberFromEnv('BENCH_OUTAGE_CYCLES', 3)) } : undefined,
    page: parts.has('page') ? { lines: Math.max(1, numberFromEnv('BENCH_PAGE_LINES', 100_000)), repeat: Math.max(1, numberFromEnv('BENCH_PAGE_REPEAT', 7)) } : undefined,
    log,
  };
}

export const ALL_PARTS = ['finished', 'live', 'follow', 'alone', 'fleet', 'outage', 'page', 'stats'] as const;

/** BENCH_PARTS (comma-separated, default all): which parts of `npm run bench` run. */
export function partsFromEnv(): Set<string> {
  const text = process.env.BENCH_PARTS;
  if (!text) return new Set(ALL_PARTS);
  const parts = new Set(text.split(',').map((s) => s.trim()).filter(Boolean));
  for (const p of parts) if (!(ALL_PARTS as readonly string[]).includes(p)) throw new Error(`BENCH_PARTS: unknown part "${p}" (${ALL_PARTS.join(', ')})`);
  return parts;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const { parseScenarios, optionsFromEnv } = await import('../logs/index.js');
  const options = agentOptionsFromEnv(parseScenarios, optionsFromEnv().sinks, partsFromEnv(), (m) => process.stderr.write(`[bench/agent] ${m}\n`));
  process.stdout.write(`${agentBenchMarkdown(await runAgentBench(options))}\n`);
}
