/**
 * Plans as busybox shell scripts. A container mounts its plan folder at /plan; its command counts
 * its runs in a file of its own writable layer (kept across `docker start`, restart policies and
 * daemon restarts) and runs /plan/run<n>.sh, or exits 0 when the plan has no such run (a daemon
 * restart can start a container once more than planned).
 */
import type { RunPlan, Step } from './scenario.js';

export const PLAN_MOUNT = '/plan';
const RUN_COUNTER = '/tmp/chaos-run';

export function entryCommand(): string[] {
  return ['sh', '-c', `n=$(( $(cat ${RUN_COUNTER} 2>/dev/null || echo 0) + 1 )); echo $n > ${RUN_COUNTER}; [ -f ${PLAN_MOUNT}/run$n.sh ] || exit 0; exec sh ${PLAN_MOUNT}/run$n.sh`];
}

export function runScriptName(run: number): string {
  return `run${run}.sh`;
}

export const GATE_FILE = 'go';

/** The script of one run; `gatePath` is where the gate file appears (inside the container: /plan/go). */
export function renderRun(run: RunPlan, gatePath = `${PLAN_MOUNT}/${GATE_FILE}`): string {
  const lines = ['#!/bin/sh'];
  for (const step of run.steps) lines.push(renderStep(step, gatePath));
  lines.push(`exit ${run.exitCode}`);
  return `${lines.join('\n')}\n`;
}

function renderStep(step: Step, gatePath: string): string {
  switch (step.kind) {
    case 'write':
      return `printf '%s' ${quote(step.text)}${redirect(step.stream)}`;
    case 'fill': {
      const to = redirect(step.stream);
      return `printf '%s' ${quote(step.prefix)}${to}; head -c ${step.count} /dev/zero | tr '\\000' ${quote(step.char)}${to}; printf '%s' ${quote(step.suffix)}${to}`;
    }
    case 'pause':
      return `usleep ${step.ms * 1000}`;
    case 'gate':
      return `while [ ! -f ${gatePath} ]; do usleep 20000; done`;
  }
}

function redirect(stream: 'stdout' | 'stderr'): string {
  return stream === 'stderr' ? ' >&2' : '';
}

function quote(text: string): string {
  if (text.includes("'") || text.includes('\0')) throw new Error(`cannot quote ${JSON.stringify(text.slice(0, 40))}`);
  return `'${text}'`;
}
