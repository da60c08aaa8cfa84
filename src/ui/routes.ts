/**
 * The live page's routes on the agent's own listener: `/` → `/ui/`, the page and its assets (files
 * from the repository's ui/ folder, read once), its JSON and its two event streams. They are
 * registered like any other route, so the server's authentication hook guards them all.
 */
import { readFileSync } from 'node:fs';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { SseClient, SSE_DEFAULTS, type SseSettings } from './sse.js';

export interface LivePageView {
  /** The containers table, with the history points numbered above `since` of run `epoch` (all when 0 or another run). */
  containers(since: number, epoch: number): unknown;
  pipeline(): Promise<unknown>;
  followEvents(client: SseClient): void;
  /** False when no tracked container has this id. */
  followTail(containerId: string, client: SseClient): boolean;
  knowsContainer(containerId: string): boolean;
  /** Ends every open stream (the server waits for open connections when it closes). */
  closeStreams(): void;
}

/** Where the page's files are: ui/ at the repository (and image) root, two levels above dist/src/ui. */
export const ASSET_DIR = new URL('../../../ui/', import.meta.url);

const ASSETS: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'page.js': 'text/javascript; charset=utf-8',
  'page.css': 'text/css; charset=utf-8',
  'favicon.svg': 'image/svg+xml',
};

/** The page loads nothing from elsewhere and runs no inline script: a hostile log line has nowhere to go. */
const PAGE_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

function numberOr(text: string | undefined, fallback: number): number {
  const value = Number(text);
  return text !== undefined && Number.isFinite(value) ? value : fallback;
}

export function registerLivePage(app: FastifyInstance, page: LivePageView, sse: SseSettings = SSE_DEFAULTS, assetDir: URL = ASSET_DIR): void {
  const files = new Map<string, Buffer>();
  const asset = (name: string): Buffer | undefined => {
    if (!(name in ASSETS)) return undefined;
    let content = files.get(name);
    if (!content) files.set(name, content = readFileSync(new URL(name, assetDir)));
    return content;
  };
  const serve = (reply: FastifyReply, name: string) => {
    let content: Buffer | undefined;
    try {
      content = asset(name);
    } catch {
      return reply.code(404).send({ error: `the page's file ${name} is missing from ${assetDir.pathname}` });
    }
    if (!content) return reply.code(404).send({ error: 'no such file' });
    return reply.headers({ ...PAGE_HEADERS, 'content-type': ASSETS[name]! }).send(content);
  };

  app.get('/', async (_request, reply) => reply.redirect('/ui/'));
  app.get('/ui', async (_request, reply) => reply.redirect('/ui/'));
  app.get('/ui/', async (_request, reply) => serve(reply, 'index.html'));
  app.get<{ Params: { file: string } }>('/ui/assets/:file', async (request, reply) => serve(reply, request.params.file));

  app.get<{ Querystring: { since?: string; epoch?: string } }>('/ui/api/containers', async (request, reply) => {
    const { since, epoch } = request.query;
    return reply.header('cache-control', 'no-store').send(page.containers(numberOr(since, 0), numberOr(epoch, 0)));
  });
  app.get('/ui/api/pipeline', async (_request, reply) => reply.header('cache-control', 'no-store').send(await page.pipeline()));

  const maxStreams = sse.maxStreams ?? SSE_DEFAULTS.maxStreams!;
  let openStreams = 0;
  /** Hands `follow` a new SSE client, or answers 503 when maxStreams are open (a forgotten tab per reload must not pile up). */
  const stream = (reply: FastifyReply, follow: (client: SseClient) => void): FastifyReply => {
    if (openStreams >= maxStreams) {
      return reply.code(503).header('retry-after', '5').send({ error: `${maxStreams} live page streams are open, the most the agent serves at once; close a page and try again` });
    }
    reply.hijack();
    const client = new SseClient(reply.raw, sse);
    openStreams++;
    client.onClose(() => openStreams--);
    follow(client);
    return reply;
  };

  app.get('/ui/api/events', async (_request, reply) => stream(reply, (client) => page.followEvents(client)));

  app.get<{ Querystring: { container?: string } }>('/ui/api/tail', async (request, reply) => {
    const id = request.query.container ?? '';
    if (!page.knowsContainer(id)) return reply.code(404).send({ error: `no tracked container ${JSON.stringify(id)}` });
    return stream(reply, (client) => page.followTail(id, client));
  });

  app.addHook('preClose', async () => page.closeStreams());
}
