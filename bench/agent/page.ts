/**
 * The live page's cost to shipping: the agent ships one container writing N lines (100 bytes, as
 * fast as the daemon takes them) to the file exporter, once without a page and once with a page's
 * traffic — a tail of that container read over SSE, the events stream, and the containers and
 * pipeline JSON polled each second as the page does (a plain client in this process, not a browser,
 * so the browser's own CPU does not weigh on the 2 shared cores). Runs alternate; the best run of each
 * kind is compared.
 */
import http from 'node:http';
import os from 'node:os';
import type { BenchContainers } from '../lib/docker.js';
import { now, pollProgress } from '../lib/time.js';
import { AgentUnderTest } from '../logs/dockhand.js';
import { writerCommand } from '../logs/workload.js';

export interface PageRun {
  readonly withPage: boolean;
  readonly lines: number;
  /** From `docker start` to the last line acknowledged by the file exporter. */
  readonly seconds: number;
  readonly complete: boolean;
  readonly agentCpuSeconds: number;
  /** Lines the tail client received (with the page), and whether the agent dropped it. */
  readonly tailLines?: number;
  readonly tailDropped?: string;
  readonly polls?: number;
  readonly loadAverage: number;
}

export interface PageResult {
  readonly linesPerRun: number;
  readonly runs: readonly PageRun[];
}

export const pageRate = (r: PageRun) => (r.seconds > 0 ? r.lines / r.seconds : 0);

/** The best (fastest complete) run with and without the page. */
export function bestPageRuns(result: PageResult): { without?: PageRun; with?: PageRun } {
  const best = (withPage: boolean) => result.runs.filter((r) => r.withPage === withPage && r.complete).sort((a, b) => pageRate(b) - pageRate(a))[0];
  return { without: best(false), with: best(true) };
}

/** A server-sent-events reader counting the tail's lines; notes a `dropped` event. */
class SseCounter {
  lines = 0;
  dropped: string | undefined;
  /** Resolves once the agent answered 200 and the stream is open. */
  readonly opened: Promise<void>;
  private readonly request: http.ClientRequest;

  constructor(url: string) {
    let pending = '';
    let open: (() => void) | undefined;
    let fail: ((error: Error) => void) | undefined;
    this.opened = new Promise<void>((resolve, reject) => { open = resolve; fail = reject; });
    this.opened.catch(() => undefined);
    this.request = http.get(url, (response) => {
      if (response.statusCode === 200) open!();
      else fail!(new Error(`${url}: HTTP ${response.statusCode}`));
      response.setEncoding('utf8').on('data', (chunk: string) => {
        pending += chunk;
        let end: number;
        while ((end = pending.indexOf('\n\n')) >= 0) {
          this.take(pending.slice(0, end));
          pending = pending.slice(end + 2);
        }
      });
    });
    this.request.on('error', (error) => fail!(error));
  }

  private take(block: string): void {
    const [eventLine, dataLine] = block.split('\n');
    if (!dataLine?.startsWith('data: ')) return;
    if (eventLine === 'event: lines') this.lines += (JSON.parse(dataLine.slice(6)) as { m: unknown[] }).m.length;
    else if (eventLine === 'event: dropped') this.dropped = (JSON.parse(dataLine.slice(6)) as { reason: string }).reason;
  }

  close(): void {
    this.request.destroy();
  }
}

/** Opens the tail once the agent's inventory lists the container (its first sync may still be running when /readyz says 200). */
async function openTail(url: string, timeoutMs = 10_000): Promise<SseCounter> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const tail = new SseCounter(url);
    try {
      await tail.opened;
      return tail;
    } catch (error) {
      tail.close();
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** What an open page asks of the agent: the tail, the events stream, the JSON each second. */
class PageTraffic {
  private readonly events: SseCounter;
  private readonly timer: NodeJS.Timeout;
  polls = 0;

  constructor(base: string, readonly tail: SseCounter) {
    this.events = new SseCounter(`${base}/ui/api/events`);
    let since = 0;
    let epoch = 0;
    this.timer = setInterval(() => {
      // As the page: the containers with the history points after the last it got, and the pipeline.
      const containers = fetch(`${base}/ui/api/containers?since=${since}&epoch=${epoch}`).then((r) => r.json() as Promise<{ seq: number; epoch: number }>)
        .then((answer) => { since = answer.seq; epoch = answer.epoch; });
      void Promise.all([containers, fetch(`${base}/ui/api/pipeline`).then((r) => r.text())]).then(() => { this.polls++; }, () => undefined);
    }, 1000);
  }

  stop(): void {
    clearInterval(this.timer);
    this.tail.close();
    this.events.close();
  }
}

async function oneRun(containers: BenchContainers, lines: number, withPage: boolean, index: number): Promise<PageRun> {
  const id = await containers.create(`page-${withPage ? 'with' : 'without'}-${index}`, writerCommand(lines), { 'dockhand.bench.scenario': 'page' });
  const under = await AgentUnderTest.start({ sink: 'file', run: containers.run });
  let traffic: PageTraffic | undefined;
  try {
    await under.waitReady();
    const base = `http://127.0.0.1:${under.port}`;
    if (withPage) {
      traffic = new PageTraffic(base, await openTail(`${base}/ui/api/tail?container=${id}`));
    }
    under.agent.sampler.sample();
    const cpuBefore = under.agent.sampler.lastCpu;
    const started = now();
    await containers.startAll([id]);
    const progress = await pollProgress(() => under.delivered(lines), { target: lines, intervalMs: 50, timeoutMs: 300_000, stallMs: 30_000 });
    under.agent.sampler.sample();
    const run: PageRun = {
      withPage,
      lines: progress.count,
      seconds: progress.at - started,
      complete: progress.complete,
      agentCpuSeconds: under.agent.sampler.lastCpu - cpuBefore,
      ...(traffic ? { tailLines: traffic.tail.lines, polls: traffic.polls, ...(traffic.tail.dropped ? { tailDropped: traffic.tail.dropped } : {}) } : {}),
      loadAverage: os.loadavg()[0]!,
    };
    traffic?.stop();
    traffic = undefined;
    await under.stop();
    return run;
  } finally {
    traffic?.stop();
    await under.dispose();
    await containers.remove([id]);
  }
}

export async function measurePage(containers: BenchContainers, options: { lines: number; repeat: number; log: (m: string) => void }): Promise<PageResult> {
  const runs: PageRun[] = [];
  for (let round = 1; round <= options.repeat; round++) {
    for (const withPage of [false, true]) {
      const run = await oneRun(containers, options.lines, withPage, round);
      runs.push(run);
      options.log(`${withPage ? 'with the page' : 'without a page'} (round ${round}): ${Math.round(pageRate(run))} lines/s, agent CPU ${run.agentCpuSeconds.toFixed(2)} s${withPage ? `, tail received ${run.tailLines} lines${run.tailDropped ? ` (dropped: ${run.tailDropped})` : ''}, ${run.polls} polls` : ''}`);
    }
  }
  return { linesPerRun: options.lines, runs };
}
