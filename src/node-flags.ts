/**
 * The Node.js (V8) flags the agent runs with, one list for every way it is started: the image sets
 * them in NODE_OPTIONS (Dockerfile), `npm start` passes them, and the tests and benchmarks that spawn
 * the agent use this list (test/unit/deploy-dockerfile.test.ts holds the first two to it).
 *
 * --max-semi-space-size=4 (MiB; V8's default on 64-bit is 16): the young generation is two semi-spaces,
 * and once a burst has grown them to their largest, their pages stay resident. At 16 an agent started
 * among 100 containers held 121 MiB (83–85 at 4, issue 10's goal 120); the price of 4 is CPU: ~3x the
 * scavenges in a burst (~180 vs ~54 per 300,000 lines), each copying the records waiting in the lanes,
 * 11–17 % more CPU per line (interleaved runs, issue 10's closing note); 8 gave no gain.
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
 *
 * MALLOC_MMAP_THRESHOLD_=131072: glibc's starting threshold, held there. By default glibc raises it
 * to the size of each large block freed (up to 32 MiB), so after the first bulk bodies and batch
 * buffers (~0.2–1.5 MB) are freed, later ones come from the arena, whose pages stay resident. Held at
 * 128 KiB they are mapped and unmapped: the 300,000-line burst into Elasticsearch peaked at 121–151
 * (mean 132) MiB instead of 155–162 (158), into a file 145–147 instead of 154–175, for ~0–5 % more
 * CPU per line (interleaved runs, issue 10's closing note).
 */
export const AGENT_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072' };

/** AGENT_ENV as `NAME=value …`, for a shell command line or `env -S`. */
export function agentEnvAssignments(): string {
  return Object.entries(AGENT_ENV).map(([name, value]) => `${name}=${value}`).join(' ');
}
