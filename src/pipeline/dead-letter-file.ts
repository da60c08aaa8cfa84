/**
 * The local dead-letter file: records an exporter can never store (poison, or a batch refused for
 * good) are written here, one NDJSON line `{time, exporter, reason, record}` each, before their
 * acknowledgements are released — so nothing leaves the agent without a trace.
 *
 * One file per exporter (`dead-letters-<exporter>.ndjson`) in the directory; appended, fsync'd,
 * mode 0600. A file that would grow past `maxFileBytes` is rotated (`….1.ndjson` is the newest
 * rotated one); at most `maxFiles` files are kept, so the whole is bounded in bytes. Lines lost to
 * rotation are counted too (`dockhand_dead_letters_discarded_total`): the bound is a decision, never silent.
 */
import { mkdir, open, rename, rm, stat, readFile } from 'node:fs/promises';
import path from 'node:path';
import { plainRecord, type AgentRecord } from '../records.js';
import type { RejectedRecord } from '../errors.js';
import { errorMessage } from '../errors.js';
import type { DeadLetterEvents } from './pipeline-events.js';

export { deadLetterEvents } from './pipeline-events.js';

export interface DeadLetterLimits {
  /** A file is rotated before it would pass this size. */
  readonly maxFileBytes: number;
  /** Files kept per exporter, the current one included. */
  readonly maxFiles: number;
}

export const DEFAULT_DEAD_LETTER_LIMITS: DeadLetterLimits = { maxFileBytes: 16 * 1024 * 1024, maxFiles: 4 };

/** Where the exporter runner puts what it cannot deliver. Resolves once written durably; throws otherwise. */
export interface DeadLetterSink {
  write(exporter: string, entries: readonly RejectedRecord<AgentRecord>[]): Promise<void>;
}

export function deadLetterFileName(exporter: string, generation = 0): string {
  const safe = exporter.replace(/[^A-Za-z0-9._-]/g, '_');
  return generation === 0 ? `dead-letters-${safe}.ndjson` : `dead-letters-${safe}.${generation}.ndjson`;
}

export class DeadLetterFile implements DeadLetterSink {
  private readonly sizes = new Map<string, number>();
  /** Writes to one directory go one at a time: rotation and appends must not interleave. */
  private tail: Promise<unknown> = Promise.resolve();
  private dirReady = false;

  constructor(
    readonly dir: string,
    private readonly events: DeadLetterEvents,
    private readonly limits: DeadLetterLimits = DEFAULT_DEAD_LETTER_LIMITS,
  ) {}

  write(exporter: string, entries: readonly RejectedRecord<AgentRecord>[]): Promise<void> {
    if (entries.length === 0) return Promise.resolve();
    const result = this.tail.then(() => this.append(exporter, entries));
    this.tail = result.catch(() => undefined);
    return result;
  }

  private async append(exporter: string, entries: readonly RejectedRecord<AgentRecord>[]): Promise<void> {
    if (!this.dirReady) {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      this.dirReady = true;
    }
    const time = new Date().toISOString();
    const text = entries.map((entry) => encodeDeadLetter(time, exporter, entry)).join('');
    const bytes = Buffer.byteLength(text);
    const file = path.join(this.dir, deadLetterFileName(exporter));
    let size = this.sizes.get(exporter) ?? (await stat(file).then((s) => s.size, () => 0));
    if (size > 0 && size + bytes > this.limits.maxFileBytes) {
      await this.rotate(exporter);
      size = 0;
    }
    const handle = await open(file, 'a', 0o600);
    try {
      await handle.write(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    this.sizes.set(exporter, size + bytes);
    for (const [reason, count] of countByReason(entries)) {
      this.events.written.emit({ component: exporter, reason }, { file, example: entries.find((e) => reasonLabel(e.reason) === reason)!.reason }, count);
    }
  }

  /** current → .1 → .2 …; the file beyond maxFiles is deleted and its lines counted as discarded. */
  private async rotate(exporter: string): Promise<void> {
    const at = (generation: number) => path.join(this.dir, deadLetterFileName(exporter, generation));
    const oldest = this.limits.maxFiles - 1;
    if (oldest < 1) {
      await this.discard(exporter, at(0));
      return;
    }
    await this.discard(exporter, at(oldest));
    for (let generation = oldest - 1; generation >= 0; generation--) {
      await rename(at(generation), at(generation + 1)).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
      });
    }
    this.sizes.set(exporter, 0);
  }

  private async discard(exporter: string, file: string): Promise<void> {
    let lines = 0;
    try {
      const content = await readFile(file);
      for (const byte of content) if (byte === 0x0a) lines++;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    await rm(file, { force: true });
    this.events.discarded.emit({ component: exporter }, { file }, lines);
  }
}

/**
 * One line. A poison record may be exactly what JSON cannot encode (a 6,000-level nested `json`
 * field overflows the stack): then the line keeps everything else and says why the rest is missing.
 */
export function encodeDeadLetter(time: string, exporter: string, entry: RejectedRecord<AgentRecord>): string {
  const head = { time, exporter, reason: entry.reason };
  try {
    return `${JSON.stringify({ ...head, record: entry.record }, recordReplacer)}\n`;
  } catch (error) {
    const { json: _json, ...rest } = plainRecord(entry.record) as AgentRecord & { json?: unknown };
    try {
      return `${JSON.stringify({ ...head, record: rest, unencodable: errorMessage(error) }, recordReplacer)}\n`;
    } catch (again) {
      const record = entry.record as { kind: string; id?: string; message?: string };
      return `${JSON.stringify({ ...head, record: { kind: record.kind, id: record.id, message: record.message }, unencodable: errorMessage(again) })}\n`;
    }
  }
}

function recordReplacer(key: string, value: unknown): unknown {
  if (key === 'ack') return undefined;
  return typeof value === 'bigint' ? value.toString() : value;
}

/** A bounded label from a free-text reason: its leading word (`mapper_parsing_exception: …` → mapper_parsing_exception). */
export function reasonLabel(reason: string): string {
  const word = /^[A-Za-z_][A-Za-z0-9_.-]*/.exec(reason.trim())?.[0];
  return word ? word.slice(0, 48).toLowerCase() : 'other';
}

function countByReason(entries: readonly RejectedRecord<AgentRecord>[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const entry of entries) {
    const label = reasonLabel(entry.reason);
    counts.set(label, (counts.get(label) ?? 0) + 1);
  }
  return counts;
}

/** One DeadLetterFile per directory: exporters that share a directory share its write order. */
export class DeadLetterFiles {
  private readonly byDir = new Map<string, DeadLetterFile>();

  constructor(private readonly events: DeadLetterEvents, private readonly defaultDir: string, private readonly limits: DeadLetterLimits = DEFAULT_DEAD_LETTER_LIMITS) {}

  for(exporter: { readonly deadLetterDir?: string | undefined }): DeadLetterFile {
    const dir = path.resolve(exporter.deadLetterDir ?? this.defaultDir);
    let file = this.byDir.get(dir);
    if (!file) {
      file = new DeadLetterFile(dir, this.events, this.limits);
      this.byDir.set(dir, file);
    }
    return file;
  }
}
