import type { AgentRecord } from '../records.js';
import type { ExporterRunner } from './exporter-runner.js';

/** Fans records out to every exporter that accepts their kind. */
export class Router {
  constructor(private readonly runners: readonly ExporterRunner[]) {}

  emit(records: readonly AgentRecord[]): Promise<void> {
    if (records.length === 0) return Promise.resolve();
    // Collectors emit batches of one kind: one look at the batch then serves every exporter.
    const kind = records[0]!.kind;
    const uniform = records.every((r) => r.kind === kind);
    let only: Promise<void> | undefined;
    let pushes: Promise<void>[] | undefined;
    for (const runner of this.runners) {
      const accepted = uniform ? (runner.exporter.accepts.has(kind) ? records : []) : records.filter((r) => runner.accepts(r));
      if (accepted.length === 0) continue;
      const push = runner.enqueue(accepted); // never throws: a failure is its promise's
      if (only === undefined) only = push;
      else (pushes ??= [only]).push(push);
    }
    // One exporter taking the batch (the common case): its own promise, no Promise.all.
    if (pushes) return Promise.all(pushes).then(() => undefined);
    return only ?? Promise.resolve();
  }
}
