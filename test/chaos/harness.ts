/**
 * One chaos run: a private dockerd, the Elasticsearch test server (in this process) and/or the file
 * sink, the agent as a child process; the scenario's containers launched at their times and driven
 * through their lifecycles while the fault tracks kill the agent, restart the daemon and make
 * Elasticsearch fail; then, with every fault cleared and every container done, the agent is given
 * time to catch up and what it stored is checked against what the containers wrote.
 *
 * Two tracks of faults run side by side: the process track (agent SIGKILL, daemon kill + restart)
 * and the Elasticsearch track (down, 429 on every bulk request, 429 on a share of the items, 400
 * on every bulk request). A container removed right after its run (`--rm`, `docker rm`) leaves no
 * log to read again, so a kill while its lines are only in the agent's memory would lose them for
 * any agent: the process track waits until such containers' lines are stored (at most ~20 s of
 * healthy time), and they are launched only while the process track is quiet.
 */
import { copyFileSync, existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EsTestServer } from '../helpers/es-server.js';
import { startPrivateDaemon, type PrivateDaemon } from '../helpers/private-daemon.js';
import { TEST_IMAGE } from '../helpers/containers.js';
import { AgentSupervisor } from './agent-supervisor.js';
import { checkSink, failures, type SinkCheck } from './checker.js';
import { DaemonApi } from './daemon-api.js';
import { generateScenario, token, type ContainerPlan, type FaultPlan, type Scenario, type ScenarioOptions } from './scenario.js';
import { entryCommand, GATE_FILE, PLAN_MOUNT, renderRun, runScriptName } from './script.js';
import { DEAD_LETTER_INDEX, deadLetterFiles, esDeadLetters, esLogRecords, FileSinkTail, fileSinkRecords, LOGS_DATA_STREAM } from './stores.js';
import { assembleLines, comparePlan, parseJsonFileLog, writtenRecords, type WrittenRecord } from './truth.js';

export type Sink = 'es' | 'file';

export interface ChaosOptions extends ScenarioOptions {
  readonly sinks: readonly Sink[];
  /** Keep the work directory (truth logs, agent data and logs) even when the run passes. */
  readonly keep: boolean;
  /** How long the agent may take to catch up once everything is calm. */
  readonly catchUpMs: number;
  /** Log container launches and lifecycle steps too. */
  readonly verbose: boolean;
  readonly log: (line: string) => void;
}

export interface FaultDone {
  readonly kind: string;
  readonly plannedAtMs: number;
  /** From the start of the chaos phase. */
  readonly atMs: number;
  /** How long it lasted (a restart included). */
  readonly downMs: number;
}

export interface ChaosResult {
  readonly seed: number;
  /** As asked (the scenario leaves Elasticsearch faults out when Elasticsearch is not a sink). */
  readonly options: ScenarioOptions;
  readonly scenario: Scenario;
  readonly sinks: readonly Sink[];
  readonly workDir: string;
  readonly cycles: readonly FaultDone[];
  readonly runsSeen: number;
  readonly linesWritten: number;
  readonly recordsWritten: number;
  /** `tag run/stream` cut short by a daemon kill. */
  readonly cutRuns: readonly string[];
  /** The harness could not do what it meant to (a container that never finished, a daemon log unlike the plan). */
  readonly anomalies: readonly string[];
  /** Removed containers whose lines a kill may have caught unstored: not counted. */
  readonly excused: readonly string[];
  readonly agentCrashes: readonly string[];
  readonly tornFileLines: number;
  readonly checks: readonly SinkCheck[];
  /** Epoch ms at which the chaos phase began (fault times count from it). */
  readonly t0Ms: number;
  readonly elapsedMs: number;
  readonly ok: boolean;
  /** The work directory is still there (a failure, or --keep). */
  readonly kept: boolean;
}

interface Live {
  readonly plan: ContainerPlan;
  readonly name: string;
  readonly planDir: string;
  id?: string;
  finished: boolean;
  linked: boolean;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)));

export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const run = new ChaosRun(options);
  return run.run();
}

class ChaosRun {
  private readonly scenario: Scenario;
  private readonly workDir: string;
  private readonly runId: string;
  private readonly live: Live[];
  private daemon!: PrivateDaemon;
  private api!: DaemonApi;
  private es: EsTestServer | undefined;
  private agent!: AgentSupervisor;
  private fileTail: FileSinkTail | undefined;
  private t0 = 0;
  private daemonUp = true;
  private processBusy = false;
  private esFaultActive = false;
  private readonly pending = new Set<Live>();
  private readonly excused = new Set<Live>();
  private readonly anomalies: string[] = [];
  private readonly cycles: FaultDone[] = [];
  private readonly started = Date.now();

  constructor(private readonly options: ChaosOptions) {
    const faults = options.faults.filter((k) => options.sinks.includes('es') || !k.startsWith('es-'));
    this.scenario = generateScenario({ ...options, faults });
    this.workDir = mkdtempSync(path.join(os.tmpdir(), `dockhand-chaos-${options.seed}-`));
    this.runId = `chaos-${options.seed}-${process.pid}`;
    this.live = this.scenario.containers.map((plan) => ({
      plan,
      name: `${this.runId}-${plan.tag}`,
      planDir: path.join(this.workDir, 'plans', plan.tag),
      finished: false,
      linked: false,
    }));
  }

  private log(line: string): void {
    this.options.log(`chaos [${((Date.now() - (this.t0 || this.started)) / 1000).toFixed(1).padStart(6)} s] ${line}`);
  }

  async run(): Promise<ChaosResult> {
    const o = this.options;
    const processFaults = this.scenario.faults.filter((f) => f.track === 'process');
    const esFaults = this.scenario.faults.filter((f) => f.track === 'es');
    this.log(`seed ${o.seed}: ${this.scenario.containers.length} containers, ${this.scenario.faults.length} faults over ${Math.round(o.durationMs / 1000)} s, sinks ${o.sinks.join('+')}; work dir ${this.workDir}`);
    mkdirSync(path.join(this.workDir, 'truth'), { recursive: true });
    mkdirSync(path.join(this.workDir, 'logs'), { recursive: true });
    writeFileSync(path.join(this.workDir, 'scenario.json'), JSON.stringify(summarise(this.scenario), null, 1));
    for (const l of this.live) this.writePlan(l);
    try {
      this.daemon = await startPrivateDaemon();
      this.api = new DaemonApi(this.daemon.socket);
      if (o.sinks.includes('es')) this.es = await EsTestServer.start();
      const dataDir = path.join(this.workDir, 'agent');
      mkdirSync(dataDir, { recursive: true });
      if (o.sinks.includes('file')) this.fileTail = new FileSinkTail(path.join(dataDir, 'records'));
      this.agent = new AgentSupervisor({
        dataDir, logDir: path.join(this.workDir, 'logs'), dockerHost: this.daemon.host, elasticsearchUrl: this.es?.url,
        containersLabel: `dockhand.chaos=${this.runId}`, fileSink: o.sinks.includes('file'),
      }, (line) => this.log(line));
      await this.agent.start();
      this.t0 = Date.now();
      this.log('agent up; chaos starts');

      const drivers = this.live.map((l) => this.drive(l));
      await Promise.all([this.processTrack(processFaults), this.esTrack(esFaults)]);
      this.log(`faults done (${this.cycles.length}); clearing them and waiting for the containers`);
      await this.calm();
      await this.waitDrivers(drivers, o.durationMs + 180_000);
      const truth = this.readTruth();
      await this.catchUp(truth.records);
      this.log('stopping the agent');
      await this.agent.stop();
      return this.finish(truth, dataDir);
    } catch (error) {
      this.anomalies.push(`harness: ${(error as Error).stack ?? String(error)}`);
      throw error;
    } finally {
      await this.agent?.stop().catch(() => undefined);
      await this.es?.close().catch(() => undefined);
      this.saveTruth();
      await this.daemon?.stop().catch(() => undefined);
    }
  }

  // ---- containers ---------------------------------------------------------------------------------

  private writePlan(l: Live): void {
    mkdirSync(l.planDir, { recursive: true });
    for (const r of l.plan.runs) writeFileSync(path.join(l.planDir, runScriptName(r.run)), renderRun(r));
  }

  private async drive(l: Live): Promise<void> {
    const { plan } = l;
    await sleep(this.t0 + plan.startAtMs - Date.now());
    if (plan.removable) await this.claimRemovableSlot(l);
    try {
      l.id = await this.launch(l);
      await this.linkLog(l);
      if (plan.removable) await this.awaitFirstLineStored(l);
      writeFileSync(path.join(l.planDir, GATE_FILE), '');
      await this.lifecycle(l);
      if (plan.removable) await this.settle(l);
      if (this.options.verbose) this.log(`${plan.tag} (${plan.workload}/${plan.lifecycle}) done`);
    } catch (error) {
      this.anomalies.push(`${plan.tag} (${plan.workload}/${plan.lifecycle}): ${(error as Error).message}`);
    } finally {
      this.pending.delete(l);
      l.finished = true;
    }
  }

  /** Removed containers start only while no kill is due, and a kill then waits for their lines. */
  private async claimRemovableSlot(l: Live): Promise<void> {
    for (;;) {
      if (!this.processBusy && this.agent.up && this.daemonUp) {
        this.pending.add(l);
        return;
      }
      await sleep(100);
    }
  }

  private launchArgs(l: Live): string[] {
    const { plan } = l;
    const labels: Record<string, string> = {
      'dockhand.test': '1', 'dockhand.test.run': this.runId, 'dockhand.chaos': this.runId, 'dockhand.chaos.tag': plan.tag,
      ...(plan.json ? { 'dockhand.logs.json': 'true' } : {}),
      ...(plan.multiline ? {
        'dockhand.multiline.pattern': plan.multiline.pattern,
        'dockhand.multiline.timeout_ms': String(plan.multiline.timeoutMs),
        'dockhand.multiline.max_lines': String(plan.multiline.maxLines),
      } : {}),
    };
    return [
      'run', '-d', '--name', l.name, '--network', 'none', '--log-driver', 'json-file',
      ...Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
      ...(plan.tty ? ['-t'] : []),
      ...(plan.lifecycle === 'policy' ? ['--restart', 'on-failure:20'] : []),
      ...(plan.lifecycle === 'rm' ? ['--rm'] : []),
      '-v', `${l.planDir}:${PLAN_MOUNT}:ro`,
      TEST_IMAGE, ...entryCommand(),
    ];
  }

  private async launch(l: Live): Promise<string> {
    const id = await this.retry(`launch ${l.plan.tag}`, async () => {
      // A daemon killed while `docker run` was under way may have made the container already.
      const existing = await this.api.inspect(l.name);
      if (existing) {
        if (existing.startedAt.startsWith('0001-')) await this.api.start(existing.id);
        return existing.id;
      }
      return (await this.daemon.docker(...this.launchArgs(l))).split('\n').pop()!.trim();
    });
    if (this.options.verbose) this.log(`${l.plan.tag} (${l.plan.workload}/${l.plan.lifecycle}, ${l.plan.runs.length} runs) launched: ${id.slice(0, 12)}`);
    return id;
  }

  /**
   * Hard links to the daemons' json-file logs, so the truth outlives `docker rm`. They live inside
   * the daemon's data root: dockerd mounts it on itself, and a link cannot cross a mount.
   */
  private truthPath(l: Live): string {
    return path.join(this.daemon.dir, 'root', 'chaos-truth', `${l.plan.tag}.log`);
  }

  /** Copies the truth out of the daemon's folder before it is removed (kept with a failed run). */
  private saveTruth(): void {
    if (!this.daemon || !existsSync(path.join(this.workDir, 'truth'))) return;
    for (const l of this.live) {
      try {
        if (l.linked) copyFileSync(this.truthPath(l), path.join(this.workDir, 'truth', `${l.plan.tag}.log`));
      } catch {
        // the report says what could be read
      }
    }
  }

  private async linkLog(l: Live): Promise<void> {
    const source = path.join(this.daemon.dir, 'root', 'containers', l.id!, `${l.id}-json.log`);
    const deadline = Date.now() + 30_000;
    while (!existsSync(source)) {
      if (Date.now() > deadline) throw new Error(`no json-file log at ${source}`);
      await sleep(20);
    }
    mkdirSync(path.dirname(this.truthPath(l)), { recursive: true });
    linkSync(source, this.truthPath(l));
    l.linked = true;
  }

  /** The agent follows the container before the container writes more than its first line. */
  private async awaitFirstLineStored(l: Live): Promise<void> {
    const first = l.plan.runs[0]!.steps[0];
    if (first?.kind !== 'write' && first?.kind !== 'fill') return;
    const wanted = token(l.plan.tag, 1, first.stream, 1);
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (this.storedMessages(l.id!).some((list) => list.some((m) => m.includes(wanted)))) return;
      await sleep(250);
    }
    this.log(`${l.plan.tag}: its first line was not stored within 30 s; opening its gate anyway`);
  }

  private async lifecycle(l: Live): Promise<void> {
    const id = l.id!;
    switch (l.plan.lifecycle) {
      case 'once':
        await this.waitExited(id);
        return;
      case 'rm':
        await this.retry(`${l.plan.tag} wait removed`, () => this.api.wait(id, 'removed'));
        return;
      case 'rmafter':
        await this.waitExited(id);
        await this.retry(`${l.plan.tag} remove`, () => this.api.remove(id));
        return;
      case 'restart':
        for (let k = 2; k <= l.plan.runs.length; k++) {
          await this.waitExited(id);
          await this.retry(`${l.plan.tag} start run ${k}`, () => this.api.start(id));
        }
        await this.waitExited(id);
        return;
      case 'policy':
        await this.waitPolicyDone(id);
        return;
    }
  }

  private async waitExited(id: string): Promise<void> {
    for (;;) {
      await this.retry('wait', () => this.api.wait(id));
      const state = await this.retry('inspect', () => this.api.inspect(id));
      if (!state || state.status === 'exited' || state.status === 'dead') return;
      await sleep(300);
    }
  }

  /** The restart policy ends with a run exiting 0; a run cut by a daemon kill may end otherwise and not come back. */
  private async waitPolicyDone(id: string): Promise<void> {
    let exitedSince: number | undefined;
    for (;;) {
      await this.retry('wait', () => this.api.wait(id));
      const state = await this.retry('inspect', () => this.api.inspect(id));
      if (!state) return;
      if (state.status === 'exited' && state.exitCode === 0) return;
      if (state.status === 'exited') {
        exitedSince ??= Date.now();
        if (Date.now() - exitedSince > 15_000) return;
      } else {
        exitedSince = undefined;
      }
      await sleep(300);
    }
  }

  /** After removal: until every line of the container is stored in every sink, or ~20 s of healthy time passed. */
  private async settle(l: Live): Promise<void> {
    const wanted = () => this.writtenOf(l).filter((w) => !w.poison).map((w) => w.message);
    let healthyMs = 0;
    const deadline = Date.now() + 120_000;
    for (;;) {
      const stored = this.storedMessages(l.id!).map((list) => new Set(list));
      if (wanted().every((m) => stored.every((set) => set.has(m)))) return;
      if (healthyMs >= 20_000 || Date.now() > deadline) {
        this.log(`${l.plan.tag} (${l.plan.workload}/${l.plan.lifecycle}): removed, and not all its lines stored after 20 s; going on`);
        return;
      }
      await sleep(500);
      if (!this.esFaultActive && this.agent.up) healthyMs += 500;
    }
  }

  /** Per sink, the messages stored so far for a container (a live view, for pacing only). */
  private storedMessages(containerId: string): string[][] {
    const out: string[][] = [];
    if (this.es) {
      const list: string[] = [];
      for (const doc of this.es.documents(LOGS_DATA_STREAM)) {
        const source = doc._source as { container?: { id?: string }; message?: string };
        if (source.container?.id === containerId && typeof source.message === 'string') list.push(source.message);
      }
      out.push(list);
    }
    if (this.fileTail) out.push(this.fileTail.read().filter((r) => r.containerId === containerId).map((r) => r.message));
    return out;
  }

  private async retry<T>(what: string, fn: () => Promise<T>, deadlineMs = 180_000): Promise<T> {
    const deadline = Date.now() + deadlineMs;
    for (;;) {
      try {
        return await fn();
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`${what}: ${(error as Error).message}`);
        while (!(await this.api.ping()) && Date.now() < deadline) await sleep(200);
        await sleep(200);
      }
    }
  }

  private async waitDrivers(drivers: Promise<void>[], timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(drivers), new Promise<void>((resolve) => { timer = setTimeout(resolve, timeoutMs); })]);
    clearTimeout(timer);
    for (const l of this.live) if (!l.finished) this.anomalies.push(`${l.plan.tag} (${l.plan.workload}/${l.plan.lifecycle}) did not finish its lifecycle in time`);
  }

  // ---- faults -------------------------------------------------------------------------------------

  private processTrack(faults: readonly FaultPlan[]): Promise<void> {
    return this.track(faults, (busy) => { this.processBusy = busy; }, () => this.drainRemovables());
  }

  private esTrack(faults: readonly FaultPlan[]): Promise<void> {
    return this.track(faults, (active) => { this.esFaultActive = active; }, async () => undefined);
  }

  /** One track: each fault at its time, switched on, held for its duration, switched off. */
  private async track(faults: readonly FaultPlan[], setBusy: (busy: boolean) => void, prepare: () => Promise<void>): Promise<void> {
    for (const fault of faults) {
      await sleep(this.t0 + fault.atMs - Date.now());
      setBusy(true);
      try {
        await prepare();
        const atMs = Date.now() - this.t0;
        const began = Date.now();
        const { describe, on, off } = this.faultSwitch(fault);
        this.log(`fault: ${describe}, for ${fault.downMs} ms`);
        await on();
        await sleep(fault.downMs);
        await off();
        this.cycles.push({ kind: fault.kind, plannedAtMs: fault.atMs, atMs, downMs: Date.now() - began });
      } catch (error) {
        this.anomalies.push(`fault ${fault.kind}: ${(error as Error).message}`);
      } finally {
        setBusy(false);
      }
    }
  }

  private faultSwitch(fault: FaultPlan): { describe: string; on: () => Promise<void> | void; off: () => Promise<void> | void } {
    const es = this.es!;
    switch (fault.kind) {
      case 'agent-kill':
        return { describe: 'agent SIGKILL', on: () => this.agent.kill(), off: () => this.agent.start() };
      case 'daemon-restart':
        return {
          describe: 'dockerd SIGKILL',
          on: async () => { this.daemonUp = false; await this.daemon.kill('SIGKILL'); },
          off: async () => { await this.daemon.restart(); this.daemonUp = true; },
        };
      case 'es-down':
        return { describe: 'Elasticsearch refuses connections', on: () => es.refuseConnections(), off: () => es.acceptConnections() };
      case 'es-429':
        return { describe: 'Elasticsearch answers every bulk request 429', on: () => es.failRequests({ status: 429, match: /_bulk/ }), off: () => es.failRequests(undefined) };
      case 'es-refuse':
        return { describe: 'Elasticsearch refuses every bulk request with 400', on: () => es.failRequests({ status: 400, match: /_bulk/ }), off: () => es.failRequests(undefined) };
      case 'es-item-429': {
        const share = fault.share ?? 0.3;
        return {
          describe: `Elasticsearch rejects ${Math.round(share * 100)} % of the items with 429`,
          on: () => es.rejectItems({ share, seed: this.options.seed, index: 'logs-*' }),
          off: () => es.rejectItems(undefined),
        };
      }
    }
  }

  private async drainRemovables(): Promise<void> {
    const deadline = Date.now() + 90_000;
    while (this.pending.size > 0 && Date.now() < deadline) await sleep(100);
    for (const l of this.pending) {
      this.excused.add(l);
      this.log(`${l.plan.tag}: a kill comes while its lines are not all stored; its result is not counted`);
    }
  }

  private async calm(): Promise<void> {
    if (this.es) {
      this.es.clearFaults();
      await this.es.acceptConnections();
    }
    if (!this.daemonUp) {
      await this.daemon.restart();
      this.daemonUp = true;
    }
    if (!this.agent.up) await this.agent.start();
  }

  // ---- checking -----------------------------------------------------------------------------------

  private writtenOf(l: Live): WrittenRecord[] {
    if (!l.linked) return [];
    const lines = assembleLines(parseJsonFileLog(readFileSync(this.truthPath(l), 'utf8')));
    return writtenRecords({ containerId: l.id!, tag: l.plan.tag, cause: `${l.plan.workload}/${l.plan.lifecycle}` }, lines, processingOf(l.plan));
  }

  private readTruth(): { records: WrittenRecord[]; cut: string[]; runs: number; lines: number } {
    const records: WrittenRecord[] = [];
    const cut: string[] = [];
    let runs = 0;
    let lineCount = 0;
    for (const l of this.live) {
      if (!l.linked || this.excused.has(l)) continue;
      try {
        const lines = assembleLines(parseJsonFileLog(readFileSync(this.truthPath(l), 'utf8')));
        const comparison = comparePlan(l.plan, lines);
        this.anomalies.push(...comparison.anomalies);
        cut.push(...comparison.cut.map((c) => `${l.plan.tag} ${c}`));
        runs += new Set(lines.map((x) => x.token?.run)).size;
        lineCount += lines.length;
        records.push(...writtenRecords({ containerId: l.id!, tag: l.plan.tag, cause: `${l.plan.workload}/${l.plan.lifecycle}`, cutRuns: comparison.cut }, lines, processingOf(l.plan)));
      } catch (error) {
        this.anomalies.push(`${l.plan.tag}: reading what it wrote: ${(error as Error).message}`);
      }
    }
    return { records, cut, runs, lines: lineCount };
  }

  /** Until every record is stored in every sink, or nothing new arrived for 15 s, or the deadline. */
  private async catchUp(written: readonly WrittenRecord[]): Promise<void> {
    this.log(`all containers done (${written.length} records written); waiting for the agent to catch up`);
    const deadline = Date.now() + this.options.catchUpMs;
    const wanted = written.filter((w) => !w.poison);
    let signature = '';
    let quietSince = Date.now();
    for (;;) {
      const perSink: Set<string>[] = [];
      let size = 0;
      if (this.es) {
        const set = new Set<string>();
        for (const doc of this.es.documents(LOGS_DATA_STREAM)) {
          const s = doc._source as { container?: { id?: string }; message?: string };
          set.add(`${s.container?.id}\u0000${s.message}`);
        }
        perSink.push(set);
        size += this.es.counters.itemsReceived;
      }
      if (this.fileTail) {
        const records = this.fileTail.read();
        perSink.push(new Set(records.map((r) => `${r.containerId}\u0000${r.message}`)));
        size += records.length;
      }
      const missing = perSink.map((set) => wanted.filter((w) => !set.has(`${w.containerId}\u0000${w.message}`)).length);
      if (missing.every((m) => m === 0)) {
        this.log('caught up: every record is stored');
        return;
      }
      const now = `${size}`;
      if (now !== signature) {
        signature = now;
        quietSince = Date.now();
      }
      if (Date.now() - quietSince > 15_000) {
        this.log(`nothing new for 15 s; ${missing.join(' / ')} records still missing`);
        return;
      }
      if (Date.now() > deadline) {
        this.log(`catch-up deadline; ${missing.join(' / ')} records still missing`);
        return;
      }
      await sleep(1000);
    }
  }

  private finish(truth: { records: WrittenRecord[]; cut: string[]; runs: number; lines: number }, dataDir: string): ChaosResult {
    const o = this.options;
    const written = truth.records.filter((w) => !this.excused.has(this.live.find((l) => l.id === w.containerId)!));
    const recordsDir = path.join(dataDir, 'records');
    const checks: SinkCheck[] = [];
    let torn = 0;
    if (this.es) {
      const local = deadLetterFiles(dataDir, recordsDir, 'outside');
      const index = esDeadLetters(this.es);
      const text = `${local.text}\n${this.es.documents(DEAD_LETTER_INDEX).map((d) => JSON.stringify(d._source)).join('\n')}`;
      checks.push(checkSink('elasticsearch', written, [...esLogRecords(this.es), ...index, ...local.records], text));
    }
    if (o.sinks.includes('file')) {
      const file = fileSinkRecords(recordsDir);
      const dead = deadLetterFiles(dataDir, recordsDir, 'inside');
      torn = file.torn;
      checks.push(checkSink('file', written, [...file.records, ...dead.records], dead.text));
    }
    const ok = checks.every((c) => failures(c) === 0) && this.anomalies.length === 0 && this.agent.crashes.length === 0;
    const kept = !ok || o.keep;
    const result: ChaosResult = {
      seed: o.seed, options: scenarioOptions(o), scenario: this.scenario, sinks: o.sinks, workDir: this.workDir, cycles: this.cycles, runsSeen: truth.runs,
      linesWritten: truth.lines, recordsWritten: written.length, cutRuns: truth.cut, anomalies: this.anomalies,
      excused: [...this.excused].map((l) => `${l.plan.tag} (${l.plan.workload}/${l.plan.lifecycle})`),
      agentCrashes: this.agent.crashes, tornFileLines: torn, checks, t0Ms: this.t0, elapsedMs: Date.now() - this.started, ok, kept,
    };
    if (!kept) rmSync(this.workDir, { recursive: true, force: true });
    return result;
  }
}

function scenarioOptions(o: ChaosOptions): ScenarioOptions {
  const { seed, containers, cycles, durationMs, workloads, lifecycles, faults, hostile } = o;
  return { seed, containers, cycles, durationMs, workloads, lifecycles, faults, hostile };
}

function processingOf(plan: ContainerPlan) {
  return { tty: plan.tty, multiline: plan.multiline ? { pattern: new RegExp(plan.multiline.pattern), timeoutMs: plan.multiline.timeoutMs, maxLines: plan.multiline.maxLines } : undefined };
}

/** The scenario without the scripts' bytes (those are in plans/). */
function summarise(scenario: Scenario): unknown {
  return {
    options: scenario.options,
    faults: scenario.faults,
    containers: scenario.containers.map((c) => ({ tag: c.tag, workload: c.workload, lifecycle: c.lifecycle, startAtMs: c.startAtMs, runs: c.runs.length })),
  };
}
