/** The `exporters.loki` section, its environment variables and secrets, and what each answer of Loki means. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { lokiConfigFromEnv, lokiConfigSchema, pushUrl, resolveTarget } from '../../exporters/loki/config.js';
import { refusalOf, verdictOf } from '../../exporters/loki/answers.js';
import { isRetryablePushStatus as isRetryableStatus } from '../../exporters/push/http-push.js';
import { scrubber } from '../../exporters/push/scrub.js';
import { PermanentError, RetryableError } from '../../src/errors.js';
import { configProblem } from '../helpers/config-problem.js';

function problems(input: unknown): string[] {
  const result = lokiConfigSchema.safeParse(input);
  return result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

test('an empty section is a complete, disabled config: protobuf, structured metadata, events, two pushes in flight', () => {
  const config = lokiConfigSchema.parse({});
  assert.equal(config.enabled, false);
  assert.equal(config.url, 'http://localhost:3100/loki/api/v1/push');
  assert.equal(config.encoding, 'protobuf');
  assert.equal(config.structured_metadata, true);
  assert.equal(config.events, true);
  assert.deepEqual(config.batch, { max_records: 1000, max_bytes: 1024 * 1024, linger_ms: 200, concurrency: 2 });
  assert.deepEqual(config.retry, { initial_ms: 200, max_ms: 30_000 });
});

test('values and contradictions are refused with the key named', () => {
  assert.match(problems({ url: 'ftp://loki' }).join(), /^url: expected an http/);
  assert.match(problems({ encoding: 'snappy' }).join(), /^encoding/);
  assert.match(problems({ labels: { static: { 'bad-name': 'x' } } }).join(), /^labels\.static\.bad-name: expected a Loki label name/);
  assert.match(problems({ labels: { container_name: 'sometimes' } }).join(), /^labels\.container_name/);
  assert.match(problems({ labels: { from_container_labels: { __name__: 'x' } } }).join(), /^labels\.from_container_labels\.__name__: names starting with __ are reserved/);
  assert.match(problems({ password: 'p' }).join(), /^username: a password needs a username/);
  assert.match(problems({ username: 'u' }).join(), /^password: user "u" needs a password/);
  assert.match(problems({ username: 'u', password: 'p', bearer_token: 't' }).join(), /^bearer_token: use a bearer token or a username/);
  assert.match(problems({ bearer_token: 't', bearer_token_file: '/f' }).join(), /^bearer_token_file: set bearer_token or bearer_token_file/);
  assert.match(problems({ headers: { Authorization: 'x' } }).join(), /^headers\.Authorization: set by dockhand/);
  assert.match(problems({ retry: { initial_ms: 5000, max_ms: 100 } }).join(), /^retry\.initial_ms/);
  assert.match(problems({ batch: { concurrency: 0 } }).join(), /^batch\.concurrency/);
  assert.match(problems({ uri: 'http://x' }).join(), /uri/);
});

test('LOKI_* variables enable and fill the section; nothing set, nothing returned', () => {
  assert.equal(lokiConfigFromEnv({}), undefined);
  assert.deepEqual(lokiConfigFromEnv({ LOKI_URL: ' http://loki:3100 ', LOKI_TENANT_ID: 'team-a', LOKI_USERNAME: 'u', LOKI_PASSWORD: 'p', LOKI_BEARER_TOKEN: 't' }), {
    enabled: true, url: 'http://loki:3100', tenant_id: 'team-a', username: 'u', password: 'p', bearer_token: 't',
  });
  assert.equal(pushUrl('http://loki:3100'), 'http://loki:3100/loki/api/v1/push');
  assert.equal(pushUrl('https://logs.example/loki/api/v1/push'), 'https://logs.example/loki/api/v1/push');
});

test('credentials become headers (basic, bearer from a file, tenant); secrets are listed for scrubbing; an unreadable file names the key', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'dockhand-loki-config-'));
  try {
    writeFileSync(path.join(dir, 'pw'), 's3cret-pass\n');
    writeFileSync(path.join(dir, 'token'), 'tok-123456\n');
    const basic = resolveTarget(lokiConfigSchema.parse({ url: 'http://loki:3100', username: 'agent', password_file: path.join(dir, 'pw'), tenant_id: 't1' }));
    assert.equal(basic.auth, 'basic');
    assert.equal(basic.target.url, 'http://loki:3100/loki/api/v1/push');
    assert.equal(basic.target.headers.authorization, `Basic ${Buffer.from('agent:s3cret-pass').toString('base64')}`);
    assert.equal(basic.target.headers['x-scope-orgid'], 't1');
    assert.ok(basic.secrets.includes('s3cret-pass'));
    const token = Buffer.from('agent:s3cret-pass').toString('base64');
    assert.equal(scrubber(basic.secrets)(`invalid token ${token}; header Basic ${token}`), 'invalid token [redacted]; header [redacted]');
    const bearer = resolveTarget(lokiConfigSchema.parse({ bearer_token_file: path.join(dir, 'token') }));
    assert.equal(bearer.target.headers.authorization, 'Bearer tok-123456');
    assert.equal(scrubber(bearer.secrets)('refused Bearer tok-123456 for you'), 'refused [redacted] for you');
    assert.match(configProblem(() => resolveTarget(lokiConfigSchema.parse({ bearer_token_file: path.join(dir, 'missing') }))), /^exporters\.loki\.bearer_token_file: cannot read/);
    const inUrl = resolveTarget(lokiConfigSchema.parse({ url: 'https://agent:p%40ss-w0rd@logs.example' }));
    assert.equal(scrubber(inUrl.secrets)('denied for p@ss-w0rd'), 'denied for [redacted]');
    assert.equal(scrubber(inUrl.secrets)(`bad ${Buffer.from('agent:p@ss-w0rd').toString('base64')}`), 'bad [redacted]');
    assert.match(configProblem(() => resolveTarget(lokiConfigSchema.parse({ tls: { ca_file: path.join(dir, 'nope.pem') } }))), /^exporters\.loki\.tls\.ca_file: cannot read/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const answer = (status: number, body = '', headers: Record<string, string> = {}) => ({ status, headers, body: Buffer.from(body) });

test('answers: 2xx stored; 429/5xx/401/403/404/408 retried (Retry-After kept); structured metadata refused; other 4xx rejected for good, by reason', () => {
  const same = (s: string) => s;
  assert.deepEqual(verdictOf(answer(204), true, same), { kind: 'stored' });
  assert.deepEqual(verdictOf(answer(200), true, same), { kind: 'stored' });
  for (const status of [429, 500, 502, 503, 401, 403, 404, 408]) assert.ok(isRetryableStatus(status), String(status));
  const limited = verdictOf(answer(429, 'Ingestion rate limit exceeded for user fake', { 'retry-after': '7' }), true, same);
  assert.equal(limited.kind, 'retry');
  assert.ok(limited.kind === 'retry' && limited.error instanceof RetryableError && limited.error.retryAfterMs === 7000);
  const metadata = verdictOf(answer(400, "stream '{a=\"b\"}' includes structured metadata, but this feature is disallowed. Please see `limits_config.allow_structured_metadata`"), true, same);
  assert.equal(metadata.kind, 'metadata_refused');
  // The same words to a push sent without metadata (a label value echoed back, say): refused like any 400, never a 0 ms retry.
  const echoed = verdictOf(answer(400, "stream '{team=\"structured metadata is disallowed\"}' has label value too long"), false, same);
  assert.ok(echoed.kind === 'rejected' && echoed.refusal === 'structured_metadata' && echoed.error instanceof PermanentError);
  const behind = verdictOf(answer(400, "entry with timestamp 2026-11-30 04:00:00 +0000 UTC ignored, reason: 'entry too far behind, entry timestamp is: …',\nuser 'fake', total ignored: 3 out of 10 for stream: {a=\"b\"}"), true, same);
  assert.ok(behind.kind === 'rejected' && behind.refusal === 'too_far_behind' && behind.error instanceof PermanentError);
  assert.match(behind.kind === 'rejected' ? behind.error.message : '', /^Loki push: HTTP 400: entry with timestamp/);
  assert.equal(refusalOf("entry for stream '{a=\"b\"}' has timestamp too old: 2020-01-01"), 'too_old');
  assert.equal(refusalOf('entry out of order'), 'out_of_order');
  assert.equal(refusalOf("max entry size '262144' bytes exceeded for stream"), 'line_too_long');
  assert.equal(refusalOf('error parsing labels {a=}: parse error'), 'labels');
  assert.equal(refusalOf('something else'), 'other');
  assert.equal(verdictOf(answer(413, 'too large'), true, same).kind, 'rejected');
  const scrubbed = verdictOf(answer(401, 'bad credentials sekrit'), true, scrubber(['sekrit']));
  assert.ok(scrubbed.kind === 'retry' && !scrubbed.error.message.includes('sekrit'));
});
