/**
 * What a container wrote, as its daemon kept it, and the records the agent owes for it.
 *
 * The source is the daemon's own json-file log (`<data-root>/containers/<id>/<id>-json.log`, hard
 * linked by the harness as soon as the container exists, so it outlives `--rm` and `docker rm`):
 * one JSON object per daemon message, `log` holding the bytes. Lines are rebuilt without the
 * agent's logic: the pieces of one long line share the first piece's timestamp and all but the
 * last have no newline; a message without a newline followed by one with another timestamp is a
 * line of its own (a run's unterminated last words). The plan cross-checks it: every run must be
 * the planned bytes, or a prefix of them when a daemon kill cut the run.
 */
import { plannedOutput, splitKeepingNewlines, type ContainerPlan, type StreamName } from './scenario.js';

export interface LogMessage {
  readonly stream: StreamName;
  readonly time: bigint;
  readonly log: string;
}

export interface Token {
  readonly text: string;
  readonly tag: string;
  readonly run: number;
  readonly stream: StreamName;
  readonly n: number;
}

export interface TruthLine {
  readonly stream: StreamName;
  readonly time: bigint;
  /** The bytes as written, with the `\n` when there was one. */
  readonly content: string;
  readonly terminated: boolean;
  readonly pieces: number;
  /** The line's own token (the first in it); undefined only for a line the harness did not write. */
  readonly token: Token | undefined;
}

/** A record the agent owes: one line, or a multiline group. */
export interface WrittenRecord {
  readonly containerId: string;
  readonly tag: string;
  /** workload/lifecycle of the container. */
  readonly cause: string;
  /** What is special about this record (first line of a later run, unterminated last line, ...). */
  readonly where: string;
  readonly stream: StreamName;
  readonly run: number;
  /** The token of its first line: names the record in reports. */
  readonly key: string;
  /** Tokens of every line in it. */
  readonly tokens: readonly string[];
  readonly message: string;
  /** The daemon's timestamp of its first line. */
  readonly timeNs: bigint;
  /** A line some sinks may refuse on purpose (the hostile JSON): a dead letter is a right place for it. */
  readonly poison: boolean;
}

export interface Processing {
  readonly tty: boolean;
  readonly multiline?: { readonly pattern: RegExp; readonly timeoutMs: number; readonly maxLines: number } | undefined;
}

const TOKEN_RE = /c(\d{2,3})-r(\d+)-([oe])-(\d{5})/g;

export function tokensIn(text: string): Token[] {
  const out: Token[] = [];
  for (const m of text.matchAll(TOKEN_RE)) {
    out.push({ text: m[0], tag: `c${m[1]}`, run: Number(m[2]), stream: m[3] === 'o' ? 'stdout' : 'stderr', n: Number(m[4]) });
  }
  return out;
}

function firstToken(text: string): Token | undefined {
  return tokensIn(text.length > 256 ? text.slice(0, 256) : text)[0];
}

/** RFC 3339 with up to nine fractional digits → nanoseconds since the epoch. */
export function parseTimeNs(text: string): bigint {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(text);
  if (!m) throw new Error(`not an RFC 3339 time: ${text}`);
  const ms = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(ms)) throw new Error(`not an RFC 3339 time: ${text}`);
  return BigInt(ms) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
}

/** The json-file log; a torn last line (the daemon mid-write) is left out. */
export function parseJsonFileLog(text: string): LogMessage[] {
  const out: LogMessage[] = [];
  const rows = text.split('\n');
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!;
    if (row === '') continue;
    let entry: { log?: unknown; stream?: unknown; time?: unknown };
    try {
      entry = JSON.parse(row) as typeof entry;
    } catch (error) {
      if (i === rows.length - 1) break;
      throw new Error(`json-file log row ${i + 1} is not JSON: ${(error as Error).message}`);
    }
    if (typeof entry.log !== 'string' || (entry.stream !== 'stdout' && entry.stream !== 'stderr') || typeof entry.time !== 'string') {
      throw new Error(`json-file log row ${i + 1} has an unexpected shape: ${row.slice(0, 120)}`);
    }
    out.push({ stream: entry.stream, time: parseTimeNs(entry.time), log: entry.log });
  }
  return out;
}

/** Daemon messages → lines, per stream, in the order written. */
export function assembleLines(messages: readonly LogMessage[]): TruthLine[] {
  const out: TruthLine[] = [];
  const open: Partial<Record<StreamName, { time: bigint; parts: string[]; slot: number }>> = {};
  const close = (stream: StreamName, terminated: boolean) => {
    const line = open[stream];
    if (!line) return;
    const content = line.parts.join('');
    out[line.slot] = { stream, time: line.time, content, terminated, pieces: line.parts.length, token: firstToken(content) };
    delete open[stream];
  };
  for (const message of messages) {
    const pending = open[message.stream];
    if (pending && pending.time !== message.time) close(message.stream, false);
    const current = open[message.stream] ?? (open[message.stream] = { time: message.time, parts: [], slot: out.push(undefined as never) - 1 });
    current.parts.push(message.log);
    if (message.log.endsWith('\n')) close(message.stream, true);
  }
  close('stdout', false);
  close('stderr', false);
  return out;
}

export interface PlanComparison {
  /** `run/stream` whose bytes stop early (a daemon kill ended the run). */
  readonly cut: readonly string[];
  /** Differences that are not a cut: the harness does not know what was written. */
  readonly anomalies: readonly string[];
}

/** Checks the daemon's lines against the plan: each run/stream the planned lines, or a prefix of them. */
export function comparePlan(plan: ContainerPlan, lines: readonly TruthLine[]): PlanComparison {
  const cut: string[] = [];
  const anomalies: string[] = [];
  const actual = new Map<string, TruthLine[]>();
  for (const line of lines) {
    if (!line.token || line.token.tag !== plan.tag) {
      anomalies.push(`${plan.tag}: a ${line.stream} line that is not ours: ${JSON.stringify(line.content.slice(0, 80))}`);
      continue;
    }
    const key = `${line.token.run}/${line.stream}`;
    actual.set(key, [...(actual.get(key) ?? []), line]);
  }
  for (const key of actual.keys()) {
    const run = Number(key.split('/')[0]);
    if (!plan.runs.some((r) => r.run === run)) anomalies.push(`${plan.tag}: lines of run ${run}, which the plan does not have`);
  }
  for (const run of plan.runs) {
    const output = plannedOutput(run);
    for (const stream of ['stdout', 'stderr'] as const) {
      const text = plan.tty ? output[stream].replace(/\n/g, '\r\n') : output[stream];
      const planned = splitKeepingNewlines(text);
      const got = actual.get(`${run.run}/${stream}`) ?? [];
      const where = `${plan.tag} run ${run.run} ${stream}`;
      if (got.length > planned.length) {
        anomalies.push(`${where}: ${got.length} lines, the plan has ${planned.length}`);
        continue;
      }
      let ok = true;
      for (let i = 0; i < got.length; i++) {
        const isLast = i === got.length - 1;
        const same = got[i]!.content === planned[i];
        const cutHere = isLast && !got[i]!.terminated && planned[i]!.startsWith(got[i]!.content);
        if (!same && !cutHere) {
          anomalies.push(`${where} line ${i + 1}: daemon has ${JSON.stringify(got[i]!.content.slice(0, 80))}, plan ${JSON.stringify(planned[i]!.slice(0, 80))}`);
          ok = false;
          break;
        }
      }
      if (ok && (got.length < planned.length || (got.length > 0 && got[got.length - 1]!.content !== planned[got.length - 1]))) cut.push(`${run.run}/${stream}`);
    }
  }
  return { cut, anomalies };
}

/**
 * The records the agent owes for a container's lines: one per line (`\n`, and for TTY every `\r`
 * before it, removed), or per multiline group. A group is a first line (matching the pattern) and
 * the lines after it that do not match, each within `timeoutMs` of the line before by the daemon's
 * timestamps, in the same run, up to `maxLines`.
 */
export function writtenRecords(container: { containerId: string; tag: string; cause: string; cutRuns?: readonly string[] }, lines: readonly TruthLine[], processing: Processing): WrittenRecord[] {
  const groups: TruthLine[][] = [];
  const open: Partial<Record<StreamName, TruthLine[]>> = {};
  const ml = processing.multiline;
  for (const line of lines) {
    const group = open[line.stream];
    const previous = group?.[group.length - 1];
    const continues = ml !== undefined && group !== undefined && previous !== undefined
      && !ml.pattern.test(messageOf(line, processing.tty))
      && line.token?.run === previous.token?.run
      && line.time - previous.time <= BigInt(ml.timeoutMs) * 1_000_000n
      && group.length < ml.maxLines;
    if (continues) {
      group.push(line);
    } else {
      const fresh = [line];
      groups.push(fresh);
      open[line.stream] = fresh;
    }
  }
  const firstOfRun = new Set<TruthLine>();
  const lastOfRun = new Map<string, TruthLine>();
  const seen = new Set<string>();
  for (const line of lines) {
    const key = `${line.token?.run}/${line.stream}`;
    if (!seen.has(key)) firstOfRun.add(line);
    seen.add(key);
    lastOfRun.set(key, line);
  }
  const lastLines = new Set(lastOfRun.values());
  const cutRuns = new Set(container.cutRuns ?? []);
  return groups.map((group) => {
    const first = group[0]!;
    const last = group[group.length - 1]!;
    const message = group.map((l) => messageOf(l, processing.tty)).join('\n');
    const tokens = group.flatMap((l) => (l.token ? [l.token.text] : []));
    const run = first.token?.run ?? 0;
    const poison = isHostile(message);
    const where = describe({
      poison,
      cut: lastLines.has(last) && cutRuns.has(`${run}/${first.stream}`),
      unterminatedLast: lastLines.has(last) && !last.terminated,
      firstOfLaterRun: firstOfRun.has(first) && run > 1,
      firstOfRun: firstOfRun.has(first),
      lastOfRun: lastLines.has(last),
      big: group.some((l) => l.content.length > 16 * 1024),
      lines: group.length,
      loneContinuation: ml !== undefined && !ml.pattern.test(messageOf(first, processing.tty)),
    });
    return {
      containerId: container.containerId, tag: container.tag, cause: container.cause, where, stream: first.stream, run,
      key: first.token?.text ?? `${container.tag}-?`, tokens, message, timeNs: first.time, poison,
    };
  });
}

function messageOf(line: TruthLine, tty: boolean): string {
  let end = line.content.length;
  if (line.terminated) end--;
  if (tty) while (end > 0 && line.content.charCodeAt(end - 1) === 13) end--;
  return line.content.slice(0, end);
}

function isHostile(text: string): boolean {
  return text.includes('"deep":{"a":{"a":');
}

function describe(f: { poison: boolean; cut: boolean; unterminatedLast: boolean; firstOfLaterRun: boolean; firstOfRun: boolean; lastOfRun: boolean; big: boolean; lines: number; loneContinuation: boolean }): string {
  if (f.poison) return 'hostile JSON line';
  if (f.cut) return 'last line of a run cut by a daemon kill';
  if (f.unterminatedLast) return 'unterminated last line of a run';
  if (f.firstOfLaterRun) return 'first line of a later run';
  if (f.big) return '200 KB line';
  if (f.loneContinuation) return 'continuation after the timeout (own record)';
  if (f.lines > 1) return 'multiline group';
  if (f.firstOfRun) return 'first line of run 1';
  if (f.lastOfRun) return 'last line of a run';
  return 'line inside a run';
}
