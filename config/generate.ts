/** Writes config/default.yaml and the README's config table from the schema (npm run docs:config). */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderDefaultYaml, renderMarkdownTable } from './document.js';

const root = new URL('../../', import.meta.url);
writeFileSync(fileURLToPath(new URL('config/default.yaml', root)), renderDefaultYaml());
const readmePath = fileURLToPath(new URL('README.md', root));
const readme = readFileSync(readmePath, 'utf8');
const begin = '<!-- config-keys:begin -->';
const end = '<!-- config-keys:end -->';
const from = readme.indexOf(begin);
const to = readme.indexOf(end);
if (from >= 0 && to > from) {
  writeFileSync(readmePath, `${readme.slice(0, from + begin.length)}\n${renderMarkdownTable()}\n${readme.slice(to)}`);
}
console.log('wrote config/default.yaml and the README config table');
