/**
 * The scenario of a chaos run, a pure function of its seed and options: which containers run (their
 * workload, lifecycle, start time and the exact bytes each run writes to each stream) and which
 * faults hit when. Replaying a seed gives the same scenario; the machine decides the interleaving.
 *
 * Every line a container writes carries a token `c07-r2-o-00013` (container tag, run, stream, line
 * number on that stream in that run), so a stored record says which written lines it holds.
 */
import { Random } from './prng.js';

export const WORKLOADS = ['plain', 'unterminated', 'multiline', 'json', 'tty', 'big'] as const;
export const LIFECYCLES = ['once', 'policy', 'restart', 'rm', 'rmafter'] as const;
export const PROCESS_FAULTS = ['agent-kill', 'daemon-restart'] as const;
export const ES_FAULTS = ['es-down', 'es-429', 'es-item-429', 'es-refuse'] as const;
export const FAULT_KINDS = [...PROCESS_FAULTS, ...ES_FAULTS] as const;

export type Workload = (typeof WORKLOADS)[number];
export type Lifecycle = (typeof LIFECYCLES)[number];
export type FaultKind = (typeof FAULT_KINDS)[number];
export type StreamName = 'stdout' | 'stderr';

/** One thing a run's script does, in order. Texts are exact bytes (ASCII, no single quote). */
export type Step =
  | { readonly kind: 'write'; readonly stream: StreamName; readonly text: string }
  /** `prefix` + `char` × `count` + `suffix`, written in several pieces (a 200 KB line). */
  | { readonly kind: 'fill'; readonly stream: StreamName; readonly prefix: string; readonly char: string; readonly count: number; readonly suffix: string }
  /** `fixed`: part of what is tested (a gap longer than the multiline timeout), never shortened. */
  | { readonly kind: 'pause'; readonly ms: number; readonly fixed?: boolean }
  /** Waits until the harness opens the container's gate (it does once the agent follows the container). */
  | { readonly kind: 'gate' };

export interface RunPlan {
  readonly run: number;
  readonly steps: readonly Step[];
  readonly exitCode: number;
}

export interface MultilinePlan {
  /** Matches the first line of a record (the container's label `dockhand.multiline.pattern`). */
  readonly pattern: string;
  readonly timeoutMs: number;
  readonly maxLines: number;
}

export interface ContainerPlan {
  readonly tag: string;
  readonly workload: Workload;
  readonly lifecycle: Lifecycle;
  readonly tty: boolean;
  readonly json: boolean;
  readonly multiline: MultilinePlan | undefined;
  /** Gone right after its (single) run: the daemon keeps no log to read again. */
  readonly removable: boolean;
  /** When the harness launches it, from the start of the chaos phase. */
  readonly startAtMs: number;
  readonly runs: readonly RunPlan[];
}

export interface FaultPlan {
  readonly track: 'process' | 'es';
  readonly kind: FaultKind;
  readonly atMs: number;
  /** How long the fault lasts (agent or daemon down, Elasticsearch failing). */
  readonly downMs: number;
  /** es-item-429: the share of items rejected. */
  readonly share?: number;
}

export interface ScenarioOptions {
  readonly seed: number;
  readonly containers: number;
  readonly cycles: number;
  readonly durationMs: number;
  readonly workloads: readonly Workload[];
  readonly lifecycles: readonly Lifecycle[];
  readonly faults: readonly FaultKind[];
  /** One JSON container writes a ~6,000-level nested object once (poison for some sinks). */
  readonly hostile: boolean;
}

export interface Scenario {
  readonly options: ScenarioOptions;
  readonly containers: readonly ContainerPlan[];
  readonly faults: readonly FaultPlan[];
}

export const MULTILINE_PATTERN = '^c\\d+-r\\d+-[oe]-\\d+ ';
export const MULTILINE_TIMEOUT_MS = 1500;
export const BIG_LINE_BYTES = 200 * 1024;
export const HOSTILE_DEPTH = 6000;

const STREAM_LETTER = { stdout: 'o', stderr: 'e' } as const;

export function token(tag: string, run: number, stream: StreamName, n: number): string {
  return `${tag}-r${run}-${STREAM_LETTER[stream]}-${String(n).padStart(5, '0')}`;
}

/** Safe in a single-quoted shell word and in a JSON string, and no `-`, so payloads never form a token. */
const PAYLOAD_ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:;=_/()[]+*#@!?';

function payload(rng: Random, min: number, max: number): string {
  const length = rng.int(min, max);
  let out = '';
  for (let i = 0; i < length; i++) out += PAYLOAD_ALPHABET[rng.int(0, PAYLOAD_ALPHABET.length - 1)];
  return out;
}

/** Lifecycles that remove the container right after its run. */
export function isRemovable(lifecycle: Lifecycle): boolean {
  return lifecycle === 'rm' || lifecycle === 'rmafter';
}

/** Combinations worth having in every run that is big enough, first. */
const PRIORITY_COMBOS: readonly (readonly [Workload, Lifecycle])[] = [
  ['unterminated', 'restart'], ['unterminated', 'policy'], ['unterminated', 'rm'], ['unterminated', 'rmafter'],
  ['multiline', 'restart'], ['json', 'policy'], ['tty', 'restart'], ['big', 'policy'], ['plain', 'once'],
  ['multiline', 'once'], ['big', 'restart'], ['tty', 'rm'], ['json', 'rmafter'], ['plain', 'restart'],
];

/** Big lines are not removed right away: an agent held up by a full queue cannot read 200 KB before the daemon deletes the log. */
function validCombo(workload: Workload, lifecycle: Lifecycle): boolean {
  return !(workload === 'big' && isRemovable(lifecycle));
}

export function generateScenario(options: ScenarioOptions): Scenario {
  const root = new Random(options.seed);
  const combos = chooseCombos(root.fork('combos'), options);
  let hostileLeft = options.hostile;
  const containers = combos.map(([workload, lifecycle], i) => {
    const tag = `c${String(i + 1).padStart(2, '0')}`;
    const hostile = hostileLeft && workload === 'json' && !isRemovable(lifecycle);
    if (hostile) hostileLeft = false;
    return planContainer(root.fork(`container-${tag}`), tag, workload, lifecycle, options.durationMs, hostile);
  });
  const faults = planFaults(root.fork('faults'), options);
  return { options, containers, faults };
}

function chooseCombos(rng: Random, options: ScenarioOptions): [Workload, Lifecycle][] {
  const allowed = (w: Workload, l: Lifecycle) => options.workloads.includes(w) && options.lifecycles.includes(l) && validCombo(w, l);
  const priority = PRIORITY_COMBOS.filter(([w, l]) => allowed(w, l)).map(([w, l]) => [w, l] as [Workload, Lifecycle]);
  const rest: [Workload, Lifecycle][] = [];
  for (const w of options.workloads) for (const l of options.lifecycles) {
    if (allowed(w, l) && !priority.some(([pw, pl]) => pw === w && pl === l)) rest.push([w, l]);
  }
  const order = [...priority, ...rng.shuffle(rest)];
  if (order.length === 0) throw new Error(`no valid workload/lifecycle combination among ${options.workloads.join(',')} × ${options.lifecycles.join(',')}`);
  const out: [Workload, Lifecycle][] = [];
  for (let i = 0; i < options.containers; i++) out.push(order[i % order.length]!);
  return out;
}

type Pace = 'fast' | 'slow' | 'short';

function planContainer(rng: Random, tag: string, workload: Workload, lifecycle: Lifecycle, durationMs: number, hostile: boolean): ContainerPlan {
  const removable = isRemovable(lifecycle);
  const runCount = lifecycle === 'policy' || lifecycle === 'restart' ? rng.int(2, 4) : 1;
  const pace: Pace = removable ? 'short' : rng.chance(0.5) ? 'slow' : 'fast';
  const multiline = workload === 'multiline' ? { pattern: MULTILINE_PATTERN, timeoutMs: MULTILINE_TIMEOUT_MS, maxLines: 200 } : undefined;
  const startAtMs = Math.round(removable ? durationMs * (0.05 + 0.75 * rng.next()) : durationMs * 0.6 * rng.next());
  const runs: RunPlan[] = [];
  for (let run = 1; run <= runCount; run++) {
    const last = run === runCount;
    const exitCode = lifecycle === 'policy' ? (last ? 0 : 1) : rng.pick([0, 0, 3]);
    const builder = new RunBuilder(tag, run);
    writeRun(rng.fork(`run-${run}`), builder, workload, pace, hostile && run === 1);
    runs.push({ run, steps: builder.steps, exitCode });
  }
  // Every container is done writing by 90 % of the chaos phase: the run ends with faults, not after them.
  fitPauses(runs, durationMs * 0.9 - startAtMs);
  return { tag, workload, lifecycle, tty: workload === 'tty', json: workload === 'json', multiline, removable, startAtMs, runs };
}

/** Shortens the pauses that may be shortened, in proportion, so the runs take about `budgetMs` at most. */
function fitPauses(runs: RunPlan[], budgetMs: number): void {
  const pauses = (r: RunPlan, fixed: boolean) => r.steps.reduce((sum, s) => sum + (s.kind === 'pause' && Boolean(s.fixed) === fixed ? s.ms : 0), 0);
  const free = runs.reduce((sum, r) => sum + pauses(r, false), 0);
  const room = Math.max(0, budgetMs - runs.reduce((sum, r) => sum + pauses(r, true), 0) - runs.length * 500);
  if (free <= room) return;
  const factor = room / free;
  for (const [i, r] of runs.entries()) {
    runs[i] = { ...r, steps: r.steps.map((s) => (s.kind === 'pause' && !s.fixed ? { ...s, ms: Math.floor(s.ms * factor) } : s)).filter((s) => s.kind !== 'pause' || s.ms > 0) };
  }
}

/** Builds one run's steps: numbers lines per stream and puts the gate right after the first write. */
class RunBuilder {
  readonly steps: Step[] = [];
  private readonly counters = { stdout: 0, stderr: 0 };

  constructor(readonly tag: string, readonly run: number) {}

  tok(stream: StreamName): string {
    return token(this.tag, this.run, stream, ++this.counters[stream]);
  }

  write(stream: StreamName, text: string): void {
    this.push({ kind: 'write', stream, text });
  }

  fill(stream: StreamName, prefix: string, count: number, suffix: string): void {
    this.push({ kind: 'fill', stream, prefix, char: 'x', count, suffix });
  }

  pause(ms: number, fixed = false): void {
    if (ms > 0) this.steps.push(fixed ? { kind: 'pause', ms, fixed } : { kind: 'pause', ms });
  }

  private push(step: Step): void {
    this.steps.push(step);
    if (this.steps.length === 1) this.steps.push({ kind: 'gate' });
  }
}

interface PaceSettings {
  readonly lines: readonly [number, number];
  readonly burst: readonly [number, number];
  readonly pauseMs: readonly [number, number];
}

const PACES: Record<Pace, PaceSettings> = {
  fast: { lines: [60, 400], burst: [1, 8], pauseMs: [0, 15] },
  slow: { lines: [40, 160], burst: [1, 3], pauseMs: [40, 300] },
  short: { lines: [10, 50], burst: [1, 3], pauseMs: [10, 60] },
};

function writeRun(rng: Random, b: RunBuilder, workload: Workload, pace: Pace, hostile: boolean): void {
  const settings = PACES[pace];
  const total = rng.int(settings.lines[0], settings.lines[1]);
  switch (workload) {
    case 'plain': return plainRun(rng, b, settings, total, { stderrShare: 0.3, unterminatedEnd: false });
    case 'unterminated': return plainRun(rng, b, settings, total, { stderrShare: 0.3, unterminatedEnd: true });
    case 'tty': return plainRun(rng, b, settings, total, { stderrShare: 0, unterminatedEnd: rng.chance(0.5) });
    case 'big': return bigRun(rng, b, settings, Math.max(10, Math.floor(total / 4)));
    case 'json': return jsonRun(rng, b, settings, total, hostile);
    case 'multiline': return multilineRun(rng, b, settings, total);
  }
}

function plainLine(rng: Random, b: RunBuilder, stream: StreamName): string {
  return `${b.tok(stream)} ${payload(rng, 0, 160)}`;
}

function plainRun(rng: Random, b: RunBuilder, pace: PaceSettings, total: number, options: { stderrShare: number; unterminatedEnd: boolean }): void {
  let written = 0;
  const body = options.unterminatedEnd ? total - 1 : total;
  while (written < body) {
    const stream: StreamName = rng.chance(options.stderrShare) ? 'stderr' : 'stdout';
    const burst = Math.min(rng.int(pace.burst[0], pace.burst[1]), body - written);
    let text = '';
    for (let i = 0; i < burst; i++) text += `${plainLine(rng, b, stream)}\n`;
    b.write(stream, text);
    written += burst;
    b.pause(rng.int(pace.pauseMs[0], pace.pauseMs[1]));
  }
  if (options.unterminatedEnd) {
    const stream: StreamName = rng.chance(options.stderrShare) ? 'stderr' : 'stdout';
    b.write(stream, `${b.tok(stream)} last words without a newline ${payload(rng, 0, 40)}`);
  }
}

function bigRun(rng: Random, b: RunBuilder, pace: PaceSettings, total: number): void {
  const bigs = new Set<number>();
  const bigCount = rng.int(1, 3);
  while (bigs.size < bigCount) bigs.add(rng.int(1, total - 1));
  const unterminatedBigEnd = rng.chance(0.3);
  for (let i = 0; i < total; i++) {
    const stream: StreamName = rng.chance(0.3) ? 'stderr' : 'stdout';
    const lastLine = i === total - 1;
    if (bigs.has(i) || (lastLine && unterminatedBigEnd)) {
      const prefix = `${b.tok(stream)} big `;
      b.fill(stream, prefix, BIG_LINE_BYTES - prefix.length + rng.int(0, 10_000), lastLine && unterminatedBigEnd ? '' : '\n');
    } else {
      b.write(stream, `${plainLine(rng, b, stream)}\n`);
    }
    b.pause(rng.int(pace.pauseMs[0], pace.pauseMs[1]));
  }
}

function jsonRun(rng: Random, b: RunBuilder, pace: PaceSettings, total: number, hostile: boolean): void {
  const hostileAt = hostile ? rng.int(1, total - 1) : -1;
  const unterminatedEnd = rng.chance(0.3);
  for (let i = 0; i < total; i++) {
    const stream: StreamName = rng.chance(0.2) ? 'stderr' : 'stdout';
    const tok = b.tok(stream);
    let line: string;
    if (i === hostileAt) {
      line = `{"tok":"${tok}","deep":${'{"a":'.repeat(HOSTILE_DEPTH)}0${'}'.repeat(HOSTILE_DEPTH)}}`;
    } else if (rng.chance(0.1)) {
      line = `${tok} not json: ${payload(rng, 0, 60)}`;
    } else {
      const ctx = rng.chance(0.3) ? `,"ctx":{"user":"u${rng.int(1, 99)}","path":"/${payload(rng, 1, 12).replace(/[^a-z]/gi, 'p')}"}` : '';
      line = `{"tok":"${tok}","level":"${rng.pick(['info', 'warn', 'error', 'debug'])}","seq":${i},"msg":"${payload(rng, 0, 100)}"${ctx}}`;
    }
    const end = i === total - 1 && unterminatedEnd ? '' : '\n';
    b.write(stream, line + end);
    b.pause(rng.int(pace.pauseMs[0], pace.pauseMs[1]));
  }
}

const CLASSES = ['OrderService', 'PaymentGateway', 'Inventory', 'HttpHandler', 'Scheduler', 'Repository'];
const METHODS = ['handle', 'call', 'run', 'apply', 'process', 'lambda$0'];

/**
 * Stack traces (first line matches the pattern, `\tat …` and `Caused by: …` continue it), single
 * INFO lines, traces written line by line by a slow writer (gaps well within the timeout), and now
 * and then a continuation that comes after twice the timeout (a record of its own by the rule).
 */
function multilineRun(rng: Random, b: RunBuilder, pace: PaceSettings, total: number): void {
  let written = 0;
  let lastStream: StreamName | undefined;
  while (written < total) {
    const kind = rng.weighted([['info', 5], ['trace', 4], ['late', lastStream && written > 0 ? 1 : 0]] as const);
    if (kind === 'info') {
      const stream: StreamName = rng.chance(0.5) ? 'stderr' : 'stdout';
      b.write(stream, `${b.tok(stream)} INFO ${payload(rng, 0, 100)}\n`);
      lastStream = stream;
      written++;
    } else if (kind === 'late') {
      const stream = lastStream!;
      b.pause(MULTILINE_TIMEOUT_MS * 2, true);
      b.write(stream, `\tat ${b.tok(stream)} late.Continuation.after(Timeout.java:1)\n`);
      written++;
    } else {
      const stream: StreamName = rng.chance(0.7) ? 'stderr' : 'stdout';
      const lines = [`${b.tok(stream)} ERROR request failed: ${payload(rng, 0, 80)}`];
      const frames = rng.int(2, 10);
      for (let f = 0; f < frames; f++) {
        if (f > 1 && rng.chance(0.15)) lines.push(`Caused by: ${b.tok(stream)} java.lang.IllegalStateException: ${payload(rng, 0, 40)}`);
        else lines.push(`\tat ${b.tok(stream)} com.example.${rng.pick(CLASSES)}.${rng.pick(METHODS)}(${rng.pick(CLASSES)}.java:${rng.int(1, 999)})`);
      }
      if (rng.chance(0.3)) {
        for (const line of lines) {
          b.write(stream, `${line}\n`);
          b.pause(rng.int(30, 300));
        }
      } else {
        b.write(stream, lines.map((l) => `${l}\n`).join(''));
      }
      lastStream = stream;
      written += lines.length;
    }
    b.pause(rng.int(pace.pauseMs[0], pace.pauseMs[1]));
  }
  if (rng.chance(0.3)) {
    const stream: StreamName = rng.chance(0.5) ? 'stderr' : 'stdout';
    b.write(stream, `${b.tok(stream)} FATAL exiting without a newline`);
  }
}

function planFaults(rng: Random, options: ScenarioOptions): FaultPlan[] {
  const processKinds = PROCESS_FAULTS.filter((k) => options.faults.includes(k));
  const esKinds = ES_FAULTS.filter((k) => options.faults.includes(k));
  if (options.cycles > 0 && processKinds.length === 0 && esKinds.length === 0) throw new Error('no fault kind allowed');
  let processCount = esKinds.length === 0 ? options.cycles : processKinds.length === 0 ? 0 : Math.round(options.cycles * 0.45);
  let esCount = options.cycles - processCount;
  if (processKinds.length === 0) [processCount, esCount] = [0, options.cycles];

  const processList: FaultKind[] = [];
  if (processCount > 0) {
    const restarts = processKinds.includes('daemon-restart') ? (processKinds.length === 1 ? processCount : Math.max(1, Math.round(processCount * 0.25))) : 0;
    for (let i = 0; i < processCount; i++) processList.push(i < restarts ? 'daemon-restart' : 'agent-kill');
  }
  const esList: FaultKind[] = [];
  const esOrder = rng.shuffle(esKinds);
  for (let i = 0; i < esCount; i++) esList.push(esOrder[i % esOrder.length]!);

  return [
    ...spread(rng.fork('process'), 'process', rng.shuffle(processList), options.durationMs),
    ...spread(rng.fork('es'), 'es', esList, options.durationMs),
  ];
}

function spread(rng: Random, track: 'process' | 'es', kinds: readonly FaultKind[], durationMs: number): FaultPlan[] {
  if (kinds.length === 0) return [];
  const start = durationMs * 0.05;
  const slot = (durationMs * 0.85) / kinds.length;
  return kinds.map((kind, i) => {
    const atMs = Math.round(start + i * slot + rng.next() * slot * 0.3);
    const room = Math.max(500, slot * 0.6);
    const down = (min: number, max: number) => Math.round(Math.min(room, rng.int(min, max)));
    switch (kind) {
      case 'agent-kill': return { track, kind, atMs, downMs: rng.chance(0.3) ? 0 : down(200, 3000) };
      case 'daemon-restart': return { track, kind, atMs, downMs: down(0, 2000) };
      case 'es-down': return { track, kind, atMs, downMs: down(1500, 8000) };
      case 'es-429': return { track, kind, atMs, downMs: down(1500, 6000) };
      case 'es-item-429': return { track, kind, atMs, downMs: down(2000, 6000), share: 0.2 + 0.4 * rng.next() };
      case 'es-refuse': return { track, kind, atMs, downMs: down(1000, 4000) };
    }
  });
}

/** What one run writes to each stream, byte for byte. */
export function plannedOutput(run: RunPlan): Record<StreamName, string> {
  const out: Record<StreamName, string[]> = { stdout: [], stderr: [] };
  for (const step of run.steps) {
    if (step.kind === 'write') out[step.stream].push(step.text);
    else if (step.kind === 'fill') out[step.stream].push(step.prefix + step.char.repeat(step.count) + step.suffix);
  }
  return { stdout: out.stdout.join(''), stderr: out.stderr.join('') };
}

/** The lines of a stream's text, each with its `\n` (the last may have none). */
export function splitKeepingNewlines(text: string): string[] {
  const lines: string[] = [];
  let start = 0;
  for (;;) {
    const nl = text.indexOf('\n', start);
    if (nl < 0) break;
    lines.push(text.slice(start, nl + 1));
    start = nl + 1;
  }
  if (start < text.length) lines.push(text.slice(start));
  return lines;
}
