import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { documentKeys, renderDefaultYaml, renderMarkdownTable } from '../../config/document.js';
import { loadConfig } from '../../config/loader.js';

const root = new URL('../../../', import.meta.url);

test('config/default.yaml is what the schema says (run `npm run docs:config` after changing the schema)', () => {
  assert.equal(readFileSync(new URL('config/default.yaml', root), 'utf8'), renderDefaultYaml());
});

test('config/default.yaml loads to exactly the built-in defaults', () => {
  assert.deepEqual(loadConfig({ config: fileURLToPath(new URL('config/default.yaml', root)) }, {}), loadConfig({}, {}));
});

test('every config key is described', () => {
  const undocumented = documentKeys().filter((d) => !d.isSection && !d.description).map((d) => d.path);
  assert.deepEqual(undocumented, []);
});

test('the README lists every config key (generated table)', () => {
  const readme = readFileSync(new URL('README.md', root), 'utf8');
  assert.ok(readme.includes(renderMarkdownTable()), 'README config table is stale: run `npm run docs:config`');
});
