/**
 * Taking secrets out of text a push exporter shows (last_error, /status, /readyz, logs, dead-letter
 * reasons): a receiver or proxy may echo a header, a token or a URL's credentials in its answer.
 */
import { PermanentError, RetryableError } from '../../src/errors.js';
import type { PushTarget } from './http-push.js';

/** Shorter values are not replaced: they would redact ordinary words (a header such as `x-debug: 1`). */
const MIN_SECRET_LENGTH = 4;

/**
 * Every secret a push target carries: each header value, the token or credentials inside an
 * authorization value (`Bearer <t>`, `Basic <b64>` and its decoded `user:password`), and the URL's
 * user info in every form it may travel (as written, decoded, and as the basic-auth base64 Node sends).
 */
export function targetSecrets(target: Pick<PushTarget, 'url' | 'headers'>): string[] {
  const secrets: string[] = [];
  for (const value of Object.values(target.headers)) {
    secrets.push(value);
    const scheme = /^\s*(bearer|basic)\s+(\S+)\s*$/i.exec(value);
    if (!scheme) continue;
    secrets.push(scheme[2]!);
    if (scheme[1]!.toLowerCase() === 'basic') secrets.push(...basicCredentials(Buffer.from(scheme[2]!, 'base64').toString('utf8')));
  }
  const url = new URL(target.url);
  if (url.password) {
    const user = decodeURIComponent(url.username);
    const password = decodeURIComponent(url.password);
    secrets.push(url.password, password, Buffer.from(`${user}:${password}`, 'utf8').toString('base64'), `${user}:${password}`);
  }
  return secrets;
}

/** `user:password` and the password alone. */
function basicCredentials(decoded: string): string[] {
  const colon = decoded.indexOf(':');
  return colon < 0 ? [decoded] : [decoded, decoded.slice(colon + 1)];
}

/** Replaces every secret value in a text, and any URL's user info (`//user:password@`). */
export function scrubber(secrets: readonly string[]): (text: string) => string {
  // Each value as given and trimmed: a secret read from a file may carry spaces around it.
  const values = [...new Set(secrets.flatMap((s) => [s, s.trim()]))].filter((s) => s.length >= MIN_SECRET_LENGTH).sort((a, b) => b.length - a.length);
  return (text) => {
    let out = text.replace(/\/\/[^/\s@]+@/g, '//[redacted]@');
    for (const value of values) out = out.split(value).join('[redacted]');
    return out;
  };
}

/** The same error with its message scrubbed (class and Retry-After kept); other errors as a RetryableError (what the runner makes of them). */
export function scrubbedError(error: unknown, scrub: (text: string) => string): RetryableError | PermanentError {
  const message = scrub(error instanceof Error ? error.message : String(error));
  if (error instanceof PermanentError) return new PermanentError(message);
  const retryAfterMs = error instanceof RetryableError ? error.retryAfterMs : undefined;
  return new RetryableError(message, retryAfterMs === undefined ? {} : { retryAfterMs });
}
