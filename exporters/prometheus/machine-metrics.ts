/**
 * cAdvisor's machine_cpu_cores and machine_memory_bytes (metrics/prometheus_machine.go), with its
 * labels boot_id, machine_id and system_uuid, from the MachineSample the stats collector attaches
 * to its records: the host the containers run on. No container sampled, no machine series.
 */
import type { Registry } from 'prom-client';
import type { MachineSample } from '../../src/records.js';
import { ComputedMetric } from './computed-metric.js';
import type { LabelSet } from './exposition.js';

export const MACHINE_METRIC_NAMES = ['machine_cpu_cores', 'machine_memory_bytes'] as const;

const labelSets = new WeakMap<MachineSample, LabelSet>();

/** In the order cAdvisor's exposition shows them (sorted by name). */
function machineLabels(machine: MachineSample): LabelSet {
  let labels = labelSets.get(machine);
  if (!labels) {
    labels = Object.freeze({ boot_id: machine.bootId, machine_id: machine.machineId, system_uuid: machine.systemUuid });
    labelSets.set(machine, labels);
  }
  return labels;
}

export function registerMachineMetrics(registry: Registry, machine: () => MachineSample | undefined): ComputedMetric[] {
  const family = (name: string, help: string, value: (m: MachineSample) => number) =>
    new ComputedMetric(name, help, 'gauge', {
      items: () => {
        const current = machine();
        return current ? [current] : [];
      },
      series: (machines: readonly MachineSample[], write) => {
        for (const m of machines) write(machineLabels(m), value(m));
      },
    }).register(registry);
  return [
    family('machine_cpu_cores', 'Number of logical CPU cores.', (m) => m.cpuCores),
    family('machine_memory_bytes', 'Amount of memory installed on the machine.', (m) => m.memoryBytes),
  ];
}
