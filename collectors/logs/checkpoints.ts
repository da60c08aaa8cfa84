/**
 * Where each container's log was read up to, and saving it only once the exporters hold the lines.
 *
 * A position is kept per stream: `{time_ns, count_at_time}` = the last delivered line of that
 * stream and how many of its lines carry exactly that timestamp (the API's `since` is inclusive).
 * Per stream because the daemon's stdout and stderr copiers stamp lines before taking the log
 * file's lock: in file order the timestamps of the two streams interleave non-monotonically
 * (measured here: ~1 inversion in 600 lines, up to 8 ms back), while each stream on its own is
 * monotonic. `since_ns` is where the next read starts: at most the first line not yet delivered,
 * computed with a reorder window (see `LogCursor.snapshot`).
 */
import { Ack } from '../../src/pipeline/ack.js';
import type { StateStore } from '../../src/state/store.js';
import type { Logger } from '../../src/telemetry/logger.js';
import { errorMessage } from '../../src/errors.js';

export interface StreamPosition {
  readonly time: bigint;
  readonly count: number;
}

export type StreamPositions = readonly [StreamPosition | undefined, StreamPosition | undefined];

export interface ResumePoint {
  readonly since: bigint;
  readonly streams: StreamPositions;
}

export const START: ResumePoint = { since: 0n, streams: [undefined, undefined] };

/** True when line `index` (0-based, per stream) at `time` was already delivered according to `position`. */
export function alreadyDelivered(position: StreamPosition | undefined, time: bigint, index: number): boolean {
  if (!position) return false;
  return time < position.time || (time === position.time && index < position.count);
}

interface PendingBatch {
  readonly ack: Ack;
  point: ResumePoint | undefined;
  lastTime: bigint | undefined;
  settled: boolean;
}

/**
 * Orders one container's batches: each carries the resume point valid once it and every earlier
 * batch are stored. Batches may settle out of order (several exporters); the committed point moves
 * to the newest batch of the settled prefix.
 */
export class AckTracker {
  private readonly queue: PendingBatch[] = [];
  committed: ResumePoint;
  /** Timestamp of the newest line in a committed batch. */
  lastAckedTime: bigint | undefined;
  private idleWaiters: (() => void)[] = [];

  constructor(start: ResumePoint, private readonly onCommit: (point: ResumePoint) => void) {
    this.committed = start;
  }

  /** A new batch; its Ack (holding the creator's reference) goes on every record of the batch. */
  open(): PendingBatch {
    const ack = new Ack(() => {
      batch.settled = true;
      this.advance();
    });
    const batch: PendingBatch = { ack, point: undefined, lastTime: undefined, settled: false };
    this.queue.push(batch);
    return batch;
  }

  /** Sets the point reached once `batch` is stored; call before releasing the creator's hold. */
  seal(batch: PendingBatch, point: ResumePoint, lastTime: bigint | undefined): void {
    batch.point = point;
    batch.lastTime = lastTime;
  }

  get pending(): number {
    return this.queue.length;
  }

  /** Resolves once every batch opened so far is stored (or at once). */
  idle(): Promise<void> {
    if (this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private advance(): void {
    let moved: PendingBatch | undefined;
    while (this.queue.length > 0 && this.queue[0]!.settled && this.queue[0]!.point) {
      moved = this.queue.shift()!;
      if (moved.lastTime !== undefined) this.lastAckedTime = moved.lastTime;
    }
    if (moved) {
      this.committed = moved.point!;
      this.onCommit(moved.point!);
    }
    if (this.queue.length === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}

interface SavedPosition {
  time_ns: string;
  count_at_time: number;
}

interface SavedContainer {
  since_ns: string;
  stdout?: SavedPosition;
  stderr?: SavedPosition;
  /** StartedAt (epoch seconds) of the run whose log was read to its end and stored. */
  finished_started_at?: number;
}

interface SavedFile {
  version: 1;
  /** When this collector first ran with this data directory: history before it is optional. */
  first_start_ns: string;
  containers: Record<string, SavedContainer>;
}

export interface Checkpoint {
  readonly point: ResumePoint;
  readonly finishedStartedAt: number | undefined;
}

const STATE_NAME = 'logs-checkpoints';

/** Every container's committed checkpoint, saved atomically (StateStore) at most every `intervalMs`. */
export class CheckpointStore {
  /** Kept as read (bigints), turned into the file's strings only when written: a commit per batch costs no conversion. */
  private containers = new Map<string, { point: ResumePoint; finishedStartedAt: number | undefined }>();
  firstStartNs = 0n;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  private dirty = false;
  private closed = false;
  writes = 0;
  failures = 0;

  constructor(private readonly state: StateStore, private readonly intervalMs: number, private readonly logger: Logger) {}

  async load(nowNs: bigint): Promise<void> {
    let saved: SavedFile | undefined;
    try {
      saved = await this.state.read<SavedFile>(STATE_NAME);
    } catch (error) {
      this.logger.error({ err: errorMessage(error) }, 'log checkpoints unreadable: starting without them');
    }
    if (saved?.version === 1) {
      this.firstStartNs = BigInt(saved.first_start_ns);
      this.containers = new Map(Object.entries(saved.containers).map(([id, entry]) => [id, fromSaved(entry)]));
    } else {
      this.firstStartNs = nowNs;
      this.dirty = true;
      this.schedule();
    }
  }

  get size(): number {
    return this.containers.size;
  }

  ids(): string[] {
    return [...this.containers.keys()];
  }

  get(id: string): Checkpoint | undefined {
    const entry = this.containers.get(id);
    return entry ? { point: entry.point, finishedStartedAt: entry.finishedStartedAt } : undefined;
  }

  set(id: string, point: ResumePoint): void {
    const entry = this.containers.get(id);
    if (entry) entry.point = point;
    else this.containers.set(id, { point, finishedStartedAt: undefined });
    this.touch();
  }

  markFinished(id: string, startedAt: number): void {
    const entry = this.containers.get(id);
    if (entry) entry.finishedStartedAt = startedAt;
    else this.containers.set(id, { point: START, finishedStartedAt: startedAt });
    this.touch();
  }

  remove(id: string): void {
    if (this.containers.delete(id)) this.touch();
  }

  /** Writes now if anything changed, and waits for it. */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    while (this.writing) await this.writing;
    if (this.dirty) await this.write();
  }

  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
  }

  private touch(): void {
    this.dirty = true;
    this.schedule();
  }

  private schedule(): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.writing) {
        // Still writing the previous state: try again after it.
        void this.writing.then(() => this.schedule());
        return;
      }
      void this.write();
    }, this.intervalMs);
    this.timer.unref();
  }

  private write(): Promise<void> {
    this.dirty = false;
    const containers: Record<string, SavedContainer> = {};
    for (const [id, entry] of this.containers) containers[id] = toSaved(entry.point, entry.finishedStartedAt);
    const file: SavedFile = { version: 1, first_start_ns: this.firstStartNs.toString(), containers };
    this.writing = this.state.write(STATE_NAME, file).then(
      () => { this.writes++; },
      (error: unknown) => {
        this.failures++;
        this.dirty = true;
        this.logger.error({ err: errorMessage(error) }, 'saving log checkpoints failed; will retry');
        this.schedule();
      },
    ).finally(() => { this.writing = undefined; });
    return this.writing;
  }
}

function fromSaved(saved: SavedContainer): { point: ResumePoint; finishedStartedAt: number | undefined } {
  const position = (p: SavedPosition | undefined): StreamPosition | undefined => (p ? { time: BigInt(p.time_ns), count: p.count_at_time } : undefined);
  return { point: { since: BigInt(saved.since_ns), streams: [position(saved.stdout), position(saved.stderr)] }, finishedStartedAt: saved.finished_started_at };
}

function toSaved(point: ResumePoint, finishedStartedAt: number | undefined): SavedContainer {
  const entry: SavedContainer = { since_ns: point.since.toString() };
  const [stdout, stderr] = point.streams;
  if (stdout) entry.stdout = { time_ns: stdout.time.toString(), count_at_time: stdout.count };
  if (stderr) entry.stderr = { time_ns: stderr.time.toString(), count_at_time: stderr.count };
  if (finishedStartedAt !== undefined) entry.finished_started_at = finishedStartedAt;
  return entry;
}
