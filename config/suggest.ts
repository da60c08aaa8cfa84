/** "Did you mean …?" for an unknown config key: the closest allowed key by edit distance. */

/** Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours cost 1. */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) rows[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, rows[i - 2]![j - 2]! + 1);
      rows[i]![j] = best;
    }
  }
  return rows[a.length]![b.length]!;
}

/**
 * The candidate closest to `unknown`, or undefined when none is close (at most a third of its
 * length, 1 to 3 edits). Candidates are key paths relative to the section (`host`,
 * `batch.max_records`): a nested key is matched by its last name, so a key put at the wrong level
 * finds its place; a key of the section itself wins a tie.
 */
export function closestKey(unknown: string, candidates: readonly string[]): string | undefined {
  const wanted = unknown.toLowerCase();
  const limit = Math.max(1, Math.min(3, Math.floor(wanted.length / 3)));
  let best: string | undefined;
  let bestScore = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const nested = candidate.includes('.');
    const distance = editDistance(wanted, nested ? candidate.slice(candidate.lastIndexOf('.') + 1) : candidate);
    const score = distance + (nested ? 0.5 : 0);
    if (distance <= limit && score < bestScore) {
      best = candidate;
      bestScore = score;
    }
  }
  return best;
}
