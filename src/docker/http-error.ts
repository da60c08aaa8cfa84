/** An answer of the daemon other than success, with its status and the daemon's own message. */
export class DockerHttpError extends Error {
  override readonly name = 'DockerHttpError';
  /** The daemon's message (`{"message": …}` of its JSON answer, else the answer's text). */
  readonly reason: string;

  constructor(readonly request: string, readonly statusCode: number, body: Buffer | string) {
    const reason = daemonMessage(body);
    super(`${request}: HTTP ${statusCode}${reason ? ` - ${reason}` : ''}`);
    this.reason = reason;
  }
}

function daemonMessage(body: Buffer | string): string {
  const text = (typeof body === 'string' ? body : body.toString('utf8')).trim();
  if (text.startsWith('{')) {
    try {
      const parsed = JSON.parse(text) as { message?: unknown };
      if (typeof parsed.message === 'string') return parsed.message.trim();
    } catch {
      // not JSON after all: the text is the message
    }
  }
  return text;
}

export function abortError(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  if (reason instanceof Error && reason.name === 'TimeoutError') return Object.assign(new Error(`timed out: ${reason.message}`, { cause: reason }), { code: 'ETIMEDOUT' });
  if (reason instanceof Error && reason.name !== 'AbortError') return reason;
  return Object.assign(new Error('the request was aborted', { cause: reason }), { name: 'AbortError', code: 'ABORT_ERR' });
}
