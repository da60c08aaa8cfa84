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

export function buildHttpApp(agent: AgentView): FastifyInstance {
  const app = Fastify({ logger: false });

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    const { ready, checks } = agent.readiness();
    const notReady = Object.fromEntries(Object.entries(checks).filter(([, c]) => !c.healthy).map(([name, c]) => [name, c.reason ?? 'not healthy']));
    return reply.code(ready ? 200 : 503).send(ready ? { status: 'ready' } : { status: 'not ready', not_ready: notReady });
  });

  app.get('/metrics', async (_request, reply) => {
    const registries = agent.registries();
    const bodies = await Promise.all(registries.map((r) => (hasBufferRender(r) ? r.metricsBuffer() : r.metrics())));
    return reply.type(registries[0]?.contentType ?? 'text/plain; version=0.0.4; charset=utf-8').send(encodeAll(bodies));
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

/** A registry that writes its text straight into a Buffer (exporters/prometheus ExpositionRegistry). */
function hasBufferRender(registry: Registry): registry is Registry & { metricsBuffer(): Promise<Buffer> } {
  return typeof (registry as { metricsBuffer?: unknown }).metricsBuffer === 'function';
}

/**
 * The registries' texts in one Buffer of the exact size: a megabyte at a hundred containers, so it
 * is allocated and written once, not joined into another string and then encoded.
 */
function encodeAll(bodies: readonly (string | Buffer)[]): Buffer {
  if (bodies.length === 1 && Buffer.isBuffer(bodies[0])) return bodies[0];
  const body = Buffer.allocUnsafe(bodies.reduce((size, part) => size + (Buffer.isBuffer(part) ? part.length : Buffer.byteLength(part, 'utf8')), 0));
  let offset = 0;
  for (const part of bodies) offset += Buffer.isBuffer(part) ? part.copy(body, offset) : body.write(part, offset, 'utf8');
  return body;
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
