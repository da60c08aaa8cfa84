/**
 * The data every contender reads: N containers that each write M lines of exactly LINE_BYTES bytes
 * (newline included) and exit, so the lines sit finished in the daemon's json-file logs before any
 * measurement starts and every reader reads the same thing.
 */
import { BenchContainers } from '../lib/docker.js';
import { now } from '../lib/time.js';

/** Bytes per line as the container writes it, newline included. */
export const LINE_BYTES = 100;
// 8-digit sequence number + space + 90 characters + newline = 100 bytes.
const PAYLOAD = 'level=INFO msg=request_handled path=/api/v1/items status=200 took_ms=12 bench=dockhand-012';

export interface Scenario {
  readonly name: string;
  readonly containers: number;
  readonly linesPerContainer: number;
}

export interface Workload {
  readonly scenario: Scenario;
  readonly ids: readonly string[];
  readonly names: readonly string[];
  readonly lines: number;
  readonly bytes: number;
  /** How long the containers took to write everything (not a measurement of any contender). */
  readonly writeSeconds: number;
}

/** The container command: `awk` in busybox prints ~100,000 lines/s, faster than the daemon stores them. */
export function writerCommand(lines: number, startDelaySeconds = 0): string[] {
  const awk = `awk 'BEGIN{for(i=1;i<=${lines};i++) printf "%08d %s\\n", i, "${PAYLOAD}"}'`;
  return ['sh', '-c', startDelaySeconds > 0 ? `sleep ${startDelaySeconds}; ${awk}` : awk];
}

/**
 * A steady writer: `lines` lines of the same shape, pausing `pauseSeconds` after every `burst` lines
 * (busybox awk forks a `sleep`), so it writes for a while at a known pace instead of all at once.
 */
export function pacedWriterCommand(lines: number, burst: number, pauseSeconds: number): string[] {
  return ['sh', '-c', `awk 'BEGIN{for(i=1;i<=${lines};i++){printf "%08d %s\\n", i, "${PAYLOAD}"; if(i%${burst}==0){fflush(); system("sleep ${pauseSeconds}")}}}'`];
}

export function scenarioLabel(s: Scenario): string {
  return `${s.containers} × ${s.linesPerContainer.toLocaleString('en-US')} lines`;
}

/** Creates the scenario's containers, runs them to completion, and checks that each exited 0. */
export async function prepareWorkload(containers: BenchContainers, scenario: Scenario, extraLabels: Record<string, string> = {}): Promise<Workload> {
  if (PAYLOAD.length + 10 !== LINE_BYTES) throw new Error(`line size drifted: ${PAYLOAD.length + 10}`);
  const ids: string[] = [];
  const names: string[] = [];
  for (let i = 0; i < scenario.containers; i++) {
    const name = `${scenario.name}-${i}`;
    ids.push(await containers.create(name, writerCommand(scenario.linesPerContainer), { 'dockhand.bench.scenario': scenario.name, ...extraLabels }));
    names.push(`dh-bench-${name}-${containers.run}`);
  }
  const start = now();
  await containers.startAll(ids);
  const codes = await containers.waitAll(ids);
  const writeSeconds = now() - start;
  if (codes.some((c) => c !== 0)) throw new Error(`a bench container exited with ${codes.join(',')}`);
  const lines = scenario.containers * scenario.linesPerContainer;
  return { scenario, ids, names, lines, bytes: lines * LINE_BYTES, writeSeconds };
}
