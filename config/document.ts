/**
 * Documents the config schema from the schema itself, so docs cannot drift: every key with its
 * type, default and description, as commented YAML (config/default.yaml) or a Markdown table (README).
 */
import YAML from 'yaml';
import { configSchema } from './schema.js';

export interface KeyDoc {
  readonly path: string;
  readonly type: string;
  readonly default: unknown;
  readonly description: string;
  readonly isSection: boolean;
}

interface Def {
  type: string;
  innerType?: unknown;
  in?: unknown;
  shape?: Record<string, unknown>;
  defaultValue?: unknown;
  entries?: Record<string, string>;
  element?: unknown;
  options?: unknown[];
  values?: unknown[];
}
type Node = { def: Def; description?: string };

/** Peels default/prefault/optional wrappers, collecting the description and default on the way. */
function unwrap(node: Node): { core: Node; description: string; defaultValue: unknown; optional: boolean } {
  let description = node.description ?? '';
  let defaultValue: unknown;
  let optional = false;
  let current = node;
  for (let i = 0; i < 10; i++) {
    const def = current.def;
    if (def.type === 'default' || def.type === 'prefault') {
      if (def.type === 'default' && defaultValue === undefined) defaultValue = typeof def.defaultValue === 'function' ? (def.defaultValue as () => unknown)() : def.defaultValue;
    } else if (def.type === 'optional' || def.type === 'nullable') {
      optional = true;
    } else if (def.type !== 'pipe') {
      break;
    }
    current = (def.innerType ?? def.in) as Node;
    description ||= current.description ?? '';
  }
  return { core: current, description, defaultValue, optional };
}

function typeName(node: Node): string {
  const def = node.def;
  switch (def.type) {
    case 'enum': return Object.values(def.entries ?? {}).map((v) => JSON.stringify(v)).join(' | ');
    case 'literal': return (def.values ?? []).map((v) => JSON.stringify(v)).join(' | ');
    case 'array': return `list of ${typeName(unwrap(def.element as Node).core)}`;
    case 'union': return (def.options ?? []).map((o) => typeName(unwrap(o as Node).core)).join(' | ');
    case 'object': return 'section';
    default: return def.type;
  }
}

export function documentKeys(): KeyDoc[] {
  const docs: KeyDoc[] = [];
  const walk = (node: Node, prefix: string) => {
    const shape = node.def.shape ?? {};
    for (const [key, child] of Object.entries(shape)) {
      const path = prefix ? `${prefix}.${key}` : key;
      const { core, description, defaultValue, optional } = unwrap(child as Node);
      const isSection = core.def.type === 'object';
      docs.push({ path, type: typeName(core) + (optional ? ' (optional)' : ''), default: defaultValue, description, isSection });
      if (isSection) walk(core, path);
    }
  };
  walk(configSchema as unknown as Node, '');
  return docs;
}

/** config/default.yaml: every key at its default, each with its description as a comment. */
export function renderDefaultYaml(): string {
  const defaults = configSchema.parse({}) as Record<string, unknown>;
  const docs = new Map(documentKeys().map((d) => [d.path, d]));
  const lines: string[] = [
    '# dockhand: the default configuration, every key at its default value.',
    '# Generated from config/schema.ts by `npm run docs:config`; a test keeps it in sync.',
    '# Sources, later wins: these defaults → this file (--config / DOCKHAND_CONFIG) → the named environment',
    '# variables (DOCKER_HOST, DOCKHAND_LISTEN, ELASTICSEARCH_URL, …) → DOCKHAND_<PATH> variables → flags.',
    '# Any key from the environment: DOCKHAND_ and its path upper-cased, __ between levels, e.g.',
    '# DOCKHAND_EXPORTERS__ELASTICSEARCH__BATCH__MAX_RECORDS=500 (lists in flow style: [a, b]).',
    '# Values here may use ${VAR}, ${VAR:-default} and ${VAR:?message}; $$ is a literal $.',
    '# Unknown keys are rejected; an empty key or section means its defaults.',
    '',
  ];
  const emit = (value: Record<string, unknown>, prefix: string, indent: string) => {
    const shapeKeys = [...docs.values()].filter((d) => d.path.startsWith(prefix) && d.path.slice(prefix.length).split('.').length === 1).map((d) => d.path.slice(prefix.length));
    for (const key of shapeKeys) {
      const path = `${prefix}${key}`;
      const doc = docs.get(path);
      if (doc?.description) lines.push(`${indent}# ${doc.description}${doc.isSection ? '' : ` (${doc.type})`}`);
      const v = value[key];
      if (doc?.isSection) {
        lines.push(`${indent}${key}:`);
        emit((v ?? {}) as Record<string, unknown>, `${path}.`, `${indent}  `);
      } else if (v === undefined) {
        lines.push(`${indent}# ${key}:`);
      } else {
        const text = YAML.stringify({ [key]: v }, { lineWidth: 0 }).trimEnd().split('\n').map((l) => `${indent}${l}`);
        lines.push(...text);
      }
    }
  };
  emit(defaults, '', '');
  return `${lines.join('\n')}\n`;
}

/** The README's table of keys. */
export function renderMarkdownTable(): string {
  const rows = documentKeys()
    .filter((d) => !d.isSection)
    .map((d) => `| \`${d.path}\` | ${d.type.replace(/\|/g, '\\|')} | ${d.default === undefined ? '' : `\`${JSON.stringify(d.default)}\``} | ${d.description.replace(/\|/g, '\\|')} |`);
  return ['| key | type | default | meaning |', '|---|---|---|---|', ...rows].join('\n');
}
