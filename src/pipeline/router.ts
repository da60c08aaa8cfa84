import type { AgentRecord } from '../records.js';
import type { ExporterRunner } from './exporter-runner.js';

/** Fans records out to every exporter that accepts their kind. */
export class Router {
  constructor(private readonly runners: readonly ExporterRunner[]) {}

  async emit(records: readonly AgentRecord[]): Promise<void> {
    if (records.length === 0) return;
    // Collectors emit batches of one kind: one look at the batch then serves every exporter.
    const kind = records[0]!.kind;
    const uniform = records.every((r) => r.kind === kind);
    const pushes: Promise<void>[] = [];
    for (const runner of this.runners) {
      const accepted = uniform ? (runner.exporter.accepts.has(kind) ? records : []) : records.filter((r) => runner.accepts(r));
      if (accepted.length > 0) pushes.push(runner.enqueue(accepted));
    }
    await Promise.all(pushes);
  }
}
