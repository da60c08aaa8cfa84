/**
 * The chaos harness checks itself, without a daemon: the scenario is a function of its seed, the
 * rendered scripts write exactly the planned bytes (run under the host's busybox), the daemon's
 * json-file log is rebuilt into lines and records as documented, and the checker finds each fault
 * injected into synthetic stored data — loss, duplication, merge, alteration, wrong time, dead
 * letters — and nothing when there is none.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Random } from '../chaos/prng.js';
import { FAULT_KINDS, LIFECYCLES, WORKLOADS, generateScenario, plannedOutput, type ScenarioOptions } from '../chaos/scenario.js';
import { renderRun } from '../chaos/script.js';
import { assembleLines, comparePlan, parseJsonFileLog, parseTimeNs, writtenRecords, type LogMessage, type WrittenRecord } from '../chaos/truth.js';
import { checkSink, failureClasses, failures, type StoredRecord } from '../chaos/checker.js';

const run = promisify(execFile);

const options = (seed: number, extra: Partial<ScenarioOptions> = {}): ScenarioOptions => ({
  seed, containers: 16, cycles: 22, durationMs: 100_000, workloads: WORKLOADS, lifecycles: LIFECYCLES, faults: FAULT_KINDS, hostile: true, ...extra,
});

test('a seed names one scenario: same seed, same containers, outputs and faults', () => {
  const a = generateScenario(options(42));
  const b = generateScenario(options(42));
  const c = generateScenario(options(43));
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.containers.map((x) => x.runs), c.containers.map((x) => x.runs));
  assert.equal(a.faults.length, 22);
  for (const kind of FAULT_KINDS) assert.ok(a.faults.some((f) => f.kind === kind), `fault ${kind} planned`);
  for (const workload of WORKLOADS) assert.ok(a.containers.some((x) => x.workload === workload), `workload ${workload} planned`);
  for (const lifecycle of LIFECYCLES) assert.ok(a.containers.some((x) => x.lifecycle === lifecycle), `lifecycle ${lifecycle} planned`);
  assert.equal(a.containers.filter((x) => x.runs.some((r) => plannedOutput(r).stdout.includes('"deep":{"a":'))).length, 1, 'one hostile JSON line');
  assert.ok(a.containers.every((x) => !(x.removable && x.workload === 'big')));
});

test('forked generators do not shift each other', () => {
  const r = new Random(7);
  const first = r.fork('x').next();
  r.fork('y').next();
  assert.equal(new Random(7).fork('x').next(), first);
  assert.notEqual(new Random(7).fork('y').next(), first);
});

test('rendered scripts write exactly the planned bytes', { skip: !existsSync('/bin/busybox') && 'no /bin/busybox' }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'chaos-script-'));
  try {
    const gate = path.join(dir, 'go');
    writeFileSync(gate, '');
    const scenario = generateScenario(options(5, { containers: 12 }));
    let checked = 0;
    for (const container of scenario.containers) {
      for (const plannedRun of container.runs.slice(0, 2)) {
        // Pauses change the timing, not the bytes.
        const quick = { ...plannedRun, steps: plannedRun.steps.filter((s) => s.kind !== 'pause') };
        const file = path.join(dir, `${container.tag}-${plannedRun.run}.sh`);
        writeFileSync(file, renderRun(quick, gate));
        const out = await run('/bin/busybox', ['sh', file], { maxBuffer: 64 * 1024 * 1024 }).catch((error: { stdout: string; stderr: string; code: number }) => error);
        const expected = plannedOutput(plannedRun);
        assert.equal(out.stdout, expected.stdout, `${container.tag} run ${plannedRun.run} stdout`);
        assert.equal(out.stderr, expected.stderr, `${container.tag} run ${plannedRun.run} stderr`);
        checked++;
      }
    }
    assert.ok(checked >= 12);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const T0 = parseTimeNs('2026-01-02T03:04:05.000000001Z');
const at = (ms: number) => T0 + BigInt(ms) * 1_000_000n;
const msg = (stream: 'stdout' | 'stderr', ms: number, log: string): LogMessage => ({ stream, time: at(ms), log });

test('json-file rows are read as the daemon wrote them', () => {
  const text = [
    '{"log":"c01-r1-o-00001 a\\n","stream":"stdout","time":"2026-01-02T03:04:05.1Z"}',
    '{"log":"c01-r1-e-00001 b","stream":"stderr","time":"2026-01-02T03:04:05.123456789Z"}',
    '{"log":"torn', // the daemon was writing it
  ].join('\n');
  const messages = parseJsonFileLog(text);
  assert.equal(messages.length, 2);
  assert.equal(messages[0]!.time, parseTimeNs('2026-01-02T03:04:05Z') + 100_000_000n);
  assert.equal(messages[1]!.log, 'c01-r1-e-00001 b');
  assert.equal(messages[1]!.time - messages[0]!.time, 23_456_789n);
});

test('lines: pieces with one timestamp join; an unterminated piece before another timestamp is a line of its own', () => {
  const piece = 'x'.repeat(16384);
  const lines = assembleLines([
    msg('stdout', 0, 'c01-r1-o-00001 big ' + piece.slice(19)),
    msg('stderr', 1, 'c01-r1-e-00001 err\n'),
    msg('stdout', 0, piece),
    msg('stdout', 0, 'tail\n'),
    msg('stdout', 5, 'c01-r1-o-00002 last words'),
    msg('stdout', 900, 'c01-r2-o-00001 next run\n'),
  ]);
  assert.deepEqual(lines.map((l) => [l.stream, l.token?.text, l.terminated, l.pieces]), [
    ['stdout', 'c01-r1-o-00001', true, 3],
    ['stderr', 'c01-r1-e-00001', true, 1],
    ['stdout', 'c01-r1-o-00002', false, 1],
    ['stdout', 'c01-r2-o-00001', true, 1],
  ]);
  assert.equal(lines[0]!.content.length, 16384 * 2 + 5);
});

const container = { containerId: 'id1', tag: 'c01', cause: 'multiline/restart' };

test('records: TTY line ends removed; multiline groups by pattern, timeout (daemon time) and run', () => {
  const tty = writtenRecords(container, assembleLines([msg('stdout', 0, 'c01-r1-o-00001 a\r\n'), msg('stdout', 1, 'c01-r1-o-00002 b')]), { tty: true });
  assert.deepEqual(tty.map((r) => r.message), ['c01-r1-o-00001 a', 'c01-r1-o-00002 b']);
  assert.equal(tty[1]!.where, 'unterminated last line of a run');

  const multiline = { pattern: /^c\d+-r\d+-[oe]-\d+ /, timeoutMs: 1500, maxLines: 200 };
  const records = writtenRecords(container, assembleLines([
    msg('stderr', 0, 'c01-r1-e-00001 ERROR boom\n'),
    msg('stderr', 0, '\tat c01-r1-e-00002 A.b(A.java:1)\n'),
    msg('stderr', 0, '\tat c01-r1-e-00003 C.d(C.java:2)\n'),
    msg('stderr', 1400, '\tat c01-r1-e-00004 slow(Slow.java:3)\n'),
    msg('stderr', 3000, '\tat c01-r1-e-00005 late(Late.java:4)\n'),
    msg('stdout', 3001, 'c01-r1-o-00001 INFO fine\n'),
    msg('stderr', 4000, 'c01-r2-e-00001 ERROR again\n'),
    msg('stderr', 4001, '\tat c01-r2-e-00002 E.f(E.java:5)\n'),
  ]), { tty: false, multiline });
  assert.deepEqual(records.map((r) => r.tokens.length), [4, 1, 1, 2]);
  assert.equal(records[0]!.message, 'c01-r1-e-00001 ERROR boom\n\tat c01-r1-e-00002 A.b(A.java:1)\n\tat c01-r1-e-00003 C.d(C.java:2)\n\tat c01-r1-e-00004 slow(Slow.java:3)');
  assert.equal(records[0]!.timeNs, at(0));
  assert.equal(records[1]!.where, 'continuation after the timeout (own record)');
  assert.equal(records[3]!.where, 'first line of a later run');
});

test('the plan check tells a cut run from a harness error', () => {
  const scenario = generateScenario(options(9, { containers: 1, workloads: ['plain'], lifecycles: ['restart'] }));
  const plan = scenario.containers[0]!;
  const messagesOf = (runs: number, cutLast: boolean): LogMessage[] => {
    const out: LogMessage[] = [];
    let ms = 0;
    for (const r of plan.runs.slice(0, runs)) {
      for (const stream of ['stdout', 'stderr'] as const) {
        const lines = plannedOutput(r)[stream].split(/(?<=\n)/).filter(Boolean);
        for (const [i, line] of lines.entries()) {
          if (cutLast && r.run === runs && stream === 'stdout' && i === lines.length - 1) break;
          out.push({ stream, time: at(ms++), log: line });
        }
      }
    }
    return out;
  };
  assert.deepEqual(comparePlan(plan, assembleLines(messagesOf(plan.runs.length, false))), { cut: [], anomalies: [] });
  const cut = comparePlan(plan, assembleLines(messagesOf(1, true)));
  assert.deepEqual(cut.anomalies, []);
  assert.ok(cut.cut.includes('1/stdout'));
  const wrong = assembleLines([{ stream: 'stdout', time: at(0), log: `${plannedOutput(plan.runs[0]!).stdout.split('\n')[0]}changed\n` }]);
  assert.equal(comparePlan(plan, wrong).anomalies.length, 1);
});

function sample(): WrittenRecord[] {
  const messages: LogMessage[] = [];
  for (let i = 1; i <= 6; i++) messages.push(msg('stdout', i, `c01-r1-o-0000${i} line ${i}\n`));
  messages.push(msg('stderr', 7, '{"tok":"c01-r1-e-00001","deep":{"a":{"a":{"a":0}}}}\n'));
  messages.push(msg('stdout', 8, 'c01-r1-o-00007 last'));
  messages.push(msg('stdout', 9, 'c01-r2-o-00001 next run\n'));
  return writtenRecords({ containerId: 'id1', tag: 'c01', cause: 'unterminated/restart' }, assembleLines(messages), { tty: false });
}

const stored = (w: WrittenRecord, over: Partial<StoredRecord> = {}): StoredRecord => ({
  id: `id1:${w.stream}:${w.timeNs}:0`, containerId: w.containerId, stream: w.stream, message: w.message, timeNs: w.timeNs, deadLetter: false, ...over,
});

test('checker: every record stored once is clean', () => {
  const written = sample();
  const check = checkSink('es', written, [...written.map((w) => stored(w)), { id: 'x', containerId: 'someone-else', stream: 'stdout', message: 'not ours', timeNs: 0n, deadLetter: false }]);
  assert.equal(failures(check), 0, JSON.stringify(check.findings));
  assert.equal(check.exact, written.length);
  assert.equal(check.stored, written.length);
});

test('checker: a lost line is lost, with its cause and place', () => {
  const written = sample();
  const check = checkSink('es', written, written.filter((w) => w.key !== 'c01-r2-o-00001').map((w) => stored(w)));
  assert.deepEqual({ ...check.counts }, { lost: 1, duplicated: 0, merged: 0, mistimed: 0, 'dead-lettered': 0 });
  const [cls] = failureClasses(check);
  assert.equal(cls!.cause, 'unterminated/restart');
  assert.equal(cls!.where, 'first line of a later run');
  assert.match(cls!.examples[0]!.detail, /c01-r2-o-00001/);
  assert.equal(check.missingAfterLastStored, 1, 'the newest line is missing: a sink that stopped shows');
});

test('checker: a line stored twice under two ids is duplicated; the same id twice (file sink) too', () => {
  const written = sample();
  const twice = [...written.map((w) => stored(w)), stored(written[2]!, { id: 'other-id' })];
  assert.equal(checkSink('es', written, twice).counts.duplicated, 1);
  const sameId = [...written.map((w) => stored(w)), stored(written[3]!)];
  const check = checkSink('file', written, sameId);
  assert.equal(check.counts.duplicated, 1);
  assert.match(check.findings[0]!.detail, /the same id more than once/);
});

test('checker: two lines in one record are merged, not lost', () => {
  const written = sample();
  const last = written.find((w) => w.key === 'c01-r1-o-00007')!;
  const next = written.find((w) => w.key === 'c01-r2-o-00001')!;
  const records = written.filter((w) => w !== last && w !== next).map((w) => stored(w));
  records.push(stored(last, { message: last.message + next.message }));
  const check = checkSink('es', written, records);
  assert.deepEqual({ ...check.counts }, { lost: 0, duplicated: 0, merged: 1, mistimed: 0, 'dead-lettered': 0 });
  assert.match(check.findings[0]!.detail, /2 written records joined.*c01-r1-o-00007 \+ c01-r2-o-00001/);
});

test('checker: altered content, a tokenless piece, a wrong time and a good line in the dead letters are each found', () => {
  const written = sample();
  const [a, b, c, d] = written;
  const records = written.slice(4).map((w) => stored(w));
  records.push(stored(a!, { message: `${a!.message} (changed)` }));
  records.push({ id: 'piece', containerId: 'id1', stream: 'stdout', message: 'xxxxxxxx', timeNs: 0n, deadLetter: false });
  records.push(stored(b!, { timeNs: b!.timeNs + 1n }));
  records.push(stored(c!, { deadLetter: true }));
  records.push(stored(d!));
  const check = checkSink('es', written, records);
  assert.deepEqual({ ...check.counts }, { lost: 0, duplicated: 0, merged: 2, mistimed: 1, 'dead-lettered': 1 });
  const details = check.findings.map((f) => f.detail).join('\n');
  assert.match(details, /altered/);
  assert.match(details, /no token/);
});

test('checker: the hostile line may be dead-lettered; stored in both places it is a duplicate', () => {
  const written = sample();
  const hostile = written.find((w) => w.poison)!;
  assert.equal(hostile.where, 'hostile JSON line');
  const others = written.filter((w) => w !== hostile).map((w) => stored(w));
  const dead = checkSink('es', written, [...others, stored(hostile, { deadLetter: true })]);
  assert.equal(failures(dead), 0);
  assert.equal(dead.poisonDeadLettered, 1);
  const both = checkSink('es', written, [...others, stored(hostile, { deadLetter: true }), stored(hostile)]);
  assert.equal(both.counts.duplicated, 1);
  const twiceDead = checkSink('es', written, [...others, stored(hostile, { deadLetter: true }), stored(hostile, { deadLetter: true, id: 'local' })]);
  assert.equal(failures(twiceDead), 0, 'two dead letters of a poison line are not a duplicate');
  const unreadable = checkSink('file', written, others, `{"reason":"cannot encode","original":"${hostile.key} ..."}`);
  assert.equal(failures(unreadable), 0, 'a dead letter whose record cannot be read back still holds the line');
  assert.equal(checkSink('file', written, others).counts.lost, 1, 'nowhere at all: lost');
});

test('checker: a multiline group stored in two parts is two merged records', () => {
  const multiline = { pattern: /^c\d+-r\d+-[oe]-\d+ /, timeoutMs: 1500, maxLines: 200 };
  const written = writtenRecords(container, assembleLines([
    msg('stderr', 0, 'c01-r1-e-00001 ERROR boom\n'),
    msg('stderr', 100, '\tat c01-r1-e-00002 A.b(A.java:1)\n'),
    msg('stderr', 200, '\tat c01-r1-e-00003 C.d(C.java:2)\n'),
  ]), { tty: false, multiline });
  assert.equal(written.length, 1);
  const [first, ...rest] = written[0]!.message.split('\n');
  const check = checkSink('es', written, [
    stored(written[0]!, { message: first! }),
    stored(written[0]!, { id: 'second', message: rest.join('\n'), timeNs: at(100) }),
  ]);
  assert.deepEqual({ ...check.counts }, { lost: 0, duplicated: 0, merged: 2, mistimed: 0, 'dead-lettered': 0 });
  assert.ok(check.findings.every((f) => f.detail.startsWith('part of a written record')));
});
