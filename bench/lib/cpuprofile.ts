/**
 * Where a process spent its CPU, from a V8 .cpuprofile (node --cpu-prof): self time by area of the
 * code (dockhand's own folders, each npm package, Node's internals, GC) and by function.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly hitCount?: number;
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface ProfileEntry {
  readonly name: string;
  readonly seconds: number;
  /** Share of the busy (non-idle) time. */
  readonly share: number;
}

export interface ProfileSummary {
  readonly wallSeconds: number;
  readonly busySeconds: number;
  readonly areas: readonly ProfileEntry[];
  readonly functions: readonly ProfileEntry[];
}

const SPECIAL = new Set(['(idle)', '(program)', '(garbage collector)', '(root)']);

/** The part of the code a frame belongs to. */
export function areaOf(url: string, functionName: string): string {
  if (SPECIAL.has(functionName)) return functionName;
  if (!url) return '(native / V8 builtins)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pkg) return `npm: ${pkg[1]}`;
  if (url.startsWith('node:')) {
    const mod = url.slice('node:'.length).replace(/^internal\//, '');
    const top = mod.split('/')[0]!;
    return `node: ${top === 'streams' || top === 'stream' ? 'streams' : top}`;
  }
  const own = /\/dist\/((?:collectors|exporters)\/[^/]+|src\/[^/]+|config)/.exec(url);
  if (own) return `dockhand: ${own[1]!.replace(/\.js$/, '')}`;
  return url.replace(/^file:\/\//, '');
}

function shortUrl(url: string): string {
  if (!url) return '';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+\/.*)$/.exec(url);
  if (pkg) return pkg[1]!;
  const own = /\/dist\/(.*)$/.exec(url);
  if (own) return own[1]!;
  return url.replace(/^file:\/\//, '');
}

/**
 * `window` (seconds on the monotonic clock, as bench/lib/time.ts `now()` and V8's profile timestamps
 * both read it on Linux) keeps only the samples taken within it, e.g. the burst of a live run.
 */
export function summarizeProfile(file: string, top = 15, window?: { readonly from: number; readonly to: number }): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfMicros = new Map<number, number>();
  // timeDeltas[i] is the time elapsed before sample i: charge it to that sample's node.
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    const delta = Math.max(0, profile.timeDeltas[i] ?? 0);
    at += delta;
    if (window && (at < window.from * 1e6 || at > window.to * 1e6)) continue;
    selfMicros.set(id, (selfMicros.get(id) ?? 0) + delta);
  }
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  // Builtins and native code (JSON.stringify, Buffer ops, the HTTP parser) have no URL: charge them to
  // the JavaScript function that called them, which says far more about where the time goes.
  const jsCaller = (id: number): ProfileNode | undefined => {
    for (let at = parent.get(id); at !== undefined; at = parent.get(at)) {
      const node = byId.get(at);
      if (node?.callFrame.url) return node;
    }
    return undefined;
  };
  const areas = new Map<string, number>();
  const functions = new Map<string, number>();
  let idle = 0;
  let total = 0;
  for (const [id, micros] of selfMicros) {
    const node = byId.get(id);
    if (!node) continue;
    const { functionName } = node.callFrame;
    total += micros;
    if (functionName === '(idle)') {
      idle += micros;
      continue;
    }
    const owner = SPECIAL.has(functionName) || node.callFrame.url ? node : (jsCaller(id) ?? node);
    const { url, lineNumber } = owner.callFrame;
    const area = areaOf(url, owner.callFrame.functionName);
    areas.set(area, (areas.get(area) ?? 0) + micros);
    const name = `${owner.callFrame.functionName || '(anonymous)'}${url ? ` ${shortUrl(url)}:${lineNumber + 1}` : ''}`;
    functions.set(name, (functions.get(name) ?? 0) + micros);
  }
  const busy = total - idle;
  const rank = (m: Map<string, number>, n: number) => [...m.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, micros]) => ({ name, seconds: micros / 1e6, share: busy > 0 ? micros / busy : 0 }));
  const wall = window ? Math.min(profile.endTime / 1e6, window.to) - Math.max(profile.startTime / 1e6, window.from) : (profile.endTime - profile.startTime) / 1e6;
  return { wallSeconds: wall, busySeconds: busy / 1e6, areas: rank(areas, top), functions: rank(functions, top) };
}
