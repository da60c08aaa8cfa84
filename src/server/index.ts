/**
 * The HTTP face of the agent (fastify): /healthz (alive), /readyz (daemon answers and every
 * exporter healthy), /metrics (self-metrics plus exporter registries), /status (JSON).
 * Rendering /metrics formats what is already in memory: no Docker call, no file read.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { Health } from '../component.js';
import type { Logger } from '../telemetry/logger.js';

export interface AgentView {
  readiness(): { ready: boolean; checks: Record<string, Health> };
  status(): Record<string, unknown>;
  registries(): Registry[];
  /** `docker top` of one tracked container, on demand; errors carry an HTTP statusCode. */
  top(ref: string, psArgs?: string): Promise<unknown>;
}

export interface HttpServer {
  readonly app: FastifyInstance;
  readonly address: string;
  close(): Promise<void>;
}

/**
 * The routes validate nothing and serialize with JSON.stringify: without compilers of our own, fastify
 * loads ajv and fast-json-stringify at start (109 modules, ~2.6 MiB resident) for no route. A route
 * given a schema later fails at start, loudly, instead of going unchecked.
 */
function noSchemaCompiler(): never {
  throw new Error('the HTTP routes take no schemas (see buildHttpApp)');
}

export function buildHttpApp(agent: AgentView): FastifyInstance {
  const app = Fastify({
    logger: false,
    schemaController: { compilersFactory: { buildValidator: () => noSchemaCompiler, buildSerializer: () => noSchemaCompiler } },
  });

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
    try {
      return { top: await agent.top(top, psArgs) };
    } catch (error) {
      const statusCode = (error as { statusCode?: number }).statusCode ?? 500;
      return reply.code(statusCode).send({ error: (error as Error).message });
    }
  });

  return app;
}

/** A registry that gives its text as pieces of bytes (exporters/prometheus ExpositionRegistry). */
function hasChunkRender(registry: Registry): registry is Registry & { metricsChunks(): Promise<Buffer[]> } {
  return typeof (registry as { metricsChunks?: unknown }).metricsChunks === 'function';
}

export async function startHttpServer(agent: AgentView, listen: string, logger: Logger): Promise<HttpServer> {
  const app = buildHttpApp(agent);
  const split = listen.lastIndexOf(':');
  const host = listen.slice(0, split).replace(/^\[|\]$/g, '');
  const port = Number(listen.slice(split + 1));
  await app.listen({ host, port });
  const bound = app.server.address();
  const address = typeof bound === 'object' && bound ? `${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}` : listen;
  logger.debug({ address }, 'http server listening');
  return { app, address, close: () => app.close() };
}
