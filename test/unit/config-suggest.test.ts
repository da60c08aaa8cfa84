import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closestKey, editDistance } from '../../config/suggest.js';
import { formatPath, parsePath, schemaAt, takesText } from '../../config/schema-paths.js';
import { interpolate, yamlScalar } from '../../config/interpolate.js';

test('editDistance counts a swap of neighbours as one edit', () => {
  assert.equal(editDistance('hots', 'host'), 1);
  assert.equal(editDistance('max_record', 'max_records'), 1);
  assert.equal(editDistance('', 'abc'), 3);
  assert.equal(editDistance('kitten', 'sitting'), 3);
});

test('closestKey: within a third of the length, nested keys by their last name, the section\'s own key on a tie', () => {
  assert.equal(closestKey('hots', ['host', 'tls_verify', 'context']), 'host');
  assert.equal(closestKey('max_records', ['batch', 'batch.max_records', 'queue_size']), 'batch.max_records');
  assert.equal(closestKey('colour', ['listen', 'log', 'docker']), undefined);
  assert.equal(closestKey('size', ['size', 'batch.size']), 'size');
});

test('key paths: list indexes in brackets, both ways; the schema read by path', () => {
  assert.equal(formatPath(['exporters', 'elasticsearch', 'urls', 1]), 'exporters.elasticsearch.urls[1]');
  assert.deepEqual(parsePath('collectors.logs.multiline[0].pattern'), ['collectors', 'logs', 'multiline', 0, 'pattern']);
  assert.equal(takesText(schemaAt(['exporters', 'elasticsearch', 'urls', 0])), true);
  assert.equal(takesText(schemaAt(['exporters', 'elasticsearch', 'compression'])), false, '"auto" or a boolean');
  assert.equal(takesText(schemaAt(['log', 'level'])), true);
  assert.equal(takesText(schemaAt(['shutdown', 'grace_ms'])), false);
  assert.equal(schemaAt(['docker', 'nope']), undefined);
});

test('interpolate reports the variables it used; yamlScalar reads the core schema', () => {
  assert.deepEqual(interpolate('${A}-${B:-b}-$$-$', { A: 'a' }), { text: 'a-b-$-$', variables: ['A', 'B'] });
  assert.deepEqual([yamlScalar('9200'), yamlScalar('true'), yamlScalar('~'), yamlScalar('1.5e3'), yamlScalar('0o17'), yamlScalar('[a]'), yamlScalar('08:00')], [9200, true, null, 1500, 15, '[a]', '08:00']);
});
