/**
 * `docker top` on demand (for /status?top=<id>): the processes running in one container, as the
 * daemon lists them with `ps`. Never part of metrics: it costs a `ps` run inside the daemon.
 */
import type { DockerConnection } from '../../src/docker/connection.js';

export interface ContainerTop {
  readonly titles: readonly string[];
  readonly processes: readonly (readonly string[])[];
}

/** Ids and names as Docker allows them; anything else could steer the request to another endpoint. */
const CONTAINER_REF = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/;
/** `ps` options such as `-ef` or `aux` or `-o pid,comm`: the daemon passes them to ps, never to a shell. */
const PS_ARGS = /^[A-Za-z0-9 ,=%_-]{1,64}$/;

export class TopError extends Error {
  override readonly name = 'TopError';
  constructor(message: string, readonly statusCode: number) {
    super(message);
  }
}

/**
 * `GET /containers/{id}/top`. Throws TopError with 400 for a malformed id or ps_args, 404 for an
 * unknown container, 409 for one that is not running, 503 when the daemon is unreachable.
 */
export async function containerTop(connection: DockerConnection, ref: string, options: { psArgs?: string; timeoutMs?: number } = {}): Promise<ContainerTop> {
  if (!CONTAINER_REF.test(ref)) throw new TopError(`not a container id or name: ${JSON.stringify(ref)}`, 400);
  if (options.psArgs !== undefined && !PS_ARGS.test(options.psArgs)) throw new TopError(`ps_args may hold letters, digits, spaces and ,=%_- only`, 400);
  if (!connection.isUp) throw new TopError(`docker daemon not reachable: ${connection.health().reason ?? ''}`, 503);
  try {
    const result = await connection.docker.containerTop(ref, options.psArgs, { timeoutMs: options.timeoutMs ?? 10_000 });
    return { titles: result.Titles ?? [], processes: result.Processes ?? [] };
  } catch (error) {
    const status = (error as { statusCode?: number }).statusCode;
    const message = (error as { reason?: string }).reason ?? (error as Error).message;
    if (status === 404) throw new TopError(`no such container: ${ref}`, 404);
    if (status === 409 || /is not running/.test(message)) throw new TopError(`container ${ref} is not running`, 409);
    throw new TopError(`docker top ${ref}: ${message}`, status && status >= 400 ? 502 : 503);
  }
}
