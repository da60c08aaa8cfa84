/**
 * Builds the effective config from, later winning:
 *   built-in defaults
 *   → the YAML file (--config / DOCKHAND_CONFIG), `${VAR}` references in its values substituted
 *   → the named environment variables (DOCKER_HOST, DOCKHAND_LISTEN, ELASTICSEARCH_URL, …)
 *   → one variable per key: DOCKHAND_<PATH>, `__` between levels (DOCKHAND_DOCKER__REQUEST_TIMEOUT_MS)
 *   → CLI flags.
 * Every problem names the key path (list items by index), the value, what was expected and where
 * the value came from: file:line:col, the variable, the flag. A null (an empty section, a key with
 * everything commented out) means the defaults.
 */
import { readFileSync } from 'node:fs';
import YAML, { type Document as YamlDocument, type LineCounter, type Node as YamlNode, type Scalar } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../src/errors.js';
import { MASK, maskUrlSecrets } from '../src/util/mask-url.js';
import { exporterFactories } from '../exporters/index.js';
import { configSchema, type Config } from './schema.js';
import { InterpolationError, hasReference, interpolate, yamlFlowAsText, yamlScalar } from './interpolate.js';
import { formatPath, keyPathsUnder, parsePath, schemaAt, sectionKeys, takesText, type KeyPath } from './schema-paths.js';
import { closestKey } from './suggest.js';

export interface ConfigFlags {
  readonly config?: string | undefined;
  readonly listen?: string | undefined;
  readonly dataDir?: string | undefined;
  readonly debug?: boolean | undefined;
}

export interface LoadedConfig {
  readonly config: Config;
  /** Adds where the value came from to problems found after the schema (building the agent): "docker.host: … (from env DOCKER_HOST)". */
  explain(error: ConfigError): ConfigError;
}

type Tree = Record<string, unknown>;

interface Layer {
  readonly values: Tree;
  /** key path (formatPath) → where it came from, e.g. "env DOCKER_HOST". */
  readonly sources: Map<string, string>;
  /** Values that could not be read (an unset ${VAR}, a bad DOCKHAND_ variable): left out, reported with the schema's problems. */
  readonly problems?: readonly string[];
}

/** The variables that set one key each, kept from before the DOCKHAND_<PATH> rule (the docker CLI's among them). */
export const NAMED_ENV: readonly { env: string; key: string; parse?: (v: string) => unknown }[] = [
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

export const ENV_PREFIX = 'DOCKHAND_';

/** The DOCKHAND_<PATH> variable of a key: `exporters.elasticsearch.batch.max_records` → DOCKHAND_EXPORTERS__ELASTICSEARCH__BATCH__MAX_RECORDS. */
export function envVariableFor(path: KeyPath): string {
  return ENV_PREFIX + path.map((segment) => String(segment).toUpperCase()).join('__');
}

export function loadConfig(flags: ConfigFlags, env: NodeJS.ProcessEnv): Config {
  return loadEffectiveConfig(flags, env).config;
}

export function loadEffectiveConfig(flags: ConfigFlags, env: NodeJS.ProcessEnv): LoadedConfig {
  const path = flags.config ?? env.DOCKHAND_CONFIG;
  const sources = new Sources(path ? readConfigFile(path, env) : undefined);
  const merged: Tree = structuredClone(sources.file?.values ?? {});
  const problems = [...sources.file?.problems ?? []];
  for (const layer of [namedEnvLayer(env), pathEnvLayer(env), flagLayer(flags)]) {
    deepMerge(merged, layer.values);
    sources.add(layer.sources);
    problems.push(...layer.problems ?? []);
  }
  const result = configSchema.safeParse(merged);
  if (!result.success) {
    const unresolved = sources.file?.unresolved;
    const issues = result.error.issues.filter((issue) => !unresolved?.has(formatPath(issuePath(issue))));
    problems.push(...issues.flatMap((issue) => describeIssue(issue, merged, sources)));
  }
  if (problems.length > 0 || !result.success) throw new ConfigError(problems);
  return { config: result.data, explain: (error) => sources.explain(error) };
}

interface ConfigFile {
  readonly path: string;
  readonly values: Tree;
  /** References that could not be substituted, and the key paths they left empty (not reported again by the schema). */
  readonly problems: readonly string[];
  readonly unresolved: ReadonlySet<string>;
  readonly doc: YamlDocument;
  readonly lines: LineCounter;
  /** key path → the variables its value was substituted from. */
  readonly substituted: Map<string, readonly string[]>;
}

function readConfigFile(path: string, env: NodeJS.ProcessEnv): ConfigFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError([`config: cannot read the config file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`]);
  }
  const lines = new YAML.LineCounter();
  const doc = YAML.parseDocument(text, { uniqueKeys: true, lineCounter: lines });
  if (doc.errors.length > 0) throw new ConfigError([`config: ${path} is not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}`]);
  const file = { path, doc, lines, substituted: new Map<string, readonly string[]>(), unresolved: new Set<string>() };
  const problems = substituteReferences(file, env);
  const values = withoutNulls(doc.toJS()) ?? {};
  if (typeof values !== 'object' || Array.isArray(values)) throw new ConfigError([`config: ${path} must hold a mapping of keys, got ${Array.isArray(values) ? 'a list' : typeof values}`]);
  return { ...file, values: values as Tree, problems };
}

/**
 * Replaces `${VAR}` references in every scalar value (never in keys). A plain (unquoted) value is
 * typed after the substitution: `${PORT}` with PORT=9200 is the number 9200 where the key takes a
 * number; a quoted one, or a key that takes text, stays text.
 */
function substituteReferences(file: Omit<ConfigFile, 'values' | 'problems' | 'unresolved'> & { unresolved: Set<string> }, env: NodeJS.ProcessEnv): string[] {
  const problems: string[] = [];
  forEachValue(file.doc.contents, [], (node, path) => {
    if (typeof node.value !== 'string' || !hasReference(node.value)) return;
    try {
      const { text, variables } = interpolate(node.value, env);
      // Unquoted, nothing left is a null as in YAML (`key:`): the default.
      node.value = node.type !== YAML.Scalar.PLAIN ? text : text === '' ? null : typedAs(path, text);
      if (variables.length > 0) file.substituted.set(formatPath(path), variables);
    } catch (error) {
      if (!(error instanceof InterpolationError)) throw error;
      problems.push(`${formatPath(path)}: ${error.message} (in ${position(file, node)})`);
      node.value = null;
      file.unresolved.add(formatPath(path));
    }
  });
  return problems;
}

function forEachValue(node: unknown, path: (string | number)[], visit: (scalar: Scalar, path: KeyPath) => void): void {
  if (YAML.isMap(node)) {
    for (const pair of node.items) forEachValue(pair.value, [...path, keyName(pair.key)], visit);
  } else if (YAML.isSeq(node)) {
    node.items.forEach((item, index) => forEachValue(item, [...path, index], visit));
  } else if (YAML.isScalar(node)) {
    visit(node, path);
  }
}

function keyName(key: unknown): string {
  return String(YAML.isScalar(key) ? key.value : key);
}

function position(file: Pick<ConfigFile, 'path' | 'lines'>, node: YamlNode): string {
  const { line, col } = file.lines.linePos(node.range?.[0] ?? 0);
  return `${file.path}:${line}:${col}`;
}

/** The file's node at `path` (the value, or the key when the value is empty), if the file sets it. */
function locate(file: ConfigFile, path: KeyPath): YamlNode | undefined {
  let node: unknown = file.doc.contents;
  for (const segment of path) {
    if (YAML.isMap(node)) {
      const pair = node.items.find((p) => keyName(p.key) === String(segment));
      node = pair && (YAML.isNode(pair.value) && pair.value.range ? pair.value : pair.key);
    } else if (YAML.isSeq(node) && typeof segment === 'number') {
      node = node.items[segment];
    } else {
      return undefined;
    }
  }
  return YAML.isNode(node) ? node : undefined;
}

/** A value from the environment or a substitution, typed as the key wants: a key that takes text gets the text as written. */
function typedAs(path: KeyPath, text: string): unknown {
  return takesText(schemaAt(path)) ? text : yamlScalar(text);
}

function typedTree(value: unknown, path: KeyPath): unknown {
  if (typeof value === 'string') return typedAs(path, value);
  if (Array.isArray(value)) return value.map((item, index) => typedTree(item, [...path, index]));
  if (isTree(value)) return Object.fromEntries(Object.entries(value).map(([key, v]) => [key, typedTree(v, [...path, key])]));
  return value;
}

function namedEnvLayer(env: NodeJS.ProcessEnv): Layer {
  const values: Tree = {};
  const sources = new Map<string, string>();
  for (const { env: name, key, parse } of NAMED_ENV) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    setPath(values, parsePath(key), parse ? parse(raw) : raw);
    sources.set(key, `env ${name}`);
  }
  for (const factory of exporterFactories) {
    const section = factory.fromEnv?.(env);
    if (!section) continue;
    setPath(values, ['exporters', factory.type], section);
    for (const [name, keys] of keysSetByEachVariable(factory.fromEnv!, env)) {
      for (const key of keys) sources.set(formatPath(['exporters', factory.type, key]), `env ${name}`);
    }
  }
  return { values, sources };
}

/** Which variable sets which keys of a section (ELASTICSEARCH_URL → urls, enabled): each variable the mapping reads, alone. */
function keysSetByEachVariable(fromEnv: (env: NodeJS.ProcessEnv) => Record<string, unknown> | undefined, env: NodeJS.ProcessEnv): Map<string, string[]> {
  const read = new Set<string>();
  fromEnv(new Proxy(env, { get: (target, name) => { if (typeof name === 'string') read.add(name); return target[name as string]; } }));
  const out = new Map<string, string[]>();
  for (const name of read) {
    if (env[name] === undefined) continue;
    out.set(name, Object.keys(fromEnv({ [name]: env[name] }) ?? {}));
  }
  return out;
}

/**
 * DOCKHAND_<PATH>=value for every key: the path upper-cased, `__` between levels. The value is
 * read as YAML where the key takes a number, a boolean or a list (`[a, b]`), as written where it
 * takes text. A name without `__` that is not a top-level key (DOCKHAND_CONFIG, DOCKHAND_TEST_*)
 * is not a key; one with `__` must name a key. Empty values are ignored, as for the named variables.
 */
function pathEnvLayer(env: NodeJS.ProcessEnv): Layer {
  const values: Tree = {};
  const sources = new Map<string, string>();
  const problems: string[] = [];
  const named = new Set(NAMED_ENV.map((e) => e.env));
  const topLevel = new Set(sectionKeys([]));
  const variables = Object.entries(env)
    .filter(([name, raw]) => name.startsWith(ENV_PREFIX) && !named.has(name) && raw !== undefined && raw !== '')
    .map(([name, raw]) => ({ name, raw: raw!, path: name.slice(ENV_PREFIX.length).toLowerCase().split('__') }))
    .filter(({ path }) => path.length > 1 || topLevel.has(path[0]!))
    // A section set whole first, so a variable for one of its keys wins over it.
    .sort((a, b) => a.path.length - b.path.length || a.name.localeCompare(b.name));
  for (const { name, raw, path } of variables) {
    if (path.includes('')) {
      problems.push(`${name}: an empty key name (a trailing __, or ____): levels are separated by exactly __`);
      continue;
    }
    try {
      const value = envValue(raw, path);
      setPath(values, path, value);
      recordSource(sources, path, value, `env ${name}`);
    } catch (error) {
      if (!(error instanceof InterpolationError)) throw error;
      problems.push(`${name}: ${error.message}`);
    }
  }
  return { values, sources, problems };
}

function envValue(raw: string, path: KeyPath): unknown {
  const schema = schemaAt(path);
  if (!takesText(schema) && /^\s*[[{]/.test(raw)) return typedTree(yamlFlowAsText(raw), path);
  return typedAs(path, raw);
}

/** The path and every key below it (a section set whole from one variable). */
function recordSource(sources: Map<string, string>, path: KeyPath, value: unknown, source: string): void {
  sources.set(formatPath(path), source);
  if (isTree(value)) for (const [key, v] of Object.entries(value)) recordSource(sources, [...path, key], v, source);
}

function flagLayer(flags: ConfigFlags): Layer {
  const values: Tree = {};
  const sources = new Map<string, string>();
  const set = (key: string, value: unknown, flag: string) => {
    setPath(values, [key], value);
    sources.set(key, `flag ${flag}`);
  };
  if (flags.listen !== undefined) set('listen', flags.listen, '--listen');
  if (flags.dataDir !== undefined) set('data_dir', flags.dataDir, '--data-dir');
  if (flags.debug) {
    setPath(values, ['log', 'level'], 'debug');
    sources.set('log.level', 'flag --debug');
  }
  return { values, sources };
}

/** Where each value of the merged config came from. */
class Sources {
  /** Set by a layer after the file: key path → "env DOCKER_HOST", "flag --listen". */
  private readonly overrides = new Map<string, string>();

  constructor(readonly file: ConfigFile | undefined) {}

  add(layer: Map<string, string>): void {
    for (const [key, source] of layer) this.overrides.set(key, source);
  }

  /** "env DOCKER_HOST", "flag --listen", "${ES_PORT} in dockhand.yaml:3:9", "dockhand.yaml:3:9", or undefined for a default. */
  describe(path: KeyPath): string | undefined {
    for (let length = path.length; length > 0; length--) {
      const source = this.overrides.get(formatPath(path.slice(0, length)));
      if (source) return source;
    }
    if (!this.file) return undefined;
    const node = locate(this.file, path);
    if (!node || path.length === 0) return undefined;
    const at = position(this.file, node);
    const variables = this.file.substituted.get(formatPath(path));
    return variables ? `${variables.map((v) => `\${${v}}`).join(', ')} in ${at}` : at;
  }

  explain(error: ConfigError): ConfigError {
    return new ConfigError(error.problems.map((problem) => {
      const key = LEADING_KEY.exec(problem)?.[1];
      const source = key && !problem.includes('(from ') ? this.describe(parsePath(key)) : undefined;
      return source ? `${problem} (from ${source})` : problem;
    }));
  }
}

/** The key path a problem starts with: "docker.host: …", "exporters.elasticsearch.urls[1]: …". */
const LEADING_KEY = /^([a-z_][a-z0-9_]*(?:\.[a-z0-9_-]+|\[\d+\])*): /i;

function issuePath(issue: z.core.$ZodIssue): KeyPath {
  return issue.path.filter((s): s is string | number => typeof s !== 'symbol');
}

function describeIssue(issue: z.core.$ZodIssue, merged: Tree, sources: Sources): string[] {
  const path = issuePath(issue);
  if (issue.code === 'unrecognized_keys') return issue.keys.map((key) => describeUnknownKey([...path, key], sources));
  const where = sources.describe(path);
  const value = getPath(merged, path);
  if (value === undefined && issue.code === 'invalid_type') return [`${formatPath(path)}: a required key is missing (expected ${issue.expected})${where ? ` (in ${where})` : ''}`];
  // The message reaches stderr and logs: a secret that failed validation is not repeated there.
  const shown = isSecretPath(path) ? MASK : maskSecrets(value);
  return [`${formatPath(path) || '(root)'}: ${issue.message}; got ${JSON.stringify(shown)}${where ? ` (from ${where})` : ''}`];
}

function describeUnknownKey(path: KeyPath, sources: Sources): string {
  const parent = path.slice(0, -1);
  const where = sources.describe(path);
  const suggestion = closestKey(String(path.at(-1)), keyPathsUnder(parent));
  const fromVariable = where?.startsWith(`env ${ENV_PREFIX}`);
  const hint = suggestion === undefined ? '' : `; did you mean ${fromVariable ? envVariableFor([...parent, ...suggestion.split('.')]) : `\`${suggestion}\``}?`;
  return `${formatPath(path)}: unknown key${where ? ` (from ${where})` : ''}${hint} (allowed here: ${sectionKeys(parent).join(', ')})`;
}

/** A null in a mapping (`docker:` with every key commented out, `host:`) means "not set": the defaults. List items are kept. */
function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map((item) => (isTree(item) ? withoutNulls(item) : item));
  if (!isTree(value)) return value === null ? undefined : value;
  const out: Tree = {};
  for (const [key, v] of Object.entries(value)) {
    if (v !== null) out[key] = withoutNulls(v);
  }
  return out;
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

function setPath(tree: Tree, path: KeyPath, value: unknown): void {
  let node = tree;
  for (const part of path.slice(0, -1)) {
    if (!isTree(node[part])) node[part] = {};
    node = node[part] as Tree;
  }
  node[path[path.length - 1]!] = value;
}

function getPath(tree: Tree, path: KeyPath): unknown {
  let node: unknown = tree;
  for (const part of path) {
    if (Array.isArray(node) && typeof part === 'number') node = node[part];
    else if (isTree(node)) node = node[part];
    else return undefined;
  }
  return node;
}

const SECRET_KEY = /(password|secret|token|api_key|apikey|authorization)$/i;
/** Maps whose every value may be a credential (the push exporters' `headers`): the names stay, the values are masked. */
const SECRET_MAP_KEY = /headers$/i;
/** A config error about a value at this path shows no value: a secret key, or anything under a `headers` map. */
function isSecretPath(path: KeyPath): boolean {
  return path.some((segment) => SECRET_KEY.test(String(segment)) || SECRET_MAP_KEY.test(String(segment)));
}

/** A copy of the config with every secret value replaced (and URL credentials), for --check-config and config errors. */
export function maskSecrets<T>(value: T): T {
  if (typeof value === 'string') return maskUrlSecrets(value) as T;
  if (Array.isArray(value)) return value.map((v) => maskSecrets(v)) as T;
  if (!isTree(value)) return value;
  const out: Tree = {};
  for (const [key, v] of Object.entries(value)) {
    if (SECRET_MAP_KEY.test(key) && isTree(v)) out[key] = Object.fromEntries(Object.keys(v).map((name) => [name, MASK]));
    else out[key] = SECRET_KEY.test(key) && v !== undefined && v !== null && v !== '' ? MASK : maskSecrets(v);
  }
  return out as T;
}
