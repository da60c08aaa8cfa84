/**
 * A TTY container's run boundary while the pipeline holds the log stream back (a slow sink, or one
 * that is down and a full queue): the follow stream's end is only seen once the sink takes the
 * stream's last batch, long after the run ended. The drain that follows must still read only this
 * run's bytes: the next run (restart policy) must not be glued to its unterminated last line.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { TestContainers, docker } from '../helpers/containers.js';
import type { AgentProcess } from '../helpers/agent-process.js';
import { waitFor } from '../helpers/wait.js';
import { duplicates, readSink, sinkLines, startAgent } from './logs-sink.js';

const containers = new TestContainers();
let agent: AgentProcess;

before(async () => {
  agent = await startAgent(containers, {
    // A slow sink with a one-record queue: every line waits ~1 s for the one before it.
    file: { kinds: ['log'], batch_records: 1 },
    sinkWriteDelayMs: 1000,
    config: { pipeline: { queue_size: 1 }, log: { level: process.env.DOCKHAND_TEST_AGENT_LOG ?? 'info' } },
  });
  await agent.waitReady(60_000);
});

after(async () => {
  if (process.env.DOCKHAND_TEST_AGENT_LOG) for (const entry of agent?.logs ?? []) console.error('AGENTLOG', JSON.stringify(entry));
  await agent?.dispose();
  await containers.removeAll();
});

const LINES = ['line1', 'line2', 'line3', 'line4', 'last-no-newline'];

/** Waits for both runs of `id` (restart policy on-failure:1) in the sink and checks every line came once, none glued. */
async function assertTwoRunsClean(id: string): Promise<void> {
  await waitFor(async () => (await docker('inspect', '-f', '{{.State.Status}} {{.RestartCount}}', id)) === 'exited 1', { timeoutMs: 90_000, intervalMs: 200, what: 'two runs' });
  const recordsOf = () => readSink(agent.dataDir).filter((r) => r.container.id === id);
  await waitFor(() => sinkLines(recordsOf(), id).filter((m) => m.includes('last-no-newline')).length >= 2 || recordsOf().length >= LINES.length * 2, { timeoutMs: 90_000, intervalMs: 500, what: `both runs in the sink (so far ${JSON.stringify(sinkLines(recordsOf(), id))})` });
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const records = recordsOf();
  assert.deepEqual(duplicates(records), []);
  assert.deepEqual(records.map((r) => r.message), [...LINES, ...LINES]);
}

// When the next run has also ended by the time the agent sees the first run's end, no time bound separates
// the runs (the daemon says only when the latest run started and finished): the bytes arrive glued
// (`last-no-newline2026-…Z line1`) and the TTY splitter cuts them at the next message's timestamp.
test('TTY, restart policy, slow sink: the unterminated last line is never glued to the next run\'s first line', async () => {
  const id = await containers.start(['sh', '-c', 'for i in 1 2 3 4; do echo line$i; sleep 0.1; done; printf "last-no-newline"; exit 1'], { flags: ['--tty', '--restart', 'on-failure:1'] });
  await assertTwoRunsClean(id);
});

test('TTY, restart policy, slow sink, the next run still running when the end is seen: no glue', async () => {
  // The second run prints its lines at once, then waits before its last words: it runs when the agent drains the first.
  const id = await containers.start(['sh', '-c', 'for i in 1 2 3 4; do echo line$i; sleep 0.1; done; if [ -e /ran ]; then sleep 20; fi; touch /ran; printf "last-no-newline"; exit 1'], { flags: ['--tty', '--restart', 'on-failure:1'] });
  await assertTwoRunsClean(id);
});
