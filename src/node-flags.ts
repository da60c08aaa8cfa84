/**
 * The Node.js (V8) flags the agent runs with, one list for every way it is started: the image sets
 * them in NODE_OPTIONS (Dockerfile), `npm start` passes them, and the tests and benchmarks that spawn
 * the agent use this list (test/unit/deploy-dockerfile.test.ts holds the first two to it).
 *
 * --max-semi-space-size=4 (MiB; V8's default on 64-bit is 16): the young generation is two semi-spaces,
 * and once a burst has grown them to their largest, their pages stay resident. At 4 the agent keeps
 * ~24 MiB less of them (idle and under load), for a few more scavenges that each copy the same live
 * objects: no measurable CPU cost per line (bench/REPORT.md, issue 10's closing note).
 */
export const AGENT_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4'];

/**
 * The environment the agent runs with, set the same ways (Dockerfile ENV, `npm start`, the bin's
 * shebang, the tests' and benchmarks' spawns).
 *
 * MALLOC_ARENA_MAX=2: glibc gives each thread that mallocs (V8's GC helpers, libuv's pool) an arena
 * of its own, and their pages stay resident; two arenas kept the idle agent ~4 MiB smaller (76.6–76.9
 * vs 80.6–80.8 MiB, Elasticsearch configured, interleaved runs) for a process whose allocations are
 * almost all on the main thread's V8 heap.
 */
export const AGENT_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };

/** AGENT_ENV as `NAME=value …`, for a shell command line or `env -S`. */
export function agentEnvAssignments(): string {
  return Object.entries(AGENT_ENV).map(([name, value]) => `${name}=${value}`).join(' ');
}
