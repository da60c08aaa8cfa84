/**
 * A reference-counted acknowledgement shared by the records of one emitted batch.
 * The creator holds one reference; the router retains one per record per accepting exporter;
 * exporters release theirs once the data is stored. `onSettled` runs exactly once, when all are gone.
 */
export class Ack {
  private holds = 1;
  private settled = false;

  constructor(private readonly onSettled: () => void) {}

  retain(count = 1): void {
    if (this.settled) throw new Error('Ack retained after it settled');
    this.holds += count;
  }

  release(count = 1): void {
    if (this.settled) return;
    this.holds -= count;
    if (this.holds <= 0) {
      this.settled = true;
      this.onSettled();
    }
  }

  get isSettled(): boolean {
    return this.settled;
  }
}

/** Calls `apply(ack, count)` once per run of consecutive records sharing one Ack, so a batch costs few calls. */
function forEachAckRun(records: readonly { readonly ack?: Ack | undefined }[], apply: (ack: Ack, count: number) => void): void {
  let current: Ack | undefined;
  let count = 0;
  for (const record of records) {
    if (record.ack === current) {
      count++;
      continue;
    }
    if (current) apply(current, count);
    current = record.ack;
    count = 1;
  }
  if (current) apply(current, count);
}

/** Releases the acks of `records` once each (one exporter's share). */
export function releaseAcks(records: readonly { readonly ack?: Ack | undefined }[]): void {
  forEachAckRun(records, (ack, count) => ack.release(count));
}

/** Retains the acks of `records` once each (one exporter's share). */
export function retainAcks(records: readonly { readonly ack?: Ack | undefined }[]): void {
  forEachAckRun(records, (ack, count) => ack.retain(count));
}
