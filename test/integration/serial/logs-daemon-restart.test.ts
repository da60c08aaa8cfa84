/**
 * Daemon restart: a private dockerd (its own socket, data-root and bridge) is killed while a
 * `--restart always` container writes, and started again. The agent waits for it, reconnects, and
 * reads on from its position: every line the daemon kept (`docker logs`) is in the sink once.
 * Runs alone (serial/): it starts a second daemon.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AgentProcess } from '../../helpers/agent-process.js';
import { startPrivateDaemon, type PrivateDaemon } from '../../helpers/private-daemon.js';
import { TEST_IMAGE } from '../../helpers/containers.js';
import { waitFor } from '../../helpers/wait.js';
import { duplicates, metricValue, readSink, sinkLines, startAgent } from '../logs-sink.js';

const group = { runLabel: 'dockhand.test.run' as const, run: `logs-restart-${process.pid}` };
let daemon: PrivateDaemon | undefined;
let agent: AgentProcess | undefined;

after(async () => {
  await agent?.dispose();
  await daemon?.stop();
});

function splitLines(text: string): string[] {
  return text === '' ? [] : text.split('\n');
}

test('dockerd killed and restarted while a container writes: no line lost, none twice', async (t) => {
  daemon = await startPrivateDaemon();
  const d = daemon;
  agent = await startAgent(group, { env: { DOCKER_HOST: d.host } });
  await agent.waitReady(60_000);
  const script = 'R=$(cut -d" " -f1 /proc/uptime); i=0; while [ $i -lt 100000 ]; do echo "run $R line $i"; i=$((i+1)); usleep 1000; done';
  const id = await d.docker('run', '-d', '--restart', 'always', '--label', 'dockhand.test=1', '--label', `${group.runLabel}=${group.run}`, TEST_IMAGE, 'sh', '-c', script);
  await waitFor(() => sinkLines(readSink(agent!.dataDir), id).length > 500, { timeoutMs: 60_000, intervalMs: 200, what: 'lines before the restart' });

  await d.kill('SIGKILL');
  await waitFor(async () => (await agent!.get('/readyz')).status === 503, { timeoutMs: 30_000, what: '/readyz 503 while the daemon is down' });
  await d.restart();
  // The restart policy brings the container back; it writes a second run.
  const secondRunLines = async () => {
    const lines = splitLines(await d.docker('logs', id));
    const runs = [...new Set(lines.map((l) => l.split(' ')[1]))];
    return runs.length >= 2 ? lines.filter((l) => l.split(' ')[1] === runs.at(-1)).length : 0;
  };
  await waitFor(async () => (await secondRunLines()) > 500, { timeoutMs: 60_000, intervalMs: 500, what: '500 lines of a second run after the restart' });
  await d.docker('update', '--restart', 'no', id);
  await d.docker('stop', '-t', '0', id);
  const truth = splitLines(await d.docker('logs', id));
  await waitFor(() => sinkLines(readSink(agent!.dataDir), id).length >= truth.length, { timeoutMs: 60_000, intervalMs: 250, what: `${truth.length} lines in the sink` });
  const records = readSink(agent.dataDir).filter((r) => r.container.id === id);
  assert.deepEqual(duplicates(records), []);
  assert.deepEqual(records.map((r) => r.message), truth);
  const metrics = await agent.metrics();
  t.diagnostic(`lines: ${truth.length}; streams resumed after a break: ${metricValue(metrics, 'dockhand_logs_resumes_total', 'reason="stream_broken"')}, after an end: ${metricValue(metrics, 'dockhand_logs_resumes_total', 'reason="stream_ended"')}`);
});
