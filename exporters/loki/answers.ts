/**
 * What Loki's answer to a push means for its records.
 *
 * - 2xx: stored. Entries Loki already has in the stream's open head block (same timestamp and line:
 *   a recent replay after a crash) are dropped by Loki itself and answered 204 like the rest.
 * - 429 (ingestion or per-stream rate limit, stream limit), 5xx, and 401/403/404/408 (credentials,
 *   permissions, a wrong path, a proxy timing out: fixed by an operator, never by giving up on the
 *   data, as the Elasticsearch exporter does): retried by the exporter runner with its backoff, or
 *   the server's Retry-After. Entries of the push Loki did store are dropped as duplicates when it
 *   comes again.
 * - 400 refusing structured metadata (a Loki before 3, or allow_structured_metadata off), to a push
 *   that carried metadata: metadata is turned off for the run and the push retried at once. The
 *   same text to a push without metadata (Loki echoes label values a container controls in some
 *   400s) is a refusal like any other: never a retry loop.
 * - Other 400s (entry too far behind / out of order / too old / too new, line too long, bad labels)
 *   and other 4xx: entries that can never be stored as sent. Loki stores the rest of the push and
 *   lists only some of those it ignored, so the whole batch is handed to the runner as a
 *   PermanentError: it goes to the local dead-letter file with Loki's words as the reason. Entries
 *   of that batch Loki did take are then in both places, never lost and never twice in Loki.
 */
import { PermanentError, RetryableError } from '../../src/errors.js';
import { isRetryablePushStatus, statusError, type PushAnswer } from '../push/http-push.js';

export type Refusal =
  | 'too_far_behind' | 'out_of_order' | 'too_old' | 'too_new' | 'line_too_long' | 'labels' | 'structured_metadata' | 'other';

const REFUSALS: readonly (readonly [Refusal, RegExp])[] = [
  ['too_far_behind', /too far behind/i],
  ['out_of_order', /out of order/i],
  ['too_old', /timestamp too old/i],
  ['too_new', /timestamp too new/i],
  ['line_too_long', /max entry size|line too long/i],
  ['structured_metadata', /structured metadata.*(disallowed|disabled|not allowed|not enabled)/i],
  ['labels', /label|stream selector/i],
];

/** Which of Loki's refusals a 4xx body is. */
export function refusalOf(body: string): Refusal {
  for (const [refusal, pattern] of REFUSALS) if (pattern.test(body)) return refusal;
  return 'other';
}

export type Verdict =
  | { readonly kind: 'stored' }
  | { readonly kind: 'retry'; readonly error: RetryableError }
  | { readonly kind: 'metadata_refused'; readonly error: RetryableError }
  | { readonly kind: 'rejected'; readonly refusal: Refusal; readonly error: PermanentError };

/**
 * The verdict on one answer to a push sent with or without structured metadata (`sentMetadata`);
 * `scrub` takes secrets out of the text Loki sent back.
 */
export function verdictOf(answer: PushAnswer, sentMetadata: boolean, scrub: (text: string) => string): Verdict {
  const error = statusError(answer, 'Loki push', isRetryablePushStatus);
  if (error === undefined) return { kind: 'stored' };
  const message = scrub(error.message);
  if (error instanceof RetryableError) return { kind: 'retry', error: new RetryableError(message, error.retryAfterMs === undefined ? {} : { retryAfterMs: error.retryAfterMs }) };
  const refusal = refusalOf(answer.body.toString('utf8'));
  if (refusal === 'structured_metadata' && sentMetadata) return { kind: 'metadata_refused', error: new RetryableError(`${message} (structured metadata turned off, retrying)`, { retryAfterMs: 0 }) };
  return { kind: 'rejected', refusal, error: new PermanentError(message) };
}
