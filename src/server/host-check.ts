/**
 * A guard against DNS rebinding while no authentication is configured: a hostile page in a browser on
 * the host can point its own name at 127.0.0.1 and read the agent's answers as same-origin, but the
 * browser still sends that name as Host. Only the routes that tell something about the containers
 * (the live page and /status) are guarded; /healthz, /readyz and /metrics are scraped by DNS names.
 */
import { hostname } from 'node:os';
import { isIP } from 'node:net';
import type { FastifyInstance, FastifyRequest } from 'fastify';

export const ALLOWED_HOSTS_KEY = 'server.allowed_hosts';

/** The names a request may carry in Host besides IP literals: localhost, this machine's name and the configured ones. */
export function allowedHostNames(configured: readonly string[], machine: string = hostname()): ReadonlySet<string> {
  return new Set(['localhost', machine, ...configured].map(normalizeName).filter((name) => name !== ''));
}

/** The host part of a Host header (`name:port`, `[v6]:port`), lower case, without a trailing dot; undefined when absent. */
export function hostOf(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const text = header.trim();
  if (text.startsWith('[')) {
    const end = text.indexOf(']');
    return end < 0 ? text : text.slice(1, end);
  }
  const colon = text.indexOf(':');
  return normalizeName(colon < 0 || text.indexOf(':', colon + 1) >= 0 ? text : text.slice(0, colon));
}

export function isAllowedHost(header: string | undefined, allowed: ReadonlySet<string>): boolean {
  const host = hostOf(header);
  if (host === undefined || host === '') return false;
  return isIP(host) !== 0 || allowed.has(host);
}

function normalizeName(name: string): string {
  return name.trim().toLowerCase().replace(/\.$/, '');
}

function isGuarded(request: FastifyRequest): boolean {
  const route = request.routeOptions.url ?? '';
  return route === '/status' || route === '/' || route === '/ui' || route.startsWith('/ui/');
}

/** Answers 403, naming the setting, to a guarded route asked for under a name that is not allowed. */
export function requireKnownHost(app: FastifyInstance, allowed: ReadonlySet<string>): void {
  app.addHook('onRequest', async (request, reply) => {
    if (!isGuarded(request) || isAllowedHost(request.headers.host, allowed)) return;
    return reply.code(403).send({
      error: `Host ${JSON.stringify(request.headers.host ?? '')} is not allowed: without server.auth, the live page and /status answer only to IP addresses, localhost, this machine's name and the names in ${ALLOWED_HOSTS_KEY} (a guard against DNS rebinding); add the name to ${ALLOWED_HOSTS_KEY} or configure server.auth`,
    });
  });
}
