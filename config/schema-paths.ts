/**
 * Reads the zod config schema by key path: which schema a key has, which keys a section allows,
 * whether a key takes text. The loader needs this to type environment values and substituted
 * values the way the key expects, and to suggest the closest key for an unknown one.
 */
import { configSchema } from './schema.js';

interface Def {
  type: string;
  innerType?: unknown;
  in?: unknown;
  shape?: Record<string, unknown>;
  element?: unknown;
  options?: unknown[];
  values?: unknown[];
}
export type SchemaNode = { def: Def };

/** A key path: object keys and list indexes. */
export type KeyPath = readonly (string | number)[];

const WRAPPERS = new Set(['default', 'prefault', 'optional', 'nullable', 'readonly', 'catch', 'pipe']);

/** The schema under its default/prefault/optional/pipe wrappers. */
export function unwrapSchema(node: SchemaNode): SchemaNode {
  let current = node;
  for (let i = 0; i < 10 && WRAPPERS.has(current.def.type); i++) current = (current.def.innerType ?? current.def.in) as SchemaNode;
  return current;
}

/** The schema of the key at `path`, or undefined when no such key exists. */
export function schemaAt(path: KeyPath, root: SchemaNode = configSchema as unknown as SchemaNode): SchemaNode | undefined {
  let node: SchemaNode | undefined = unwrapSchema(root);
  for (const segment of path) {
    if (!node) return undefined;
    if (node.def.type === 'object' && typeof segment === 'string') node = node.def.shape?.[segment] as SchemaNode | undefined;
    else if (node.def.type === 'array' && typeof segment === 'number') node = node.def.element as SchemaNode;
    else return undefined;
    if (node) node = unwrapSchema(node);
  }
  return node;
}

/** The keys a section allows (none when `path` is not a section). */
export function sectionKeys(path: KeyPath): string[] {
  const node = schemaAt(path);
  return node?.def.type === 'object' ? Object.keys(node.def.shape ?? {}) : [];
}

/** Every key path below a section, relative to it: `host`, `batch.max_records`, … */
export function keyPathsUnder(path: KeyPath): string[] {
  const out: string[] = [];
  const walk = (node: SchemaNode | undefined, prefix: string) => {
    if (node?.def.type !== 'object') return;
    for (const [key, child] of Object.entries(node.def.shape ?? {})) {
      out.push(`${prefix}${key}`);
      walk(unwrapSchema(child as SchemaNode), `${prefix}${key}.`);
    }
  };
  walk(schemaAt(path), '');
  return out;
}

/** Whether the key takes only text (a string, an enum of strings): then `0123` or `true` stay as written. */
export function takesText(node: SchemaNode | undefined): boolean {
  if (!node) return false;
  const def = unwrapSchema(node).def;
  switch (def.type) {
    case 'string':
    case 'enum':
    case 'template_literal':
      return true;
    case 'literal':
      return (def.values ?? []).every((v) => typeof v === 'string');
    case 'union':
      return (def.options ?? []).every((o) => takesText(o as SchemaNode));
    default:
      return false;
  }
}

/** `exporters.elasticsearch.urls[1]`: dots between keys, brackets around list indexes. */
export function formatPath(path: KeyPath): string {
  let out = '';
  for (const segment of path) out += typeof segment === 'number' ? `[${segment}]` : out ? `.${segment}` : segment;
  return out;
}

/** The inverse of formatPath. */
export function parsePath(text: string): (string | number)[] {
  const out: (string | number)[] = [];
  for (const match of text.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) out.push(match[2] !== undefined ? Number(match[2]) : match[1]!);
  return out;
}
