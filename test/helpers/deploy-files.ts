/**
 * For the tests of deploy/ (alerts, dashboards, compose): the repository root, the metric names the
 * project defines (found in its sources, so a renamed metric breaks the test that uses the old
 * name), the metric names a PromQL expression reads, and a PromQL syntax check through promtool.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import YAML from 'yaml';
import { SelfMetrics } from '../../src/telemetry/metrics.js';
import { PROMTOOL_BIN } from './prometheus.js';

const exec = promisify(execFile);

/** dist/test/helpers → the checkout. */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export function repoPath(...parts: string[]): string {
  return path.join(REPO_ROOT, ...parts);
}

const SOURCE_DIRS = ['src', 'collectors', 'exporters'];
const METRIC_LITERAL = /['"`]((?:container|docker|dockhand)_[a-z0-9_]*[a-z0-9])['"`]/g;

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...await sourceFiles(full));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(full);
  }
  return out;
}

/**
 * Every metric name the agent can expose: the `container_*`, `docker_*` and `dockhand_*` string
 * literals of the sources (with the series suffixes of a histogram), the process metrics the
 * agent's self-metrics registry carries, and Prometheus's own `up`.
 */
export async function knownMetricNames(): Promise<Set<string>> {
  const names = new Set<string>(['up']);
  for (const dir of SOURCE_DIRS) {
    for (const file of await sourceFiles(repoPath(dir))) {
      for (const match of (await readFile(file, 'utf8')).matchAll(METRIC_LITERAL)) {
        const name = match[1]!;
        for (const suffix of ['', '_bucket', '_sum', '_count']) names.add(name + suffix);
      }
    }
  }
  for (const metric of await new SelfMetrics().registry.getMetricsAsJSON()) {
    for (const suffix of ['', '_bucket', '_sum', '_count']) names.add(metric.name + suffix);
  }
  return names;
}

const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'inf', 'nan']);

/** The metric names a PromQL expression selects (not functions, keywords, label names or values). */
export function metricNamesInPromql(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\b\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?:ms|s|m|h|d|w|y)?\b/g, ' ');
  const names = new Set<string>();
  for (const match of stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const token = match[0];
    const after = stripped.slice(match.index! + token.length);
    if (/^\s*\(/.test(after) || KEYWORDS.has(token.toLowerCase()) || token.startsWith('$')) continue;
    names.add(token);
  }
  return [...names];
}

/** Grafana's interval variables, replaced by durations so that promtool can parse the expression. */
export function withGrafanaIntervals(expr: string): string {
  return expr.replace(/\$__rate_interval|\$__interval|\$__range/g, '5m');
}

/**
 * Parses each expression with promtool (as recording rules): resolves when all parse, throws with
 * promtool's message naming the bad one otherwise.
 */
export async function checkPromqlSyntax(exprs: readonly string[]): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dockhand-promql-'));
  try {
    const rules = { groups: [{ name: 'syntax', rules: exprs.map((expr, i) => ({ record: `dockhand_syntax_check_${i}`, expr })) }] };
    const file = path.join(dir, 'rules.yml');
    await writeFile(file, YAML.stringify(rules));
    try {
      await exec(PROMTOOL_BIN, ['check', 'rules', file]);
    } catch (error) {
      const e = error as { stdout?: string; stderr?: string };
      throw new Error(`promtool rejected an expression:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface ToolResult {
  readonly code: number;
  readonly output: string;
}

/** Runs a tool and returns its exit code and combined output instead of throwing. */
export async function runTool(command: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<ToolResult> {
  try {
    const { stdout, stderr } = await exec(command, args, { cwd: options.cwd, env: { ...process.env, ...options.env }, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const e = error as { code?: number | string; stdout?: string; stderr?: string; message: string };
    return { code: typeof e.code === 'number' ? e.code : 127, output: `${e.stdout ?? ''}${e.stderr ?? ''}${typeof e.code === 'number' ? '' : e.message}` };
  }
}
