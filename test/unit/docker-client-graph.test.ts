/**
 * The agent's module graph loads no part of dockerode: not the library, nor docker-modem and what it
 * pulls (ssh2 for ssh://, @grpc/grpc-js and protobufjs for build sessions), which a read-only agent
 * never uses and which cost ~15 MiB of RSS. CommonJS packages land in require.cache even when an ES
 * module imports them, so a child process that imports the graph can list what it loaded.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const DIST = fileURLToPath(new URL('../../', import.meta.url));

test('importing the agent (src/agent.js, the config loader, every collector) loads no dockerode, docker-modem, ssh2, gRPC or protobuf', async () => {
  const entries = ['src/agent.js', 'config/loader.js', 'collectors/index.js'].map((file) => JSON.stringify(new URL(file, `file://${DIST}`).href));
  const script = `Promise.all([${entries.map((e) => `import(${e})`).join(', ')}]).then(() => process.stdout.write(JSON.stringify(Object.keys(require.cache))))`;
  const { stdout } = await run(process.execPath, ['-e', script]);
  const loaded = JSON.parse(stdout) as string[];
  assert.ok(loaded.some((file) => file.includes('node_modules/fastify/')), 'the check sees CommonJS packages the graph does load (fastify)');
  const unwanted = loaded.filter((file) => /node_modules\/(dockerode|docker-modem|ssh2|cpu-features|@grpc|protobufjs|@balena)\//.test(file));
  assert.deepEqual(unwanted, []);
});
