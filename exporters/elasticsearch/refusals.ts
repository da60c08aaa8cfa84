/**
 * A bulk request refused as a whole (an HTTP 400 or 413 instead of per-item results) may be one
 * document's fault, or not be about documents at all: a proxy refusing the body, a content encoding
 * the cluster cannot read, a request too large for a limit. Dead-lettering documents for a fault of
 * the request loses them from their index for nothing (and when the dead-letter requests are refused
 * the same way, loses them altogether), so a document is blamed only on evidence:
 *
 * 1. A refusal that is not Elasticsearch's (no `x-elastic-product` header or no error envelope: a
 *    proxy answered) is an outage, whatever the body: retried, never bisected. Except 413: a body
 *    too large for whoever answers may fit once halved.
 * 2. Elasticsearch's 400s and any 413 are bisected: the halves are sent level by level. If no part is
 *    accepted within blindLevels() levels (for a 400, 3: 2 + 4 + 8 requests after the first; for a
 *    413, 5, as a body 32 times the limit fits once cut in 32), every part of the request is refused
 *    alike: an outage, not a document.
 * 3. A document still refused when sent alone is a suspect. It is at fault only if the cluster
 *    accepted another bulk request since the export began or since the suspect was first refused (a
 *    sibling part, another chunk, another record kind's export): requests get through, this one
 *    document does not. It is then sent alone once more (the acceptance may have crossed its refusal
 *    in flight, as a refusing cluster recovers) and dead-lettered only if refused again. Without that
 *    proof it is retried as an outage, and judged again when it comes back.
 */
import type { Failure } from './connection.js';
import type { ItemOutcome } from './bulk.js';

/**
 * Levels of halves sent, with none accepted, before a refused request is called an outage. A 413
 * gets more: each level halves the size, and batch.max_bytes may be many times a proxy's limit
 * (5 MiB against nginx's default 1 MiB); a 400 is about content, and 8 parts all refused alike is
 * no one document.
 */
export function blindLevels(refusal: Failure): number {
  return refusal.status === 413 ? 5 : 3;
}

/** What sending one bulk request gave: per-item outcomes, or how the request failed as a whole. */
export type Posted = { readonly outcomes: readonly ItemOutcome[] } | { readonly failure: Failure };

/** A whole-request failure that bisecting can attribute to a document (rules 1 and 2 above). */
export function mayBeADocument(failure: Failure): boolean {
  if (failure.status === 413) return true;
  return failure.status === 400 && failure.fromElasticsearch && failure.type !== 'media_type_header_exception';
}

export type Bisected =
  /** Every part refused alike: the request, not a document. */
  | { readonly kind: 'outage'; readonly failure: Failure }
  /** `outcomes[i]` for each item answered per item; `suspects` are the items refused alone, with the refusal. */
  | { readonly kind: 'split'; readonly outcomes: readonly (ItemOutcome | undefined)[]; readonly suspects: ReadonlyMap<number, Failure> };

interface Part<T> {
  readonly start: number;
  readonly items: readonly T[];
}

/**
 * Sends the halves of a refused request level by level (breadth first, so one accepted part anywhere
 * shows early that requests get through) until every item has per-item outcomes or is refused alone.
 */
export async function bisect<T>(items: readonly T[], refusal: Failure, post: (items: readonly T[]) => Promise<Posted>): Promise<Bisected> {
  const outcomes: (ItemOutcome | undefined)[] = new Array(items.length);
  const suspects = new Map<number, Failure>();
  let parts: Part<T>[] = [];
  if (items.length === 1) suspects.set(0, refusal);
  else parts = halves({ start: 0, items });
  let accepted = false;
  for (let level = 1; parts.length > 0; level++) {
    const next: Part<T>[] = [];
    for (const part of parts) {
      const posted = await post(part.items);
      if ('outcomes' in posted) {
        accepted = true;
        posted.outcomes.forEach((outcome, i) => { outcomes[part.start + i] = outcome; });
      } else if (!mayBeADocument(posted.failure)) {
        // The cluster went away (or started answering 503s) while being asked: that is the news now.
        return { kind: 'outage', failure: posted.failure };
      } else if (part.items.length === 1) {
        suspects.set(part.start, posted.failure);
      } else {
        next.push(...halves(part));
      }
    }
    if (!accepted && level >= blindLevels(refusal)) return { kind: 'outage', failure: refusal };
    parts = next;
  }
  return { kind: 'split', outcomes, suspects };
}

function halves<T>(part: Part<T>): Part<T>[] {
  const middle = Math.ceil(part.items.length / 2);
  return [
    { start: part.start, items: part.items.slice(0, middle) },
    { start: part.start + middle, items: part.items.slice(middle) },
  ];
}
