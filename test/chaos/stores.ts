/**
 * What the sinks hold, as checker records: the Elasticsearch test server's documents (unique by
 * `_id`, as a `create` makes them) and its dead-letter index; the file exporter's records files;
 * and any dead-letter file the agent keeps under its data directory (read without knowing its
 * exact format: one JSON object a line, the message at `message` or `record.message`).
 */
import { existsSync, readdirSync, readFileSync, statSync, openSync, readSync, closeSync } from 'node:fs';
import path from 'node:path';
import type { EsTestServer, StoredDocument } from '../helpers/es-server.js';
import type { StoredRecord } from './checker.js';
import { parseTimeNs, tokensIn } from './truth.js';

export const LOGS_DATA_STREAM = 'logs-docker.logs-default';
export const DEAD_LETTER_INDEX = 'dockhand-dead-letter';

interface LogSource {
  readonly '@timestamp'?: string;
  readonly message?: string;
  readonly stream?: string;
  readonly container?: { readonly id?: string };
  readonly event?: { readonly original?: string; readonly dataset?: string };
  readonly dockhand?: { readonly dead_letter?: { readonly id?: string; readonly index?: string } };
}

function timeOf(text: unknown): bigint | undefined {
  if (typeof text !== 'string') return undefined;
  try {
    return parseTimeNs(text);
  } catch {
    return undefined;
  }
}

export function esLogRecords(server: EsTestServer): StoredRecord[] {
  return server.documents(LOGS_DATA_STREAM).map((doc) => fromEsDocument(doc, false));
}

/** Dead letters of log documents (events are dead-lettered there too). */
export function esDeadLetters(server: EsTestServer): StoredRecord[] {
  return server.documents(DEAD_LETTER_INDEX).filter((doc) => isLogDeadLetter(doc._source as LogSource)).map((doc) => fromEsDocument(doc, true));
}

function isLogDeadLetter(source: LogSource): boolean {
  const index = source.dockhand?.dead_letter?.index;
  if (index !== undefined) return index === LOGS_DATA_STREAM;
  return source.event?.dataset === 'docker.logs';
}

function fromEsDocument(doc: StoredDocument, deadLetter: boolean): StoredRecord {
  const source = doc._source as LogSource;
  let stream = source.stream;
  if (deadLetter && stream === undefined && typeof source.event?.original === 'string') {
    try {
      stream = (JSON.parse(source.event.original) as LogSource).stream;
    } catch {
      // not JSON: the stream stays unknown
    }
  }
  return {
    id: deadLetter ? source.dockhand?.dead_letter?.id ?? doc._id : doc._id,
    containerId: source.container?.id ?? '',
    stream: stream ?? '?',
    message: source.message ?? '',
    timeNs: timeOf(source['@timestamp']),
    deadLetter,
  };
}

interface SinkLine {
  readonly id?: string;
  readonly kind?: string;
  readonly stream?: string;
  readonly message?: string;
  readonly time_ns?: string;
  readonly '@timestamp'?: string;
  readonly container?: { readonly id?: string };
  readonly record?: SinkLine;
  readonly event?: { readonly dataset?: string };
}

function fromSinkLine(line: SinkLine, deadLetter: boolean): StoredRecord | undefined {
  const record = line.record ?? line;
  if (record.kind !== undefined && record.kind !== 'log') return undefined;
  if (typeof record.message !== 'string') return undefined;
  // A dead letter that does not say what it held counts as a log line only if it carries one of our tokens.
  if (deadLetter && record.kind === undefined && record.event?.dataset !== 'docker.logs' && tokensIn(record.message).length === 0) return undefined;
  return {
    id: record.id ?? '',
    containerId: record.container?.id ?? '',
    stream: record.stream ?? '?',
    message: record.message,
    timeNs: record.time_ns !== undefined ? BigInt(record.time_ns) : timeOf(record['@timestamp']),
    deadLetter,
  };
}

export interface FileSinkContents {
  readonly records: StoredRecord[];
  /** Lines that are not JSON (a write cut by a kill). */
  readonly torn: number;
}

/** Every record file of the file sink, oldest first. */
export function fileSinkRecords(dir: string): FileSinkContents {
  const records: StoredRecord[] = [];
  let torn = 0;
  if (!existsSync(dir)) return { records, torn };
  for (const name of readdirSync(dir).filter((n) => /^records-\d+\.ndjson$/.test(n)).sort()) {
    for (const line of readFileSync(path.join(dir, name), 'utf8').split('\n')) {
      if (line === '') continue;
      let parsed: SinkLine;
      try {
        parsed = JSON.parse(line) as SinkLine;
      } catch {
        torn++;
        continue;
      }
      const record = fromSinkLine(parsed, false);
      if (record) records.push(record);
    }
  }
  return { records, torn };
}

export interface DeadLetterFiles {
  readonly records: StoredRecord[];
  /** Everything in them, for lines whose records cannot be read back (the hostile JSON). */
  readonly text: string;
}

/**
 * Dead-letter files of one sink, whatever their layout: files named `*dead*` beside the file
 * sink's records (`inside` = the records folder) are the file sink's; those elsewhere under the
 * data directory (`outside`) are Elasticsearch's local dead letters.
 */
export function deadLetterFiles(dataDir: string, recordsDir: string, which: 'inside' | 'outside'): DeadLetterFiles {
  const records: StoredRecord[] = [];
  const texts: string[] = [];
  const visit = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        visit(full);
        continue;
      }
      const inside = path.dirname(full) === recordsDir;
      if (!/dead/i.test(entry.name) || inside !== (which === 'inside')) continue;
      const text = readFileSync(full, 'utf8');
      texts.push(text);
      for (const line of text.split('\n')) {
        if (!line.startsWith('{')) continue;
        try {
          const record = fromSinkLine(JSON.parse(line) as SinkLine, true);
          if (record) records.push(record);
        } catch {
          // not one record a line
        }
      }
    }
  };
  if (existsSync(dataDir)) visit(dataDir);
  return { records, text: texts.join('\n') };
}

/**
 * The file sink read as it grows, for the harness' live questions (is this container's first line
 * stored yet?): new bytes only; a file that shrank is read again from its start.
 */
export class FileSinkTail {
  private readonly offsets = new Map<string, number>();
  private readonly carry = new Map<string, string>();
  private readonly byFile = new Map<string, StoredRecord[]>();

  constructor(private readonly dir: string) {}

  read(): StoredRecord[] {
    if (!existsSync(this.dir)) return [];
    const names = readdirSync(this.dir).filter((n) => /^records-\d+\.ndjson$/.test(n)).sort();
    for (const gone of [...this.byFile.keys()].filter((n) => !names.includes(n))) this.forget(gone);
    for (const name of names) this.readFile(name);
    return names.flatMap((n) => this.byFile.get(n) ?? []);
  }

  private forget(name: string): void {
    this.byFile.delete(name);
    this.offsets.delete(name);
    this.carry.delete(name);
  }

  private readFile(name: string): void {
    const full = path.join(this.dir, name);
    let size: number;
    try {
      size = statSync(full).size;
    } catch {
      return;
    }
    if (size < (this.offsets.get(name) ?? 0)) this.forget(name);
    const offset = this.offsets.get(name) ?? 0;
    if (size === offset) return;
    const buffer = Buffer.alloc(size - offset);
    const fd = openSync(full, 'r');
    try {
      readSync(fd, buffer, 0, buffer.length, offset);
    } finally {
      closeSync(fd);
    }
    this.offsets.set(name, size);
    const text = (this.carry.get(name) ?? '') + buffer.toString('utf8');
    const lines = text.split('\n');
    this.carry.set(name, lines.pop() ?? '');
    const list = this.byFile.get(name) ?? [];
    for (const line of lines) {
      try {
        const record = fromSinkLine(JSON.parse(line) as SinkLine, false);
        if (record) list.push(record);
      } catch {
        // torn: the final read counts it
      }
    }
    this.byFile.set(name, list);
  }
}
