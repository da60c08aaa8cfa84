/**
 * The HTTP face of the agent (fastify): /healthz (alive), /readyz (daemon answers and every
 * exporter healthy), /metrics (self-metrics plus exporter registries), /status (JSON), /ui/ (the live page).
 * Rendering /metrics formats what is already in memory: no Docker call, no file read.
 * Optionally over TLS and behind authentication (all but /healthz, which the image's
 * HEALTHCHECK and liveness probes call without credentials).
 */
import type { Server as TlsServer } from 'node:tls';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { Health } from '../component.js';
import type { Logger } from '../telemetry/logger.js';
import type { Authenticator } from './auth.js';
import { reloadOnChange } from './file-watch.js';
import { allowedHostNames, requireKnownHost } from './host-check.js';
import { loadServerTls, type ServerTls } from './tls.js';
import { registerLivePage, type LivePageView } from '../ui/routes.js';

export interface AgentView {
  readiness(): { ready: boolean; checks: Record<string, Health> };
  status(): Record<string, unknown>;
  registries(): Registry[];
  /** `docker top` of one tracked container, on demand; errors carry an HTTP statusCode. */
  top(ref: string, psArgs?: string): Promise<unknown>;
  /** The live page (/ui/): served when present, behind the same authentication as the rest. */
  readonly page?: LivePageView;
}

export interface HttpServer {
  readonly app: FastifyInstance;
  readonly address: string;
  readonly scheme: 'http' | 'https';
  close(): Promise<void>;
}

/** What the routes need besides the agent: who may call them, and whether `docker top` is served. */
export interface HttpAccess {
  /** undefined: every endpoint is open. */
  readonly auth?: Authenticator | undefined;
  /** Paths served without credentials; by default /healthz alone (it tells nothing but "the process answers"). */
  readonly openPaths?: readonly string[];
  /** /status?top=… runs `ps` in the daemon and returns full command lines: off unless enabled. */
  readonly statusTop?: boolean;
  /** Without auth: names besides IP literals, localhost and the machine's name that /ui and /status answer to (DNS rebinding guard). */
  readonly allowedHosts?: readonly string[];
}

export const OPEN_PATHS_DEFAULT = ['/healthz'] as const;

/**
 * The routes validate nothing and serialize with JSON.stringify: without compilers of our own, fastify
 * loads ajv and fast-json-stringify at start (109 modules, ~2.6 MiB resident) for no route. A route
 * given a schema later fails at start, loudly, instead of going unchecked.
 */
function noSchemaCompiler(): never {
  throw new Error('the HTTP routes take no schemas (see buildHttpApp)');
}

export function buildHttpApp(agent: AgentView, access: HttpAccess = {}, tls?: ServerTls): FastifyInstance {
  const options = {
    logger: false,
    schemaController: { compilersFactory: { buildValidator: () => noSchemaCompiler, buildSerializer: () => noSchemaCompiler } },
  };
  // Routes and hooks are the same over http and https: typed as the http instance.
  const app = (tls ? Fastify({ ...options, https: httpsOptions(tls) }) : Fastify(options)) as unknown as FastifyInstance;
  // With credentials, a rebinding page has none to send: the Host check is only for an open server.
  if (access.auth) requireAuth(app, access.auth, new Set(access.openPaths ?? OPEN_PATHS_DEFAULT));
  else requireKnownHost(app, allowedHostNames(access.allowedHosts ?? []));

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    const { ready, checks } = agent.readiness();
    const notReady = Object.fromEntries(Object.entries(checks).filter(([, c]) => !c.healthy).map(([name, c]) => [name, c.reason ?? 'not healthy']));
    return reply.code(ready ? 200 : 503).send(ready ? { status: 'ready' } : { status: 'not ready', not_ready: notReady });
  });

  app.get('/metrics', async (_request, reply) => {
    const registries = agent.registries();
    const parts = (await Promise.all(registries.map((r) => (hasChunkRender(r) ? r.metricsChunks() : r.metrics())))).flat();
    // Written piece by piece (one writev), not copied into one page: at a hundred containers the
    // page is ~800 KB, mostly families unchanged since the last scrape and served from their cache.
    reply.hijack();
    const response = reply.raw;
    response.writeHead(200, {
      'content-type': registries[0]?.contentType ?? 'text/plain; version=0.0.4; charset=utf-8',
      'content-length': parts.reduce((size, part) => size + (typeof part === 'string' ? Buffer.byteLength(part, 'utf8') : part.length), 0),
    });
    response.cork();
    for (const part of parts) response.write(part);
    response.end();
  });

  app.get<{ Querystring: { top?: string; ps_args?: string } }>('/status', async (request, reply) => {
    const { top, ps_args: psArgs } = request.query;
    if (top === undefined) return agent.status();
    if (!access.statusTop) {
      return reply.code(403).send({ error: 'top is disabled: it runs ps inside the daemon and returns every process\'s full command line; set server.status_top: true to enable it' });
    }
    try {
      return { top: await agent.top(top, psArgs) };
    } catch (error) {
      const statusCode = (error as { statusCode?: number }).statusCode ?? 500;
      return reply.code(statusCode).send({ error: (error as Error).message });
    }
  });

  if (agent.page) registerLivePage(app, agent.page);
  return app;
}

/** A registry that gives its text as pieces of bytes (exporters/prometheus ExpositionRegistry). */
function hasChunkRender(registry: Registry): registry is Registry & { metricsChunks(): Promise<Buffer[]> } {
  return typeof (registry as { metricsChunks?: unknown }).metricsChunks === 'function';
}

function requireAuth(app: FastifyInstance, auth: Authenticator, openPaths: ReadonlySet<string>): void {
  app.addHook('onRequest', async (request, reply) => {
    const path = request.routeOptions.url ?? '';
    // /status?top returns full command lines: never without credentials, even with /status open.
    const asksTop = path === '/status' && (request.query as { top?: unknown } | undefined)?.top !== undefined;
    if (openPaths.has(path) && !asksTop) return;
    const outcome = await auth.check(request.headers.authorization);
    if (outcome.kind === 'accepted') return;
    if (outcome.kind === 'busy') return reply.code(429).header('retry-after', '1').send({ error: 'too many password checks waiting; retry' });
    const challenges = auth.challenges();
    return reply.code(401).header('www-authenticate', challenges.length === 1 ? challenges[0] : challenges).send({ error: `authentication required: ${outcome.reason}` });
  });
}

function httpsOptions(tls: ServerTls) {
  return {
    ...tls.material,
    requestCert: tls.requireClientCert,
    rejectUnauthorized: tls.requireClientCert,
  } as const;
}

export interface HttpServerOptions extends HttpAccess {
  readonly listen: string;
  readonly tls?: ServerTls | undefined;
  /** How often TLS and credential files are checked for a change (tests shorten it). */
  readonly reloadCheckMs?: number;
}

export async function startHttpServer(agent: AgentView, options: HttpServerOptions, logger: Logger): Promise<HttpServer> {
  const { listen, tls } = options;
  const app = buildHttpApp(agent, options, tls);
  const split = listen.lastIndexOf(':');
  const host = listen.slice(0, split).replace(/^\[|\]$/g, '');
  const port = Number(listen.slice(split + 1));
  await app.listen({ host, port });
  const stopWatching = watchFiles(app, options, logger);
  const bound = app.server.address();
  const address = typeof bound === 'object' && bound ? `${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}` : listen;
  logger.debug({ address, tls: Boolean(tls), authentication: Boolean(options.auth) }, 'http server listening');
  return { app, address, scheme: tls ? 'https' : 'http', close: async () => { stopWatching.forEach((stop) => stop()); await app.close(); } };
}

/** New certificates serve new connections (open ones keep theirs); new credentials apply to the next request. */
function watchFiles(app: FastifyInstance, options: HttpServerOptions, logger: Logger): (() => void)[] {
  const watchers: (() => void)[] = [];
  const { tls, auth } = options;
  if (tls) {
    watchers.push(reloadOnChange(tls.files, () => {
      const fresh = loadServerTls(tls.sources)!;
      (app.server as unknown as TlsServer).setSecureContext(fresh.material);
    }, { what: 'server.tls', logger, checkEveryMs: options.reloadCheckMs }));
  }
  if (auth) watchers.push(reloadOnChange(auth.files, () => auth.reload(), { what: 'server.auth', logger, checkEveryMs: options.reloadCheckMs }));
  return watchers;
}
