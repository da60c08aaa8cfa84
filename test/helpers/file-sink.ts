/** Reads what the file exporter wrote (every records-*.ndjson under a folder, oldest first). */
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';

export interface SinkLine {
  readonly id: string;
  readonly kind: string;
  readonly [key: string]: unknown;
}

export async function readSink(dir: string): Promise<SinkLine[]> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => /^records-\d+\.ndjson$/.test(n)).sort();
  const lines: SinkLine[] = [];
  for (const name of names) {
    const text = await readFile(path.join(dir, name), 'utf8');
    for (const line of text.split('\n')) if (line) lines.push(JSON.parse(line) as SinkLine);
  }
  return lines;
}
