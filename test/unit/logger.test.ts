import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/telemetry/logger.js';

function capture(level: string) {
  const lines: string[] = [];
  const sink = new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } });
  return { logger: createLogger({ level, format: 'json' }, sink), lines };
}

test('credentials never reach a log line, at any depth', () => {
  const { logger, lines } = capture('info');
  logger.info({ password: 'hunter2', config: { api_key: 'k-123', auth: { username: 'u', password: 'p-456' } }, headers: { authorization: 'Basic abc' } }, 'connecting');
  const text = lines.join('');
  for (const secret of ['hunter2', 'k-123', 'p-456', 'Basic abc']) assert.doesNotMatch(text, new RegExp(secret));
  assert.match(text, /\[redacted\]/);
  assert.match(text, /"msg":"connecting"/);
});

test('the level decides what is written (--debug sets debug)', () => {
  const info = capture('info');
  info.logger.debug('hidden');
  info.logger.info('shown');
  assert.equal(info.lines.length, 1);
  const debug = capture('debug');
  debug.logger.debug('now shown');
  assert.match(debug.lines.join(''), /now shown/);
});
