/** An error worth retrying: the same call may succeed later (connection refused, 429, 5xx). */
export class RetryableError extends Error {
  override readonly name = 'RetryableError';
  constructor(message: string, options?: { cause?: unknown; retryAfterMs?: number }) {
    super(message, options);
    this.retryAfterMs = options?.retryAfterMs;
  }
  readonly retryAfterMs: number | undefined;
}

/** An error that retrying cannot fix (a mapping conflict, a malformed record). */
export class PermanentError extends Error {
  override readonly name = 'PermanentError';
}

/** A configuration problem: names the key path, the value and what was expected. Exits 2. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly string[]) {
    super(problems.join('\n'));
  }
}

/** The read-only guard refused a request that would change the daemon's state. */
export class ReadOnlyViolation extends Error {
  override readonly name = 'ReadOnlyViolation';
  constructor(method: string, path: string) {
    super(`dockhand is read-only on the Docker daemon: refused ${method} ${path}`);
  }
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/** A record an exporter can never store (cannot encode it, or the backend refuses it for itself), with why. */
export interface RejectedRecord<R = unknown> {
  readonly record: R;
  readonly reason: string;
}

/**
 * Part of a batch was stored; `retry` must be sent again (retryable, e.g. 429 items) and `rejected`
 * can never be stored (poison: dead-lettered by the exporter runner to the local dead-letter file).
 * Every record of the batch not named in either was stored. As the OpenTelemetry Collector's
 * consumererror partial failure: the exporter says what failed, the runner alone does the retrying.
 */
export class PartialExportError<R = unknown> extends Error {
  override readonly name = 'PartialExportError';
  readonly retryAfterMs: number | undefined;
  constructor(
    message: string,
    readonly retry: readonly R[],
    readonly rejected: readonly RejectedRecord<R>[] = [],
    options?: { cause?: unknown; retryAfterMs?: number },
  ) {
    super(message, options);
    this.retryAfterMs = options?.retryAfterMs;
  }
}
