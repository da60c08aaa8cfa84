/**
 * The Node.js (V8) flags the agent runs with, one list for every way it is started: the image sets
 * them in NODE_OPTIONS (Dockerfile), `npm start` passes them, and the tests and benchmarks that spawn
 * the agent use this list (test/unit/deploy-dockerfile.test.ts holds the first two to it).
 *
 * --max-semi-space-size=16 (MiB; the young generation's two semi-spaces, held at Node 20's 64-bit
 * default so another Node.js does not change it under the agent): records wait in the lanes and in
 * flight for tens of milliseconds, so every young collection copies them, and each pause of a few ms
 * stalls the followed log streams (dockerd waits on the full socket). At 4 a 300,000-line live run into
 * Elasticsearch took 114-122 collections, 400-670 ms of pauses (63-82 over 2 ms); at 16, 38-49 and
 * 150-320 ms: 10 % less CPU per line and the stream kept up better (0.92 vs 0.87 of the raw
 * follower's rate, mean of 5 interleaved runs each), peak RSS 118-130 MiB (4: 119-156). An earlier
 * measurement that kept 4 (an agent among 100 containers at 121 MiB) no longer holds since the
 * glibc mmap threshold below: 84 MiB at 16.
 */
export const AGENT_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=16'];

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
