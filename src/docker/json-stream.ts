import { StringDecoder } from 'node:string_decoder';

/**
 * Splits a stream of concatenated JSON objects into their texts. Tracks string and escape state,
 * so it needs no newline between objects and survives a chunk boundary anywhere, even inside a
 * multi-byte character.
 */
export class JsonObjectSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private pending = '';
  private depth = 0;
  private inString = false;
  private escaped = false;
  private start = -1;
  private scanned = 0;

  push(chunk: Buffer | string): string[] {
    this.pending += typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    const out: string[] = [];
    const text = this.pending;
    let i = this.scanned;
    for (; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === 0x5c /* \ */) this.escaped = true;
        else if (c === 0x22 /* " */) this.inString = false;
        continue;
      }
      if (c === 0x22) {
        if (this.depth > 0) this.inString = true;
      } else if (c === 0x7b /* { */) {
        if (this.depth === 0) this.start = i;
        this.depth++;
      } else if (c === 0x7d /* } */ && this.depth > 0) {
        this.depth--;
        if (this.depth === 0) {
          out.push(text.slice(this.start, i + 1));
          this.start = -1;
        }
      }
    }
    // Keep only the unfinished object (if any) for the next chunk.
    if (this.depth > 0 && this.start >= 0) {
      this.pending = text.slice(this.start);
      this.scanned = this.pending.length;
      this.start = 0;
    } else {
      this.pending = '';
      this.scanned = 0;
    }
    return out;
  }

  /** Bytes of an object not finished yet (for diagnostics when a stream ends mid-object). */
  get buffered(): number {
    return this.pending.length;
  }
}
