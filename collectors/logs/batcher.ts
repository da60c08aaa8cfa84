/**
 * One container's records on their way out: made into batches, each batch sealed with the resume
 * point valid once it (and everything before it) is stored, handed to the pipeline one batch after
 * the other (awaiting room: backpressure), and its acknowledgement tracked (AckTracker) so the
 * checkpoint only ever moves over stored lines.
 */
import { errorMessage } from '../../src/errors.js';
import { LineRecord, type ContainerMeta, type LogRecord } from '../../src/records.js';
import type { Logger } from '../../src/telemetry/logger.js';
import { AckTracker, type ResumePoint, type StreamPosition } from './checkpoints.js';
import { parseJsonObject } from './json.js';
import { STREAM_NAMES, type StreamIndex } from './lines.js';

type Batch = ReturnType<AckTracker['open']>;

export interface BatchOutput {
  /** Resolves once the records are queued for every exporter that takes them. */
  emit(records: readonly LogRecord[]): Promise<void>;
  /** The container's metadata now (a rename shows from the next batch on). */
  meta(): ContainerMeta;
  readonly logger: Logger;
}

export class RecordBatcher {
  private records: LogRecord[] = [];
  private batch: Batch | undefined;
  private batchLastTime: bigint | undefined;
  private meta: ContainerMeta;
  /** Per stream, the head of the record id `<container id>:<stream>:<time ns>:<index among the stream's lines at that time>`. */
  private readonly idHead: readonly [string, string];
  /** Per stream, the last line handed on in a record (time, index + 1): the checkpoint's positions. */
  private readonly handedTime: [bigint | undefined, bigint | undefined];
  private readonly handedCount: [number, number];
  private chain: Promise<void> = Promise.resolve();
  /** Batches sealed but not yet queued in the pipeline. */
  inFlight = 0;
  /** Parse JSON-object lines into the record's json field. */
  json = false;

  constructor(id: string, start: ResumePoint, readonly tracker: AckTracker, private readonly output: BatchOutput) {
    this.meta = output.meta();
    this.idHead = [`${id}:stdout:`, `${id}:stderr:`];
    this.handedTime = [start.streams[0]?.time, start.streams[1]?.time];
    this.handedCount = [start.streams[0]?.count ?? 0, start.streams[1]?.count ?? 0];
  }

  get name(): string {
    return this.meta.name;
  }

  /** Records waiting in the open batch. */
  get size(): number {
    return this.records.length;
  }

  /** The hot path, once per record. */
  add(stream: StreamIndex, time: bigint, index: number, lastTime: bigint, lastIndex: number, message: string, truncated: boolean): void {
    if (!this.batch) {
      this.batch = this.tracker.open();
      this.meta = this.output.meta();
    }
    const record = new LineRecord(this.idHead[stream], time, index, STREAM_NAMES[stream], message, this.meta, this.batch.ack);
    if (truncated) record.truncated = true;
    if (this.json) {
      const json = parseJsonObject(message);
      if (json) record.json = json;
    }
    this.records.push(record);
    this.handedTime[stream] = lastTime;
    this.handedCount[stream] = lastIndex + 1;
    if (this.batchLastTime === undefined || lastTime > this.batchLastTime) this.batchLastTime = lastTime;
  }

  /** The last line of `stream` handed on in a record. */
  position(stream: StreamIndex): StreamPosition | undefined {
    const time = this.handedTime[stream];
    return time === undefined ? undefined : { time, count: this.handedCount[stream] };
  }

  /** Closes the open batch (if any) with the point valid once it is stored, and queues it behind earlier ones. */
  seal(point: ResumePoint): void {
    const batch = this.batch;
    if (!batch) return;
    this.tracker.seal(batch, point, this.batchLastTime);
    const records = this.records;
    this.records = [];
    this.batch = undefined;
    this.batchLastTime = undefined;
    this.inFlight++;
    this.chain = this.chain.then(() => this.deliver(records, batch));
  }

  /** Resolves once every batch sealed so far has been handed to the pipeline. */
  emitted(): Promise<void> {
    return this.chain;
  }

  /** Resolves once every batch sealed so far is stored. */
  idle(): Promise<void> {
    return this.chain.then(() => this.tracker.idle());
  }

  private async deliver(records: LogRecord[], batch: Batch): Promise<void> {
    try {
      await this.output.emit(records);
    } catch (error) {
      this.inFlight--;
      // Never release a batch that was not queued: its checkpoint must not move (the lines come again next start).
      this.output.logger.error({ container: this.meta.name, err: errorMessage(error) }, 'emitting log records failed');
      return;
    }
    this.inFlight--;
    batch.ack.release();
  }
}
