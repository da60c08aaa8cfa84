/**
 * Issue 9: one hostile line wedged the file sink for good. A container labelled
 * dockhand.logs.json=true printing a 6,000-level nested JSON object made the file exporter's
 * JSON.stringify throw; the batch was retried forever, every container's logs stopped, and after a
 * restart the same line wedged it again. Now that record alone goes to the dead-letter file beside
 * the records, with the reason, and everything else flows, before and after a restart.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TestContainers, waitExit } from '../helpers/containers.js';
import { waitFor } from '../helpers/wait.js';
import { readSink, sinkLines, startAgent } from './logs-sink.js';

const DEPTH = 6_000;
/** One line: a JSON object nested DEPTH levels deep (~36 KB; the daemon splits it, the agent joins it). */
const NESTED = `awk 'BEGIN { for (i = 0; i < ${DEPTH}; i++) printf "{\\"a\\":"; printf "1"; for (i = 0; i < ${DEPTH}; i++) printf "}"; print "" }'`;

function deadLetters(dataDir: string): Record<string, any>[] {
  const file = path.join(dataDir, 'records', 'dead-letters-file.ndjson');
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
}

test('a 6,000-level nested JSON line goes to the dead-letter file beside the records; every other line of every container flows, before and after a restart', { timeout: 120_000 }, async (t) => {
  const containers = new TestContainers();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'dh-file-poison-'));
  let agent = await startAgent(containers, { dataDir });
  try {
    await agent.waitReady();
    const hostile = await containers.start(['sh', '-c', `echo '{"n":1}'; ${NESTED}; echo '{"n":3}'`], { labels: { 'dockhand.logs.json': 'true' }, name: containers.name('nested') });
    assert.equal(await waitExit(hostile), 0);
    const other = await containers.start(['sh', '-c', 'seq 1 500'], { name: containers.name('after') });
    assert.equal(await waitExit(other), 0);
    await waitFor(() => sinkLines(readSink(dataDir), other).length >= 500, { timeoutMs: 30_000, what: 'the other container\'s 500 lines in the sink' });
    await waitFor(() => sinkLines(readSink(dataDir), hostile).length >= 2, { timeoutMs: 30_000, what: 'the hostile container\'s other lines in the sink' });
    assert.deepEqual(sinkLines(readSink(dataDir), hostile), ['{"n":1}', '{"n":3}']);
    const letters = await waitFor(() => { const l = deadLetters(dataDir); return l.length > 0 ? l : undefined; }, { what: 'the dead letter' });
    assert.equal(letters.length, 1);
    assert.equal(letters[0]!.exporter, 'file');
    assert.match(letters[0]!.reason, /^unencodable_record: cannot be encoded as JSON \(RangeError: Maximum call stack size exceeded\)/);
    assert.equal(letters[0]!.record.container.id, hostile);
    assert.equal(letters[0]!.record.message.length, DEPTH * 6 + 1, 'the line as written, whole');
    assert.equal((await agent.get('/readyz')).status, 200);

    // A restart resumes past the dead-lettered line: it is not read, refused and dead-lettered again.
    await agent.stop();
    agent = await startAgent(containers, { dataDir });
    await agent.waitReady();
    const later = await containers.start(['sh', '-c', 'seq 1 200'], { name: containers.name('later') });
    assert.equal(await waitExit(later), 0);
    await waitFor(() => sinkLines(readSink(dataDir), later).length >= 200, { timeoutMs: 30_000, what: 'lines after the restart' });
    assert.equal(deadLetters(dataDir).length, 1, 'dead-lettered once');
    assert.deepEqual(sinkLines(readSink(dataDir), hostile), ['{"n":1}', '{"n":3}'], 'nothing of it twice');
    t.diagnostic(`dead letter: ${letters[0]!.reason}`);
  } finally {
    await agent.dispose();
    await containers.removeAll();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
