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
