/**
 * The Dockerfile, read statically (the image itself is built and run by
 * test/integration/image.test.ts): stages, base image, user, environment, volume, healthcheck and
 * what .dockerignore lets into the build. The HEALTHCHECK command (`dockhand healthcheck`) is run
 * for real against a local HTTP server.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../config/loader.js';
import { envOf, parseDockerfile, type Instruction } from '../helpers/dockerfile.js';
import { repoPath } from '../helpers/deploy-files.js';
import { AGENT_ENV, AGENT_NODE_FLAGS, agentEnvAssignments } from '../../src/node-flags.js';
import { MAIN } from '../helpers/agent-process.js';

const instructions = parseDockerfile(readFileSync(repoPath('Dockerfile'), 'utf8'));
const finalStage = Math.max(...instructions.map((i) => i.stage));
const final = (keyword: string): Instruction[] => instructions.filter((i) => i.stage === finalStage && i.keyword === keyword);
const imageEnv = envOf(instructions, finalStage);
const pkg = JSON.parse(readFileSync(repoPath('package.json'), 'utf8')) as { bin: Record<string, string>; engines: { node: string }; scripts: Record<string, string> };

test('the base image is a build argument defaulting to an official Node.js LTS slim image, used by every stage', () => {
  const arg = instructions.find((i) => i.keyword === 'ARG' && i.args.startsWith('BASE_IMAGE='));
  assert.ok(arg && arg.stage === -1, 'ARG BASE_IMAGE=… before the first FROM');
  const image = arg.args.slice('BASE_IMAGE='.length);
  const match = /^node:(\d+)-(bookworm|trixie)-slim$/.exec(image);
  assert.ok(match, `${image} is node:<major>-<debian>-slim`);
  const major = Number(match[1]);
  assert.equal(major % 2, 0, 'LTS lines are the even majors');
  assert.ok(major >= Number(/\d+/.exec(pkg.engines.node)![0]), `node ${major} satisfies engines ${pkg.engines.node}`);
  const froms = instructions.filter((i) => i.keyword === 'FROM');
  assert.ok(froms.length >= 2, 'multi-stage');
  for (const from of froms) assert.match(from.args, /^\$\{BASE_IMAGE\}( AS \w+)?$/i);
});

test('the build stage compiles with dev dependencies; the run stage gets production dependencies only', () => {
  const runs = (stage: number) => instructions.filter((i) => i.stage === stage && i.keyword === 'RUN').map((i) => i.args);
  const buildStage = instructions.find((i) => i.keyword === 'FROM' && /AS build$/i.test(i.args))!.stage;
  assert.ok(runs(buildStage).some((r) => /\bnpm ci\b/.test(r) && !r.includes('--omit=dev')), 'npm ci with dev dependencies in the build stage');
  assert.ok(runs(buildStage).some((r) => /\btsc\b/.test(r)), 'tsc in the build stage');
  const modules = final('COPY').find((c) => / node_modules$/.test(c.args));
  assert.ok(modules, 'node_modules copied into the run stage');
  const from = /--from=(\w+)/.exec(modules.args)?.[1];
  const depsStage = instructions.find((i) => i.keyword === 'FROM' && new RegExp(`AS ${from}$`, 'i').test(i.args))!.stage;
  assert.ok(runs(depsStage).some((r) => /\bnpm ci\b.*--omit=dev/.test(r)), `the ${from} stage runs npm ci --omit=dev`);
  assert.ok(!final('RUN').some((r) => /\bnpm\b/.test(r.args)), 'no npm in the run stage');
  assert.ok(final('COPY').some((c) => /--from=build .*dist\/src/.test(c.args)), 'dist/ comes from the build stage');
  assert.ok(final('COPY').some((c) => c.args.includes('config/default.yaml')), 'config/default.yaml in the image');
});

test('the agent runs as a non-root user, listens on 0.0.0.0:9487, keeps its data in a volume, and starts the package bin', () => {
  const user = final('USER').at(-1)?.args;
  assert.match(user ?? '', /^[1-9]\d*(:\d+)?$/, 'a numeric non-root uid (no passwd lookup needed)');
  assert.equal(imageEnv.DOCKHAND_LISTEN, '0.0.0.0:9487');
  assert.equal(imageEnv.DOCKHAND_DATA_DIR, '/var/lib/dockhand');
  assert.deepEqual(final('VOLUME').map((v) => v.args), [imageEnv.DOCKHAND_DATA_DIR]);
  assert.deepEqual(final('EXPOSE').map((v) => v.args), ['9487']);
  const entrypoint = JSON.parse(final('ENTRYPOINT').at(-1)!.args) as string[];
  assert.equal(entrypoint[0], 'node');
  assert.equal(entrypoint[1], `/app/${pkg.bin.dockhand}`);
  const owned = final('RUN').find((r) => r.args.includes(imageEnv.DOCKHAND_DATA_DIR!));
  assert.ok(owned && owned.args.includes(`chown ${user}`), 'the data directory belongs to the agent user, so a fresh volume does too');
});

test('the image, npm start and the dockhand command (npx dockhand) run the agent with its Node flags (src/node-flags.ts)', () => {
  assert.ok(AGENT_NODE_FLAGS.length > 0);
  assert.equal(imageEnv.NODE_OPTIONS, AGENT_NODE_FLAGS.join(' '), 'NODE_OPTIONS in the image');
  for (const [name, value] of Object.entries(AGENT_ENV)) assert.equal(imageEnv[name], value, `${name} in the image`);
  assert.equal(pkg.scripts.start, `${agentEnvAssignments()} node ${AGENT_NODE_FLAGS.join(' ')} ${pkg.bin.dockhand}`, 'npm start');
  const shebang = readFileSync(repoPath('src/main.ts'), 'utf8').split('\n', 1)[0];
  assert.equal(shebang, `#!/usr/bin/env -S ${agentEnvAssignments()} node ${AGENT_NODE_FLAGS.join(' ')}`, 'the bin (npx dockhand) starts node with the flags and environment');
});

test('the image config (deploy/dockhand/container.yaml) is valid and, with the image environment, points stats at /host', () => {
  const copy = final('COPY').find((c) => c.args.startsWith('deploy/dockhand/container.yaml '));
  assert.ok(copy, 'container.yaml copied into the image');
  assert.equal(copy.args.split(' ')[1], imageEnv.DOCKHAND_CONFIG);
  const config = loadConfig({ config: repoPath('deploy/dockhand/container.yaml') }, imageEnv);
  assert.equal(config.listen, '0.0.0.0:9487');
  assert.equal(config.data_dir, '/var/lib/dockhand');
  const stats = (config.collectors as Record<string, { cgroup_root?: string; proc_root?: string }>).stats;
  assert.equal(stats?.cgroup_root, '/host/sys/fs/cgroup');
  assert.equal(stats?.proc_root, '/host/proc');
});

test('.dockerignore keeps node_modules, dist, data and .git out, and lets in everything the Dockerfile copies', () => {
  const lines = readFileSync(repoPath('.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const excluded = (file: string): boolean => {
    let out = false;
    for (const line of lines) {
      const negate = line.startsWith('!');
      const pattern = negate ? line.slice(1) : line;
      const regex = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}(/.*)?$`);
      if (regex.test(file)) out = !negate;
    }
    return out;
  };
  for (const path of ['node_modules', 'dist', 'data', '.git']) assert.ok(excluded(path), `${path} is excluded`);
  const sources = instructions.filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from')).flatMap((i) => i.args.split(/\s+/).filter((a) => !a.startsWith('--')).slice(0, -1));
  assert.ok(sources.length > 0);
  for (const source of sources) assert.ok(!excluded(source.replace(/^\.\//, '')), `${source} is copied but .dockerignore excludes it`);
});

/**
 * Runs the HEALTHCHECK's exec form as the image would (its environment, /app/dist mapped to this
 * build), with `env` over the image's: no DOCKHAND_LISTEN when a mounted config sets listen.
 */
function runHealthcheck(env: Record<string, string | undefined>): Promise<{ code: number | null; stdout: string }> {
  const healthcheck = final('HEALTHCHECK').at(-1)!.args;
  const exec = JSON.parse(healthcheck.slice(healthcheck.indexOf('CMD ') + 4)) as string[];
  assert.equal(exec[0], 'node');
  assert.equal(exec[1], `/app/${pkg.bin.dockhand}`, 'the package bin, as the ENTRYPOINT');
  const childEnv = Object.fromEntries(Object.entries({ ...process.env, ...imageEnv, NODE_OPTIONS: undefined, ...env }).filter(([, v]) => v !== undefined)) as NodeJS.ProcessEnv;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...AGENT_NODE_FLAGS, MAIN, ...exec.slice(2)], { env: childEnv, stdio: ['ignore', 'pipe', 'ignore'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk; });
    child.on('exit', (code) => resolve({ code, stdout }));
  });
}

test('HEALTHCHECK runs `dockhand healthcheck`: /healthz at the effective listen address, 0 on 200, 1 on an error status or no answer', async () => {
  let status = 200;
  const paths: string[] = [];
  const server = http.createServer((request, response) => {
    paths.push(request.url ?? '');
    response.writeHead(status).end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dh-healthcheck-'));
  const mounted = path.join(dir, 'dockhand.yaml');
  // A config mounted over the image's, with its own listen: the port is not in DOCKHAND_LISTEN.
  writeFileSync(mounted, `listen: 0.0.0.0:${port}\n`);
  const fromMountedConfig = { DOCKHAND_CONFIG: mounted, DOCKHAND_LISTEN: undefined };
  try {
    assert.deepEqual(await runHealthcheck({ DOCKHAND_LISTEN: `0.0.0.0:${port}`, DOCKHAND_CONFIG: undefined }), { code: 0, stdout: `healthy: http://127.0.0.1:${port}/healthz: HTTP 200\n` });
    assert.equal((await runHealthcheck(fromMountedConfig)).code, 0, 'listen from the mounted config');
    status = 503;
    assert.equal((await runHealthcheck(fromMountedConfig)).code, 1);
    assert.deepEqual(paths, ['/healthz', '/healthz', '/healthz']);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
  try {
    const nothing = await runHealthcheck(fromMountedConfig);
    assert.equal(nothing.code, 1, 'nothing listening');
    assert.match(nothing.stdout, /^unhealthy: .*ECONNREFUSED/);
    writeFileSync(mounted, 'listen: nowhere\n');
    assert.equal((await runHealthcheck(fromMountedConfig)).code, 1, 'a config error is "unhealthy" (Docker reserves exit code 2)');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
