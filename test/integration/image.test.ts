/**
 * The sidecar image, as users run it: built from the Dockerfile on a locally imported Node.js base
 * (no registry here), run against the real daemon with the socket, the host's cgroup tree and /proc
 * mounted read-only, a read-only root filesystem and the socket's group; it must turn healthy, report
 * another container on /metrics and write that container's records to its data volume.
 *
 * The built image stays tagged (dockhand-test/dockhand:ci) so the next run reuses docker's layer
 * cache: only changed sources are rebuilt.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import YAML from 'yaml';
import { collectorFactories } from '../../collectors/index.js';
import { ensureLocalNodeImage } from '../helpers/base-image.js';
import { TestContainers, docker } from '../helpers/containers.js';
import { REPO_ROOT, repoPath } from '../helpers/deploy-files.js';
import { waitFor } from '../helpers/wait.js';

const exec = promisify(execFile);

const IMAGE = 'dockhand-test/dockhand:ci';
const SOCKET = '/var/run/docker.sock';
const DATA_DIR = '/var/lib/dockhand';
const LINES = ['dockhand image test: first line', 'dockhand image test: second line', 'dockhand image test: third line'];

const group = new TestContainers();
const agentName = group.name('image-agent');
const workloadName = group.name('image-workload');
let agentUrl = '';
let workloadId = '';
let buildSeconds = 0;
let configDir = '';

/**
 * The image's own config (deploy/dockhand/container.yaml) plus one key: the daemon is shared with
 * other tests, so the agent reads only this test's containers' logs instead of everyone's history.
 */
function writeTestConfig(): string {
  const config = YAML.parse(readFileSync(repoPath('deploy/dockhand/container.yaml'), 'utf8')) as { collectors: Record<string, unknown> };
  config.collectors.logs = { include: { labels: [`${group.runLabel}=${group.run}`] } };
  configDir = mkdtempSync(path.join(os.tmpdir(), 'dockhand-image-'));
  chmodSync(configDir, 0o755); // the agent runs as uid 10001
  const file = path.join(configDir, 'dockhand.yaml');
  writeFileSync(file, YAML.stringify(config), { mode: 0o644 });
  return file;
}

async function imageId(tag: string): Promise<string | undefined> {
  return docker('image', 'inspect', '--format', '{{.Id}}', tag).catch(() => undefined);
}

/**
 * Builds the image. The build stages are tagged too: with the classic builder a stage's last layer
 * is otherwise an untagged leaf, left behind at every source change. A replaced image of ours is
 * removed; a cached step costs nothing.
 */
async function build(): Promise<void> {
  const base = await ensureLocalNodeImage();
  const started = Date.now();
  for (const [target, tag] of [['build', `${IMAGE}-build`], ['deps', `${IMAGE}-deps`], [undefined, IMAGE]] as const) {
    const previous = await imageId(tag);
    try {
      await exec('docker', ['build', '--network', 'host', '--force-rm', '--build-arg', `BASE_IMAGE=${base}`, ...(target ? ['--target', target] : []), '-t', tag, REPO_ROOT],
        { maxBuffer: 64 * 1024 * 1024, timeout: 240_000 });
    } catch (error) {
      const e = error as { stdout?: string; stderr?: string; message: string };
      throw new Error(`docker build ${target ?? ''} failed: ${e.message}\n${(e.stdout ?? '').slice(-3000)}\n${(e.stderr ?? '').slice(-3000)}`);
    }
    const current = await imageId(tag);
    if (previous && previous !== current) await docker('rmi', previous).catch(() => undefined);
  }
  buildSeconds = (Date.now() - started) / 1000;
}

async function agentFile(command: string): Promise<string> {
  return docker('exec', agentName, 'sh', '-c', command);
}

async function records(): Promise<Record<string, any>[]> {
  const text = await agentFile(`cat ${DATA_DIR}/records/*.ndjson 2>/dev/null || true`);
  return text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Record<string, any>);
}

before(async () => {
  await build();
  const socketGroup = String(statSync(SOCKET).gid);
  const config = writeTestConfig();
  await docker('run', '-d', '--name', agentName,
    '--label', 'dockhand.test=1', '--label', `${group.runLabel}=${group.run}`, '--label', 'dockhand.test.role=agent',
    '--read-only', '--group-add', socketGroup,
    '-v', `${SOCKET}:${SOCKET}:ro`, '-v', '/sys/fs/cgroup:/host/sys/fs/cgroup:ro', '-v', '/proc:/host/proc:ro',
    '-v', `${config}:/etc/dockhand/test.yaml:ro`, '-e', 'DOCKHAND_CONFIG=/etc/dockhand/test.yaml',
    // docker picks the free host port: no race with other tests for it.
    '-p', '127.0.0.1::9487',
    // The image's HEALTHCHECK, probed every second instead of every 15 s so that the test is quick.
    '--health-interval', '1s',
    IMAGE);
  const published = await docker('port', agentName, '9487/tcp');
  agentUrl = `http://${published.split('\n')[0]!.trim()}`;
});

after(async () => {
  if (process.env.DOCKHAND_TEST_KEEP !== '1') await group.removeAll();
  if (configDir) rmSync(configDir, { recursive: true, force: true });
});

test('the image is built from the local base; it runs as uid 10001 with the socket\'s group', async (t) => {
  const [size, user] = (await docker('image', 'inspect', '--format', '{{.Size}} {{.Config.User}}', IMAGE)).split(' ');
  t.diagnostic(`build took ${buildSeconds.toFixed(1)} s; image size ${(Number(size) / 1e6).toFixed(1)} MB (base included)`);
  assert.equal(user, '10001:10001');
  const id = await docker('exec', agentName, 'id');
  assert.match(id, /^uid=10001\b/);
  assert.match(id, new RegExp(`groups=.*\\b${statSync(SOCKET).gid}\\b`));
  assert.equal(await docker('inspect', '--format', '{{.HostConfig.ReadonlyRootfs}}', agentName), 'true');
});

test('the container becomes healthy through the image\'s HEALTHCHECK', async () => {
  await waitFor(async () => {
    const [status, health] = (await docker('inspect', '--format', '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}', agentName)).split(' ');
    if (status !== 'running') throw new Error(`agent container is ${status}: ${await docker('logs', '--tail', '30', agentName).catch(() => '')}`);
    return health === 'healthy';
  }, { timeoutMs: 60_000, intervalMs: 500, what: 'Health.Status healthy' });
  const response = await fetch(`${agentUrl}/readyz`);
  assert.equal(response.status, 200, await response.text());
});

test('a labelled workload container shows up on /metrics with its state and cgroup resource metrics', async () => {
  const script = `${LINES.map((l) => `echo '${l}'`).join('; ')}; exec sleep 600`;
  workloadId = await group.start(['sh', '-c', script], { name: workloadName, labels: { 'dockhand.test.role': 'workload' } });
  const selector = `name="${workloadName}"`;
  const metrics = await waitFor(async () => {
    const text = await (await fetch(`${agentUrl}/metrics`)).text();
    return new RegExp(`^container_state\\{[^}]*${selector}[^}]*state="running"[^}]*\\} 1$`, 'm').test(text)
      && new RegExp(`^container_memory_working_set_bytes\\{[^}]*${selector}[^}]*\\} \\d`, 'm').test(text) ? text : undefined;
  }, { timeoutMs: 45_000, intervalMs: 500, what: `container_state and container_memory_working_set_bytes for ${workloadName}` });
  assert.match(metrics, new RegExp(`^container_state\\{id="/docker/${workloadId}",${selector}`, 'm'));
  assert.match(metrics, new RegExp(`^container_cpu_usage_seconds_total\\{[^}]*${selector}`, 'm'));
  // From the host's cgroup files through the /host mounts, not the slower stats API.
  const status = await (await fetch(`${agentUrl}/status`)).json() as { collectors: { stats?: { containers?: Record<string, string> } } };
  assert.equal(status.collectors.stats?.containers?.[workloadName], 'cgroup', JSON.stringify(status.collectors.stats));
});

test('the workload\'s start event is written to the file sink in the data volume', async () => {
  const startEvent = await waitFor(async () => (await records()).find((r) => r.kind === 'event' && r.action === 'start' && r.actor?.id === workloadId),
    { timeoutMs: 30_000, intervalMs: 500, what: `a start event of ${workloadId} in ${DATA_DIR}/records` });
  assert.equal(startEvent.type, 'container');
  assert.equal(startEvent.container?.name, workloadName);
});

test('the workload\'s log lines are shipped to the file sink, in order, once each', async (t) => {
  if (!collectorFactories.some((f) => f.type === 'logs')) {
    t.skip('the logs collector is not in collectors/index.ts yet');
    return;
  }
  const lines = await waitFor(async () => {
    const mine = (await records()).filter((r) => r.kind === 'log' && r.container?.id === workloadId);
    return mine.length >= LINES.length ? mine : undefined;
  }, { timeoutMs: 30_000, intervalMs: 500, what: `${LINES.length} log lines of ${workloadId} in ${DATA_DIR}/records` });
  assert.deepEqual(lines.map((r) => r.message), LINES);
  assert.ok(lines.every((r) => r.stream === 'stdout' && r.container.name === workloadName));
});
