/**
 * Builds the effective config from, later winning: built-in defaults → YAML file
 * (--config / DOCKHAND_CONFIG) → environment variables → CLI flags. Every problem names the key
 * path, the value and what was expected, and where the value came from when it was not the file.
 */
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../src/errors.js';
import { exporterFactories } from '../exporters/index.js';
import { configSchema, type Config } from './schema.js';

export interface ConfigFlags {
  readonly config?: string | undefined;
  readonly listen?: string | undefined;
  readonly dataDir?: string | undefined;
  readonly debug?: boolean | undefined;
}

type Tree = Record<string, unknown>;

interface Layer {
  readonly values: Tree;
  /** key path → where it came from, e.g. "env DOCKER_HOST". */
  readonly sources: Map<string, string>;
}

/** Environment variables the agent reads, and the key each sets. */
const ENV_KEYS: readonly { env: string; key: string; parse?: (v: string) => unknown }[] = [
  { env: 'DOCKHAND_LISTEN', key: 'listen' },
  { env: 'DOCKHAND_DATA_DIR', key: 'data_dir' },
  { env: 'DOCKHAND_LOG_LEVEL', key: 'log.level' },
  { env: 'DOCKHAND_LOG_FORMAT', key: 'log.format' },
  { env: 'DOCKER_HOST', key: 'docker.host' },
  { env: 'DOCKER_TLS_VERIFY', key: 'docker.tls_verify', parse: (v) => v !== '' && v !== '0' && v.toLowerCase() !== 'false' },
  { env: 'DOCKER_CERT_PATH', key: 'docker.cert_path' },
  { env: 'DOCKER_CONTEXT', key: 'docker.context' },
  { env: 'DOCKER_CONFIG', key: 'docker.config_dir' },
];

export function loadConfig(flags: ConfigFlags, env: NodeJS.ProcessEnv): Config {
  const file = flags.config ?? env.DOCKHAND_CONFIG;
  const layers: Layer[] = [];
  if (file) layers.push(fileLayer(file));
  layers.push(envLayer(env));
  layers.push(flagLayer(flags));
  const merged: Tree = {};
  const sources = new Map<string, string>();
  for (const layer of layers) {
    deepMerge(merged, layer.values);
    for (const [key, source] of layer.sources) sources.set(key, source);
  }
  const result = configSchema.safeParse(merged);
  if (!result.success) throw new ConfigError(result.error.issues.map((issue) => describeIssue(issue, merged, sources, file)));
  return result.data;
}

function fileLayer(file: string): Layer {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError([`config: cannot read the config file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`]);
  }
  let values: unknown;
  try {
    values = YAML.parse(text, { uniqueKeys: true }) ?? {};
  } catch (error) {
    throw new ConfigError([`config: ${file} is not valid YAML: ${(error as Error).message.split('\n')[0]}`]);
  }
  if (typeof values !== 'object' || Array.isArray(values)) throw new ConfigError([`config: ${file} must hold a mapping of keys, got ${Array.isArray(values) ? 'a list' : typeof values}`]);
  return { values: values as Tree, sources: new Map() };
}

function envLayer(env: NodeJS.ProcessEnv): Layer {
  const values: Tree = {};
  const sources = new Map<string, string>();
  for (const { env: name, key, parse } of ENV_KEYS) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    setPath(values, key, parse ? parse(raw) : raw);
    sources.set(key, `env ${name}`);
  }
  for (const factory of exporterFactories) {
    const section = factory.fromEnv?.(env);
    if (!section) continue;
    setPath(values, `exporters.${factory.type}`, section);
    for (const key of Object.keys(section)) sources.set(`exporters.${factory.type}.${key}`, 'environment');
  }
  return { values, sources };
}

function flagLayer(flags: ConfigFlags): Layer {
  const values: Tree = {};
  const sources = new Map<string, string>();
  const set = (key: string, value: unknown, flag: string) => {
    setPath(values, key, value);
    sources.set(key, `flag ${flag}`);
  };
  if (flags.listen !== undefined) set('listen', flags.listen, '--listen');
  if (flags.dataDir !== undefined) set('data_dir', flags.dataDir, '--data-dir');
  if (flags.debug) set('log.level', 'debug', '--debug');
  return { values, sources };
}

function describeIssue(issue: z.core.$ZodIssue, merged: Tree, sources: Map<string, string>, file: string | undefined): string {
  const keyPath = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.map((k) => (keyPath ? `${keyPath}.${k}` : k));
    return `${keys.join(', ')}: unknown key${keys.length > 1 ? 's' : ''}${file ? ` in ${file}` : ''} (allowed here: ${allowedKeys(issue.path).join(', ')})`;
  }
  // The message reaches stderr and logs: a secret that failed validation is not repeated there.
  const value = issue.path.some((segment) => SECRET_KEY.test(String(segment))) ? MASK : maskSecrets(getPath(merged, keyPath));
  const source = sources.get(keyPath);
  return `${keyPath || '(root)'}: ${issue.message}; got ${JSON.stringify(value)}${source ? ` (from ${source})` : ''}`;
}

/** The keys the schema allows at a path, for "unknown key" messages. */
function allowedKeys(path: readonly PropertyKey[]): string[] {
  let schema: unknown = configSchema;
  for (const segment of path) schema = shapeOf(schema)?.[String(segment)];
  return Object.keys(shapeOf(schema) ?? {});
}

function shapeOf(schema: unknown): Record<string, unknown> | undefined {
  let current = schema as { def?: { type?: string; innerType?: unknown; in?: unknown; shape?: Record<string, unknown> } } | undefined;
  for (let i = 0; i < 8 && current?.def; i++) {
    if (current.def.shape) return current.def.shape;
    current = (current.def.innerType ?? current.def.in) as typeof current;
  }
  return undefined;
}

function deepMerge(target: Tree, source: Tree): void {
  for (const [key, value] of Object.entries(source)) {
    const existing = target[key];
    if (isTree(existing) && isTree(value)) deepMerge(existing, value);
    else target[key] = isTree(value) ? structuredClone(value) : value;
  }
}

function isTree(value: unknown): value is Tree {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function setPath(tree: Tree, path: string, value: unknown): void {
  const parts = path.split('.');
  let node = tree;
  for (const part of parts.slice(0, -1)) {
    if (!isTree(node[part])) node[part] = {};
    node = node[part] as Tree;
  }
  node[parts[parts.length - 1]!] = value;
}

function getPath(tree: Tree, path: string): unknown {
  if (!path) return tree;
  let node: unknown = tree;
  for (const part of path.split('.')) {
    if (!isTree(node)) return undefined;
    node = node[part];
  }
  return node;
}

const SECRET_KEY = /(password|secret|token|api_key|apikey|authorization)$/i;
const MASK = '********';
/** The password of a URL's user info: `scheme://user:password@host`. */
const URL_PASSWORD = /^([a-z][a-z0-9+.-]*:\/\/[^/?#@:]*):[^/?#@]*@/i;

/** A copy of the config with every secret value replaced (and URL passwords), for --check-config, /status and config errors. */
export function maskSecrets<T>(value: T): T {
  if (typeof value === 'string') return value.replace(URL_PASSWORD, `$1:${MASK}@`) as T;
  if (Array.isArray(value)) return value.map((v) => maskSecrets(v)) as T;
  if (!isTree(value)) return value;
  const out: Tree = {};
  for (const [key, v] of Object.entries(value)) out[key] = SECRET_KEY.test(key) && v !== undefined && v !== null && v !== '' ? MASK : maskSecrets(v);
  return out as T;
}
