import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { deprecatedLifecycleKey, elasticsearchConfigFromEnv, elasticsearchConfigSchema, encodeApiKey, gzipPays, resolveSecrets } from '../../exporters/elasticsearch/config.js';
import { publicUrl } from '../../exporters/elasticsearch/connection.js';
import { scrubber } from '../../exporters/push/scrub.js';
import { ConfigError } from '../../src/errors.js';

function problems(input: unknown): string[] {
  const result = elasticsearchConfigSchema.safeParse(input);
  return result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

test('an empty section is a complete, disabled config with data streams by default', () => {
  const config = elasticsearchConfigSchema.parse({});
  assert.equal(config.enabled, false);
  assert.deepEqual(config.urls, ['http://localhost:9200']);
  assert.equal(config.mode, 'data_stream');
  assert.equal(config.namespace, 'default');
  assert.equal(config.tls_verify, true);
  assert.equal(config.template.install, true);
  assert.equal(config.ilm.enabled, undefined);
  assert.deepEqual(config.lifecycle, { type: 'auto', retention: '30d' });
  assert.equal(config.metrics.enabled, false);
  assert.deepEqual(config.batch, { max_records: 1000, max_bytes: 5 * 1024 * 1024, linger_ms: 200, concurrency: 2 });
  assert.deepEqual(config.retry, { initial_ms: 200, max_ms: 30_000 });
});

test('unknown keys are refused, at the top and in subsections', () => {
  assert.match(problems({ url: 'http://x:9200' }).join(), /url/);
  assert.match(problems({ batch: { size: 5 } }).join(), /size/);
  assert.match(problems({ ilm: { enable: true } }).join(), /enable/);
});

test('values are checked with the key named', () => {
  assert.match(problems({ urls: ['ftp://x'] }).join(), /^urls\.0: expected an http/);
  assert.match(problems({ urls: [] }).join(), /^urls/);
  assert.match(problems({ namespace: 'my-ns' }).join(), /^namespace: .*without "-"/);
  assert.match(problems({ index_prefix: 'Logs' }).join(), /^index_prefix: expected a lowercase/);
  assert.match(problems({ dead_letter_index: '_dlq' }).join(), /^dead_letter_index/);
  assert.match(problems({ batch: { concurrency: 0 } }).join(), /^batch\.concurrency/);
  assert.match(problems({ ilm: { delete_after: '30 days' } }).join(), /^ilm\.delete_after/);
  assert.match(problems({ retry: { initial_ms: 5000, max_ms: 100 } }).join(), /^retry\.initial_ms/);
});

test('lifecycle: ilm.enabled true still means an ILM policy, false is the old default (a warning says what applies now); contradictions are refused with the way out', () => {
  assert.deepEqual(problems({ ilm: { enabled: true } }), []);
  assert.deepEqual(problems({ ilm: { enabled: false } }), []);
  assert.equal(deprecatedLifecycleKey(elasticsearchConfigSchema.parse({})), undefined);
  assert.match(deprecatedLifecycleKey(elasticsearchConfigSchema.parse({ ilm: { enabled: false } }))!, /ilm\.enabled: false no longer means "no lifecycle": .*auto \(retention 30d\).*lifecycle\.type: none/);
  assert.match(deprecatedLifecycleKey(elasticsearchConfigSchema.parse({ ilm: { enabled: true } }))!, /deprecated: write lifecycle\.type: ilm/);
  assert.deepEqual(problems({ lifecycle: { type: 'none' } }), []);
  assert.deepEqual(problems({ lifecycle: { ilm_policy: '30-days@lifecycle' } }), []);
  assert.match(problems({ ilm: { enabled: true }, lifecycle: { type: 'data_stream' } }).join(), /^ilm\.enabled: .*contradicts lifecycle\.type: data_stream/);
  assert.match(problems({ lifecycle: { type: 'none', ilm_policy: 'p' } }).join(), /^lifecycle\.ilm_policy/);
  assert.match(problems({ mode: 'index', lifecycle: { type: 'data_stream' } }).join(), /^lifecycle\.type: daily indices/);
  assert.match(problems({ lifecycle: { retention: '30 days' } }).join(), /^lifecycle\.retention/);
  assert.match(problems({ lifecycle: { type: 'forever' } }).join(), /^lifecycle\.type/);
});

test('credentials: one kind at a time, and a user needs a password', () => {
  assert.deepEqual(problems({ api_key: 'k', username: 'u', password: 'p' }), ['username: use an API key or a username and password, not both']);
  assert.deepEqual(problems({ api_key: 'k', api_key_file: '/k' }), ['api_key_file: set api_key or api_key_file, not both']);
  assert.deepEqual(problems({ username: 'elastic' }), ['password: user "elastic" needs a password or password_file']);
  assert.deepEqual(problems({ password: 'p' }), ['username: a password needs a username']);
  assert.deepEqual(problems({ username: 'u', password: 'p', password_file: '/p' }), ['password_file: set password or password_file, not both']);
  assert.deepEqual(problems({ username: 'u', password_file: '/p' }), []);
});

test('environment variables map onto the section; ELASTICSEARCH_URL enables it', () => {
  assert.equal(elasticsearchConfigFromEnv({}), undefined);
  assert.deepEqual(elasticsearchConfigFromEnv({
    ELASTICSEARCH_URL: 'https://es1:9200, https://es2:9200,',
    ELASTICSEARCH_USERNAME: 'elastic',
    ELASTICSEARCH_PASSWORD: 'changeme',
    ELASTICSEARCH_CA: '/certs/ca.pem',
  }), { enabled: true, urls: ['https://es1:9200', 'https://es2:9200'], username: 'elastic', password: 'changeme', ca_file: '/certs/ca.pem' });
  assert.deepEqual(elasticsearchConfigFromEnv({ ELASTICSEARCH_API_KEY: 'abc' }), { api_key: 'abc' });
  const parsed = elasticsearchConfigSchema.parse(elasticsearchConfigFromEnv({ ELASTICSEARCH_URL: 'http://es:9200', ELASTICSEARCH_API_KEY: 'id:key' }));
  assert.equal(parsed.enabled, true);
});

test('secrets come from the section or from files; API keys as id:key are encoded', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'dockhand-es-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'key'), 'my-id:my-key\n');
  writeFileSync(path.join(dir, 'password'), 'from-file\n');
  writeFileSync(path.join(dir, 'ca.pem'), '-----BEGIN CERTIFICATE-----\nMII\n-----END CERTIFICATE-----\n');
  const fromKeyFile = resolveSecrets(elasticsearchConfigSchema.parse({ api_key_file: path.join(dir, 'key'), ca_file: path.join(dir, 'ca.pem') }));
  assert.deepEqual(fromKeyFile.credentials, { kind: 'api_key', apiKey: Buffer.from('my-id:my-key').toString('base64') });
  assert.match(fromKeyFile.ca!, /BEGIN CERTIFICATE/);
  const encoded = Buffer.from('a:b').toString('base64');
  assert.equal(encodeApiKey(encoded), encoded);
  const basic = resolveSecrets(elasticsearchConfigSchema.parse({ username: 'u', password_file: path.join(dir, 'password') }));
  assert.deepEqual(basic.credentials, { kind: 'basic', username: 'u', password: 'from-file' });
  assert.deepEqual(basic.secretValues, ['from-file', Buffer.from('u:from-file').toString('base64')]);
  assert.deepEqual(resolveSecrets(elasticsearchConfigSchema.parse({})).credentials, { kind: 'none' });
  assert.throws(() => resolveSecrets(elasticsearchConfigSchema.parse({ api_key_file: path.join(dir, 'missing') })), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.match(error.message, /^exporters\.elasticsearch\.api_key_file: cannot read ".*missing"/);
    return true;
  });
});

test('messages and URLs are scrubbed of credentials', () => {
  const scrub = scrubber(['s3cret-password', 'bXktaWQ6bXkta2V5']);
  assert.equal(scrub('connect https://elastic:s3cret-password@es:9200 failed'), 'connect https://[redacted]@es:9200 failed');
  assert.equal(scrub('key bXktaWQ6bXkta2V5 refused'), 'key [redacted] refused');
  assert.equal(publicUrl('https://elastic:pw@es.example:9200/'), 'https://es.example:9200');
  // A value read from a file may carry spaces: it is redacted as given and trimmed.
  assert.equal(scrubber([' abcd\n'])('got abcd here'), 'got [redacted] here');
  assert.equal(scrubber([' abc'])('got  abc here'), 'got [redacted] here');
});

test('basic auth: the password and the Authorization header\'s base64 of user:password are secrets', () => {
  const { secretValues } = resolveSecrets(elasticsearchConfigSchema.parse({ enabled: true, urls: ['http://es:9200'], username: 'elastic', password: 's3cret-password' }));
  assert.deepEqual(secretValues, ['s3cret-password', Buffer.from('elastic:s3cret-password').toString('base64')]);
});

test('compression auto: gzip only where the wire costs more than compressing (a remote cluster), not on this host or a private network', () => {
  assert.equal(elasticsearchConfigSchema.parse({}).compression, 'auto');
  const nearby = ['http://localhost:9200', 'http://127.0.0.1:9200', 'http://elasticsearch:9200', 'http://[::1]:9200', 'http://10.1.2.3:9200', 'http://172.20.0.2:9200', 'http://192.168.1.5:9200', 'http://169.254.1.1:9200', 'http://[fd00::1]:9200'];
  for (const url of nearby) assert.equal(gzipPays('auto', [url]), false, url);
  for (const url of ['https://my-deployment.es.eu-west-1.aws.example.com', 'http://8.8.8.8:9200', 'http://172.32.0.1:9200', 'http://[2001:db8::1]:9200']) assert.equal(gzipPays('auto', [url]), true, url);
  assert.equal(gzipPays('auto', ['http://localhost:9200', 'https://remote.example.com']), true, 'any remote node');
  assert.equal(gzipPays(true, ['http://localhost:9200']), true);
  assert.equal(gzipPays(false, ['https://remote.example.com']), false);
});
