/**
 * The agent as a new user runs it (every collector and the Prometheus exporter at their defaults,
 * Elasticsearch configured: the count-only test server):
 * 1. idle: ready, no container of the run, RSS once start-up has settled;
 * 2. N idle containers (they sleep) running, a fresh agent started among them (as on a busy host):
 *    RSS once it follows every one's logs and has their stats on /metrics, and has settled;
 * 3. the same agent: GET /metrics scraped back to back, at least 1,000 times, while a writer
 *    container's lines are being shipped: p50/p99/max.
 * The containers carry the run label; other containers on the shared daemon are counted and shown.
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { docker, type BenchContainers } from '../lib/docker.js';
import { memory } from '../lib/proc.js';
import { KeepAliveScraper, type Scraped } from '../lib/scraper.js';
import { sleep } from '../lib/time.js';
import { AgentUnderTest, counterValue } from '../logs/dockhand.js';
import { pacedWriterCommand } from '../logs/workload.js';

export interface RssFigure {
  /** VmRSS when measured. */
  readonly rss: number;
  /** VmHWM so far (start-up included). */
  readonly peakRss: number;
  /** Containers on the shared daemon that are not the run's (the stats collector samples them too). */
  readonly otherContainers: number;
  readonly loadAverage: number;
}

export interface ScrapeFigure {
  readonly scrapes: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly meanMs: number;
  readonly bodyBytes: number;
  readonly seriesLines: number;
  /** Log lines the agent stored in Elasticsearch while the scrapes ran. */
  readonly linesShipped: number;
  readonly seconds: number;
  readonly loadAverage: number;
}

export interface FleetResult {
  readonly settleSeconds: number;
  readonly idle: RssFigure;
  readonly containers: number;
  /** Seconds from the agent's start (among the running containers) until it followed and sampled every one. */
  readonly followSeconds: number;
  readonly followed: RssFigure;
  readonly scrape?: ScrapeFigure;
  readonly errors: readonly string[];
}

export interface FleetOptions {
  readonly containers: number;
  readonly scrapes: number;
  /** Scraping goes on at least this long, past `scrapes` if need be: a stats round (10 s apart) falls within. */
  readonly scrapeSeconds: number;
  readonly settleSeconds: number;
  readonly log: (message: string) => void;
}

const percentile = (sorted: readonly number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

async function otherContainers(run: string): Promise<number> {
  const all = (await docker('ps', '-q')).split('\n').filter(Boolean).length;
  const ours = (await docker('ps', '-q', '--filter', `label=dockhand.bench.run=${run}`)).split('\n').filter(Boolean).length;
  return all - ours;
}

async function rssFigure(under: AgentUnderTest, run: string): Promise<RssFigure> {
  const mem = memory(under.agent.child.pid!);
  if (!mem) throw new Error('the agent is gone');
  return { rss: mem.rss, peakRss: mem.peakRss, otherContainers: await otherContainers(run), loadAverage: os.loadavg()[0]! };
}

/** Creates and starts `n` sleeping containers, a few CLI calls at a time. */
async function startSleepers(containers: BenchContainers, n: number): Promise<string[]> {
  const ids: string[] = [];
  const names = Array.from({ length: n }, (_, i) => `idle-${i}`);
  for (let i = 0; i < names.length; i += 10) {
    ids.push(...await Promise.all(names.slice(i, i + 10).map((name) => containers.create(name, ['sleep', '3600'], { LOGS_ENABLED: 'true' }))));
  }
  for (let i = 0; i < ids.length; i += 25) await containers.startAll(ids.slice(i, i + 25));
  return ids;
}

/** The run's containers the agent both follows (logs) and has stats series for on /metrics. */
async function followedAndSampled(under: AgentUnderTest, run: string): Promise<{ followed: number; sampled: number }> {
  const text = await under.metrics();
  const followed = counterValue(text, 'dockhand_logs_containers_followed', {});
  const sampled = text.split('\n').filter((l) => l.startsWith('container_memory_usage_bytes{') && l.includes(run)).length;
  return { followed, sampled };
}

async function scrape(under: AgentUnderTest, count: number, minSeconds: number): Promise<ScrapeFigure> {
  const storedBefore = await under.held();
  const times: number[] = [];
  const scraper = new KeepAliveScraper('127.0.0.1', under.port, '/metrics');
  let body = '';
  const started = performance.now();
  try {
    let response: Scraped | undefined;
    while (times.length < count || performance.now() - started < minSeconds * 1000) {
      const t0 = performance.now();
      response = await scraper.scrape();
      times.push(performance.now() - t0);
      if (response.status !== 200) throw new Error(`GET /metrics answered ${response.status}`);
    }
    body = response!.body.toString('utf8');
  } finally {
    scraper.close();
  }
  const seconds = (performance.now() - started) / 1000;
  const sorted = [...times].sort((a, b) => a - b);
  return {
    scrapes: times.length,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted[sorted.length - 1]!,
    meanMs: times.reduce((a, b) => a + b, 0) / times.length,
    bodyBytes: Buffer.byteLength(body),
    seriesLines: body.split('\n').filter((l) => l && !l.startsWith('#')).length,
    linesShipped: (await under.held()) - storedBefore,
    seconds,
    loadAverage: os.loadavg()[0]!,
  };
}

async function measureIdle(containers: BenchContainers, settleSeconds: number, log: (m: string) => void): Promise<RssFigure> {
  const under = await AgentUnderTest.start({ sink: 'elasticsearch', run: containers.run, collectors: 'all' });
  try {
    await under.waitReady();
    log(`idle: ready; settling ${settleSeconds} s`);
    await sleep(settleSeconds * 1000);
    const idle = await rssFigure(under, containers.run);
    await under.stop();
    return idle;
  } finally {
    await under.dispose();
  }
}

export async function measureFleet(containers: BenchContainers, options: FleetOptions): Promise<FleetResult> {
  const errors: string[] = [];
  const idle = await measureIdle(containers, options.settleSeconds, options.log);
  options.log(`idle RSS ${(idle.rss / 2 ** 20).toFixed(0)} MiB; starting ${options.containers} sleeping containers`);
  const ids: string[] = [];
  let under: AgentUnderTest | undefined;
  try {
    ids.push(...await startSleepers(containers, options.containers));
    const t0 = Date.now();
    under = await AgentUnderTest.start({ sink: 'elasticsearch', run: containers.run, collectors: 'all' });
    await under.waitReady();
    const deadline = Date.now() + 180_000;
    let seen = { followed: 0, sampled: 0 };
    while ((seen = await followedAndSampled(under, containers.run)).followed < options.containers || seen.sampled < options.containers) {
      if (Date.now() > deadline) {
        errors.push(`after 180 s the agent followed ${seen.followed} and had stats for ${seen.sampled} of ${options.containers} containers`);
        break;
      }
      await sleep(500);
    }
    const followSeconds = (Date.now() - t0) / 1000;
    options.log(`a fresh agent among them: ${seen.followed} followed, ${seen.sampled} sampled after ${followSeconds.toFixed(1)} s; settling ${options.settleSeconds} s`);
    await sleep(options.settleSeconds * 1000);
    const followed = await rssFigure(under, containers.run);
    options.log(`RSS with ${options.containers} containers ${(followed.rss / 2 ** 20).toFixed(0)} MiB; scraping /metrics ${options.scrapes} times while a writer ships`);

    let scrapeFigure: ScrapeFigure | undefined;
    // ~3,600 lines/s for up to ~3 min: it is removed as soon as the scrapes are done.
    const writer = await containers.create('metrics-writer', pacedWriterCommand(600_000, 200, 0.05), { LOGS_ENABLED: 'true' });
    ids.push(writer);
    try {
      const stored = await under.held();
      await containers.startAll([writer]);
      const shipDeadline = Date.now() + 60_000;
      while ((await under.held()) < stored + 1_000) {
        if (Date.now() > shipDeadline) throw new Error('the writer\'s lines did not reach Elasticsearch within 60 s');
        await sleep(100);
      }
      scrapeFigure = await scrape(under, options.scrapes, options.scrapeSeconds);
      options.log(`/metrics p50 ${scrapeFigure.p50Ms.toFixed(1)} ms, p99 ${scrapeFigure.p99Ms.toFixed(1)} ms, max ${scrapeFigure.maxMs.toFixed(1)} ms; ${scrapeFigure.linesShipped} lines shipped meanwhile`);
    } catch (error) {
      errors.push(`scrapes: ${error instanceof Error ? error.message : String(error)}`);
    }
    return { settleSeconds: options.settleSeconds, idle, containers: options.containers, followSeconds, followed, ...(scrapeFigure ? { scrape: scrapeFigure } : {}), errors };
  } finally {
    await under?.dispose();
    await containers.remove(ids);
  }
}
