/**
 * The `file` exporter: appends records as NDJSON under the data directory, rotating by size.
 * export() resolves only once the batch is written (and fdatasync'ed unless `sync: false`), so a
 * log checkpoint never moves past a line that is not on disk. Records already in the file that
 * come again after a crash are skipped (replay-filter.ts). A record that cannot be encoded (JSON
 * nested too deep for JSON.stringify) is rejected alone, for the runner's dead-letter file kept
 * beside the records; the rest of its batch is written. Config section `exporters.file`.
 */
import path from 'node:path';
import { z } from 'zod';
import { defineExporter, type BatchSettings, type Exporter, type ExporterContext, type Health } from '../../src/component.js';
import { PartialExportError, RetryableError, errorMessage, type RejectedRecord } from '../../src/errors.js';
import type { AgentRecord, RecordKind } from '../../src/records.js';
import { sleep } from '../../src/util/backoff.js';
import { NdjsonWriter } from './ndjson.js';
import { RecordFiles, listRecordFiles } from './record-files.js';
import { ReplayFilter, scanTail } from './replay-filter.js';

const MiB = 1024 * 1024;
const MIN_BUFFER = 64 * 1024;

export const fileConfigSchema = z.strictObject({
  enabled: z.boolean().optional().describe('Append records as NDJSON files under the data directory; unset: on unless Elasticsearch, Loki or OTLP is enabled.'),
  path: z.string().min(1).optional().describe('Folder of the files (records-000001.ndjson, …); default <data_dir>/records.'),
  max_bytes: z.number().int().min(4096).default(100 * MiB).describe('Size at which the current file is closed and the next one started.'),
  max_files: z.number().int().min(1).default(10).describe('Files kept, the current one included; the oldest are deleted.'),
  kinds: z.array(z.enum(['log', 'event', 'metric', 'engine'])).min(1).default(['log', 'event']).describe('Record kinds written.'),
  sync: z.boolean().default(true).describe('fdatasync every batch before acknowledging it (false: a host crash may lose acknowledged lines).'),
  batch_records: z.number().int().min(1).default(5000).describe('Most records written (and synced) per batch.'),
  batch_bytes: z.number().int().min(4096).default(8 * MiB).describe('Most record bytes (estimated as queued) written (and synced) per batch, whichever of this and batch_records comes first.'),
  replay_window_bytes: z.number().int().nonnegative().default(64 * MiB).describe(
    'How much of the newest files is scanned at start for records a crash makes come again. Must hold everything '
    + 'that can be written but not yet checkpointed: every exporter\'s log lane (pipeline.queue_size records, pipeline.queue_bytes at most) plus the '
    + 'batches in flight (batch_bytes) plus ~0.2 s of input; 64 MiB is ~3x that at 20,000-record queues and 150,000 lines/s, and holds the default 16 MiB lanes of long lines.'),
});

export type FileConfig = z.output<typeof fileConfigSchema>;

/** Not configuration: what tests set to make the sink slow. */
export interface FileExporterTestHooks {
  /** Wait this long before writing each batch. */
  readonly writeDelayMs?: number;
}

/** The one way an agent process gets a slow sink: tests set this variable; it is in no schema and no documentation for users. */
export const TEST_WRITE_DELAY_ENV = 'DOCKHAND_TEST_FILE_WRITE_DELAY_MS';

function testHooksFromEnv(env: NodeJS.ProcessEnv): FileExporterTestHooks {
  const delay = Number(env[TEST_WRITE_DELAY_ENV]);
  return Number.isFinite(delay) && delay > 0 ? { writeDelayMs: delay } : {};
}

export class FileExporter implements Exporter {
  readonly id = 'file';
  readonly accepts: ReadonlySet<RecordKind>;
  readonly batching: Partial<BatchSettings>;
  readonly dir: string;
  /** The runner's dead-letter file for records this exporter rejects goes beside the records. */
  readonly deadLetterDir: string;
  private readonly files: RecordFiles;
  /** Reused for every batch; sized to what batches need (grown for a large one, shrunk after it). */
  private readonly out = new NdjsonWriter(Buffer.allocUnsafe(MIN_BUFFER));
  private readonly replays = new ReplayFilter();
  private lastError: string | undefined;
  /** The append in progress: export() calls take turns (see export()). */
  private writing: Promise<unknown> = Promise.resolve();
  private written = 0;
  private skipped = 0;
  private rejected = 0;
  private bytes = 0;
  private readonly skippedCounter;
  private readonly bytesCounter;

  constructor(
    private readonly config: FileConfig,
    private readonly ctx: Pick<ExporterContext, 'dataDir' | 'logger' | 'metrics'>,
    private readonly testHooks: FileExporterTestHooks = {},
  ) {
    this.accepts = new Set(config.kinds);
    this.dir = path.resolve(config.path ?? path.join(ctx.dataDir, 'records'));
    this.deadLetterDir = this.dir;
    this.files = new RecordFiles(this.dir, config.max_bytes, config.max_files);
    // One writer keeps every container stream in order in the file, which the replay filter relies on.
    this.batching = { concurrency: 1, maxRecords: config.batch_records, maxBytes: config.batch_bytes };
    this.skippedCounter = ctx.metrics.counter('dockhand_file_replays_skipped_total', 'Records the file exporter skipped because they were already in its files (re-sent after a crash).');
    this.bytesCounter = ctx.metrics.counter('dockhand_file_written_bytes_total', 'Bytes the file exporter appended.');
  }

  async start(): Promise<void> {
    await this.files.open();
    const newestFirst = (await listRecordFiles(this.dir)).map((f) => f.file).reverse();
    await scanTail(newestFirst, this.config.replay_window_bytes, this.replays);
    this.ctx.logger.info({ dir: this.dir, scanned_bytes: this.replays.scannedBytes, scanned_records: this.replays.scannedRecords }, 'file exporter ready');
  }

  async export(batch: readonly AgentRecord[]): Promise<void> {
    if (this.testHooks.writeDelayMs) await sleep(this.testHooks.writeDelayMs);
    // The runner may call export() for several record kinds at once. One append at a time: the
    // reused buffer, the current file's size and rotation, and the replay filter (which relies on
    // every stream reaching the file in order) all assume a single writer.
    const turn = this.writing.then(() => this.append(batch));
    this.writing = turn.catch(() => undefined);
    return turn;
  }

  private async append(batch: readonly AgentRecord[]): Promise<void> {
    let lines = 0;
    let skipped = 0;
    const out = this.out;
    const replays = this.replays;
    const rejected: RejectedRecord<AgentRecord>[] = [];
    for (const record of batch) {
      if (replays.active && replays.isReplay(record.kind, (record as { id?: string }).id)) {
        skipped++;
        continue;
      }
      try {
        out.line(record);
        lines++;
      } catch (error) {
        // Retrying cannot help: the same record fails the same way, before and after a restart.
        // The reason's first word is the dead-letter metric's label.
        rejected.push({ record, reason: `unencodable_record: cannot be encoded as JSON (${error instanceof Error ? `${error.name}: ${error.message}` : String(error)})` });
      }
    }
    if (skipped > 0) {
      this.skipped += skipped;
      this.skippedCounter.inc(skipped);
    }
    try {
      if (lines > 0) await this.write(out.written(), lines);
    } finally {
      // A batch of huge lines grew the buffer: keep room for twice this batch, not for the largest ever.
      out.reset(out.size, MIN_BUFFER);
    }
    if (rejected.length > 0) {
      this.rejected += rejected.length;
      throw new PartialExportError(`${rejected.length} of ${batch.length} records cannot be encoded; the rest is written`, [], rejected);
    }
  }

  private async write(data: Buffer, lines: number): Promise<void> {
    try {
      await this.files.append(data, this.config.sync);
    } catch (error) {
      this.lastError = errorMessage(error);
      throw new RetryableError(`writing ${this.files.currentFile} failed: ${this.lastError}`, { cause: error });
    }
    this.lastError = undefined;
    this.written += lines;
    this.bytes += data.length;
    this.bytesCounter.inc(data.length);
  }

  async flush(): Promise<void> {}

  async stop(): Promise<void> {
    await this.files.close();
  }

  health(): Health {
    return this.lastError ? { healthy: false, reason: `file exporter cannot write ${this.dir}: ${this.lastError}` } : { healthy: true };
  }

  status(): Record<string, unknown> {
    return {
      dir: this.dir,
      current_file: this.files.currentFile,
      current_bytes: this.files.currentSize,
      written: this.written,
      written_bytes: this.bytes,
      replays_skipped: this.skipped,
      rejected: this.rejected,
      replay_scan: { bytes: this.replays.scannedBytes, records: this.replays.scannedRecords, pending: this.replays.size },
    };
  }
}

/** Exporters that store logs: when one is on, the file sink is off unless enabled explicitly. */
const LOG_STORES = ['elasticsearch', 'loki', 'otlp'] as const;

export const fileExporterFactory = defineExporter({
  type: 'file',
  configSchema: fileConfigSchema,
  // The default sink for logs and events when nothing else stores them.
  isEnabled: (config, exporters) => config.enabled ?? !LOG_STORES.some((store) => (exporters[store] as { enabled?: boolean } | undefined)?.enabled),
  create: (config, ctx) => new FileExporter(config, ctx, testHooksFromEnv(process.env)),
});
