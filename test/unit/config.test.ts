import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, loadEffectiveConfig, maskSecrets } from '../../config/loader.js';
import { ConfigError } from '../../src/errors.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'dh-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));
function file(name: string, text: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}
function problems(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
    return error.problems.join('\n');
  }
  assert.fail('expected a ConfigError');
}

test('defaults alone are a working config', () => {
  const config = loadConfig({}, {});
  assert.equal(config.listen, '127.0.0.1:9487');
  assert.equal(config.data_dir, './data');
  assert.equal(config.log.level, 'info');
  assert.equal(config.shutdown.grace_ms, 10_000);
  assert.equal(config.pipeline.when_full, 'block');
});

test('later sources win: defaults → file → env → flags', () => {
  const f = file('layers.yaml', 'listen: 0.0.0.0:1000\ndata_dir: /from-file\nlog:\n  level: warn\n');
  const fromFile = loadConfig({ config: f }, {});
  assert.equal(fromFile.listen, '0.0.0.0:1000');
  assert.equal(fromFile.log.level, 'warn');
  const fromEnv = loadConfig({ config: f }, { DOCKHAND_LISTEN: '127.0.0.1:2000', DOCKHAND_LOG_LEVEL: 'error' });
  assert.equal(fromEnv.listen, '127.0.0.1:2000');
  assert.equal(fromEnv.data_dir, '/from-file');
  assert.equal(fromEnv.log.level, 'error');
  const fromFlags = loadConfig({ config: f, listen: '127.0.0.1:3000', dataDir: '/flag', debug: true }, { DOCKHAND_LISTEN: '127.0.0.1:2000', DOCKHAND_LOG_LEVEL: 'error' });
  assert.equal(fromFlags.listen, '127.0.0.1:3000');
  assert.equal(fromFlags.data_dir, '/flag');
  assert.equal(fromFlags.log.level, 'debug');
});

test('DOCKHAND_CONFIG names the file when --config is absent', () => {
  const f = file('envfile.yaml', 'data_dir: /via-env\n');
  assert.equal(loadConfig({}, { DOCKHAND_CONFIG: f }).data_dir, '/via-env');
});

test('docker env vars map onto docker.*', () => {
  const config = loadConfig({}, { DOCKER_HOST: 'tcp://127.0.0.1:2376', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: '/certs', DOCKER_CONTEXT: 'ctx', DOCKER_CONFIG: '/cfg' });
  assert.deepEqual(
    [config.docker.host, config.docker.tls_verify, config.docker.cert_path, config.docker.context, config.docker.config_dir],
    ['tcp://127.0.0.1:2376', true, '/certs', 'ctx', '/cfg'],
  );
  assert.equal(loadConfig({}, { DOCKER_TLS_VERIFY: '0' }).docker.tls_verify, false);
});

test('an unknown key is rejected, naming its path and the allowed keys', () => {
  const message = problems(() => loadConfig({ config: file('unknown.yaml', 'docker:\n  hots: tcp://x:1\n') }, {}));
  assert.match(message, /docker\.hots: unknown key/);
  assert.match(message, /allowed here: .*host/);
  assert.match(problems(() => loadConfig({ config: file('top.yaml', 'colour: blue\n') }, {})), /^colour: unknown key/);
});

test('a wrong type names the key path, the value and what was expected', () => {
  const message = problems(() => loadConfig({ config: file('type.yaml', 'shutdown:\n  grace_ms: soon\n') }, {}));
  assert.match(message, /shutdown\.grace_ms: .*expected number.*got "soon"/);
});

test('a bad value from the environment says where it came from', () => {
  const message = problems(() => loadConfig({}, { DOCKHAND_LISTEN: 'nowhere' }));
  assert.match(message, /listen: .*host:port.*got "nowhere" \(from env DOCKHAND_LISTEN\)/);
  assert.match(problems(() => loadConfig({}, { DOCKHAND_LOG_LEVEL: 'loud' })), /log\.level: .*got "loud"/);
});

test('a bad cron schedule is a config error naming the key', () => {
  assert.match(problems(() => loadConfig({ config: file('cron.yaml', 'inventory:\n  resync_schedule: every now and then\n') }, {})), /inventory\.resync_schedule: expected a cron expression/);
});

test('unreadable and malformed files are config errors', () => {
  assert.match(problems(() => loadConfig({ config: path.join(dir, 'absent.yaml') }, {})), /cannot read the config file .*ENOENT/);
  assert.match(problems(() => loadConfig({ config: file('bad.yaml', 'listen: [unclosed\n') }, {})), /not valid YAML/);
  assert.match(problems(() => loadConfig({ config: file('list.yaml', '- a\n- b\n') }, {})), /must hold a mapping/);
});

test('maskSecrets hides secret values at any depth and keeps the rest', () => {
  const masked = maskSecrets({ exporters: { es: { password: 'hunter2', api_key: 'k', username: 'elastic', urls: ['http://x'] } } });
  assert.deepEqual(masked, { exporters: { es: { password: '********', api_key: '********', username: 'elastic', urls: ['http://x'] } } });
});

test('the file sink is on by default, off when Elasticsearch, Loki or OTLP is enabled, and an explicit setting wins', async () => {
  const { fileExporterFactory } = await import('../../exporters/file/index.js');
  const enabled = (env: NodeJS.ProcessEnv, yaml?: string) => {
    const config = loadConfig(yaml ? { config: file('file-sink.yaml', yaml) } : {}, env);
    const sections = config.exporters as Record<string, unknown>;
    return fileExporterFactory.isEnabled(sections.file as never, sections);
  };
  assert.equal(enabled({}), true);
  assert.equal(enabled({ ELASTICSEARCH_URL: 'http://127.0.0.1:9200' }), false);
  assert.equal(enabled({ LOKI_URL: 'http://127.0.0.1:3100' }), false);
  assert.equal(enabled({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }), false);
  assert.equal(enabled({ ELASTICSEARCH_URL: 'http://127.0.0.1:9200' }, 'exporters:\n  file:\n    enabled: true\n'), true);
  assert.equal(enabled({}, 'exporters:\n  file:\n    enabled: false\n'), false);
});

test('maskSecrets hides the password of a URL with user info', () => {
  assert.deepEqual(maskSecrets({ urls: ['http://elastic:hunter2@es:9200/', 'https://es2:9200'] }), { urls: ['http://elastic:********@es:9200/', 'https://es2:9200'] });
});

test('maskSecrets hides user info without a colon: the token given as the user', () => {
  assert.equal(maskSecrets({ url: 'https://glc_SECRETTOKEN@logs.example.net/loki/api/v1/push' }).url, 'https://********@logs.example.net/loki/api/v1/push');
  assert.equal(maskSecrets('http://token@es3'), 'http://********@es3');
});

test('maskSecrets hides query parameters that carry credentials, in any case, and keeps the others', () => {
  const masked = maskSecrets({
    urls: [
      'https://host/v1/logs?api_key=S1&tenant=shop',
      'https://host/x?APIKEY=S2&ApiKey=S3&token=S4&access_token=S5&key=S6&password=S7&sig=S8#frag',
      'https://acct.blob.example/c?sv=2022&X-Amz-Signature=S9&X-Amz-Security-Token=S10&client_secret=S11',
      'https://host/v1/logs?monkey=banana&page=2&token=',
    ],
  });
  assert.deepEqual(masked.urls, [
    'https://host/v1/logs?api_key=********&tenant=shop',
    'https://host/x?APIKEY=********&ApiKey=********&token=********&access_token=********&key=********&password=********&sig=********#frag',
    'https://acct.blob.example/c?sv=2022&X-Amz-Signature=********&X-Amz-Security-Token=********&client_secret=********',
    'https://host/v1/logs?monkey=banana&page=2&token=',
  ]);
  assert.equal(maskSecrets('not a url?token=x'), 'not a url?token=x', 'only URLs are rewritten');
});

test('the effective config printed by --check-config masks URL credentials', () => {
  const config = loadConfig({ config: file('check-url-secrets.yaml', 'exporters:\n  loki:\n    enabled: true\n    url: "https://glc_TOKEN1@logs.example.net?api_key=TOKEN2"\n') }, {});
  const shown = JSON.stringify(maskSecrets(config));
  assert.doesNotMatch(shown, /TOKEN1|TOKEN2/);
  assert.match(shown, /https:\/\/\*{8}@logs\.example\.net\/?\?api_key=\*{8}/);
});

test('a header value that fails validation is not repeated in the error, whatever the header is called', () => {
  for (const [section, name] of [['otlp', 'x-api-key'], ['otlp', 'api-key'], ['otlp', 'x-honeycomb-team'], ['loki', 'x-custom']] as const) {
    const typed = problems(() => loadConfig({ config: file(`header-${section}-${name}.yaml`, `exporters:\n  ${section}:\n    enabled: true\n    headers:\n      ${name}: 98765432109876\n`) }, {}));
    assert.match(typed, new RegExp(`exporters\\.${section}\\.headers\\.${name}: .*expected string`));
    assert.doesNotMatch(typed, /98765432109876/, `${section}.headers.${name}`);
  }
});

test('a secret that fails validation is not repeated in the error', () => {
  const typed = problems(() => loadConfig({ config: file('secret-type.yaml', 'exporters:\n  elasticsearch:\n    username: elastic\n    password: 123456789\n') }, {}));
  assert.match(typed, /exporters\.elasticsearch\.password: .*expected string/);
  assert.doesNotMatch(typed, /123456789/);
  const listed = problems(() => loadConfig({ config: file('secret-list.yaml', 'exporters:\n  elasticsearch:\n    api_key: [s3cr3t-key]\n') }, {}));
  assert.match(listed, /exporters\.elasticsearch\.api_key: /);
  assert.doesNotMatch(listed, /s3cr3t-key/);
});

// --- ${VAR} references in the file ---

test('${VAR} in a value is typed after substitution: a number where the key takes a number, text where it takes text', () => {
  const f = file('interp-types.yaml', [
    'exporters:',
    '  elasticsearch:',
    '    batch:',
    '      max_records: ${DH_BATCH}',
    '      linger_ms: ${DH_UNSET_LINGER:-50}',
    '    namespace: ${DH_NS}',
    '    urls: ["http://${DH_ES_HOST}:9200", "http://b:${DH_ES_PORT:-9201}"]',
    '    compression: ${DH_GZIP}',
    '',
  ].join('\n'));
  const config = loadConfig({ config: f }, { DH_BATCH: '250', DH_NS: '0123', DH_ES_HOST: 'es1', DH_GZIP: 'false' });
  const es = (config.exporters as Record<string, any>).elasticsearch;
  assert.equal(es.batch.max_records, 250);
  assert.equal(es.batch.linger_ms, 50);
  assert.equal(es.namespace, '0123', 'a key that takes text keeps the text as written');
  assert.deepEqual(es.urls, ['http://es1:9200', 'http://b:9201']);
  assert.equal(es.compression, false);
});

test('a quoted reference stays text (YAML decides), so a number there is refused as the schema says', () => {
  const f = file('interp-quoted.yaml', 'shutdown:\n  grace_ms: "${DH_GRACE}"\n');
  assert.match(problems(() => loadConfig({ config: f }, { DH_GRACE: '5000' })), /shutdown\.grace_ms: .*expected number.*got "5000" \(from \$\{DH_GRACE\} in .*interp-quoted\.yaml:2:13\)/);
});

test('$$ is a literal $, a lone $ stays, and references are never read in keys', () => {
  const f = file('interp-escape.yaml', 'data_dir: /data/$$HOME/$x/$${DH_X}\nlabels:\n  allow: [a]\n');
  assert.equal(loadConfig({ config: f }, { DH_X: 'no' }).data_dir, '/data/$HOME/$x/${DH_X}');
  const key = problems(() => loadConfig({ config: file('interp-key.yaml', '${DH_KEY}: 1\n') }, { DH_KEY: 'listen' }));
  assert.match(key, /^\$\{DH_KEY\}: unknown key/);
});

test('an unset variable without a default is an error naming the variable, the key and where it is', () => {
  const f = file('interp-unset.yaml', 'docker:\n  host: tcp://${DH_DOCKER_HOST}:2375\n');
  assert.match(problems(() => loadConfig({ config: f }, {})), /^docker\.host: DH_DOCKER_HOST is not set \(write \$\{DH_DOCKER_HOST:-default\} to give a default\) \(in .*interp-unset\.yaml:2:9\)$/);
  assert.equal(loadConfig({ config: f }, { DH_DOCKER_HOST: '' }).docker.host, 'tcp://:2375', 'set but empty is empty (use :- for a default then)');
});

test('${VAR:?message} refuses an unset or empty variable with the message; a malformed reference is an error', () => {
  const f = file('interp-required.yaml', 'data_dir: ${DH_DIR:?mount the data volume}\n');
  assert.match(problems(() => loadConfig({ config: f }, {})), /data_dir: DH_DIR is not set: mount the data volume/);
  assert.match(problems(() => loadConfig({ config: f }, { DH_DIR: '' })), /DH_DIR is not set \(empty\): mount the data volume/);
  assert.equal(loadConfig({ config: f }, { DH_DIR: '/d' }).data_dir, '/d');
  assert.match(problems(() => loadConfig({ config: file('interp-bad.yaml', 'data_dir: ${1DIR}\n') }, {})), /data_dir: a \$\{…\} that is not a variable reference/);
  assert.match(problems(() => loadConfig({ config: file('interp-open.yaml', 'data_dir: ${DIR\n') }, {})), /data_dir: .* without its closing \}/);
  assert.match(problems(() => loadConfig({ config: file('interp-nested.yaml', 'data_dir: ${A:-${B}}\n') }, {})), /nesting is not supported/);
});

test('every problem is reported at once: an unset variable, a bad DOCKHAND_ variable and a schema error together', () => {
  const f = file('interp-all.yaml', 'data_dir: ${DH_UNSET_DIR}\nshutdown:\n  grace_ms: soon\nlabels:\n  allow: [a, "${DH_UNSET_LABEL}"]\n');
  const message = problems(() => loadConfig({ config: f }, { DOCKHAND_LABELS__ALLOW: '[a' }));
  assert.match(message, /^data_dir: DH_UNSET_DIR is not set/m);
  assert.match(message, /^DOCKHAND_LABELS__ALLOW: /m);
  assert.match(message, /^shutdown\.grace_ms: .*got "soon"/m);
  assert.match(message, /^labels\.allow\[1\]: DH_UNSET_LABEL is not set/m);
  assert.equal(message.split('\n').length, 4, 'a value whose reference failed is left out, not reported again by the schema');
});

test('a reference that resolves to nothing (${X:-}) means the default, as an empty key does', () => {
  const f = file('interp-empty.yaml', 'log:\n  level: ${DH_LEVEL:-}\n');
  assert.equal(loadConfig({ config: f }, {}).log.level, 'info');
  assert.equal(loadConfig({ config: f }, { DH_LEVEL: 'warn' }).log.level, 'warn');
});

// --- DOCKHAND_<PATH> variables ---

test('every key is settable as DOCKHAND_<PATH> (__ between levels), read as YAML where the key takes numbers, booleans or lists', () => {
  const config = loadConfig({}, {
    DOCKHAND_EXPORTERS__ELASTICSEARCH__BATCH__MAX_RECORDS: '500',
    DOCKHAND_EXPORTERS__ELASTICSEARCH__NAMESPACE: '007',
    DOCKHAND_DOCKER__TLS_VERIFY: 'true',
    DOCKHAND_LABELS__ALLOW: '[com.example.team, "com.example.*"]',
    DOCKHAND_COLLECTORS__LOGS__INCLUDE__NAMES: '[web-*, 123]',
    DOCKHAND_PIPELINE__EVENTS__MEMORY_RECORDS: '0x40',
  });
  const es = (config.exporters as Record<string, any>).elasticsearch;
  assert.equal(es.batch.max_records, 500);
  assert.equal(es.namespace, '007');
  assert.equal(config.docker.tls_verify, true);
  assert.deepEqual(config.labels.allow, ['com.example.team', 'com.example.*']);
  assert.deepEqual((config.collectors as Record<string, any>).logs.include.names, ['web-*', '123'], 'list items of a text list stay text');
  assert.equal(config.pipeline.events.memory_records, 64);
});

test('precedence: defaults < file < named variables (DOCKER_HOST, DOCKHAND_LOG_LEVEL) < DOCKHAND_<PATH> < flags', () => {
  const f = file('precedence.yaml', 'log:\n  level: warn\ndocker:\n  host: unix:///from-file.sock\n  request_timeout_ms: 1000\n');
  assert.equal(loadConfig({ config: f }, {}).docker.request_timeout_ms, 1000);
  assert.equal(loadConfig({ config: f }, { DOCKHAND_DOCKER__REQUEST_TIMEOUT_MS: '2000' }).docker.request_timeout_ms, 2000);
  assert.equal(loadConfig({ config: f }, { DOCKER_HOST: 'unix:///named.sock' }).docker.host, 'unix:///named.sock');
  assert.equal(loadConfig({ config: f }, { DOCKER_HOST: 'unix:///named.sock', DOCKHAND_DOCKER__HOST: 'unix:///path.sock' }).docker.host, 'unix:///path.sock');
  assert.equal(loadConfig({ config: f }, { DOCKHAND_LOG_LEVEL: 'error', DOCKHAND_LOG__LEVEL: 'debug' }).log.level, 'debug');
  assert.equal(loadConfig({ config: f, debug: true }, { DOCKHAND_LOG__LEVEL: 'error' }).log.level, 'debug');
  assert.equal(loadConfig({ listen: '127.0.0.1:3' }, { DOCKHAND_LISTEN: '127.0.0.1:2' }).listen, '127.0.0.1:3');
  // A section set whole, and one of its keys: the key wins, the rest of the section stays.
  const both = loadConfig({}, { DOCKHAND_DOCKER: '{request_timeout_ms: 5, reconnect_max_ms: 6}', DOCKHAND_DOCKER__REQUEST_TIMEOUT_MS: '7' });
  assert.deepEqual([both.docker.request_timeout_ms, both.docker.reconnect_max_ms], [7, 6]);
});

test('DOCKHAND_ variables that are no key (DOCKHAND_CONFIG, DOCKHAND_TEST_*) are left alone; empty ones are ignored', () => {
  const config = loadConfig({}, { DOCKHAND_TEST_IMAGE: 'busybox', DOCKHAND_ES_PASSWORD: 'x', DOCKHAND_CONFIG: '', DOCKHAND_SHUTDOWN__GRACE_MS: '' });
  assert.equal(config.shutdown.grace_ms, 10_000);
});

test('a DOCKHAND_<PATH> variable naming no key is refused with the closest variable; a bad value names the variable', () => {
  assert.match(problems(() => loadConfig({}, { DOCKHAND_DOCKER__HOTS: 'unix:///x.sock' })),
    /^docker\.hots: unknown key \(from env DOCKHAND_DOCKER__HOTS\); did you mean DOCKHAND_DOCKER__HOST\?/);
  assert.match(problems(() => loadConfig({}, { DOCKHAND_SHUTDOWN__GRACE_MS: 'soon' })), /shutdown\.grace_ms: .*expected number.*got "soon" \(from env DOCKHAND_SHUTDOWN__GRACE_MS\)/);
  assert.match(problems(() => loadConfig({}, { DOCKHAND_LABELS__ALLOW: '[a, b' })), /^DOCKHAND_LABELS__ALLOW: not a YAML flow list/);
  assert.match(problems(() => loadConfig({}, { DOCKHAND_DOCKER__: 'x' })), /^DOCKHAND_DOCKER__: an empty key name/);
});

// --- where a bad value came from ---

test('errors name list items by index and the file position, never "got undefined"', () => {
  const f = file('list-item.yaml', 'exporters:\n  elasticsearch:\n    urls:\n      - http://a:9200\n      - ftp://b\n');
  const message = problems(() => loadConfig({ config: f }, {}));
  assert.match(message, /^exporters\.elasticsearch\.urls\[1\]: expected an http:\/\/ or https:\/\/ URL; got "ftp:\/\/b" \(from .*list-item\.yaml:5:9\)$/);
  assert.doesNotMatch(message, /undefined/);
  const missing = problems(() => loadConfig({ config: file('multiline-item.yaml', 'collectors:\n  logs:\n    multiline:\n      - max_lines: 5\n') }, {}));
  assert.equal(missing, 'collectors.logs.multiline[0].pattern: a required key is missing (expected string)');
});

test('a value from a named variable names it: ELASTICSEARCH_URL, DOCKER_HOST (also for problems found after the schema)', () => {
  assert.match(problems(() => loadConfig({}, { ELASTICSEARCH_URL: 'http://a:9200,ftp://b' })), /exporters\.elasticsearch\.urls\[1\]: .*got "ftp:\/\/b" \(from env ELASTICSEARCH_URL\)/);
  const loaded = loadEffectiveConfig({ config: file('explain.yaml', 'exporters:\n  elasticsearch:\n    password_file: /nonexistent\n    username: u\n') }, { DOCKER_HOST: 'ftp://x' });
  const explained = loaded.explain(new ConfigError(['docker.host: "ftp://x" uses the unsupported scheme', 'exporters.elasticsearch.password_file: cannot read', 'somewhere: else']));
  assert.deepEqual(explained.problems, [
    'docker.host: "ftp://x" uses the unsupported scheme (from env DOCKER_HOST)',
    `exporters.elasticsearch.password_file: cannot read (from ${path.join(dir, 'explain.yaml')}:3:20)`,
    'somewhere: else',
  ]);
});

test('an unknown key gets the closest key, also one at another level', () => {
  assert.match(problems(() => loadConfig({ config: file('dym-level.yaml', 'exporters:\n  elasticsearch:\n    max_records: 5\n') }, {})),
    /exporters\.elasticsearch\.max_records: unknown key \(from .*dym-level\.yaml:3:18\); did you mean `batch\.max_records`\?/);
  assert.match(problems(() => loadConfig({ config: file('dym-typo.yaml', 'pipeline:\n  queue_szie: 5\n') }, {})), /did you mean `queue_size`\?/);
  assert.doesNotMatch(problems(() => loadConfig({ config: file('dym-none.yaml', 'colour: blue\n') }, {})), /did you mean/);
});

test('an empty section or key (everything under it commented out) means the defaults', () => {
  const f = file('empty-section.yaml', 'docker:\n  # host: tcp://x:2375\nlog:\n  level:\nexporters:\n  file:\n    # kinds: [log]\n');
  const config = loadConfig({ config: f }, {});
  assert.equal(config.docker.request_timeout_ms, 30_000);
  assert.equal(config.log.level, 'info');
  assert.deepEqual((config.exporters as Record<string, any>).file.kinds, ['log', 'event']);
  assert.deepEqual(loadConfig({ config: file('empty.yaml', '# nothing yet\n') }, {}), loadConfig({}, {}));
});

test('test-only knobs are not config keys', () => {
  assert.match(problems(() => loadConfig({ config: file('test-knob.yaml', 'exporters:\n  file:\n    test_write_delay_ms: 5\n') }, {})), /exporters\.file\.test_write_delay_ms: unknown key/);
});

test('config errors never echo a value that may be a secret: a bad reference, a bad flow value, a URL password with /, ? or #', () => {
  const secret = 'hunter2-s3cret';
  const open = problems(() => loadConfig({ config: file('secret-open.yaml', `exporters:\n  elasticsearch:\n    password: "pa\${${secret}"\n`) }, {}));
  assert.doesNotMatch(open, new RegExp(secret), 'a ${ without its } does not print the value');
  const bad = problems(() => loadConfig({ config: file('secret-bad.yaml', `exporters:\n  elasticsearch:\n    password: "\${${secret} x}"\n`) }, {}));
  assert.doesNotMatch(bad, new RegExp(secret), 'a malformed reference does not print its text');
  const flow = problems(() => loadConfig({}, { DOCKHAND_EXPORTERS__ELASTICSEARCH: `{password: ${secret}` }));
  assert.doesNotMatch(flow, new RegExp(secret), 'a malformed flow mapping from the environment is not printed');
  for (const url of [`https://elastic:pa#${secret}@es:9200`, `https://elastic:pa/${secret}@es:9200`, `https://elastic:pa?${secret}@es:9200`]) {
    const shown = problems(() => loadConfig({}, { ELASTICSEARCH_URL: url }));
    assert.match(shown, /urls\[0\]: .*"https:\/\/elastic:\*{8}@es:9200"/, 'the refused URL is shown, masked');
    assert.doesNotMatch(shown, new RegExp(secret), `${url.replace(secret, '…')}: the password is masked`);
  }
});
