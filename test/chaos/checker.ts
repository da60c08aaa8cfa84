/**
 * Written records against one sink's stored records, byte for byte, per container and stream.
 *
 * - lost: a written record stored nowhere, not even inside another record;
 * - duplicated: a written record stored more than once (under different ids; in a file sink, the
 *   same id written twice too: a reader would see the line twice);
 * - merged: a stored record that is not exactly one written record: two or more written records
 *   in one (`lines joined`), part of one (`part of a record`), a line changed (`altered`), or
 *   content that holds no token at all (`no token`);
 * - mistimed: stored exactly, but not with the daemon's timestamp of its first line;
 * - dead-lettered: a good line found only in the dead letters (the hostile JSON line may be there).
 *
 * Pure: the unit self-test feeds it synthetic data with each fault injected.
 */
import { tokensIn, type WrittenRecord } from './truth.js';

export interface StoredRecord {
  /** `_id` in Elasticsearch, `id` in the file sink. */
  readonly id: string;
  readonly containerId: string;
  readonly stream: string;
  readonly message: string;
  readonly timeNs: bigint | undefined;
  /** Found in the dead letters rather than with the logs. */
  readonly deadLetter: boolean;
}

export const CATEGORIES = ['lost', 'duplicated', 'merged', 'mistimed', 'dead-lettered'] as const;
export type Category = (typeof CATEGORIES)[number];

export interface Finding {
  readonly category: Category;
  readonly cause: string;
  readonly where: string;
  readonly detail: string;
  readonly count: number;
  /** When the line(s) concerned were written (the daemon's time). */
  readonly timeNs: bigint | undefined;
}

export interface SinkCheck {
  readonly sink: string;
  readonly written: number;
  readonly stored: number;
  /** Written records stored exactly once. */
  readonly exact: number;
  /** Poison lines found (only) in the dead letters, as they may be. */
  readonly poisonDeadLettered: number;
  readonly counts: Record<Category, number>;
  readonly findings: readonly Finding[];
  /** Written after the newest written record this sink holds, and missing: a sink that stopped. */
  readonly missingAfterLastStored: number;
}

const SEP = '\u0000';

/**
 * `deadLetterText`: the raw text of the sink's dead letters, whatever their layout; a poison line
 * whose token is in it counts as dead-lettered even when no record could be read from it.
 */
export function checkSink(sink: string, written: readonly WrittenRecord[], stored: readonly StoredRecord[], deadLetterText = ''): SinkCheck {
  const byContent = new Map<string, WrittenRecord>();
  const byToken = new Map<string, WrittenRecord>();
  const containers = new Map<string, string>();
  for (const w of written) {
    byContent.set(contentKey(w.containerId, w.stream, w.message), w);
    for (const t of w.tokens) byToken.set(`${w.containerId}${SEP}${t}`, w);
    containers.set(w.containerId, w.cause);
  }
  const hits = new Map<WrittenRecord, StoredRecord[]>();
  const deadHits = new Map<WrittenRecord, StoredRecord[]>();
  const absorbed = new Set<WrittenRecord>();
  const findings: Finding[] = [];
  const counts = Object.fromEntries(CATEGORIES.map((c) => [c, 0])) as Record<Category, number>;
  const add = (category: Category, cause: string, where: string, detail: string, timeNs: bigint | undefined, count = 1) => {
    counts[category] += count;
    findings.push({ category, cause, where, detail, count, timeNs });
  };

  let considered = 0;
  for (const s of stored) {
    if (!containers.has(s.containerId)) continue; // not one of ours
    considered++;
    // A dead letter may not say its stream.
    const w = byContent.get(contentKey(s.containerId, s.stream, s.message))
      ?? (s.stream === '?' ? byContent.get(contentKey(s.containerId, 'stdout', s.message)) ?? byContent.get(contentKey(s.containerId, 'stderr', s.message)) : undefined);
    if (w) {
      const map = s.deadLetter ? deadHits : hits;
      map.set(w, [...(map.get(w) ?? []), s]);
      continue;
    }
    const covered = [...new Set(tokensIn(s.message).map((t) => byToken.get(`${s.containerId}${SEP}${t.text}`)).filter((x): x is WrittenRecord => x !== undefined))];
    for (const c of covered) absorbed.add(c);
    const first = covered[0];
    const kind = covered.length >= 2 ? `${covered.length} written records joined`
      : first === undefined ? 'no token'
        : first.tokens.length > 1 && first.message.includes(s.message) ? 'part of a written record'
          : 'altered';
    add('merged', first?.cause ?? containers.get(s.containerId)!, first?.where ?? 'unknown', `${kind}: ${s.deadLetter ? 'dead letter' : 'record'} ${s.id} ${s.stream} ${preview(s.message)}${covered.length ? ` holds ${covered.map((c) => c.key).join(' + ')}` : ''}`, first?.timeNs ?? s.timeNs);
  }

  let exact = 0;
  let poisonDeadLettered = 0;
  for (const w of written) {
    const copies = hits.get(w) ?? [];
    const dead = deadHits.get(w) ?? [];
    // Stored and dead-lettered too is one copy too many; several dead letters of one line are not.
    const places = copies.length + (dead.length > 0 ? 1 : 0);
    if (places > 1) {
      const all = [...copies, ...dead];
      const sameId = new Set(copies.map((s) => s.id)).size < copies.length;
      add('duplicated', w.cause, w.where, `${w.key} stored ${all.length} times (${all.map((s) => `${s.deadLetter ? 'dead letter ' : ''}${s.id}`).join(', ')})${sameId ? ', the same id more than once' : ''}: ${preview(w.message)}`, w.timeNs, places - 1);
    }
    if (copies.length > 0) {
      exact++;
      const off = copies.find((s) => s.timeNs !== undefined && s.timeNs !== w.timeNs);
      if (off) add('mistimed', w.cause, w.where, `${w.key} stored at ${off.timeNs} ns, the daemon wrote it at ${w.timeNs} ns`, w.timeNs);
    } else if (dead.length > 0) {
      if (w.poison) poisonDeadLettered++;
      else add('dead-lettered', w.cause, w.where, `${w.key} only in the dead letters (${dead[0]!.id}): ${preview(w.message)}`, w.timeNs);
    } else if (w.poison && deadLetterText.includes(w.key)) {
      poisonDeadLettered++;
    } else if (!absorbed.has(w)) {
      add('lost', w.cause, w.where, `${w.key} ${w.stream}: ${preview(w.message)}`, w.timeNs);
    }
  }
  let newestStored: bigint | undefined;
  for (const w of written) if (hits.has(w) && (newestStored === undefined || w.timeNs > newestStored)) newestStored = w.timeNs;
  const missingAfterLastStored = written.filter((w) => !hits.has(w) && !w.poison && (newestStored === undefined || w.timeNs > newestStored)).length;
  return { sink, written: written.length, stored: considered, exact, poisonDeadLettered, counts, findings, missingAfterLastStored };
}

function contentKey(containerId: string, stream: string, message: string): string {
  return `${containerId}${SEP}${stream}${SEP}${message}`;
}

export function preview(text: string, max = 100): string {
  const shown = text.length > max ? `${text.slice(0, max - 30)}…(${text.length} bytes)…${text.slice(-20)}` : text;
  return JSON.stringify(shown);
}

export function failures(check: SinkCheck): number {
  return CATEGORIES.reduce((sum, c) => sum + check.counts[c], 0);
}

/** Findings grouped by category, cause and where, with counts and the first examples. */
export interface FailureClass {
  readonly category: Category;
  readonly cause: string;
  readonly where: string;
  readonly count: number;
  readonly examples: readonly Finding[];
  /** When each finding's line(s) were written. */
  readonly times: readonly bigint[];
}

export function failureClasses(check: SinkCheck, examples = 3): FailureClass[] {
  const groups = new Map<string, { category: Category; cause: string; where: string; count: number; examples: Finding[]; times: bigint[] }>();
  for (const f of check.findings) {
    const key = `${f.category}|${f.cause}|${f.where}`;
    let g = groups.get(key);
    if (!g) groups.set(key, g = { category: f.category, cause: f.cause, where: f.where, count: 0, examples: [], times: [] });
    g.count += f.count;
    if (f.timeNs !== undefined) g.times.push(f.timeNs);
    if (g.examples.length < examples) g.examples.push(f);
  }
  const order = (c: Category) => CATEGORIES.indexOf(c);
  return [...groups.values()].sort((a, b) => order(a.category) - order(b.category) || b.count - a.count);
}
